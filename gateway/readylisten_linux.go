package gateway

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// readyListener is ReadyListener's listener on Linux (see ReadyListener
// for its contract).
//
// Goroutines: acceptLoop accepts and registers, pollLoop waits on the
// epoll instance, sweepLoop hands over the connections that waited too
// long. Each connection is handed over once: whoever removes it from
// waiting, under mu, hands it over (pollLoop, sweepLoop or, for those
// still there, Close, which closes them). A connection handed over goes
// through ready to Accept.
type readyListener struct {
	ln   *net.TCPListener
	wait time.Duration

	// ready carries the connections handed over, in order, to Accept.
	ready chan *net.TCPConn
	// done is closed by Close; failed when the inner Accept failed for
	// good, after err is set.
	done, failed chan struct{}
	err          error
	// kick wakes sweepLoop when queue stops being empty.
	kick chan struct{}
	// wg counts the three goroutines.
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	// epfd is the epoll instance; wakefd an eventfd registered in it,
	// which Close writes to end pollLoop. Both are closed by Close once
	// the goroutines have ended.
	epfd, wakefd int

	// mu guards what follows and orders every epoll_ctl with the
	// hand-over of the connection it concerns.
	mu sync.Mutex
	// waiting holds the connections not handed over yet, by descriptor.
	waiting map[int32]*pendingConn
	// queue holds the same, and those handed over since, by accept time
	// (so by deadline: wait is constant); sweepLoop pops its front.
	// stale counts its entries handed over by pollLoop, which it drops
	// (compactLocked) once they are most of it, so that a high accept
	// rate does not keep wait's worth of them.
	queue []*pendingConn
	stale int
	// seq numbers registrations, so that an event read for a descriptor
	// before it was handed over, closed and reused is not taken for the
	// new connection's.
	seq uint32
	// closed: Close ran. broken: pollLoop failed, so that new connections
	// are handed over at once.
	closed, broken bool

	// up, when set (ServeUpgrades), serves the WebSocket upgrade requests
	// that pollLoop finds whole in a connection's first bytes.
	up atomic.Pointer[upgradeServer]
}

// pendingConn is a connection that waits for its client's first bytes.
type pendingConn struct {
	// c is nil once the connection was handed over or closed.
	c        *net.TCPConn
	fd       int32
	seq      uint32
	deadline time.Time
}

// readyQueue is the capacity of readyListener.ready: how many
// connections may be handed over before Accept takes them (pollLoop and
// sweepLoop wait beyond that).
const readyQueue = 256

// readyEvents is how many epoll events one epoll_wait reads.
const readyEvents = 128

// readyListen starts a readyListener on ln, or returns ln when the epoll
// instance or its eventfd cannot be made.
func readyListen(ln *net.TCPListener, wait time.Duration) net.Listener {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return ln
	}
	wakefd, err := eventfd()
	if err != nil {
		_ = syscall.Close(epfd)
		return ln
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(wakefd)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(wakefd)
		return ln
	}
	l := &readyListener{
		ln: ln, wait: wait,
		ready:  make(chan *net.TCPConn, readyQueue),
		done:   make(chan struct{}),
		failed: make(chan struct{}),
		kick:   make(chan struct{}, 1),
		epfd:   epfd, wakefd: wakefd,
		waiting: make(map[int32]*pendingConn),
	}
	l.wg.Add(3)
	go l.acceptLoop()
	go l.pollLoop()
	go l.sweepLoop()
	return l
}

// eventfd returns a new non-blocking eventfd.
func eventfd() (int, error) {
	fd, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// Accept returns the next connection that became ready.
func (l *readyListener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, l.closedError("accept")
	case <-l.failed:
		return nil, l.err
	default:
	}
	select {
	case c := <-l.ready:
		select {
		case <-l.done:
			_ = c.Close()
			return nil, l.closedError("accept")
		case <-l.failed:
			_ = c.Close()
			return nil, l.err
		default:
			return c, nil
		}
	case <-l.done:
		return nil, l.closedError("accept")
	case <-l.failed:
		return nil, l.err
	}
}

// Addr returns the inner listener's address.
func (l *readyListener) Addr() net.Addr { return l.ln.Addr() }

// Close closes the inner listener and the connections not handed over,
// and returns once the listener's goroutines have ended; calls after the
// first return an error that satisfies errors.Is(err, net.ErrClosed).
func (l *readyListener) Close() error {
	first := false
	l.closeOnce.Do(func() {
		first = true
		l.mu.Lock()
		l.closed = true
		conns := make([]*net.TCPConn, 0, len(l.waiting))
		for _, p := range l.waiting {
			conns = append(conns, p.c)
			p.c = nil
		}
		clear(l.waiting)
		l.queue, l.stale = nil, 0
		l.mu.Unlock()

		close(l.done)
		l.closeErr = l.ln.Close()
		var one [8]byte
		one[0] = 1 // a non-zero counter in either byte order
		_, _ = syscall.Write(l.wakefd, one[:])
		l.wg.Wait()
		_ = syscall.Close(l.epfd)
		_ = syscall.Close(l.wakefd)

		for _, c := range conns {
			_ = c.Close()
		}
		for {
			select {
			case c := <-l.ready:
				_ = c.Close()
				continue
			default:
			}
			break
		}
	})
	if !first {
		return l.closedError("close")
	}
	return l.closeErr
}

// closedError is what Accept and a second Close return once Close ran.
func (l *readyListener) closedError(op string) error {
	a := l.ln.Addr()
	return &net.OpError{Op: op, Net: a.Network(), Addr: a, Err: net.ErrClosed}
}

// acceptLoop accepts until the inner listener is closed or fails for
// good, and registers every connection.
func (l *readyListener) acceptLoop() {
	defer l.wg.Done()
	var pause time.Duration
	var t *time.Timer
	for {
		c, err := l.ln.AcceptTCP()
		if err == nil {
			pause = 0
			l.add(c)
			continue
		}
		select {
		case <-l.done:
			return
		default:
		}
		if !temporaryAcceptError(err) {
			l.err = err
			close(l.failed)
			return
		}
		pause = nextAcceptRetry(pause)
		if t == nil {
			t = time.NewTimer(pause)
		} else {
			t.Reset(pause)
		}
		select {
		case <-l.done:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// temporaryAcceptError reports whether an Accept error is worth retrying:
// out of descriptors, a connection aborted before it was accepted, or a
// timeout.
func temporaryAcceptError(err error) bool {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Outcomes of register.
const (
	registered = iota // waits in the epoll set
	handNow           // could not be registered: hand it over at once
	closeNow          // the listener is closed: close it
)

// add makes c wait for its client's first bytes, or hands it over at once
// when it cannot.
func (l *readyListener) add(c *net.TCPConn) {
	res := handNow
	if rc, err := c.SyscallConn(); err == nil {
		// Inside Control the descriptor stays open, so the number
		// registered is c's.
		_ = rc.Control(func(fd uintptr) { res = l.register(c, int(fd)) })
	}
	switch res {
	case handNow:
		l.handOver(c)
	case closeNow:
		_ = c.Close()
	}
}

// register adds c, whose descriptor is fd, to the epoll set and to
// waiting and queue.
func (l *readyListener) register(c *net.TCPConn, fd int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return closeNow
	}
	if l.broken {
		return handNow
	}
	l.seq++
	if l.seq == 0 {
		l.seq = 1
	}
	p := &pendingConn{c: c, fd: int32(fd), seq: l.seq, deadline: time.Now().Add(l.wait)}
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     p.fd,
		Pad:    int32(p.seq),
	}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return handNow
	}
	l.waiting[p.fd] = p
	l.queue = append(l.queue, p)
	if len(l.queue) == 1 {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	return registered
}

// release takes p out of waiting and out of the epoll set and returns its
// connection, which the caller then hands over. l.mu is held.
func (l *readyListener) release(p *pendingConn) *net.TCPConn {
	delete(l.waiting, p.fd)
	var ev syscall.EpollEvent
	// The descriptor is still open (c is closed only after it is handed
	// over); an error here changes nothing.
	_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, int(p.fd), &ev)
	c := p.c
	p.c = nil
	return c
}

// handOver queues c for Accept, or closes it when the listener closes
// or has failed first.
func (l *readyListener) handOver(c *net.TCPConn) {
	select {
	case l.ready <- c:
	case <-l.done:
		_ = c.Close()
	case <-l.failed:
		_ = c.Close()
	}
}

// pollLoop hands over each connection that becomes readable or hangs up,
// until Close wakes it through wakefd.
func (l *readyListener) pollLoop() {
	defer l.wg.Done()
	events := make([]syscall.EpollEvent, readyEvents)
	var due []readyConn
	var peek []byte
	for {
		n, err := syscall.EpollWait(l.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			l.breakPoll()
			return
		}
		due = due[:0]
		l.mu.Lock()
		for i := range events[:n] {
			ev := &events[i]
			if int(ev.Fd) == l.wakefd {
				l.mu.Unlock()
				return
			}
			if p := l.waiting[ev.Fd]; p != nil && p.seq == uint32(ev.Pad) {
				due = append(due, readyConn{l.release(p), p.fd})
				l.stale++
			}
		}
		l.compactLocked()
		l.mu.Unlock()
		u := l.up.Load()
		if u != nil && peek == nil {
			peek = make([]byte, upgradeHeadMax)
		}
		for i, r := range due {
			due[i] = readyConn{}
			if u != nil {
				if n := upgradeHeadLen(peekHead(r.fd, peek)); n > 0 {
					u.add(upgradeRequest{c: r.c, head: bytes.Clone(peek[:n])})
					continue
				}
			}
			l.handOver(r.c)
		}
	}
}

// readyConn is a connection pollLoop hands over, and its descriptor.
type readyConn struct {
	c  *net.TCPConn
	fd int32
}

// peekHead returns the bytes waiting in the receive queue of fd, an open
// connection's descriptor, up to len(buf), without taking them; nil when
// there are none, or as many as buf holds (more may follow).
func peekHead(fd int32, buf []byte) []byte {
	n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	if errno != 0 || int(n) <= 0 || int(n) >= len(buf) {
		return nil
	}
	return buf[:n]
}

// serveUpgrades installs u on ln when ln is a readyListener.
func serveUpgrades(ln net.Listener, u *upgradeServer) bool {
	l, ok := ln.(*readyListener)
	if ok {
		u.done, u.handOver = l.done, l.handOver
		l.up.Store(u)
	}
	return ok
}

// compactLocked drops the queue's entries already handed over, once they
// are more than half of it (and more than a few); l.mu is held.
func (l *readyListener) compactLocked() {
	if l.stale < minCompact || 2*l.stale < len(l.queue) {
		return
	}
	kept := make([]*pendingConn, 0, len(l.queue)-l.stale)
	for _, p := range l.queue {
		if p.c != nil {
			kept = append(kept, p)
		}
	}
	l.queue, l.stale = kept, 0
}

// minCompact is the fewest stale queue entries compactLocked drops.
const minCompact = 256

// breakPoll hands over every waiting connection after epoll_wait failed
// (it does not in practice), and makes later ones be handed over at once.
func (l *readyListener) breakPoll() {
	l.mu.Lock()
	l.broken = true
	due := make([]*net.TCPConn, 0, len(l.waiting))
	for _, p := range l.queue {
		if p.c != nil {
			due = append(due, l.release(p))
		}
	}
	l.queue, l.stale = nil, 0
	l.mu.Unlock()
	for _, c := range due {
		l.handOver(c)
	}
}

// sweepLoop hands over the connections that waited l.wait, from the front
// of queue, with a timer set to the front's deadline.
func (l *readyListener) sweepLoop() {
	defer l.wg.Done()
	t := time.NewTimer(l.wait)
	defer t.Stop()
	var due []*net.TCPConn
	for {
		select {
		case <-l.done:
			return
		case <-l.kick:
		case <-t.C:
		}
		now := time.Now()
		next := time.Duration(-1)
		due = due[:0]
		l.mu.Lock()
		for len(l.queue) > 0 {
			p := l.queue[0]
			if p.c != nil {
				if d := p.deadline.Sub(now); d > 0 {
					next = d
					break
				}
				due = append(due, l.release(p))
			} else {
				l.stale--
			}
			l.queue[0] = nil
			l.queue = l.queue[1:]
		}
		l.mu.Unlock()
		if next >= 0 {
			t.Reset(next)
		}
		for i, c := range due {
			l.handOver(c)
			due[i] = nil
		}
	}
}
