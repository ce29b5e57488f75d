//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The rooms of the cross-node scenarios.
const (
	xFanRoom = "xfan"
	xAckRoom = "xack"
)

// cpuFunc is what a cpuMeter reads: the CPU time of the server side.
type cpuFunc func() (time.Duration, error)

// xMeter measures a cpuWindow of a deployment, every process summed.
type xMeter struct {
	cpu                 cpuFunc
	t0                  time.Time
	server0, me0, busy0 time.Duration
}

func startXMeter(cpu cpuFunc) (xMeter, error) {
	busy, err1 := machineBusy()
	c, err2 := cpu()
	return xMeter{cpu: cpu, t0: time.Now(), server0: c, me0: selfCPU(), busy0: busy}, errors.Join(err1, err2)
}

func (m xMeter) stop() (cpuWindow, error) {
	wall := time.Since(m.t0)
	c, err1 := m.cpu()
	me := selfCPU()
	busy, err2 := machineBusy()
	w := cpuWindow{wall: wall, server: c - m.server0, load: me - m.me0}
	w.others = max(0, busy-m.busy0-w.server-w.load)
	return w, errors.Join(err1, err2)
}

// percentile returns the p-th percentile of sorted.
func percentile[T any](sorted []T, p int) T {
	return sorted[min(len(sorted)*p/100, len(sorted)-1)]
}

// dialX opens n connections of the kind's clients, the i-th to the
// server i mod len(addrs) (its home; with -xhomes, the i-th of those in
// turn), conc at a time, and runs setup on each. The long-polling clients of actorio-cluster-poll send each
// request after the handshake to the next server in turn.
func dialX(ctx context.Context, cfg config, kind string, addrs []string, n int, setup func(xconn) error) ([]xconn, error) {
	out := make([]xconn, n)
	homes := cfg.xHomes
	if len(homes) == 0 || len(addrs) == 1 {
		homes = make([]int, len(addrs))
		for i := range homes {
			homes[i] = i
		}
	}
	dialOne := func(i int) error {
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		home := homes[i%len(homes)]
		var c xconn
		var err error
		if kind == kindClusterPoll {
			c, err = dialPoll(dctx, addrs, home, true)
		} else {
			c, err = dial(dctx, addrs[home], protoSocketIO)
		}
		if err == nil && setup != nil {
			if err = setup(c); err != nil {
				c.close()
			}
		}
		if err != nil {
			return fmt.Errorf("connection %d (to %s): %w", i, addrs[home], err)
		}
		out[i] = c
		return nil
	}
	// The first client of each node one at a time: each node learns
	// where the others' sessions are before many requests ask at once.
	first := min(n, len(addrs))
	for i := range first {
		if err := dialOne(i); err != nil {
			closeX(out)
			return nil, err
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	next.Store(int64(first))
	var wg sync.WaitGroup
	for range min(cfg.dialConcurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := dialOne(i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		closeX(out)
		return nil, err
	}
	return out, nil
}

func closeX(cs []xconn) {
	for _, c := range cs {
		if c != nil {
			c.close()
		}
	}
}

// xfanResult is the outcome of the xfanout scenario for one server kind.
type xfanResult struct {
	receivers int
	// The blast: M messages emitted at once.
	delivered, want int64
	elapsed         time.Duration // blast sent until every receiver had every message
	p50, p99        time.Duration // emit to receipt, every message of the blast
	cpu             cpuWindow
	peakRSS         int64 // sum over the processes
	// The paced phase: xrate messages per second for xpaced.
	paced              bool
	pacedRate          float64 // messages per second emitted
	pacedP50, pacedP99 time.Duration
	pacedCPU           cpuWindow
	pacedDelivered     int64
}

// runXFanout: receivers spread over the servers join one room; a
// WebSocket client of the first server asks it to emit M messages to the
// room at once (the blast), then, once every receiver has them all,
// xrate messages per second for xpaced (the paced phase). Each message
// carries its emit's timestamp, each receiver notes when it got it.
func runXFanout(ctx context.Context, cfg config, d *deployment) (xfanResult, error) {
	var res xfanResult
	addrs := d.addrs()
	r := cfg.xReceivers
	if d.kind == kindClusterPoll {
		r = cfg.xPollReceivers
	}
	res.receivers = r
	m := cfg.xMessages
	// The paced phase: every tick, count messages.
	var tick time.Duration
	var perTick, ticks int
	if cfg.xRate > 0 && cfg.xPaced > 0 {
		tick = max(time.Second/time.Duration(cfg.xRate), 5*time.Millisecond)
		perTick = max(1, int(float64(cfg.xRate)*tick.Seconds()+0.5))
		ticks = max(1, int(cfg.xPaced/tick))
		res.paced = true
	}
	mPaced := perTick * ticks
	res.want = int64(r) * int64(m)

	join := joinRequest(xFanRoom)
	receivers, err := dialX(ctx, cfg, d.kind, addrs, r, func(c xconn) error {
		_, err := c.call(join, 1, callTimeout)
		return err
	})
	if err != nil {
		return res, err
	}
	defer closeX(receivers)
	sender, err := dial(ctx, addrs[0], protoSocketIO)
	if err != nil {
		return res, err
	}
	defer sender.close()

	wantLen := msgLen(protoSocketIO, cfg.xSize)
	blastLat := make([][]int32, r) // µs
	pacedLat := make([][]int32, r)
	counts := make([]int64, r)
	var recvErr firstError
	var malformed atomic.Int64
	var leftBlast, leftPaced atomic.Int64
	leftBlast.Store(int64(r))
	leftPaced.Store(int64(r))
	blastDone, pacedDone := make(chan struct{}), make(chan struct{})
	var closing atomic.Bool
	var wg sync.WaitGroup
	for i, c := range receivers {
		wg.Go(func() {
			n := 0
			bl := make([]int32, 0, m)
			pl := make([]int32, 0, mPaced)
			defer func() { blastLat[i], pacedLat[i], counts[i] = bl, pl, int64(n) }()
			for {
				kind, _, body, err := c.next()
				if err != nil {
					if n < m+mPaced && !closing.Load() {
						recvErr.set(fmt.Errorf("receiver %d after %d messages: %w", i, n, err))
					}
					return
				}
				if kind != evMsg {
					continue
				}
				now := time.Now().UnixMicro()
				stamp, ok := parseStamp(body[len(msgPrefix)+1:])
				if len(body) != wantLen || !ok {
					malformed.Add(1)
					continue
				}
				lat := int32(min(now-stamp, 1<<31-1))
				n++
				if n <= m {
					bl = append(bl, lat)
				} else {
					pl = append(pl, lat)
				}
				if n == m && leftBlast.Add(-1) == 0 {
					close(blastDone)
				}
				if mPaced > 0 && n == m+mPaced && leftPaced.Add(-1) == 0 {
					close(pacedDone)
				}
			}
		})
	}
	stopAll := func() {
		closing.Store(true)
		closeX(receivers)
		sender.close()
		wg.Wait()
	}
	timeout := time.NewTimer(cfg.xTimeout)
	defer timeout.Stop()

	// The blast.
	meter, err := startXMeter(d.cpu)
	if err != nil {
		stopAll()
		return res, err
	}
	t0 := time.Now()
	acked := make(chan error, 1)
	go func() {
		_, err := sender.call(xBlastRequest(xFanRoom, m, cfg.xSize), 1, cfg.xTimeout)
		acked <- err
	}()
	complete := false
	select {
	case <-blastDone:
		complete = true
	case <-timeout.C:
	case <-ctx.Done():
	}
	res.elapsed = time.Since(t0)
	res.cpu, err = meter.stop()
	if err == nil {
		res.peakRSS, err = d.peakRSS()
	}
	if err != nil {
		stopAll()
		return res, err
	}
	var ackErr error
	select {
	case ackErr = <-acked:
	case <-time.After(callTimeout):
		ackErr = errors.New("xblast not acked")
	}

	// The paced phase: the sender emits perTick messages every tick,
	// without waiting for the acks, which a goroutine of its own drains.
	if complete && ackErr == nil && res.paced {
		drained := make(chan error, 1)
		var acks atomic.Int64
		go func() {
			for {
				kind, _, _, err := sender.next()
				if err != nil {
					drained <- err
					return
				}
				if kind == evAck && acks.Add(1) == int64(ticks) {
					drained <- nil
					return
				}
			}
		}()
		pm, err := startXMeter(d.cpu)
		if err != nil {
			stopAll()
			return res, err
		}
		req := xBlastRequest(xFanRoom, perTick, cfg.xSize)
		tk := time.NewTicker(tick)
		p0 := time.Now()
	pace:
		for i := range ticks {
			if err := sender.send(req, uint32(i+2)); err != nil {
				ackErr = fmt.Errorf("paced xblast: %w", err)
				break
			}
			select {
			case <-tk.C:
			case <-ctx.Done():
				break pace
			}
		}
		tk.Stop()
		sent := time.Since(p0)
		select {
		case <-pacedDone:
		case <-timeout.C:
			complete = false
		case <-ctx.Done():
		}
		res.pacedCPU, err = pm.stop()
		if err != nil {
			stopAll()
			return res, err
		}
		res.pacedRate = float64(mPaced) / sent.Seconds()
		select {
		case err := <-drained:
			if err != nil && ackErr == nil {
				ackErr = fmt.Errorf("paced xblast acks: %w", err)
			}
		case <-time.After(callTimeout):
			if ackErr == nil {
				ackErr = errors.New("paced xblasts not all acked")
			}
		}
	}
	stopAll()

	var total int64
	for _, n := range counts {
		total += n
	}
	res.delivered = 0
	for _, l := range blastLat {
		res.delivered += int64(len(l))
	}
	for _, l := range pacedLat {
		res.pacedDelivered += int64(len(l))
	}
	switch {
	case ctx.Err() != nil:
		return res, ctx.Err()
	case !complete:
		err := fmt.Errorf("incomplete after %v: %d of %d messages delivered", cfg.xTimeout, total, int64(r)*int64(m+mPaced))
		if e := recvErr.get(); e != nil {
			err = fmt.Errorf("%w (%w)", err, pollError(e))
		}
		return res, err
	case ackErr != nil:
		return res, fmt.Errorf("xblast: %w", ackErr)
	case malformed.Load() > 0:
		return res, fmt.Errorf("%d messages of an unexpected length or without a timestamp", malformed.Load())
	case total > int64(r)*int64(m+mPaced):
		return res, fmt.Errorf("%d messages delivered, %d sent", total, int64(r)*int64(m+mPaced))
	}
	all := slices.Concat(blastLat...)
	slices.Sort(all)
	res.p50 = time.Duration(percentile(all, 50)) * time.Microsecond
	res.p99 = time.Duration(percentile(all, 99)) * time.Microsecond
	if res.paced {
		all := slices.Concat(pacedLat...)
		slices.Sort(all)
		res.pacedP50 = time.Duration(percentile(all, 50)) * time.Microsecond
		res.pacedP99 = time.Duration(percentile(all, 99)) * time.Microsecond
	}
	return res, d.alive()
}

// xackResult is the outcome of the xack scenario for one server kind.
type xackResult struct {
	receivers, rounds int
	p50, p99, mean    time.Duration // one round: emit until every ack
	cpu               cpuWindow
}

// runXAck: receivers spread over the servers join one room and ack every
// "x"; a WebSocket client of the first server asks it for xwarm rounds of
// a broadcast with ack to the room, then for xrounds measured ones, which
// the server times.
func runXAck(ctx context.Context, cfg config, d *deployment) (xackResult, error) {
	res := xackResult{receivers: cfg.xAckReceivers, rounds: cfg.xRounds}
	addrs := d.addrs()
	r := cfg.xAckReceivers
	join := joinRequest(xAckRoom)
	receivers, err := dialX(ctx, cfg, d.kind, addrs, r, func(c xconn) error {
		_, err := c.call(join, 1, callTimeout)
		return err
	})
	if err != nil {
		return res, err
	}
	defer closeX(receivers)
	sender, err := dial(ctx, addrs[0], protoSocketIO)
	if err != nil {
		return res, err
	}
	defer sender.close()

	var recvErr firstError
	var closing atomic.Bool
	var wg sync.WaitGroup
	for i, c := range receivers {
		wg.Go(func() {
			for {
				kind, id, _, err := c.next()
				if err != nil {
					if !closing.Load() {
						recvErr.set(fmt.Errorf("receiver %d: %w", i, pollError(err)))
					}
					return
				}
				if kind != evAckReq {
					continue
				}
				if err := c.sendAck(id, xAckAnswer); err != nil {
					if !closing.Load() {
						recvErr.set(fmt.Errorf("receiver %d: ack: %w", i, pollError(err)))
					}
					return
				}
			}
		})
	}
	defer func() {
		closing.Store(true)
		closeX(receivers)
		sender.close()
		wg.Wait()
	}()

	rounds := func(n int, id uint32) (xAckReply, error) {
		var reply []xAckReply
		body, err := sender.call(xAckRequest(xAckRoom, n, 16, cfg.xAckTimeout), id, cfg.xTimeout)
		if err != nil {
			return xAckReply{}, err
		}
		if err := json.Unmarshal(body, &reply); err != nil || len(reply) != 1 {
			return xAckReply{}, fmt.Errorf("xack reply %.200q: %w", body, errUnexpected)
		}
		rep := reply[0]
		if len(rep.Durs) != n || len(rep.Counts) != n {
			return rep, fmt.Errorf("xack reply: %d rounds, %d asked", len(rep.Durs), n)
		}
		if rep.Errors > 0 {
			return rep, fmt.Errorf("%d of %d rounds failed; first: %s", rep.Errors, n, rep.FirstError)
		}
		for i, c := range rep.Counts {
			if c != r {
				return rep, fmt.Errorf("round %d: %d acks, %d receivers", i, c, r)
			}
		}
		return rep, nil
	}
	if cfg.xWarmRounds > 0 {
		if _, err := rounds(cfg.xWarmRounds, 1); err != nil {
			return res, fmt.Errorf("warm-up: %w", errors.Join(err, recvErr.get()))
		}
	}
	meter, err := startXMeter(d.cpu)
	if err != nil {
		return res, err
	}
	rep, err := rounds(cfg.xRounds, 2)
	if err != nil {
		return res, errors.Join(err, recvErr.get())
	}
	if res.cpu, err = meter.stop(); err != nil {
		return res, err
	}
	durs := make([]time.Duration, len(rep.Durs))
	var sum time.Duration
	for i, ns := range rep.Durs {
		durs[i] = time.Duration(ns)
		sum += durs[i]
	}
	slices.Sort(durs)
	res.p50, res.p99 = percentile(durs, 50), percentile(durs, 99)
	res.mean = sum / time.Duration(len(durs))
	return res, d.alive()
}
