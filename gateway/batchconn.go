package gateway

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// batchMax bounds how many bytes a batch holds before it is written out.
const batchMax = 64 << 10

// batchBufs recycles batch buffers between writer runs, so an idle
// connection holds none.
var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// batchConn is the network connection under a WebSocket: between begin and
// end its writes are gathered, so the frames the writer drains in one run
// leave in one write(2) instead of one each. Outside a batch (control
// frames) writes go straight through.
type batchConn struct {
	net.Conn

	mu       sync.Mutex
	batching bool
	buf      *[]byte

	// br is the WebSocket's read buffer (see hijackWrap), read by the read
	// loop only; rc and peek serve waitReadable.
	br   *bufio.Reader
	rc   syscall.RawConn
	peek func(fd uintptr) bool
}

// Write implements net.Conn.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		return c.Conn.Write(p)
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= batchMax {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *batchConn) begin() {
	c.mu.Lock()
	c.batching = true
	if c.buf == nil {
		c.buf = batchBufs.Get().(*[]byte)
	}
	c.mu.Unlock()
}

// end writes out what the batch gathered and returns the buffer to the pool.
func (c *batchConn) end() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = false
	err := c.flushLocked()
	if cap(*c.buf) <= 2*batchMax {
		batchBufs.Put(c.buf)
	}
	c.buf = nil
	return err
}

func (c *batchConn) flushLocked() error {
	b := *c.buf
	*c.buf = b[:0]
	if len(b) == 0 {
		return nil
	}
	_, err := c.Conn.Write(b)
	return err
}

// hijackWrap hands the WebSocket upgrader a batchConn when it hijacks the
// HTTP connection.
type hijackWrap struct {
	http.ResponseWriter
}

// wsReadBuffer is the size of a WebSocket's read buffer: small, for idle
// connections; a larger message is read straight into its own buffer.
const wsReadBuffer = 512

// Hijack implements http.Hijacker. The read buffer it returns is a small
// one of the batchConn's own, which the upgrader adopts (its
// ReadBufferSize is 0), so that the read loop can tell when it is empty.
// A client that sent data before the handshake completed keeps net/http's
// buffer, and the upgrader refuses it.
func (h hijackWrap) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	bc := &batchConn{Conn: c}
	if brw.Reader.Buffered() > 0 {
		return bc, brw, nil
	}
	bc.br = bufio.NewReaderSize(bc, wsReadBuffer)
	return bc, bufio.NewReadWriter(bc.br, brw.Writer), nil
}

// quietAfter is how long a wait for a frame must last for the connection
// to count as quiet: the read loop then waits for the next one in
// waitReadable.
const quietAfter = 100 * time.Millisecond

// waitReadable blocks until the connection has something to read (or has
// failed), on a shallow stack: a quiet connection's read goroutine parked
// here uses so little of its stack that the garbage collector halves it,
// which a goroutine parked deep in the WebSocket reader does not allow.
// It returns at once when the read buffer holds data or the platform has
// no way to peek.
func (c *batchConn) waitReadable() {
	if c.br == nil || c.br.Buffered() > 0 {
		return
	}
	if c.rc == nil {
		sc, ok := c.Conn.(syscall.Conn)
		if !ok {
			return
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return
		}
		c.rc, c.peek = rc, peekReadable
	}
	_ = c.rc.Read(c.peek)
}
