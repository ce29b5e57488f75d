package gateway

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
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
// The poller admits at most maxRuns runs at a time (see admit): when
// thousands of connections become readable at once (their clients all
// hang up, say), the runs wait in the kernel's epoll set rather than as
// thousands of goroutines, each with its stack, that two cores run one
// after another anyway.
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

	// adm holds the admission's epoch (high 32 bits) and how many runs
	// admitted in that epoch have not settled yet (low 32 bits).
	adm atomic.Uint64
	// admWaiting: the poller's goroutine waits for a run to settle
	// (awaitRoom), which tells it through admFreed.
	admWaiting atomic.Bool
	admFreed   chan struct{}
	maxRuns    uint32
	// admStalls counts the waits that ended without a settled run (for
	// tests).
	admStalls atomic.Int64
}

// admitWait is how long the poller waits for one of the runs it admitted
// to settle before it stops counting them (see admit).
const admitWait = InlineGrace

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
		admFreed:  make(chan struct{}, 1),
		maxRuns:   uint32(4 * runtime.GOMAXPROCS(0)),
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
	var wait *time.Timer
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
				wait = p.admit(r, wait)
				r.resume()
			}
		}
	}
}

// admit, on the poller's goroutine, admits the run r is about to start:
// while maxRuns runs it admitted have not settled, it waits for one to.
// A run settles (parkedReader.settle) when it parks or ends, and before
// anything that may keep it long: waiting for its client's next bytes,
// a task after a delivery, a suspended delivery, the inbound bound. A
// wait ends after admitWait without a settled run, and the runs admitted
// until then are no longer counted (a new epoch): runs that all block
// somewhere else delay the others by admitWait once, not for as long as
// they block. It returns the timer of its waits (made on the first).
func (p *poller) admit(r *parkedReader, wait *time.Timer) *time.Timer {
	v := p.adm.Add(1)
	if uint32(v) > p.maxRuns {
		v, wait = p.awaitRoom(wait)
	}
	r.admitted, r.admitEpoch = true, uint32(v>>32)
	return wait
}

// awaitRoom waits until at most maxRuns admitted runs (the caller's one
// included) have not settled, or until admitWait passes without one
// settling: then it starts a new epoch, counting the caller's run alone.
// It returns adm's value for the caller's run.
func (p *poller) awaitRoom(wait *time.Timer) (uint64, *time.Timer) {
	p.admWaiting.Store(true)
	defer p.admWaiting.Store(false)
	for {
		v := p.adm.Load()
		if uint32(v) <= p.maxRuns {
			return v, wait
		}
		if wait == nil {
			wait = time.NewTimer(admitWait)
		} else {
			wait.Reset(admitWait)
		}
		select {
		case <-p.admFreed:
			wait.Stop()
		case <-wait.C:
			for {
				v := p.adm.Load()
				next := (v>>32+1)<<32 | 1
				if p.adm.CompareAndSwap(v, next) {
					p.admStalls.Add(1)
					return next, wait
				}
			}
		}
	}
}

// settled counts one run admitted in epoch as settled, and tells admit
// if it waits.
func (p *poller) settled(epoch uint32) {
	for {
		v := p.adm.Load()
		if uint32(v>>32) != epoch || uint32(v) == 0 {
			return // not counted any more
		}
		if p.adm.CompareAndSwap(v, v-1) {
			break
		}
	}
	if p.admWaiting.Load() {
		select {
		case p.admFreed <- struct{}{}:
		default:
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
