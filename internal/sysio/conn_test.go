//go:build unix

package sysio_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/sysio"
)

// pair returns the two ends of a TCP connection on 127.0.0.1, the first
// wrapped by sysio.Wrap; both are closed when t ends.
func pair(t *testing.T) (wrapped, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p := <-accepted
	if p == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = c.Close(); _ = p.Close() })
	w := sysio.Wrap(c)
	if _, ok := w.(*sysio.Conn); ok != sysio.Raw {
		t.Fatalf("Wrap returned %T with Raw %v", w, sysio.Raw)
	}
	return w, p
}

// TestConn: a wrapped connection reads and writes as a net.Conn does, over
// a real socket: a read waits for the peer's bytes, a write of more than
// the socket buffers take waits for the peer to read, deadlines end both
// waits with a timeout, the peer's close is io.EOF and its reset an
// *net.OpError that is ECONNRESET, and an empty write reports a deadline
// that passed (what the cluster's dispatcher relies on, awaitRelease).
func TestConn(t *testing.T) {
	t.Run("read waits for bytes", func(t *testing.T) {
		c, p := pair(t)
		go func() {
			time.Sleep(50 * time.Millisecond)
			_, _ = p.Write([]byte("hello"))
		}()
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("Read: %q, %v", buf[:n], err)
		}
	})
	t.Run("large write waits for the reader", func(t *testing.T) {
		c, p := pair(t)
		want := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
		got := make(chan []byte, 1)
		go func() {
			time.Sleep(100 * time.Millisecond) // the writer fills the buffers first
			b, _ := io.ReadAll(p)
			got <- b
		}()
		n, err := c.Write(want)
		if err != nil || n != len(want) {
			t.Fatalf("Write: %d of %d, %v", n, len(want), err)
		}
		_ = c.Close()
		if b := <-got; !bytes.Equal(b, want) {
			t.Fatalf("the peer read %d bytes, not what was written (%d)", len(b), len(want))
		}
	})
	t.Run("deadlines", func(t *testing.T) {
		c, _ := pair(t)
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		start := time.Now()
		if _, err := c.Read(make([]byte, 8)); !isTimeout(err) {
			t.Fatalf("Read past its deadline: %v, want a timeout", err)
		}
		if d := time.Since(start); d < 40*time.Millisecond {
			t.Fatalf("Read returned after %v, before its deadline", d)
		}
		// The peer reads nothing: the write fills the buffers, then waits.
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Write(make([]byte, 64<<20))
		if !isTimeout(err) || n == 0 || n == 64<<20 {
			t.Fatalf("Write past its deadline: %d bytes, %v; want part of it and a timeout", n, err)
		}
		// An empty write sees the deadline too, as net.Conn's does.
		if _, err := c.Write(nil); !isTimeout(err) {
			t.Fatalf("Write(nil) past the deadline: %v, want a timeout", err)
		}
		_ = c.SetWriteDeadline(time.Time{})
		if _, err := c.Write(nil); err != nil {
			t.Fatalf("Write(nil) without a deadline: %v", err)
		}
	})
	t.Run("end and reset", func(t *testing.T) {
		c, p := pair(t)
		_ = p.Close()
		if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Fatalf("Read after the peer closed: %d, %v; want io.EOF", n, err)
		}
		c, p = pair(t)
		_ = p.(*net.TCPConn).SetLinger(0) // close with a reset
		_ = p.Close()
		_, err := c.Read(make([]byte, 8))
		var op *net.OpError
		if !errors.As(err, &op) || !errors.Is(err, syscall.ECONNRESET) || op.Op != "read" {
			t.Fatalf("Read after the peer's reset: %#v, want a read *net.OpError that is ECONNRESET", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		c, _ := pair(t)
		_ = c.Close()
		if _, err := c.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
		}
	})
}

// TestWriteConnPartial: without all, WriteConn makes one write and returns
// what the socket took, nothing once its buffers are full.
func TestWriteConnPartial(t *testing.T) {
	c, _ := pair(t)
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 64<<20)
	n, e, err := sysio.WriteConn(rc, big, false)
	if err != nil || e != 0 || n == 0 || n == len(big) {
		t.Fatalf("first write: %d of %d, %v, %v; want part of it", n, len(big), e, err)
	}
	for range 100 { // what the kernel frees as it moves bytes to the peer
		if n, e, err = sysio.WriteConn(rc, big, false); n == 0 {
			break
		}
	}
	if n != 0 || e != 0 || err != nil {
		t.Fatalf("write to full buffers: %d, %v, %v; want nothing taken and no error", n, e, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

// waitCounter counts the times a read told it that it was about to wait.
type waitCounter struct{ n atomic.Int32 }

func (w *waitCounter) WillWait() { w.n.Add(1) }

// TestReadConnWaiting: a read that finds bytes at hand does not tell its
// Waiter, one that must wait for them does, before it waits.
func TestReadConnWaiting(t *testing.T) {
	c, p := pair(t)
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)

	if _, err := p.Write([]byte("at hand")); err != nil {
		t.Fatal(err)
	}
	var w waitCounter
	got := 0
	for got < len("at hand") { // the bytes may cross the loopback in pieces
		n, e, err := sysio.ReadConnWaiting(rc, buf[got:], &w)
		if err != nil || e != 0 {
			t.Fatalf("read: %v, %v", e, err)
		}
		got += n
	}
	if string(buf[:got]) != "at hand" {
		t.Fatalf("read %q", buf[:got])
	}
	if w.n.Load() > 1 {
		t.Fatalf("told %d times for bytes written before the read", w.n.Load())
	}

	var told waitCounter
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for told.n.Load() == 0 { // the read waits before the bytes come
			time.Sleep(time.Millisecond)
		}
		_, _ = p.Write([]byte("later"))
	}()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, e, err := sysio.ReadConnWaiting(rc, buf, &told)
	<-wrote
	if err != nil || e != 0 || string(buf[:n]) != "later" {
		t.Fatalf("read %q, %v, %v; want %q", buf[:n], e, err, "later")
	}
	if told.n.Load() == 0 {
		t.Fatal("the read waited without telling its Waiter")
	}
}
