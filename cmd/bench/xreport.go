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

// xBound is one target of the cross-node table: the ratio of the cluster
// (WebSocket and polling columns) to other, at least or at most limit.
type xBound struct {
	other string
	limit float64
	min   bool
}

// xmetric is one row of the cross-node table.
type xmetric struct {
	label string
	vals  map[string]float64 // by server kind
	// runs are each run's vals when the scenarios ran more than once
	// (-repeat); vals are then their medians.
	runs    []map[string]float64
	prec    int
	noRatio bool
	target  string
	bounds  []xBound
}

// ratio is a/b (see runRatio).
func (m xmetric) ratio(a, b string) (float64, bool) { return runRatio(m.vals, m.runs, a, b) }

// combineXRuns is combineRuns for the cross-node table.
func combineXRuns(tables [][]xmetric) []xmetric {
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

// verdict judges the bounds for the kind's column: "yes", "**no**",
// "yes (partial)" when some other column is missing, "" when none can be
// judged.
func (m xmetric) verdict(kind string) string {
	met, known := true, 0
	for _, b := range m.bounds {
		r, ok := m.ratio(kind, b.other)
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
		return ""
	case !met:
		return "**no**"
	case known < len(m.bounds):
		return "yes (partial)"
	}
	return "yes"
}

func (m xmetric) met() string {
	var parts []string
	for _, k := range []struct{ kind, name string }{{kindCluster, "ws"}, {kindClusterPoll, "polling"}} {
		if v := m.verdict(k.kind); v != "" {
			parts = append(parts, k.name+" "+v)
		}
	}
	if len(parts) == 0 && len(m.bounds) > 0 {
		return "n/a"
	}
	return strings.Join(parts, ", ")
}

func xcolumn[R any](byKind map[string]R, f func(R) float64) map[string]float64 {
	out := map[string]float64{}
	for _, k := range xKinds {
		if r, ok := byKind[k]; ok {
			out[k] = f(r)
		}
	}
	return out
}

// xheader returns the column title of kind.
func xheader(cfg config, kind string) string {
	links := "TLS links"
	if !cfg.clusterTLS {
		links = "plain links"
	}
	switch kind {
	case kindCluster:
		return fmt.Sprintf("actorio %d nodes, %s, WebSocket", cfg.nodes, links)
	case kindClusterPoll:
		return fmt.Sprintf("actorio %d nodes, %s, polling handed over", cfg.nodes, links)
	case kindNodeRedis:
		return fmt.Sprintf("Node socket.io 4.8 × %d + redis-adapter + redis-server", cfg.nodes)
	case kindActorio:
		return "actorio 1 node"
	case kindNode:
		return "Node socket.io 1 process"
	}
	return kind
}

// writeXReport prints the table of the cross-node scenarios: ratios
// first, then the targets, then every column's figure; with several runs
// (-repeat), their medians and ranges.
func writeXReport(w io.Writer, cfg config, runs []*results, took time.Duration) {
	tables := make([][]xmetric, len(runs))
	for i, res := range runs {
		tables[i] = xTableRows(cfg, res)
	}
	writeXTable(w, cfg, runs, combineXRuns(tables), took)
}

// xTableRows are the rows of one run's cross-node table.
func xTableRows(cfg config, res *results) []xmetric {
	fan := func(f func(r xfanResult) float64) map[string]float64 { return xcolumn(res.xfan, f) }
	ack := func(f func(r xackResult) float64) map[string]float64 { return xcolumn(res.xack, f) }
	cpuRows := func(prefix string, win func(k string) (cpuWindow, bool)) []xmetric {
		col := func(f func(c cpuWindow) float64) map[string]float64 {
			out := map[string]float64{}
			for _, k := range xKinds {
				if c, ok := win(k); ok {
					out[k] = f(c)
				}
			}
			return out
		}
		return []xmetric{
			{label: prefix + ": server CPU, all processes (cores)", prec: 2, noRatio: true, vals: col(func(c cpuWindow) float64 { return c.cores(c.server) })},
			{label: prefix + ": load generator CPU (cores)", prec: 2, noRatio: true, vals: col(func(c cpuWindow) float64 { return c.cores(c.load) })},
			{label: prefix + ": other processes' CPU (cores, noise)", prec: 2, noRatio: true, vals: col(func(c cpuWindow) float64 { return c.cores(c.others) })},
		}
	}

	var rows []xmetric
	if slices.Contains(cfg.scenarios, scenXFanout) {
		rows = append(rows,
			xmetric{label: "xfanout blast: delivered msgs/s", prec: 0,
				vals:   fan(func(r xfanResult) float64 { return float64(r.delivered) / r.elapsed.Seconds() }),
				target: "≥ 10× node-redis", bounds: []xBound{{kindNodeRedis, 10, true}}},
			xmetric{label: "xfanout blast: latency p50, emit to receipt (ms)", prec: 2,
				vals: fan(func(r xfanResult) float64 { return ms(r.p50) })},
			xmetric{label: "xfanout blast: latency p99, emit to receipt (ms)", prec: 2,
				vals:   fan(func(r xfanResult) float64 { return ms(r.p99) }),
				target: "≤ 0.1× node-redis", bounds: []xBound{{kindNodeRedis, 0.1, false}}},
			xmetric{label: "xfanout blast: time until every receiver has all M (ms)", prec: 1,
				vals: fan(func(r xfanResult) float64 { return ms(r.elapsed) })},
			xmetric{label: "xfanout blast: server CPU per delivered msg, all processes (µs)", prec: 3,
				vals: fan(func(r xfanResult) float64 { return us(r.cpu.server) / float64(r.delivered) })},
		)
		rows = append(rows, cpuRows("xfanout blast", func(k string) (cpuWindow, bool) { r, ok := res.xfan[k]; return r.cpu, ok })...)
		rows = append(rows,
			xmetric{label: "xfanout blast: peak RSS, sum of the processes (MB)", prec: 1,
				vals: fan(func(r xfanResult) float64 { return float64(r.peakRSS) / (1 << 20) })},
		)
		if cfg.xRate > 0 {
			paced := func(f func(r xfanResult) float64) map[string]float64 {
				return fan(func(r xfanResult) float64 {
					if !r.paced {
						return math.NaN()
					}
					return f(r)
				})
			}
			rows = append(rows,
				xmetric{label: fmt.Sprintf("xfanout paced (%d msgs/s to the room): latency p50 (ms)", cfg.xRate), prec: 2,
					vals: paced(func(r xfanResult) float64 { return ms(r.pacedP50) })},
				xmetric{label: fmt.Sprintf("xfanout paced (%d msgs/s to the room): latency p99 (ms)", cfg.xRate), prec: 2,
					vals: paced(func(r xfanResult) float64 { return ms(r.pacedP99) })},
				xmetric{label: "xfanout paced: server CPU per delivered msg, all processes (µs)", prec: 3,
					vals: paced(func(r xfanResult) float64 { return us(r.pacedCPU.server) / float64(r.pacedDelivered) })},
				xmetric{label: "xfanout paced: server CPU, all processes (cores)", prec: 2, noRatio: true,
					vals: paced(func(r xfanResult) float64 { return r.pacedCPU.cores(r.pacedCPU.server) })},
			)
		}
	}
	if slices.Contains(cfg.scenarios, scenXAck) {
		bounds := []xBound{{kindNodeRedis, 0.3, false}, {kindActorio, 1.2, false}}
		rows = append(rows,
			xmetric{label: "xack: one round, emit until every ack, p50 (ms)", prec: 3,
				vals:   ack(func(r xackResult) float64 { return ms(r.p50) }),
				target: "≤ 0.3× node-redis, ≤ 1.2× actorio 1 node", bounds: bounds},
			xmetric{label: "xack: one round, p99 (ms)", prec: 3,
				vals:   ack(func(r xackResult) float64 { return ms(r.p99) }),
				target: "≤ 0.3× node-redis, ≤ 1.2× actorio 1 node", bounds: bounds},
			xmetric{label: "xack: one round, mean (ms)", prec: 3,
				vals: ack(func(r xackResult) float64 { return ms(r.mean) })},
			xmetric{label: "xack: server CPU per round, all processes (µs)", prec: 1,
				vals: ack(func(r xackResult) float64 { return us(r.cpu.server) / float64(r.rounds) })},
		)
		rows = append(rows, cpuRows("xack", func(k string) (cpuWindow, bool) { r, ok := res.xack[k]; return r.cpu, ok })...)
	}
	return rows
}

// writeXTable prints the cross-node rows, then the runs' parameters,
// noise and failures.
func writeXTable(w io.Writer, cfg config, runs []*results, rows []xmetric, took time.Duration) {
	heads := []string{"metric", "cluster/node-redis", "polling/node-redis", "cluster/1 node", "target", "met"}
	for _, k := range xKinds {
		heads = append(heads, xheader(cfg, k))
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(heads, " | "))
	fmt.Fprintf(w, "|---|---:|---:|---:|---|---|%s\n", strings.Repeat("---:|", len(xKinds)))
	for _, m := range rows {
		cells := []string{m.label,
			runRatioCell(m.vals, m.runs, kindCluster, kindNodeRedis), runRatioCell(m.vals, m.runs, kindClusterPoll, kindNodeRedis), runRatioCell(m.vals, m.runs, kindCluster, kindActorio),
			m.target, m.met()}
		if m.noRatio {
			cells[1], cells[2], cells[3] = "", "", ""
		}
		for _, k := range xKinds {
			cells = append(cells, runCell(m.vals, m.runs, k, m.prec))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}

	fmt.Fprintln(w)
	fmt.Fprintf(w, "Parameters: %d nodes; the sender is a WebSocket client of the first, receivers go round-robin over the nodes. ", cfg.nodes)
	if slices.Contains(cfg.scenarios, scenXFanout) {
		fmt.Fprintf(w, "xfanout: R=%d receivers (%d for polling), a blast of M=%d messages of %d bytes, then %d msgs/s for %v; ",
			cfg.xReceivers, cfg.xPollReceivers, cfg.xMessages, cfg.xSize, cfg.xRate, cfg.xPaced)
	}
	if slices.Contains(cfg.scenarios, scenXAck) {
		fmt.Fprintf(w, "xack: %d receivers, %d rounds after %d unmeasured, round timeout %v; ",
			cfg.xAckReceivers, cfg.xRounds, cfg.xWarmRounds, cfg.xAckTimeout)
	}
	if cfg.serverProcs > 0 {
		fmt.Fprintf(w, "One actorio node at GOMAXPROCS=%d (-server-procs). ", cfg.serverProcs)
	}
	if slices.ContainsFunc(cfg.servers, func(k string) bool { return k == kindCluster || k == kindClusterPoll }) {
		fmt.Fprintf(w, "Each node of the actorio clusters at GOMAXPROCS=%d (-cluster-procs). ", nodeProcs(cfg))
	}
	writeRepeatNote(w, len(runs), "deployments")
	fmt.Fprintf(w, "ping interval %v. Machine: %d CPUs, %s/%s, %s, node %s, %s. Whole run: %v.\n\n",
		cfg.pingInterval, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), nodeVersion(cfg), redisVersion(cfg), took.Round(time.Second))
	fmt.Fprintf(w, "Server CPU sums every process of the column (utime+stime, 10 ms ticks): the nodes, and redis-server for node-redis. "+
		"Latency is from the server's emit (a wall-clock timestamp in the message) to its receipt by the load generator, all on this machine. "+
		"A round of xack is timed by the sending server, from its emit with ack to the last ack. "+
		"Ratios are of the first column over the other named; the polling column's clients send every request after the handshake to the next node in turn, so two in three are handed over to the session's node.\n")
	named := func(i int, s string) string { return runLine(len(runs), i, s) }
	var noisy, failures []string
	for i, res := range runs {
		for _, k := range xKinds {
			if r, ok := res.xfan[k]; ok {
				noisy = appendNoise(noisy, named(i, "xfanout/"+k), r.cpu)
			}
			if r, ok := res.xack[k]; ok {
				noisy = appendNoise(noisy, named(i, "xack/"+k), r.cpu)
			}
		}
		for _, e := range res.xerrs {
			failures = append(failures, named(i, e))
		}
	}
	if len(noisy) > 0 {
		fmt.Fprintf(w, "\n**Noisy run**: other processes used more than %.2f cores during %s (cores).\n", noiseCores, strings.Join(noisy, ", "))
	}
	writeFailures(w, failures)
}

func redisVersion(cfg config) string {
	out, err := exec.Command(cfg.redisBin, "--version").Output()
	if err != nil {
		return "redis-server (not found)"
	}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return "redis-server " + v
		}
	}
	return strings.TrimSpace(string(out))
}
