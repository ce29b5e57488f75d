package tests

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// wsTap is a TCP proxy in front of an HTTP server that records what
// crosses it both ways, so that a test can read the WebSocket frames as
// they went on the wire: their RSV1 bit (permessage-deflate: compressed)
// and, inflated, their payloads. Clients connect to Addr.
type wsTap struct {
	t    testing.TB
	ln   net.Listener
	to   string
	mu   sync.Mutex
	taps []*tappedConn
	wg   sync.WaitGroup
}

// tappedConn holds the bytes of one TCP connection, each way.
type tappedConn struct {
	mu       sync.Mutex
	up, down bytes.Buffer // client to server, server to client
}

// startWSTap starts a tap in front of target (host:port) until the test
// ends.
func startWSTap(t testing.TB, target string) *wsTap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wsTap{t: t, ln: ln, to: target}
	var conns sync.Map
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			conns.Store(c, s)
			tc := &tappedConn{}
			w.mu.Lock()
			w.taps = append(w.taps, tc)
			w.mu.Unlock()
			pipe := func(dst, src net.Conn, buf *bytes.Buffer) {
				defer w.wg.Done()
				b := make([]byte, 32<<10)
				for {
					n, err := src.Read(b)
					if n > 0 {
						tc.mu.Lock()
						buf.Write(b[:n])
						tc.mu.Unlock()
						if _, werr := dst.Write(b[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				_ = dst.Close()
				_ = src.Close()
			}
			w.wg.Add(2)
			go pipe(s, c, &tc.up)
			go pipe(c, s, &tc.down)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		conns.Range(func(k, v any) bool {
			_ = k.(net.Conn).Close()
			_ = v.(net.Conn).Close()
			return true
		})
		w.wg.Wait()
	})
	return w
}

// URL is the tap's http:// base URL.
func (w *wsTap) URL() string { return "http://" + w.ln.Addr().String() }

// tapMessage is one WebSocket message seen by the tap.
type tapMessage struct {
	fromClient bool
	opcode     byte   // 1 text, 2 binary, 8 close, 9 ping, 10 pong
	compressed bool   // RSV1 on its first frame
	wireLen    int    // payload bytes on the wire, all frames
	data       []byte // the payload, inflated when compressed
}

// tapSocket is one WebSocket seen by the tap: the extension its 101
// answer negotiated and the messages each way, in order.
type tapSocket struct {
	extensions string
	messages   []tapMessage
}

// sockets returns the WebSockets that went through the tap so far (TCP
// connections whose request was answered 101), in the order they opened.
func (w *wsTap) sockets() []tapSocket {
	w.t.Helper()
	w.mu.Lock()
	taps := append([]*tappedConn(nil), w.taps...)
	w.mu.Unlock()
	var out []tapSocket
	for _, tc := range taps {
		tc.mu.Lock()
		up, down := bytes.Clone(tc.up.Bytes()), bytes.Clone(tc.down.Bytes())
		tc.mu.Unlock()
		br := bufio.NewReader(bytes.NewReader(down))
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		rest, _ := io.ReadAll(br)
		i := bytes.Index(up, []byte("\r\n\r\n"))
		if i < 0 {
			continue
		}
		s := tapSocket{extensions: res.Header.Get("Sec-WebSocket-Extensions")}
		s.messages = append(s.messages, w.parse(up[i+4:], true)...)
		s.messages = append(s.messages, w.parse(rest, false)...)
		out = append(out, s)
	}
	return out
}

// parse splits one direction's bytes into messages, unmasking and
// inflating them; a partial frame at the end is left out. The compressed
// messages of one direction are inflated as one stream, which reads them
// with or without context takeover.
func (w *wsTap) parse(b []byte, fromClient bool) []tapMessage {
	w.t.Helper()
	var out []tapMessage
	var cur *tapMessage
	var stream []byte // the compressed messages so far, each with its tail
	inflated := 0     // bytes the stream inflated to before this message
	for len(b) >= 2 {
		b0, b1 := b[0], b[1]
		n, h := uint64(b1&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return out
			}
			n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return out
			}
			n, h = binary.BigEndian.Uint64(b[2:]), 10
		}
		var key []byte
		if b1&0x80 != 0 {
			if len(b) < h+4 {
				return out
			}
			key, h = b[h:h+4], h+4
		}
		if uint64(len(b)-h) < n {
			return out
		}
		payload := bytes.Clone(b[h : h+int(n)])
		for i := range payload {
			if key != nil {
				payload[i] ^= key[i%4]
			}
		}
		b = b[h+int(n):]
		op := b0 & 0x0f
		if op >= 8 { // control frames may come between fragments
			out = append(out, tapMessage{fromClient: fromClient, opcode: op, wireLen: len(payload), data: payload})
			continue
		}
		if op != 0 {
			cur = &tapMessage{fromClient: fromClient, opcode: op, compressed: b0&0x40 != 0}
		}
		if cur == nil {
			continue
		}
		cur.wireLen += len(payload)
		cur.data = append(cur.data, payload...)
		if b0&0x80 != 0 { // FIN
			if cur.compressed {
				stream = append(append(stream, cur.data...), 0, 0, 0xff, 0xff)
				fr := flate.NewReader(io.MultiReader(bytes.NewReader(stream), strings.NewReader("\x01\x00\x00\xff\xff")))
				d, err := io.ReadAll(fr)
				if err != nil || len(d) < inflated {
					w.t.Errorf("inflate a message of %d bytes: %v", cur.wireLen, err)
					d = make([]byte, inflated)
				}
				cur.data, inflated = d[inflated:], len(d)
			}
			out = append(out, *cur)
			cur = nil
		}
	}
	return out
}
