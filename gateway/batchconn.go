package gateway

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/actorio/actorio/protocol/engineio"
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
//
// Its one-byte and four-byte fields sit together after mu: 120 bytes a
// connection (the allocator's 128-byte class), not 136 (144).
type batchConn struct {
	net.Conn

	mu       sync.Mutex
	batching bool
	// inline marks a batch that a caller gathers for tryEnd: it never
	// writes while gathering, whatever its size, since that write could
	// block the caller (a socket's handler) on a peer that stopped reading.
	inline bool
	// deflate records that the WebSocket negotiated permessage-deflate
	// (setDeflate), before any write.
	deflate bool
	// closed is set by Close before it looks at parked: a reader stored
	// after that look sees it (see parkReader).
	closed atomic.Bool
	// buf holds what the batch gathered, from batchBufs; nil once written.
	buf *[]byte
	// deadline is the write deadline, applied to the connection only when
	// a write may block (gorilla sets it for every frame).
	deadline time.Time
	// applied is the deadline last set on the connection: the runtime
	// checks it before a non-blocking write too, so tryEnd clears one that
	// a blocking write left behind, which may have passed since.
	applied time.Time
	// rc is the socket, for writes without blocking (tryEnd) and reads
	// (Read); nil where the platform cannot. Set once, when the
	// connection is made (newBatchConn), and read without c.mu: a read
	// must not wait on mu, which a blocking write holds.
	rc syscall.RawConn
	// br is the buffered reader gorilla/websocket reads the connection
	// through (made by hijackWrap); a parked reader lends and takes back
	// its buffer.
	br *bufio.Reader
	// parked is the connection's reader when it parks in the poller.
	parked atomic.Pointer[parkedReader]
}

// Close implements net.Conn; a parked reader is taken out of the poller.
func (c *batchConn) Close() error {
	c.closed.Store(true)
	if r := c.parked.Load(); r != nil {
		r.forget()
	}
	return c.Conn.Close()
}

// SetWriteDeadline implements net.Conn: the deadline is kept and set on
// the connection by the next write that may block.
func (c *batchConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}

// SetDeadline implements net.Conn.
func (c *batchConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// writeLocked writes b to the connection, blocking up to the deadline.
func (c *batchConn) writeLocked(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(c.deadline); err != nil {
		return 0, err
	}
	c.applied = c.deadline
	return c.Conn.Write(b)
}

// newBatchConn returns c, a hijacked connection, as a batchConn.
func newBatchConn(c net.Conn) *batchConn {
	bc := &batchConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok && canWriteRaw {
		if rc, err := sc.SyscallConn(); err == nil {
			bc.rc = rc
		}
	}
	return bc
}

// canTry reports whether tryEnd can write without blocking here.
func (c *batchConn) canTry() bool { return c.rc != nil }

// pending reports whether a batch holds bytes tryEnd could not write.
func (c *batchConn) pending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.batching && c.buf != nil && len(*c.buf) > 0
}

// tryEnd is end without blocking: it writes what the socket takes at once
// and reports whether that was all; if not, the batch stays open with the
// rest, for end.
func (c *batchConn) tryEnd() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.applied.IsZero() {
		// A non-blocking write needs no deadline, and an old one that has
		// passed would fail it at once (an idle connection's next ack).
		if err := c.Conn.SetWriteDeadline(time.Time{}); err != nil {
			return false, err
		}
		c.applied = time.Time{}
	}
	b := *c.buf
	n, err := writeRaw(c.rc, b)
	if err != nil {
		return false, err
	}
	if n < len(b) {
		*c.buf = b[:copy(b, b[n:])]
		return false, nil
	}
	c.batching, c.inline = false, false
	*c.buf = b[:0]
	if cap(*c.buf) <= 2*batchMax {
		batchBufs.Put(c.buf)
	}
	c.buf = nil
	return true, nil
}

// tryWrite writes b outside a batch with one non-blocking write, of which
// the socket may take only a part (or nothing); the caller owns the writer
// claim and closes the connection next.
func (c *batchConn) tryWrite(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batching {
		return nil // bytes of a frame are pending: b cannot go in between
	}
	if !c.applied.IsZero() {
		if err := c.Conn.SetWriteDeadline(time.Time{}); err != nil {
			return err
		}
		c.applied = time.Time{}
	}
	_, err := writeRaw(c.rc, b)
	return err
}

// Write implements net.Conn.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		return c.writeLocked(p)
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= batchMax && !c.inline {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *batchConn) begin() { c.start(false) }

// beginInline starts a batch for tryEnd: what is written is only gathered,
// however large (at most what the connection's queue held), and tryEnd
// writes what the socket takes without blocking.
func (c *batchConn) beginInline() { c.start(true) }

func (c *batchConn) start(inline bool) {
	c.mu.Lock()
	c.batching, c.inline = true, inline
	if c.buf == nil {
		c.buf = batchBufs.Get().(*[]byte)
	}
	c.mu.Unlock()
}

// end writes out what the batch gathered and returns the buffer to the pool.
func (c *batchConn) end() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching, c.inline = false, false
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
	_, err := c.writeLocked(b)
	return err
}

// hijackWrap hands the WebSocket upgrader a batchConn when it hijacks the
// HTTP connection. With gather, the batchConn starts in a batch, so that
// the upgrader's 101 answer waits for what the handler writes next (the
// open packet of a new session) and both leave in one write(2), which the
// handler ends (batchConn.end).
type hijackWrap struct {
	http.ResponseWriter
	gather bool
}

// wsReadBuffer is the size of a WebSocket's first read buffer: small, for
// idle connections (one that parks gives it up, see parkedReader); a
// larger message is read straight into its own buffer.
const wsReadBuffer = 512

// Hijack implements http.Hijacker. The read buffer it returns is a small
// one, which the upgrader adopts (its ReadBufferSize is 0) instead of
// net/http's 4 KB one. A client that sent data before the handshake
// completed keeps net/http's buffer, and the upgrader refuses it.
//
// (Handing net/http's buffer on to the pool parked readers borrow from
// instead saved 4 KB of garbage per handshake but fed the pool one buffer
// per handshake, which it kept until the next garbage collections: idle
// memory grew by about 1 KB per connection.)
func (h hijackWrap) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	bc := newBatchConn(c)
	if h.gather {
		bc.begin()
	}
	if brw.Reader.Buffered() > 0 {
		return bc, brw, nil
	}
	bc.br = bufio.NewReaderSize(bc, wsReadBuffer)
	return bc, bufio.NewReadWriter(bc.br, brw.Writer), nil
}

// appendFrame appends p as one unmasked WebSocket frame to the batch, as
// writeFrame would write it (frameHead), and reports whether it did: only
// inside a batch, and not for the v3 base64 form.
func (c *batchConn) appendFrame(p engineio.Packet, frames frameMode) (bool, error) {
	mt, prefix, b64 := frameHead(p, frames)
	if b64 {
		return false, nil
	}
	op := byte(mt) // gorilla's message types are the frame opcodes
	n := len(prefix) + len(p.Data)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		return false, nil
	}
	b := *c.buf
	switch {
	case n >= 65536:
		b = append(b, 0x80|op, 127, byte(uint64(n)>>56), byte(uint64(n)>>48), byte(uint64(n)>>40), byte(uint64(n)>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	case n > 125:
		b = append(b, 0x80|op, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|op, byte(n))
	}
	b = append(b, prefix...)
	b = append(b, p.Data...)
	*c.buf = b
	if len(b) >= batchMax && !c.inline {
		return true, c.flushLocked()
	}
	return true, nil
}
