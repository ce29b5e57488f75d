//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchRoom is the room of the fan-out scenario.
const benchRoom = "bench"

// callTimeout bounds a join and the wait for a blast's ack.
const callTimeout = 15 * time.Second

// firstError keeps the first error reported by many goroutines.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitGroup waits for wg up to d; on expiry it runs onTimeout (closing the
// connections) and waits again.
func waitGroup(wg *sync.WaitGroup, d time.Duration, onTimeout func()) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		onTimeout()
		<-done
	}
}

// cpuWindow is the CPU time the server and the load generator used over a
// measured wall-clock window.
// others is what every other process of the machine used meanwhile
// (other workloads sharing the machine make the figures noisy).
type cpuWindow struct {
	wall, server, load, others time.Duration
}

// cores is d, a CPU time used over the window, in cores.
func (c cpuWindow) cores(d time.Duration) float64 { return float64(d) / float64(c.wall) }

// cpuMeter measures a cpuWindow.
type cpuMeter struct {
	s                   *serverProc
	t0                  time.Time
	server0, me0, busy0 time.Duration
}

func startCPU(s *serverProc) (cpuMeter, error) {
	busy, err1 := machineBusy()
	c, err2 := s.cpu()
	return cpuMeter{s: s, t0: time.Now(), server0: c, me0: selfCPU(), busy0: busy}, errors.Join(err1, err2)
}

func (m cpuMeter) stop() (cpuWindow, error) {
	wall := time.Since(m.t0)
	c, err1 := m.s.cpu()
	me := selfCPU()
	busy, err2 := machineBusy()
	w := cpuWindow{wall: wall, server: c - m.server0, load: me - m.me0}
	w.others = max(0, busy-m.busy0-w.server-w.load)
	return w, errors.Join(err1, err2)
}

// echoResult is the outcome of the echo scenario for one server.
type echoResult struct {
	acks     int
	p50, p99 time.Duration
	cpu      cpuWindow
}

// runEcho: C clients, each in a closed loop of echo with ack, or, with
// rate > 0, each sending at an even pace so that all send rate echoes per
// second; the acks received during T (after the warm-up) are counted and
// timed.
func runEcho(ctx context.Context, cfg config, s *serverProc, rate int) (echoResult, error) {
	p := protoOf(s.kind, cfg.parser)
	ws, err := dialAll(ctx, s.addr, p, cfg.echoClients, cfg.dialConcurrency, nil)
	if err != nil {
		return echoResult{}, err
	}
	defer closeAll(ws)
	clients := make([]xconn, len(ws))
	for i, c := range ws {
		clients[i] = c
	}
	return echoLoop(ctx, cfg, s, clients, echoAck(p, strings.Repeat("e", cfg.echoSize)), rate)
}

// runPollEcho is runEcho with long-polling clients: each has a GET
// pending and POSTs its echo, as the official client does without
// WebSocket.
func runPollEcho(ctx context.Context, cfg config, s *serverProc) (echoResult, error) {
	clients := make([]xconn, 0, cfg.echoClients)
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	for range cfg.echoClients {
		c, err := dialPoll(ctx, []string{s.addr}, 0, false)
		if err != nil {
			return echoResult{}, fmt.Errorf("long-polling client: %w", err)
		}
		clients = append(clients, c)
	}
	return echoLoop(ctx, cfg, s, clients, echoAck(protoSocketIO, strings.Repeat("e", cfg.echoSize)), 0)
}

// echoLoop runs the echo scenario on connected clients, want being the
// ack each echo must get: in a closed loop (rate 0), or with each client
// sending its next echo one period after its last (rate echoes per second
// in all; at once when its ack came later than that). An echo's latency
// runs from its send to its ack.
func echoLoop(ctx context.Context, cfg config, s *serverProc, clients []xconn, want []byte, rate int) (echoResult, error) {
	var res echoResult
	var period time.Duration // one client's, between two sends
	if rate > 0 {
		period = time.Duration(float64(time.Second) * float64(len(clients)) / float64(rate))
	}

	req := echoRequest(strings.Repeat("e", cfg.echoSize))
	const (
		warm = iota
		measure
		over
	)
	var phase atomic.Int32
	var fail firstError
	lats := make([][]time.Duration, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 8192)
			defer func() { lats[i] = lat }()
			id := uint32(1)
			due := time.Now()
			if period > 0 {
				// Spread the clients' sends over one period.
				due = due.Add(period * time.Duration(i) / time.Duration(len(clients)))
				time.Sleep(time.Until(due))
			}
			sent := time.Now()
			if err := c.send(req, id); err != nil {
				fail.set(err)
				return
			}
			for {
				kind, got, body, err := c.next()
				if err != nil {
					if phase.Load() != over {
						fail.set(fmt.Errorf("echo client %d: %w", i, err))
					}
					return
				}
				if kind != evAck {
					continue
				}
				if got != id || !bytes.Equal(body, want) {
					fail.set(fmt.Errorf("echo client %d: ack %d: got id %d with %q, want %q", i, id, got, body, want))
					return
				}
				now := time.Now()
				switch phase.Load() {
				case measure:
					lat = append(lat, now.Sub(sent))
				case over:
					return
				}
				id++
				sent = now
				if period > 0 {
					due = due.Add(period)
					if d := due.Sub(now); d > 0 {
						time.Sleep(d)
						sent = time.Now()
					}
				}
				if err := c.send(req, id); err != nil {
					if phase.Load() != over {
						fail.set(fmt.Errorf("echo client %d: %w", i, err))
					}
					return
				}
			}
		})
	}

	if err := sleepCtx(ctx, cfg.echoWarmup); err != nil {
		return res, err
	}
	meter, err := startCPU(s)
	if err != nil {
		return res, err
	}
	phase.Store(measure)
	errSleep := sleepCtx(ctx, cfg.echoTime)
	phase.Store(over)
	res.cpu, err = meter.stop()
	if err != nil {
		return res, err
	}
	waitGroup(&wg, 10*time.Second, func() {
		for _, c := range clients {
			c.close()
		}
	})
	if errSleep != nil {
		return res, errSleep
	}
	if err := fail.get(); err != nil {
		return res, err
	}
	all := slices.Concat(lats...)
	if len(all) == 0 {
		return res, errors.New("no echo acked during the measured time")
	}
	slices.Sort(all)
	res.acks = len(all)
	res.p50 = all[len(all)*50/100]
	res.p99 = all[min(len(all)*99/100, len(all)-1)]
	return res, s.alive()
}

// fanResult is the outcome of the fan-out scenario for one server.
type fanResult struct {
	delivered, want int64
	complete        bool
	elapsed         time.Duration // blast sent until every receiver had every message
	ackAfter        time.Duration // blast sent until its ack
	cpu             cpuWindow
	mem             memStat // at the end: VmHWM is the peak since the server started
	recvErr         error   // why receivers stopped early, if any did
}

// runFanout: R receivers join one room, another client blasts M messages to
// it; the clock stops when the last receiver has all M.
func runFanout(ctx context.Context, cfg config, s *serverProc) (fanResult, error) {
	p := protoOf(s.kind, cfg.parser)
	join := joinRequest(benchRoom)
	ws, err := dialAll(ctx, s.addr, p, cfg.fanReceivers, cfg.dialConcurrency, func(c *client) error {
		_, err := c.call(join, 1, callTimeout)
		return err
	})
	if err != nil {
		return fanResult{}, err
	}
	defer closeAll(ws)
	sender, err := dial(ctx, s.addr, p)
	if err != nil {
		return fanResult{}, err
	}
	defer sender.close()
	receivers := make([]xconn, len(ws))
	for i, c := range ws {
		receivers[i] = c
	}
	return fanBlast(ctx, cfg, s, receivers, sender, msgLen(p, cfg.fanSize))
}

// runPollFanout is runFanout with long-polling clients only, receivers
// and sender: each receiver has a GET pending, and gets in its answer
// whatever the server queued for it since the last.
func runPollFanout(ctx context.Context, cfg config, s *serverProc) (fanResult, error) {
	addrs := []string{s.addr}
	open := func(ctx context.Context) (*pollClient, error) { return dialPoll(ctx, addrs, 0, false) }
	join := joinRequest(benchRoom)
	polls, err := openAll(ctx, cfg.fanReceivers, cfg.dialConcurrency, open, func(c *pollClient) error {
		_, err := c.call(join, 1, callTimeout)
		return err
	})
	if err != nil {
		return fanResult{}, fmt.Errorf("long-polling receiver: %w", err)
	}
	receivers := make([]xconn, len(polls))
	for i, c := range polls {
		receivers[i] = c
		defer c.close()
	}
	sender, err := open(ctx)
	if err != nil {
		return fanResult{}, fmt.Errorf("long-polling sender: %w", err)
	}
	defer sender.close()
	return fanBlast(ctx, cfg, s, receivers, sender, msgLen(protoSocketIO, cfg.fanSize))
}

// fanBlast runs the fan-out scenario on receivers that joined the room:
// sender blasts M messages of wantLen bytes (as classify returns them) to
// it.
func fanBlast(ctx context.Context, cfg config, s *serverProc, receivers []xconn, sender xconn, wantLen int) (fanResult, error) {
	res := fanResult{want: int64(len(receivers)) * int64(cfg.fanMessages)}
	m := cfg.fanMessages
	counts := make([]int64, len(receivers))
	var recvErr firstError // the first receiver to fail before it had all M
	var recvFailed atomic.Int64
	var remaining atomic.Int64
	remaining.Store(int64(len(receivers)))
	var malformed atomic.Int64
	done := make(chan struct{})
	var closing atomic.Bool
	var wg sync.WaitGroup
	for i, c := range receivers {
		wg.Go(func() {
			n := 0
			defer func() { counts[i] = int64(n) }()
			for {
				kind, _, body, err := c.next()
				if err != nil {
					if n < m && !closing.Load() {
						recvFailed.Add(1)
						recvErr.set(fmt.Errorf("receiver %d after %d messages: %w", i, n, err))
					}
					return
				}
				if kind != evMsg {
					continue
				}
				if len(body) != wantLen {
					malformed.Add(1)
				}
				n++
				if cfg.fanDelay > 0 {
					time.Sleep(cfg.fanDelay)
				}
				if n == m && remaining.Add(-1) == 0 {
					close(done)
				}
			}
		})
	}

	meter, err := startCPU(s)
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	type ackResult struct {
		after time.Duration
		err   error
	}
	acked := make(chan ackResult, 1)
	go func() {
		_, err := sender.call(blastRequest(benchRoom, m, cfg.fanSize), 1, cfg.fanTimeout)
		acked <- ackResult{time.Since(t0), err}
	}()
	timeout := time.NewTimer(cfg.fanTimeout)
	defer timeout.Stop()
	select {
	case <-done:
		res.complete = true
	case <-timeout.C:
	case <-ctx.Done():
	}
	res.elapsed = time.Since(t0)
	res.cpu, err = meter.stop()
	if err != nil {
		return res, err
	}
	if res.mem, err = s.mem(); err != nil {
		return res, err
	}
	var ackErr error
	select {
	case a := <-acked:
		res.ackAfter, ackErr = a.after, a.err
	case <-time.After(callTimeout):
		ackErr = errors.New("blast not acked")
	}
	closing.Store(true)
	for _, c := range receivers {
		c.close()
	}
	sender.close()
	wg.Wait()
	for _, n := range counts {
		res.delivered += n
	}
	if err := recvErr.get(); err != nil {
		res.recvErr = fmt.Errorf("%d receivers lost their connection; first: %w", recvFailed.Load(), err)
	}
	switch {
	case ctx.Err() != nil:
		return res, ctx.Err()
	case ackErr != nil:
		return res, fmt.Errorf("blast: %w", ackErr)
	case malformed.Load() > 0:
		return res, fmt.Errorf("%d messages of an unexpected length", malformed.Load())
	case res.delivered > res.want:
		return res, fmt.Errorf("%d messages delivered, %d sent", res.delivered, res.want)
	}
	return res, s.alive()
}

// idleResult is the outcome of the idle scenario for one server.
type idleResult struct {
	n                   int
	before, after       memStat
	connectTime         time.Duration
	dropped             int64 // connections the server closed during the hold
	minPings, sumPings  int64
	connCPU, holdServer time.Duration
}

func (r idleResult) perConn() float64 { return float64(r.after.RSS-r.before.RSS) / float64(r.n) }

// baseline lets the server settle, then returns its memory and CPU time
// before a scenario connects its clients.
func baseline(ctx context.Context, cfg config, s *serverProc) (memStat, time.Duration, error) {
	if err := sleepCtx(ctx, cfg.settle); err != nil {
		return memStat{}, 0, err
	}
	mem, err := s.mem()
	if err != nil {
		return memStat{}, 0, err
	}
	cpu, err := s.cpu()
	return mem, cpu, err
}

// runIdle: N sockets connect and are held through heartbeats; the server's
// RSS growth is divided by N.
func runIdle(ctx context.Context, cfg config, s *serverProc) (idleResult, error) {
	res := idleResult{n: cfg.idleConns}
	p := protoOf(s.kind, cfg.parser)
	before, cpu0, err := baseline(ctx, cfg, s)
	if err != nil {
		return res, err
	}
	res.before = before
	t0 := time.Now()
	clients, err := dialAll(ctx, s.addr, p, cfg.idleConns, cfg.dialConcurrency, nil)
	if err != nil {
		return res, err
	}
	defer closeAll(clients)
	res.connectTime = time.Since(t0)
	cpu1, err := s.cpu()
	if err != nil {
		return res, err
	}
	res.connCPU = cpu1 - cpu0

	var ending atomic.Bool
	var dropped atomic.Int64
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for {
				if _, _, _, err := c.next(); err != nil {
					if !ending.Load() {
						dropped.Add(1)
					}
					return
				}
			}
		})
	}
	if err := sleepCtx(ctx, cfg.idleHold); err != nil {
		return res, err
	}
	if res.after, err = s.mem(); err != nil {
		return res, err
	}
	cpu2, err := s.cpu()
	if err != nil {
		return res, err
	}
	res.holdServer = cpu2 - cpu1
	ending.Store(true)
	res.dropped = dropped.Load()
	res.minPings = -1
	for _, c := range clients {
		n := c.pings.Load()
		res.sumPings += n
		if res.minPings < 0 || n < res.minPings {
			res.minPings = n
		}
	}
	// Stop the server first so that its sockets, not the load generator's,
	// wait in TIME_WAIT.
	s.stop()
	closeAll(clients)
	wg.Wait()
	if res.dropped > 0 {
		return res, fmt.Errorf("%d of %d connections closed by the server during the hold", res.dropped, res.n)
	}
	return res, nil
}
