package gateway

import (
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"
)

// poller waits, on one goroutine, for the idle WebSockets of a server to
// become readable (an epoll instance of its own, beside the runtime's), so
// that an idle connection owns no goroutine: its reader parks here and a
// new goroutine reads once the client sends something. A second goroutine
// sweeps the busy readers that wait on goroutines of their own (see
// parkedReader) and sends the quiet ones to park.
//
// Each parked connection is registered level-triggered and one-shot: one
// readiness event, after which it is disarmed until its reader parks again
// (EPOLL_CTL_MOD). Bytes that arrived between the last read and the
// re-arming are reported at once, so nothing is missed.
//
// A server runs a poller only while it has WebSockets (Server.acquirePoller).
type poller struct {
	log *slog.Logger
	// wg counts the poller's two goroutines (the server waits for it).
	wg *sync.WaitGroup

	// ctl guards the epoll descriptor's life: held for reading around
	// every epoll_ctl, for writing to close it, so that no epoll_ctl can
	// reach a descriptor number the kernel gave to something else since.
	ctl      sync.RWMutex
	epfd     int
	epClosed bool
	// wakeR, wakeW: a pipe whose read end is registered; stop writes to it.
	wakeR, wakeW int
	stopSweep    chan struct{}

	mu     sync.Mutex
	parked map[uint64]*parkedReader
	// active holds the readers whose runs wait on their goroutine
	// (parkedReader.waitActive).
	active map[*parkedReader]struct{}
	nextID uint64
	// closed: no reader parks any more; stopped: stop ran.
	closed, stopped bool
}

// wakeKey is the epoll key of the poller's wake pipe (readers' keys start at 1).
const wakeKey = 0

// newPoller starts a poller whose goroutines wg counts.
func newPoller(log *slog.Logger, wg *sync.WaitGroup) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		_ = syscall.Close(epfd)
		return nil, fmt.Errorf("pipe2: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	setKey(&ev, wakeKey)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, fds[0], &ev); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(fds[0])
		_ = syscall.Close(fds[1])
		return nil, fmt.Errorf("epoll_ctl add wake pipe: %w", err)
	}
	p := &poller{
		log: log, wg: wg,
		epfd: epfd, wakeR: fds[0], wakeW: fds[1],
		stopSweep: make(chan struct{}),
		parked:    make(map[uint64]*parkedReader),
		active:    make(map[*parkedReader]struct{}),
		nextID:    wakeKey + 1,
	}
	wg.Add(2)
	go p.run()
	go p.sweeper()
	return p, nil
}

// setKey and key store a reader's id in an epoll event's data (the two
// 32-bit words after the event mask).
func setKey(ev *syscall.EpollEvent, k uint64) {
	ev.Fd = int32(uint32(k))
	ev.Pad = int32(uint32(k >> 32))
}

func key(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// run waits for events until stop, and hands each readable connection's
// reader a goroutine; it closes the epoll descriptor when it ends.
func (p *poller) run() {
	defer p.wg.Done()
	defer func() {
		p.ctl.Lock()
		p.epClosed = true
		_ = syscall.Close(p.epfd)
		_ = syscall.Close(p.wakeR)
		p.ctl.Unlock()
	}()
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			p.log.Error("engine.io websocket poller failed", slog.Any("err", err))
			p.failAll()
			return
		}
		for i := range events[:n] {
			k := key(&events[i])
			if k == wakeKey {
				return
			}
			p.mu.Lock()
			r := p.parked[k]
			delete(p.parked, k)
			p.mu.Unlock()
			if r != nil {
				r.resume()
			}
		}
	}
}

// failAll wakes every parked reader after the poller broke (its runs then
// read on, blocking, on goroutines of their own).
func (p *poller) failAll() {
	p.mu.Lock()
	p.closed = true
	rs := make([]*parkedReader, 0, len(p.parked))
	for k, r := range p.parked {
		rs = append(rs, r)
		delete(p.parked, k)
	}
	p.mu.Unlock()
	for _, r := range rs {
		r.resume()
	}
}

// sweep adds r to the active set; unsweep removes it.
func (p *poller) sweep(r *parkedReader) {
	p.mu.Lock()
	p.active[r] = struct{}{}
	p.mu.Unlock()
}

func (p *poller) unsweep(r *parkedReader) {
	p.mu.Lock()
	delete(p.active, r)
	p.mu.Unlock()
}

// sweeper, every activeWindow, sends the waiting runs that read nothing
// for a whole window to park.
func (p *poller) sweeper() {
	defer p.wg.Done()
	t := time.NewTicker(activeWindow)
	defer t.Stop()
	var rs []*parkedReader
	for {
		select {
		case <-p.stopSweep:
			return
		case <-t.C:
		}
		p.mu.Lock()
		rs = rs[:0]
		for r := range p.active {
			rs = append(rs, r)
		}
		p.mu.Unlock()
		for _, r := range rs {
			r.kickIfQuiet()
		}
		clear(rs)
	}
}

// park registers r to be resumed when its connection, whose descriptor is
// fd, becomes readable. It returns false when the poller is closing or r's
// connection is (the caller then reads on, blocking). The caller holds fd
// open (inside syscall.RawConn.Control), so the descriptor cannot be
// another connection's by then.
func (p *poller) park(r *parkedReader, fd int) (bool, error) {
	p.mu.Lock()
	if p.closed || r.gone {
		p.mu.Unlock()
		return false, nil
	}
	if r.id == 0 {
		r.id = p.nextID
		p.nextID++
	}
	p.parked[r.id] = r
	op := syscall.EPOLL_CTL_MOD
	if !r.registered {
		op = syscall.EPOLL_CTL_ADD
		// Set under mu, before the registration: once it is made, the
		// next run may start (and park) before this call returns, and mu
		// is what orders the two (the poller takes it to find r).
		r.registered = true
	}
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT}
	setKey(&ev, r.id)
	p.ctl.RLock()
	var err error = syscall.EBADF
	if !p.epClosed {
		err = syscall.EpollCtl(p.epfd, op, fd, &ev)
	}
	p.ctl.RUnlock()
	if err == nil {
		return true, nil
	}
	p.mu.Lock()
	if op == syscall.EPOLL_CTL_ADD {
		r.registered = false // no registration: no other run
	}
	delete(p.parked, r.id)
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return false, nil
	}
	return false, fmt.Errorf("epoll_ctl: %w", err)
}

// forget drops r for good, as its connection closes (the kernel removes
// the descriptor from the epoll set when it closes).
func (p *poller) forget(r *parkedReader) {
	p.mu.Lock()
	r.gone = true
	delete(p.parked, r.id)
	delete(p.active, r)
	p.mu.Unlock()
}

// stop makes the poller's goroutines end, without waiting for them (it may
// run on one of them): readers still parked are dropped, their connections
// closed by then. Later calls do nothing.
func (p *poller) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.closed, p.stopped = true, true
	clear(p.parked)
	clear(p.active)
	p.mu.Unlock()
	close(p.stopSweep)
	_, _ = syscall.Write(p.wakeW, []byte{1}) // run may have ended already
	_ = syscall.Close(p.wakeW)
}

// acquirePoller returns the server's poller for one more WebSocket,
// starting it if none runs; nil once the server is shut or when it cannot
// start (that WebSocket is then read on a goroutine of its own). Each
// successful call is matched by a releasePoller.
func (s *Server) acquirePoller() *poller {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut || s.pollFailed {
		return nil
	}
	if s.poll == nil {
		p, err := newPoller(s.log, &s.pollWG)
		if err != nil {
			s.pollFailed = true
			s.log.Warn("engine.io websocket poller unavailable: one goroutine per websocket", slog.Any("err", err))
			return nil
		}
		s.poll = p
	}
	s.pollUsers++
	return s.poll
}

// releasePoller ends one acquirePoller's use of p; the last one stops it.
func (s *Server) releasePoller(p *poller) {
	s.mu.Lock()
	if s.poll != p {
		s.mu.Unlock()
		return // stopped by Close
	}
	s.pollUsers--
	last := s.pollUsers == 0
	if last {
		s.poll = nil
	}
	s.mu.Unlock()
	if last {
		p.stop()
	}
}

// stopPoller stops the server's poller (Close) and waits for every
// poller's goroutines.
func (s *Server) stopPoller() {
	s.mu.Lock()
	p := s.poll
	s.poll = nil
	s.pollUsers = 0
	s.mu.Unlock()
	if p != nil {
		p.stop()
	}
	s.pollWG.Wait()
}
