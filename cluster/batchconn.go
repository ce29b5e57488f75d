package cluster

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"
)

// batchConn is the connection under a link's TLS. TLS writes each record
// it makes (one per Write, and one per 16 KB of a larger one) with a
// write(2) of its own; between begin and flush, batchConn gathers them
// instead and writes them together at flush, so that a batch of frames
// (a burst of broadcasts, the answers to long-polling requests handed
// over, each as large as a session's queue) costs one write(2), or one
// per batchMax bytes, rather than one per frame and per 16 KB.
type batchConn struct {
	net.Conn
	mu  sync.Mutex // TLS's own writes (a Close's alert) may come from another goroutine
	on  bool
	buf []byte
}

// batchMax bounds what batchConn gathers: past it, what was gathered is
// written at once.
const batchMax = 256 << 10

// begin starts gathering what TLS writes.
func (c *batchConn) begin() {
	c.mu.Lock()
	c.on = true
	c.mu.Unlock()
}

// flush writes what was gathered since begin, and stops gathering. The
// lock is not held while writing: a Close's alert does not wait for it.
func (c *batchConn) flush() error {
	c.mu.Lock()
	c.on = false
	buf := c.buf
	c.buf = nil
	c.mu.Unlock()
	if len(buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(buf)
	c.mu.Lock()
	if c.buf == nil {
		c.buf = buf[:0]
	}
	c.mu.Unlock()
	return err
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.on {
		// Not held while writing: a Close's alert does not wait for a
		// flush.
		c.mu.Unlock()
		return c.Conn.Write(p)
	}
	defer c.mu.Unlock()
	if len(c.buf) > 0 && len(c.buf)+len(p) > batchMax {
		// Within TLS's Write, which a Close does not wait for: it
		// closes the connection, which ends this write.
		_, err := c.Conn.Write(c.buf)
		c.buf = c.buf[:0]
		if err != nil {
			return 0, err
		}
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// SyscallConn returns the socket's, for the link to look at its kernel
// send queue (rawConn).
func (c *batchConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("cluster link: not a socket")
}

// batchOf returns the batchConn under c, a link's connection, if it has
// one (a TLS link's).
func batchOf(c net.Conn) *batchConn {
	if tc, ok := c.(*tls.Conn); ok {
		b, _ := tc.NetConn().(*batchConn)
		return b
	}
	return nil
}

// writeBatch writes the frames (or parts of frames) of batch on c, a
// link's connection: one writev(2) on a plain connection; on a TLS one, a
// record each (or more for one over 16 KB), gathered under TLS and
// written together (batchConn).
func writeBatch(c net.Conn, batch [][]byte) error {
	b := batchOf(c)
	if b != nil {
		b.begin()
	}
	bufs := net.Buffers(batch)
	_, err := bufs.WriteTo(c)
	if b != nil {
		if ferr := b.flush(); err == nil {
			err = ferr
		}
	}
	return err
}
