//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// The idle target: an idle connection costs at most idleTargetKB of the
// server's RSS, at idleTargetN connections or more (about what one process
// may hold under this machine's limit of 20 000 open files).
const (
	idleTargetKB = 6
	idleTargetN  = 19000
)

// noiseCores is how much CPU other processes may use during a measured
// window before the report calls the run noisy.
const noiseCores = 0.25

// metric is one row of the table.
type metric struct {
	label string
	vals  map[string]float64 // by server kind; absent: not measured
	// runs are each run's vals when the scenarios ran more than once
	// (-repeat); vals are then their medians.
	runs []map[string]float64
	prec int // digits after the point
	// noRatio leaves the ratio columns empty.
	noRatio bool
	// target, when set, is the goal of the issue and judge checks it.
	target string
	judge  func(m metric) string
}

// cell is kind's figure: with several runs, their median and range.
func (m metric) cell(kind string) string { return runCell(m.vals, m.runs, kind, m.prec) }

// ratio is ours/other (see runRatio).
func (m metric) ratio(other string) (float64, bool) {
	return runRatio(m.vals, m.runs, kindActorio, other)
}

func (m metric) ratioCell(other string) string {
	return runRatioCell(m.vals, m.runs, kindActorio, other)
}

// runCell is kind's figure in vals with prec digits after the point and,
// when several runs have it, their range.
func runCell(vals map[string]float64, runs []map[string]float64, kind string, prec int) string {
	v, ok := vals[kind]
	if !ok || math.IsNaN(v) {
		return "—"
	}
	s := fmt.Sprintf("%.*f", prec, v)
	if lo, hi, n := spread(runs, func(v map[string]float64) (float64, bool) {
		x, ok := v[kind]
		return x, ok && !math.IsNaN(x)
	}); n > 1 {
		s += fmt.Sprintf(" (%.*f–%.*f)", prec, lo, prec, hi)
	}
	return s
}

// ratioOf is a/b in one run's figures.
func ratioOf(v map[string]float64, a, b string) (float64, bool) {
	x, ok1 := v[a]
	y, ok2 := v[b]
	if !ok1 || !ok2 || y == 0 || math.IsNaN(x) || math.IsNaN(y) {
		return 0, false
	}
	return x / y, true
}

// runRatio is a/b: without runs, of vals; with several runs, the median
// of each run's own ratio (the servers of one run ran minutes apart, so a
// run's ratio cancels what the machine's speed did between runs).
func runRatio(vals map[string]float64, runs []map[string]float64, a, b string) (float64, bool) {
	if len(runs) == 0 {
		return ratioOf(vals, a, b)
	}
	var rs []float64
	for _, v := range runs {
		if r, ok := ratioOf(v, a, b); ok {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return 0, false
	}
	return median(rs), true
}

// runRatioCell is runRatio's cell: with several runs, with their range.
func runRatioCell(vals map[string]float64, runs []map[string]float64, a, b string) string {
	r, ok := runRatio(vals, runs, a, b)
	if !ok {
		return "—"
	}
	s := fmt.Sprintf("%.2f×", r)
	if lo, hi, n := spread(runs, func(v map[string]float64) (float64, bool) { return ratioOf(v, a, b) }); n > 1 {
		s += fmt.Sprintf(" (%.2f–%.2f)", lo, hi)
	}
	return s
}

// spread is the range of f over the runs that have it, and their count.
func spread(runs []map[string]float64, f func(map[string]float64) (float64, bool)) (lo, hi float64, n int) {
	for _, v := range runs {
		x, ok := f(v)
		if !ok {
			continue
		}
		if n == 0 || x < lo {
			lo = x
		}
		if n == 0 || x > hi {
			hi = x
		}
		n++
	}
	return lo, hi, n
}

// median is the middle of xs (the mean of the two middle ones for an
// even count); xs is sorted in place.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// medians is, by kind, the median of the runs that have a figure.
func medians(runs []map[string]float64) map[string]float64 {
	byKind := map[string][]float64{}
	for _, v := range runs {
		for k, x := range v {
			if !math.IsNaN(x) {
				byKind[k] = append(byKind[k], x)
			}
		}
	}
	out := map[string]float64{}
	for k, xs := range byKind {
		out[k] = median(xs)
	}
	return out
}

// combineRuns makes one table of the tables of several runs of the same
// scenarios (rows alike, by index): each figure the median of the runs
// that have it, the runs kept for the ranges and the ratios.
func combineRuns(tables [][]metric) []metric {
	if len(tables) == 1 {
		return tables[0]
	}
	out := slices.Clone(tables[0])
	for i := range out {
		out[i].runs = nil
		for _, t := range tables {
			if i < len(t) {
				out[i].runs = append(out[i].runs, t[i].vals)
			}
		}
		out[i].vals = medians(out[i].runs)
	}
	return out
}

// bound is one target on the ratio ours/other.
type bound struct {
	other string
	limit float64
	min   bool // ours/other >= limit (else <=)
}

// judgeRatios checks every bound it can (the other server was measured).
func judgeRatios(bs ...bound) func(metric) string {
	return func(m metric) string {
		met, known := true, 0
		for _, b := range bs {
			r, ok := m.ratio(b.other)
			if !ok {
				continue
			}
			known++
			if b.min && r < b.limit || !b.min && r > b.limit {
				met = false
			}
		}
		switch {
		case known == 0:
			return "n/a"
		case !met:
			return "**no**"
		case known < len(bs):
			return "yes (partial)"
		}
		return "yes"
	}
}

// judgeZero checks that actorio counted none, in every run (a target is
// ours; the other servers' counts are there to compare).
func judgeZero(m metric) string {
	x, ok := m.vals[kindActorio]
	switch {
	case !ok:
		return "n/a"
	case x != 0:
		return "**no**"
	}
	for _, v := range m.runs {
		if v[kindActorio] != 0 {
			return "**no**"
		}
	}
	return "yes"
}

// column maps each server kind measured in byKind to f of its result.
func column[R, V any](byKind map[string]R, f func(R) V) map[string]V {
	out := map[string]V{}
	for _, k := range allKinds {
		if r, ok := byKind[k]; ok {
			out[k] = f(r)
		}
	}
	return out
}

// cpuRows are a scenario's rows of CPU use in cores (server, load
// generator, other processes), from its measured windows by server kind.
func cpuRows(scenario string, windows map[string]cpuWindow) []metric {
	return []metric{
		{label: scenario + ": server CPU (cores)", prec: 2, noRatio: true, vals: column(windows, func(c cpuWindow) float64 { return c.cores(c.server) })},
		{label: scenario + ": load generator CPU (cores)", prec: 2, noRatio: true, vals: column(windows, func(c cpuWindow) float64 { return c.cores(c.load) })},
		{label: scenario + ": other processes' CPU (cores, noise)", prec: 2, noRatio: true, vals: column(windows, func(c cpuWindow) float64 { return c.cores(c.others) })},
	}
}

// ms and us are a duration in milliseconds and in microseconds, the
// units of the tables' latency and CPU rows.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// judged is a row's target and how to judge it (zero: none).
type judged struct {
	target string
	judge  func(metric) string
}

// fanRows are the rows of a fan-out scenario, name's, from its results by
// server kind, with the targets of its rate, its CPU per message and its
// peak RSS.
func fanRows(name string, byKind map[string]fanResult, rate, perMsg, peak judged) []metric {
	fan := func(f func(r fanResult) float64) map[string]float64 { return column(byKind, f) }
	rows := []metric{
		{label: name + ": delivered msgs/s", prec: 0, target: rate.target, judge: rate.judge,
			vals: fan(func(r fanResult) float64 { return float64(r.delivered) / r.elapsed.Seconds() })},
		{label: name + ": time until every receiver has all M (ms)", prec: 1, vals: fan(func(r fanResult) float64 { return ms(r.elapsed) })},
		{label: name + ": blast acked after (ms)", prec: 1, noRatio: true, vals: fan(func(r fanResult) float64 { return ms(r.ackAfter) })},
		{label: name + ": server CPU per delivered msg (µs)", prec: 3, target: perMsg.target, judge: perMsg.judge,
			vals: fan(func(r fanResult) float64 {
				return float64(r.cpu.server) / float64(time.Microsecond) / float64(r.delivered)
			})},
	}
	rows = append(rows, cpuRows(name, column(byKind, func(r fanResult) cpuWindow { return r.cpu }))...)
	return append(rows, metric{label: name + ": peak server RSS (MB)", prec: 1, target: peak.target, judge: peak.judge,
		vals: fan(func(r fanResult) float64 { return float64(r.mem.HWM) / (1 << 20) })})
}

// echoRows are the rows of an echo scenario, name's, from its results by
// server kind, with the targets of its rate, its p99 latency and its CPU
// per ack.
func echoRows(name string, byKind map[string]echoResult, rate, p99, perAck judged) []metric {
	echo := func(f func(r echoResult) float64) map[string]float64 { return column(byKind, f) }
	rows := []metric{
		{label: name + ": acks/s", prec: 0, target: rate.target, judge: rate.judge,
			vals: echo(func(r echoResult) float64 { return float64(r.acks) / r.cpu.wall.Seconds() })},
		{label: name + ": latency p50 (ms)", prec: 3, vals: echo(func(r echoResult) float64 { return ms(r.p50) })},
		{label: name + ": latency p99 (ms)", prec: 3, target: p99.target, judge: p99.judge,
			vals: echo(func(r echoResult) float64 { return ms(r.p99) })},
		{label: name + ": server CPU per ack (µs)", prec: 2, target: perAck.target, judge: perAck.judge,
			vals: echo(func(r echoResult) float64 { return us(r.cpu.server) / float64(r.acks) })},
	}
	return append(rows, cpuRows(name, column(byKind, func(r echoResult) cpuWindow { return r.cpu }))...)
}

// writeReport prints the table of the single-process scenarios, from one
// run's results or, with -repeat, several runs' (then each figure is the
// median of the runs, each ratio the median of their ratios, both with
// their range).
func writeReport(w io.Writer, cfg config, runs []*results, took time.Duration) {
	tables := make([][]metric, len(runs))
	for i, res := range runs {
		tables[i] = tableRows(cfg, res)
	}
	writeTable(w, cfg, runs, combineRuns(tables), took)
}

// tableRows are the rows of one run's table.
func tableRows(cfg config, res *results) []metric {
	idle := func(f func(r idleResult) float64) map[string]float64 { return column(res.idle, f) }

	var rows []metric
	if slices.Contains(cfg.scenarios, scenEcho) {
		rows = append(rows, echoRows("echo", res.echo,
			judged{"≥ 1.5× node", judgeRatios(bound{kindNode, 1.5, true})},
			judged{"≤ 1× node", judgeRatios(bound{kindNode, 1, false})},
			judged{"≤ 1× raw", judgeRatios(bound{kindRaw, 1, false})})...)
	}
	if slices.Contains(cfg.scenarios, scenPacedEcho) {
		rows = append(rows, echoRows(fmt.Sprintf("echo at %d/s offered", cfg.echoRate), res.recho,
			judged{}, judged{"≤ 1× node", judgeRatios(bound{kindNode, 1, false})}, judged{})...)
	}
	for _, scen := range []string{scenStorm, scenPollStorm} {
		if !slices.Contains(cfg.scenarios, scen) {
			continue
		}
		name := "storm, WebSocket"
		if scen == scenPollStorm {
			name = "storm, polling then upgrade"
		}
		byKind := map[string]stormResult{}
		n := 0
		for k, r := range res.storm {
			if s, kind, _ := strings.Cut(k, "\x00"); s == scen {
				byKind[kind] = r
				n = r.n
			}
		}
		st := func(f func(r stormResult) float64) map[string]float64 { return column(byKind, f) }
		mb := func(b int64) float64 { return float64(b) / (1 << 20) }
		rows = append(rows,
			metric{label: fmt.Sprintf("%s: time until all %d connected (s)", name, n), prec: 2,
				vals:   st(func(r stormResult) float64 { return r.all.Seconds() }),
				target: "≤ 0.33× node",
				judge:  judgeRatios(bound{kindNode, 0.33, false})},
			metric{label: name + ": one client's connection p50 (ms)", prec: 1, vals: st(func(r stormResult) float64 { return ms(r.p50) })},
			metric{label: name + ": one client's connection p99 (ms)", prec: 1, vals: st(func(r stormResult) float64 { return ms(r.p99) })},
			metric{label: name + ": server CPU per connection (ms)", prec: 3,
				vals: st(func(r stormResult) float64 { return ms(r.cpu) / float64(r.n) })},
			metric{label: name + ": load generator CPU per connection (ms)", prec: 3, noRatio: true,
				vals: st(func(r stormResult) float64 { return ms(r.load) / float64(r.n) })},
			metric{label: name + ": server peak RSS growth (MB)", prec: 1,
				vals:   st(func(r stormResult) float64 { return mb(r.after.HWM - r.before.RSS) }),
				target: "≤ 0.5× node",
				judge:  judgeRatios(bound{kindNode, 0.5, false})},
			metric{label: name + ": server RSS per connection after (KB)", prec: 1,
				vals: st(func(r stormResult) float64 { return float64(r.after.RSS-r.before.RSS) / 1024 / float64(r.n) })},
		)
	}
	if slices.Contains(cfg.scenarios, scenRStorm) {
		rs := func(f func(r rstormResult) float64) map[string]float64 { return column(res.rstorm, f) }
		n := 0
		for _, r := range res.rstorm {
			n = r.n
		}
		rows = append(rows,
			metric{label: fmt.Sprintf("reconnect storm: first connection of all %d official clients, %d at once per client process (s)", n, rstormWindow), prec: 2,
				vals: rs(func(r rstormResult) float64 { return r.initial.Seconds() })},
			metric{label: "reconnect storm: old server gone after the kill (ms)", prec: 0, noRatio: true,
				vals: rs(func(r rstormResult) float64 { return ms(r.gone) })},
			metric{label: "reconnect storm: restarted server listening after the kill (ms)", prec: 0, noRatio: true,
				vals: rs(func(r rstormResult) float64 { return ms(r.ready) })},
			metric{label: fmt.Sprintf("reconnect storm: time from the kill until all %d reconnected (s)", n), prec: 2,
				vals:   rs(func(r rstormResult) float64 { return r.all.Seconds() }),
				target: "≤ 0.33× node",
				judge:  judgeRatios(bound{kindNode, 0.33, false})},
			metric{label: "reconnect storm: one client's reconnection p50 (ms)", prec: 0, vals: rs(func(r rstormResult) float64 { return ms(r.p50) })},
			metric{label: "reconnect storm: one client's reconnection p99 (ms)", prec: 0, vals: rs(func(r rstormResult) float64 { return ms(r.p99) })},
			metric{label: "reconnect storm: of which CONNECT answered until upgraded, p50 (ms)", prec: 0, vals: rs(func(r rstormResult) float64 { return ms(r.upP50) })},
			metric{label: "reconnect storm: of which CONNECT answered until upgraded, p99 (ms)", prec: 0, vals: rs(func(r rstormResult) float64 { return ms(r.upP99) })},
			metric{label: "reconnect storm: refusals (CONNECT_ERROR, HTTP error status)", prec: 0, noRatio: true,
				vals: rs(func(r rstormResult) float64 { return float64(r.refused) }), target: "0", judge: judgeZero},
			metric{label: "reconnect storm: failed upgrades (left on polling)", prec: 0, noRatio: true,
				vals: rs(func(r rstormResult) float64 { return float64(r.upgradeFailed) }), target: "0", judge: judgeZero},
			metric{label: "reconnect storm: transport errors while the server was down", prec: 0, noRatio: true,
				vals: rs(func(r rstormResult) float64 { return float64(r.whileDown) })},
			metric{label: "reconnect storm: transport errors once it listened", prec: 0, noRatio: true,
				vals: rs(func(r rstormResult) float64 { return float64(r.transport) })},
			metric{label: "reconnect storm: connection timeouts (20 s) once it listened", prec: 0, noRatio: true,
				vals: rs(func(r rstormResult) float64 { return float64(r.timeouts) })},
			metric{label: "reconnect storm: server CPU per reconnection (ms)", prec: 3,
				vals: rs(func(r rstormResult) float64 { return ms(r.cpu) / float64(r.n) })},
			metric{label: "reconnect storm: server peak RSS growth (MB)", prec: 1,
				vals:   rs(func(r rstormResult) float64 { return float64(r.after.HWM-r.before.RSS) / (1 << 20) }),
				target: "≤ 0.5× node",
				judge:  judgeRatios(bound{kindNode, 0.5, false})},
			metric{label: "reconnect storm: client processes' CPU per reconnection (ms)", prec: 3, noRatio: true,
				vals: rs(func(r rstormResult) float64 { return ms(r.clientCPU) / float64(r.n) })},
		)
	}
	if slices.Contains(cfg.scenarios, scenPollEcho) {
		rows = append(rows, echoRows("long-polling echo", res.pecho,
			judged{"≥ 2× node", judgeRatios(bound{kindNode, 2, true})},
			judged{},
			judged{"≤ 1× node", judgeRatios(bound{kindNode, 1, false})})...)
	}
	if slices.Contains(cfg.scenarios, scenFanout) {
		rows = append(rows, fanRows("fan-out", res.fanout,
			judged{"≥ 2× node, ≥ 0.7× raw", judgeRatios(bound{kindNode, 2, true}, bound{kindRaw, 0.7, true})},
			judged{},
			judged{"≤ 0.5× node", judgeRatios(bound{kindNode, 0.5, false})})...)
	}
	if slices.Contains(cfg.scenarios, scenPollFanout) {
		rows = append(rows, fanRows("long-polling fan-out", res.pfan,
			judged{"≥ 2× node", judgeRatios(bound{kindNode, 2, true})},
			judged{"≤ 1× node", judgeRatios(bound{kindNode, 1, false})},
			judged{})...)
	}
	if slices.Contains(cfg.scenarios, scenIdle) {
		rows = append(rows,
			metric{label: fmt.Sprintf("idle: server RSS per connection (KB), N=%d", cfg.idleConns), prec: 2,
				vals:   idle(func(r idleResult) float64 { return r.perConn() / 1024 }),
				target: fmt.Sprintf("≤ %d KB at N ≥ %d", idleTargetKB, idleTargetN),
				judge: func(m metric) string {
					x, ok := m.vals[kindActorio]
					if !ok {
						return "n/a"
					}
					verdict := "yes"
					if x > idleTargetKB {
						verdict = "**no**"
					}
					if cfg.idleConns < idleTargetN {
						verdict += fmt.Sprintf(" (at N=%d; judged at N ≥ %d)", cfg.idleConns, idleTargetN)
					}
					return verdict
				}},
			metric{label: "idle: server RSS before → after (MB)", prec: 1, noRatio: true,
				vals: idle(func(r idleResult) float64 { return float64(r.after.RSS) / (1 << 20) })},
			metric{label: "idle: connect time for N (s)", prec: 2, vals: idle(func(r idleResult) float64 { return r.connectTime.Seconds() })},
			metric{label: "idle: server CPU per connect (µs)", prec: 1, vals: idle(func(r idleResult) float64 { return us(r.connCPU) / float64(r.n) })},
			metric{label: "idle: heartbeats answered per connection (min)", prec: 0, noRatio: true, vals: idle(func(r idleResult) float64 { return float64(r.minPings) })},
			metric{label: "idle: server CPU during the hold per heartbeat answered (µs)", prec: 2, vals: idle(func(r idleResult) float64 {
				if r.sumPings == 0 {
					return math.NaN()
				}
				return us(r.holdServer) / float64(r.sumPings)
			})},
		)
	}

	return rows
}

// writeTable prints rows, then the run's parameters, its noise and its
// failures.
func writeTable(w io.Writer, cfg config, runs []*results, rows []metric, took time.Duration) {
	// Ratios first: on a noisy machine they, not the figures, are what
	// one run says.
	// The floor's columns (ours/floor, then its figures) are there only
	// when it ran: it echoes, and nothing else.
	floor := slices.ContainsFunc(rows, func(m metric) bool { _, ok := m.vals[kindFloor]; return ok })
	header, rule := "| metric | ours/node | ours/raw | target | met | actorio | node socket.io 4.8 | raw gorilla ws |", "|---|---:|---:|---|---|---:|---:|---:|"
	if floor {
		header, rule = "| metric | ours/node | ours/raw | ours/floor | target | met | actorio | node socket.io 4.8 | raw gorilla ws | Socket.IO floor (codec on gorilla) |", "|---|---:|---:|---:|---|---|---:|---:|---:|---:|"
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, rule)
	for _, m := range rows {
		ratios := []string{m.ratioCell(kindNode), m.ratioCell(kindRaw)}
		figures := []string{m.cell(kindActorio), m.cell(kindNode), m.cell(kindRaw)}
		if floor {
			ratios = append(ratios, m.ratioCell(kindFloor))
			figures = append(figures, m.cell(kindFloor))
		}
		if m.noRatio {
			clear(ratios)
		}
		label := m.label
		if strings.HasPrefix(label, "idle: server RSS before") {
			if len(runs) == 1 {
				for i, k := range allKinds[:len(figures)] {
					if r, ok := runs[0].idle[k]; ok {
						figures[i] = fmt.Sprintf("%.1f → %.1f", float64(r.before.RSS)/(1<<20), float64(r.after.RSS)/(1<<20))
					}
				}
			} else {
				label = "idle: server RSS after the hold (MB)"
			}
		}
		verdict := ""
		if m.judge != nil {
			verdict = m.judge(m)
		}
		cells := append(append(append([]string{label}, ratios...), m.target, verdict), figures...)
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}

	fmt.Fprintln(w)
	fmt.Fprintf(w, "Parameters: echo C=%d clients, T=%v (after %v warm-up), %d-byte string; fan-out (WebSocket and long-polling) R=%d receivers, M=%d messages of %d bytes in one blast; idle N=%d held %v; ping interval %v. ",
		cfg.echoClients, cfg.echoTime, cfg.echoWarmup, cfg.echoSize, cfg.fanReceivers, cfg.fanMessages, cfg.fanSize, cfg.idleConns, cfg.idleHold, cfg.pingInterval)
	if cfg.serverProcs > 0 {
		fmt.Fprintf(w, "Go servers at GOMAXPROCS=%d (-server-procs). ", cfg.serverProcs)
	}
	writeRepeatNote(w, len(runs), "servers")
	fmt.Fprintf(w, "Machine: %d CPUs, %s/%s, %s, node %s. Whole run: %v.\n\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), nodeVersion(cfg), took.Round(time.Second))
	fmt.Fprintf(w, "Each server is a separate process, started afresh per scenario; CPU is utime+stime from /proc/<pid>/stat (10 ms ticks) over the measured window, RSS is VmRSS and peak RSS VmHWM from /proc/<pid>/status. "+
		"The load generator (this process) runs on the same %d CPUs as the server under test: the \"load generator CPU\" rows show its share, and \"other processes\" what the rest of the machine used meanwhile (/proc/stat; anything well above 0 means a noisy run); "+
		"when server + load generator reach about %d cores, the machine, not the server, is the limit, and throughput is shared between both.\n",
		runtime.NumCPU(), runtime.NumCPU())
	named := func(i int, s string) string { return runLine(len(runs), i, s) }
	var noisy, failures []string
	for i, res := range runs {
		for _, k := range allKinds {
			if r, ok := res.echo[k]; ok {
				noisy = appendNoise(noisy, named(i, "echo/"+k), r.cpu)
			}
			if r, ok := res.fanout[k]; ok {
				noisy = appendNoise(noisy, named(i, "fan-out/"+k), r.cpu)
			}
			if r, ok := res.pfan[k]; ok {
				noisy = appendNoise(noisy, named(i, "long-polling fan-out/"+k), r.cpu)
			}
		}
		for _, e := range res.errs {
			failures = append(failures, named(i, e))
		}
	}
	if len(noisy) > 0 {
		fmt.Fprintf(w, "\n**Noisy run**: other processes used more than %.2f cores during %s (cores). Throughput and latency ratios of those runs are unreliable; CPU per operation is less affected. Rerun on a quiet machine.\n",
			noiseCores, strings.Join(noisy, ", "))
	}
	for i, res := range runs {
		for _, k := range allKinds {
			if r, ok := res.rstorm[k]; ok && r.upgradeFailed > 0 {
				fmt.Fprintf(w, "\n%s\n", named(i, fmt.Sprintf("Reconnect storm, %s: %d upgrades failed after the restart (those clients stayed on long-polling); the first: %s", k, r.upgradeFailed, r.firstUpgrade)))
			}
		}
	}
	writeFailures(w, failures)
}

// writeRepeatNote says, after a table of n runs (-repeat) of what
// ("servers", "deployments"), how its figures were made; nothing for one
// run.
func writeRepeatNote(w io.Writer, n int, what string) {
	if n > 1 {
		fmt.Fprintf(w, "%d runs (-repeat), alternated: each run's %s one after the other, scenario by scenario; each figure is the median of the runs, each ratio the median of the runs' own ratios, with their ranges in brackets; a target is judged on the medians. ", n, what)
	}
}

// appendNoise appends label and the cores other processes used during
// window c to list when they used more than noiseCores.
func appendNoise(list []string, label string, c cpuWindow) []string {
	if cores := c.cores(c.others); cores > noiseCores {
		return append(list, fmt.Sprintf("%s %.2f", label, cores))
	}
	return list
}

// runLine names line as run i's (from 0) when there are several runs.
func runLine(runs, i int, line string) string {
	if runs == 1 {
		return line
	}
	return fmt.Sprintf("run %d: %s", i+1, line)
}

// writeFailures lists the scenarios that failed, if any.
func writeFailures(w io.Writer, failures []string) {
	if len(failures) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Failures:")
	for _, e := range failures {
		fmt.Fprintf(w, "- %s\n", e)
	}
}

func nodeVersion(cfg config) string {
	out, err := exec.Command(cfg.nodeBin, "--version").Output()
	if err != nil {
		return "(not found)"
	}
	return strings.TrimSpace(string(out))
}
