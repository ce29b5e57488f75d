//go:build linux

package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestCombineRuns: several runs' tables make one of medians, each ratio
// the median of the runs' own ratios, each with its range, and a target
// judged on them.
func TestCombineRuns(t *testing.T) {
	row := func(vals map[string]float64) []metric {
		return []metric{{label: "echo: server CPU per ack (µs)", prec: 2, vals: vals,
			target: "≤ 1× raw", judge: judgeRatios(bound{kindRaw, 1, false})}}
	}
	tests := []struct {
		name              string
		runs              []map[string]float64
		wantOurs, wantRaw string
		wantRatio, wantOK string
	}{
		{
			name:     "one run: no ranges",
			runs:     []map[string]float64{{kindActorio: 12, kindRaw: 10}},
			wantOurs: "12.00", wantRaw: "10.00", wantRatio: "1.20×", wantOK: "**no**",
		},
		{
			// Ratios 1.2, 1.5, 1.1: their median is 1.2, not the ratio
			// of the medians (11/10).
			name:     "three runs: medians, the median ratio",
			runs:     []map[string]float64{{kindActorio: 12, kindRaw: 10}, {kindActorio: 9, kindRaw: 6}, {kindActorio: 11, kindRaw: 10}},
			wantOurs: "11.00 (9.00–12.00)", wantRaw: "10.00 (6.00–10.00)", wantRatio: "1.20× (1.10–1.50)", wantOK: "**no**",
		},
		{
			name:     "two runs: the mean of the middle two",
			runs:     []map[string]float64{{kindActorio: 8, kindRaw: 10}, {kindActorio: 10, kindRaw: 10}},
			wantOurs: "9.00 (8.00–10.00)", wantRaw: "10.00 (10.00–10.00)", wantRatio: "0.90× (0.80–1.00)", wantOK: "yes",
		},
		{
			// Ratios 0.8 and 0.9 (the ratio of the medians is 0.9).
			name:     "a run without raw: its ratio left out",
			runs:     []map[string]float64{{kindActorio: 8, kindRaw: 10}, {kindActorio: 30}, {kindActorio: 9, kindRaw: 10}},
			wantOurs: "9.00 (8.00–30.00)", wantRaw: "10.00 (10.00–10.00)", wantRatio: "0.85× (0.80–0.90)", wantOK: "yes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tables [][]metric
			for _, v := range tt.runs {
				tables = append(tables, row(v))
			}
			m := combineRuns(tables)[0]
			if got := m.cell(kindActorio); got != tt.wantOurs {
				t.Errorf("actorio's cell %q, want %q", got, tt.wantOurs)
			}
			if got := m.cell(kindRaw); got != tt.wantRaw {
				t.Errorf("raw's cell %q, want %q", got, tt.wantRaw)
			}
			if got := m.ratioCell(kindRaw); got != tt.wantRatio {
				t.Errorf("ratio cell %q, want %q", got, tt.wantRatio)
			}
			if got := m.judge(m); got != tt.wantOK {
				t.Errorf("verdict %q, want %q", got, tt.wantOK)
			}
		})
	}
}

// TestJudgeZeroEveryRun: a count whose target is zero fails when any run
// counted one, whatever the median.
func TestJudgeZeroEveryRun(t *testing.T) {
	var tables [][]metric
	for _, n := range []float64{0, 0, 2} {
		tables = append(tables, []metric{{label: "refusals", vals: map[string]float64{kindActorio: n}, judge: judgeZero}})
	}
	m := combineRuns(tables)[0]
	if m.vals[kindActorio] != 0 {
		t.Fatalf("median %v, want 0", m.vals[kindActorio])
	}
	if got := m.judge(m); got != "**no**" {
		t.Errorf("verdict %q, want **no** (run 3 counted 2)", got)
	}
}

// TestSmokeRepeat runs echo twice against actorio, raw and the floor
// (-repeat 2): the servers alternate run by run, and the table gives
// medians with ranges.
func TestSmokeRepeat(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{
		"-servers", "actorio,raw,sio-floor", "-scenarios", "echo", "-repeat", "2",
		"-c", "3", "-t", "200ms", "-warmup", "50ms", "-ping-interval", "100ms", "-settle", "20ms",
	}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s\nstdout:\n%s", code, errb.String(), out.String())
	}
	table, log := out.String(), errb.String()
	if strings.Contains(table, "Failures:") {
		t.Fatalf("a scenario failed:\n%s\nstderr:\n%s", table, log)
	}
	// The order of the runs: each run's servers one after the other.
	var order []string
	for _, line := range strings.Split(log, "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[0] == "bench:" {
			order = append(order, f[3]+" "+strings.Join(f[4:8], " "))
		}
	}
	want := []string{"actorio (run 1 of 2)", "raw (run 1 of 2)", "sio-floor (run 1 of 2)", "actorio (run 2 of 2)", "raw (run 2 of 2)", "sio-floor (run 2 of 2)"}
	if strings.Join(order, "; ") != strings.Join(want, "; ") {
		t.Errorf("runs in the order %q, want %q\nstderr:\n%s", order, want, log)
	}
	cell := tableCells(t, table)
	ranged := regexp.MustCompile(`^[0-9.]+ \([0-9.]+–[0-9.]+\)$`)
	ratio := regexp.MustCompile(`^[0-9.]+× \([0-9.]+–[0-9.]+\)$`)
	for _, col := range []string{"actorio", "raw gorilla ws", "Socket.IO floor (codec on gorilla)"} {
		if c := cell("echo: server CPU per ack (µs)", col); !ranged.MatchString(c) {
			t.Errorf("%s's CPU per ack %q: want a median and its range", col, c)
		}
	}
	for _, col := range []string{"ours/raw", "ours/floor"} {
		if c := cell("echo: server CPU per ack (µs)", col); !ratio.MatchString(c) {
			t.Errorf("%s %q: want a median ratio and its range", col, c)
		}
	}
	if !strings.Contains(table, "2 runs (-repeat)") {
		t.Errorf("the table does not say it is of 2 runs:\n%s", table)
	}
}

// TestCombineXRuns: the cross-node table's verdicts and cells with
// several runs are of the medians of the runs' own ratios.
func TestCombineXRuns(t *testing.T) {
	bounds := []xBound{{kindNodeRedis, 0.3, false}, {kindActorio, 1.2, false}}
	var tables [][]xmetric
	// Rounds in ms: cluster, node-redis, one node. Cluster/node-redis
	// 0.25, 0.40, 0.28 (median 0.28); cluster/1 node 1.00, 1.00, 1.12
	// (median 1.00).
	for _, r := range [][3]float64{{0.5, 2.0, 0.5}, {0.6, 1.5, 0.6}, {0.7, 2.5, 0.625}} {
		tables = append(tables, []xmetric{{label: "xack: one round, p50 (ms)", prec: 3, bounds: bounds,
			vals: map[string]float64{kindCluster: r[0], kindNodeRedis: r[1], kindActorio: r[2]}}})
	}
	m := combineXRuns(tables)[0]
	// The polling column has no figures: it is not judged.
	if got, want := m.met(), "ws yes"; got != want {
		t.Errorf("verdict %q, want %q", got, want)
	}
	if got, want := runRatioCell(m.vals, m.runs, kindCluster, kindNodeRedis), "0.28× (0.25–0.40)"; got != want {
		t.Errorf("cluster/node-redis %q, want %q", got, want)
	}
	if got, want := runRatioCell(m.vals, m.runs, kindCluster, kindActorio), "1.00× (1.00–1.12)"; got != want {
		t.Errorf("cluster/1 node %q, want %q", got, want)
	}
	if got, want := runCell(m.vals, m.runs, kindCluster, m.prec), "0.600 (0.500–0.700)"; got != want {
		t.Errorf("cluster's cell %q, want %q", got, want)
	}
	// One run over the bounds on its own is not a miss of the medians
	// (0.28× and 1.12×); two are.
	tables[1][0].vals[kindCluster] = 0.9 // 0.60× node-redis, 1.50× one node
	if got, want := combineXRuns(tables)[0].met(), "ws yes"; got != want {
		t.Errorf("with run 2 over both bounds: verdict %q, want %q", got, want)
	}
	tables[2][0].vals[kindCluster] = 0.8 // 0.32× node-redis, 1.28× one node
	if got, want := combineXRuns(tables)[0].met(), "ws **no**"; got != want {
		t.Errorf("with runs 2 and 3 over both bounds: verdict %q, want %q", got, want)
	}
}
