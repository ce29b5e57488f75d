//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"time"
)

// wsConn is a storm client's WebSocket, written by hand. A storm's clients
// do little but connect, and gorilla's Dialer (an http.Request built and a
// Response parsed by net/http, buffered readers and writers on each side)
// cost the load generator, which shares the machine's cores with the
// server under test, nearly as much CPU per connection as the server
// spent: 0.12 ms against the server's 0.14 in a storm of 10 000. It speaks
// just what a storm needs: the upgrade, unfragmented text frames both
// ways (client frames masked, as RFC 6455 asks), pings answered, a close
// frame taken as the end.
type wsConn struct {
	c net.Conn
	// buf[r:w] is what was read and not consumed yet.
	buf  []byte
	r, w int
}

// wsGUID is RFC 6455's key suffix for Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsMaxFrame bounds a frame's payload: a storm's packets are far smaller.
const wsMaxFrame = 1 << 20

// wsMaxHeader bounds the upgrade's answer headers.
const wsMaxHeader = 8 << 10

var (
	errWSStatus   = errors.New("websocket: the upgrade was not answered 101")
	errWSAccept   = errors.New("websocket: wrong or missing Sec-WebSocket-Accept")
	errWSFrame    = errors.New("websocket: unexpected frame")
	errWSClosed   = errors.New("websocket: closed by the server")
	errWSTooLarge = errors.New("websocket: frame or header too large")
)

// dialWS connects from laddr (nil: any) to the server at addr and upgrades
// to WebSocket at target (path and query). ctx's deadline bounds the
// upgrade and the reads and writes until done is called.
func dialWS(ctx context.Context, addr string, laddr *net.TCPAddr, target string) (*wsConn, error) {
	var nd net.Dialer
	if laddr != nil {
		nd.LocalAddr = laddr // a nil *TCPAddr would be a non-nil Addr
	}
	c, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	ws := &wsConn{c: c, buf: make([]byte, 512)}
	if err := ws.upgrade(addr, target); err != nil {
		_ = c.Close()
		return nil, err
	}
	return ws, nil
}

// upgrade sends the upgrade request and checks its answer; frames that
// came with the answer stay in buf.
func (ws *wsConn) upgrade(host, target string) error {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(raw[8:], rand.Uint64())
	var key [24]byte
	base64.StdEncoding.Encode(key[:], raw[:])
	req := make([]byte, 0, 256)
	req = append(req, "GET "...)
	req = append(req, target...)
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, host...)
	req = append(req, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "...)
	req = append(req, key[:]...)
	req = append(req, "\r\n\r\n"...)
	if _, err := ws.c.Write(req); err != nil {
		return err
	}
	end := -1
	for {
		if end = bytes.Index(ws.buf[:ws.w], []byte("\r\n\r\n")); end >= 0 {
			break
		}
		if ws.w >= wsMaxHeader {
			return errWSTooLarge
		}
		if err := ws.fill(); err != nil {
			return fmt.Errorf("upgrade answer: %w", err)
		}
	}
	head := ws.buf[:end]
	ws.r = end + 4
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 101 ")) {
		return fmt.Errorf("%w: %.80q", errWSStatus, line)
	}
	want := wsAccept(string(key[:]))
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(h, []byte(":"))
		if ok && bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")) {
			if string(bytes.TrimSpace(value)) != want {
				return errWSAccept
			}
			return nil
		}
	}
	return errWSAccept
}

// wsAccept is the Sec-WebSocket-Accept that answers key.
func wsAccept(key string) string {
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// fill reads more into buf, first moving what is left to its start, and
// growing it when full.
func (ws *wsConn) fill() error {
	if ws.r > 0 {
		ws.w = copy(ws.buf, ws.buf[ws.r:ws.w])
		ws.r = 0
	}
	if ws.w == len(ws.buf) {
		ws.buf = append(ws.buf, make([]byte, max(len(ws.buf), 512))...)
	}
	n, err := ws.c.Read(ws.buf[ws.w:])
	ws.w += n
	if n > 0 {
		return nil
	}
	return err
}

// need makes buf[r:] hold at least n bytes.
func (ws *wsConn) need(n int) error {
	for ws.w-ws.r < n {
		if err := ws.fill(); err != nil {
			return err
		}
	}
	return nil
}

// readText returns the next text frame's payload, which is valid until the
// next read, answering pings on the way; a close frame is errWSClosed.
func (ws *wsConn) readText() ([]byte, error) {
	for {
		if err := ws.need(2); err != nil {
			return nil, err
		}
		b0, b1 := ws.buf[ws.r], ws.buf[ws.r+1]
		if b1&0x80 != 0 || b0&0x70 != 0 {
			return nil, fmt.Errorf("%w: masked or with reserved bits (%#x %#x)", errWSFrame, b0, b1)
		}
		hdr, n := 2, uint64(b1&0x7f)
		switch n {
		case 126:
			hdr = 4
		case 127:
			hdr = 10
		}
		if err := ws.need(hdr); err != nil {
			return nil, err
		}
		switch hdr {
		case 4:
			n = uint64(binary.BigEndian.Uint16(ws.buf[ws.r+2:]))
		case 10:
			n = binary.BigEndian.Uint64(ws.buf[ws.r+2:])
		}
		if n > wsMaxFrame {
			return nil, errWSTooLarge
		}
		if err := ws.need(hdr + int(n)); err != nil {
			return nil, err
		}
		payload := ws.buf[ws.r+hdr : ws.r+hdr+int(n)]
		ws.r += hdr + int(n)
		op := b0 & 0x0f
		switch {
		case b0&0x80 == 0:
			return nil, fmt.Errorf("%w: fragmented (opcode %d)", errWSFrame, op)
		case op == 1:
			return payload, nil
		case op == 9:
			if err := ws.write(0xa, payload); err != nil {
				return nil, err
			}
		case op == 10:
		case op == 8:
			code := 0
			if len(payload) >= 2 {
				code = int(binary.BigEndian.Uint16(payload))
			}
			return nil, fmt.Errorf("%w (code %s)", errWSClosed, strconv.Itoa(code))
		default:
			return nil, fmt.Errorf("%w: opcode %d", errWSFrame, op)
		}
	}
}

// writeText sends one masked text frame.
func (ws *wsConn) writeText(p []byte) error { return ws.write(1, p) }

// write sends one masked frame of opcode op.
func (ws *wsConn) write(op byte, p []byte) error {
	f := make([]byte, 0, 14+len(p))
	f = append(f, 0x80|op)
	switch n := len(p); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	mask := rand.Uint32()
	f = binary.BigEndian.AppendUint32(f, mask)
	var key [4]byte
	binary.BigEndian.PutUint32(key[:], mask)
	for i, b := range p {
		f = append(f, b^key[i&3])
	}
	_, err := ws.c.Write(f)
	return err
}

// expect reads text frames until one starts with prefix, answering
// Engine.IO pings; another packet first is an error.
func (ws *wsConn) expect(prefix string) error {
	for {
		b, err := ws.readText()
		if err != nil {
			return err
		}
		switch {
		case bytes.HasPrefix(b, []byte(prefix)):
			return nil
		case string(b) == "2":
			if err := ws.writeText([]byte("3")); err != nil {
				return err
			}
		default:
			return fmt.Errorf("got %.80q: %w", b, errUnexpected)
		}
	}
}

// done clears the deadline set at dial and drops the read buffer, for a
// connection that is only held from now on.
func (ws *wsConn) done() {
	_ = ws.c.SetDeadline(time.Time{})
	ws.buf, ws.r, ws.w = nil, 0, 0
}

// Close closes the network connection.
func (ws *wsConn) Close() error { return ws.c.Close() }
