//go:build unix

package sysio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// call is one ReadConn or WriteConn call's state. Its callbacks are made
// once per call value, which calls recycles: a closure over a call's
// variables would escape to the heap with them, on every read.
type call struct {
	b       []byte
	n       int
	err     syscall.Errno
	read    func(fd uintptr) bool
	write   func(fd uintptr) bool
	partial bool // write: return after one write(2), whatever it took
	short   bool // write: write(2) took nothing and reported no error
	// waiting, when not nil, is told by a read each time it is about to
	// wait in the runtime's poller (ReadConnWaiting).
	waiting Waiter
}

// Waiter is told when a read is about to wait for bytes (ReadConnWaiting).
type Waiter interface{ WillWait() }

var calls = sync.Pool{New: func() any {
	c := new(call)
	c.read = c.readFD
	c.write = c.writeFD
	return c
}}

// readFD makes one read(2); false asks the runtime's poller to wait.
func (c *call) readFD(fd uintptr) bool {
	for {
		n, e := Read(fd, c.b)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if c.waiting != nil {
				c.waiting.WillWait()
			}
			return false
		}
		c.n, c.err = n, e
		return true
	}
}

// writeFD writes what is left of c.b; false asks the runtime's poller to
// wait until the socket takes more.
func (c *call) writeFD(fd uintptr) bool {
	for c.n < len(c.b) {
		n, e := Write(fd, c.b[c.n:])
		switch e {
		case 0:
			c.n += n
			if c.partial {
				return true
			}
			if n == 0 { // nothing taken, no error: stop, as net.Conn's Write does
				c.short = true
				return true
			}
		case syscall.EINTR:
		case syscall.EAGAIN:
			if c.partial {
				return true
			}
			return false
		default:
			c.err = e
			return true
		}
	}
	return true
}

// ReadConn reads into b from the socket under rc, as a net.Conn's Read
// does: it waits in the runtime's poller until bytes come, honouring the
// read deadline, and returns io.EOF at the end. A failed read(2) returns
// its Errno, which the caller wraps; a failed wait (closed, deadline)
// returns rc's error.
func ReadConn(rc syscall.RawConn, b []byte) (int, syscall.Errno, error) {
	return ReadConnWaiting(rc, b, nil)
}

// ReadConnWaiting is ReadConn telling w, if not nil, each time the read
// is about to wait for bytes (the socket had none), before it waits.
func ReadConnWaiting(rc syscall.RawConn, b []byte, w Waiter) (int, syscall.Errno, error) {
	if len(b) == 0 {
		return 0, 0, nil
	}
	c := calls.Get().(*call)
	c.b, c.waiting = b, w
	err := rc.Read(c.read)
	n, e := c.n, c.err
	c.b, c.n, c.err, c.waiting = nil, 0, 0, nil
	calls.Put(c)
	switch {
	case err != nil:
		return 0, 0, err
	case e != 0:
		return 0, e, nil
	case n == 0:
		return 0, 0, io.EOF
	}
	return n, 0, nil
}

// WriteConn writes b to the socket under rc. With all, it writes all of b
// as a net.Conn's Write does, waiting in the runtime's poller while the
// socket's buffer is full, within the write deadline (io.ErrUnexpectedEOF
// if a write(2) takes nothing without an error, as net.Conn's Write).
// Without, it makes one write(2) and returns what the socket took, 0 when
// it took nothing.
func WriteConn(rc syscall.RawConn, b []byte, all bool) (int, syscall.Errno, error) {
	if len(b) == 0 {
		return 0, 0, nil
	}
	c := calls.Get().(*call)
	c.b, c.partial = b, !all
	err := rc.Write(c.write)
	n, e := c.n, c.err
	if c.short && err == nil {
		err = io.ErrUnexpectedEOF
	}
	c.b, c.n, c.err, c.partial, c.short = nil, 0, 0, false, false
	calls.Put(c)
	return n, e, err
}

// Conn is a TCP connection whose Read and Write are ReadConn and
// WriteConn (all of it) on its socket; the rest is the connection's own.
type Conn struct {
	net.Conn
	rc syscall.RawConn
}

// Wrap returns c as a Conn when its socket can be reached, c itself
// otherwise (or when the calls would not be raw anyway).
func Wrap(c net.Conn) net.Conn {
	if !Raw {
		return c
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &Conn{Conn: c, rc: rc}
}

// SyscallConn returns the socket under c.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// Read implements net.Conn. An empty b is the connection's own Read (which
// reports a deadline that has passed, or a close).
func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return c.Conn.Read(b)
	}
	n, e, err := ReadConn(c.rc, b)
	if e != 0 {
		err = OpError("read", c.Conn, e)
	}
	return n, err
}

// Write implements net.Conn. An empty b is the connection's own Write
// (which reports a deadline that has passed, or a close).
func (c *Conn) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return c.Conn.Write(b)
	}
	n, e, err := WriteConn(c.rc, b, true)
	if e != 0 {
		err = OpError("write", c.Conn, e)
	}
	return n, err
}

// OpError is a failed system call op on c's socket, as net.Conn reports it.
func OpError(op string, c net.Conn, e syscall.Errno) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, e)}
}
