//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"time"
)

// h1conn is one keep-alive HTTP/1.1 connection of a long-polling client,
// its requests written and its answers read by hand. net/http's Transport
// costs the load generator about as much CPU per request as the server
// under test spends (a read loop and a write loop per connection, which
// each request wakes), and the load generator shares the server's cores.
type h1conn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	w    []byte
	used bool // has carried a request before
}

// errH1 is a malformed HTTP answer.
var errH1 = errors.New("malformed HTTP/1.1 answer")

// dialH1 connects to addr.
func dialH1(ctx context.Context, addr string) (*h1conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &h1conn{addr: addr, c: c, br: bufio.NewReaderSize(c, 4096)}, nil
}

// roundTrip sends one request for target (path and query) with body
// (nil: none, for a GET) and reads its answer: its status, and its body
// appended to dst[:0]. keep is false when the connection may not carry
// another request. retry is true when it failed before any byte of an
// answer came, on a connection that had carried requests before, and not
// for its deadline: the server closed it while it was idle, as servers do
// after a while (Node's keepAliveTimeout is 5 s), and the request may go
// again on a new connection.
func (h *h1conn) roundTrip(method, target string, body, dst []byte, deadline time.Time) (status int, out []byte, keep, retry bool, err error) {
	if err := h.c.SetDeadline(deadline); err != nil {
		return 0, dst, false, false, err
	}
	used := h.used
	h.used = true
	h.w = append(h.w[:0], method...)
	h.w = append(h.w, ' ')
	h.w = append(h.w, target...)
	h.w = append(h.w, " HTTP/1.1\r\nHost: "...)
	h.w = append(h.w, h.addr...)
	if body != nil {
		h.w = append(h.w, "\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: "...)
		h.w = strconv.AppendInt(h.w, int64(len(body)), 10)
	}
	h.w = append(h.w, "\r\n\r\n"...)
	h.w = append(h.w, body...)
	if _, err := h.c.Write(h.w); err != nil {
		return 0, dst, false, used && !timedOut(err), err
	}
	line, err := h.br.ReadSlice('\n')
	if err != nil {
		return 0, dst, false, used && len(line) == 0 && !timedOut(err), err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, dst, false, false, fmt.Errorf("%w: status line %q", errH1, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, dst, false, false, fmt.Errorf("%w: status line %q", errH1, line)
	}
	keep = line[7] == '1'
	length, chunked := -1, false
	for {
		line, err := h.br.ReadSlice('\n')
		if err != nil {
			return status, dst, false, false, fmt.Errorf("answer's headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return status, dst, false, false, fmt.Errorf("%w: header %q", errH1, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return status, dst, false, false, fmt.Errorf("%w: header %q", errH1, line)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
			if !chunked {
				return status, dst, false, false, fmt.Errorf("%w: header %q", errH1, line)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				keep = true
			}
		}
	}
	out = dst[:0]
	switch {
	case chunked:
		out, err = h.readChunked(out)
	case length >= 0:
		out, err = h.readN(out, length)
	default: // the body runs to the connection's end
		out, err = readAll(h.br, out)
		keep = false
	}
	if err != nil {
		return status, out, false, false, fmt.Errorf("answer's body: %w", err)
	}
	return status, out, keep, false, nil
}

// timedOut reports whether err is a deadline's: the server may still be
// answering the request, which must not go again.
func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readN appends the next n bytes to dst.
func (h *h1conn) readN(dst []byte, n int) ([]byte, error) {
	at := len(dst)
	dst = slices.Grow(dst, n)[:at+n]
	_, err := io.ReadFull(h.br, dst[at:])
	return dst, err
}

// readChunked appends a chunked body to dst.
func (h *h1conn) readChunked(dst []byte) ([]byte, error) {
	for {
		line, err := h.br.ReadSlice('\n')
		if err != nil {
			return dst, err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseUint(string(size), 16, 31)
		if err != nil {
			return dst, fmt.Errorf("%w: chunk size %q", errH1, line)
		}
		if n == 0 {
			// Trailers, if any, end with an empty line.
			for {
				line, err := h.br.ReadSlice('\n')
				if err != nil {
					return dst, err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return dst, nil
				}
			}
		}
		if dst, err = h.readN(dst, int(n)); err != nil {
			return dst, err
		}
		if line, err = h.br.ReadSlice('\n'); err != nil || len(bytes.TrimRight(line, "\r\n")) != 0 {
			return dst, fmt.Errorf("%w: no line end after a chunk", errH1)
		}
	}
}

func (h *h1conn) close() { h.c.Close() }
