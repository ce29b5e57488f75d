package main

import (
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPeakMemKeepsThePeak: 64 MB held for a while and then dropped show
// in the report as the peak's heap objects, after the heap went back down.
func TestPeakMemKeepsThePeak(t *testing.T) {
	p := startPeakMem()
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i)
	}
	time.Sleep(5 * peakEvery)
	runtime.KeepAlive(big)
	big = nil
	runtime.GC()
	time.Sleep(5 * peakEvery)
	report := p.Stop()
	t.Log(report)
	m := regexp.MustCompile(`/memory/classes/heap/objects:bytes ([0-9.]+) MB`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("no heap objects in the report:\n%s", report)
	}
	if v, _ := strconv.ParseFloat(m[1], 64); v < 64 {
		t.Errorf("heap objects at the peak: %v MB, want at least the 64 MB held", v)
	}
	if !strings.Contains(report, "largest seen:") {
		t.Errorf("no largest goroutines and stacks in the report:\n%s", report)
	}
}

// TestPeakMemMark: the report until the mark shows the 16 MB held before
// it, not the 64 MB held after; the whole run's shows those.
func TestPeakMemMark(t *testing.T) {
	p := startPeakMem()
	hold := func(n int) {
		b := make([]byte, n<<20)
		for i := range b {
			b[i] = byte(i)
		}
		time.Sleep(5 * peakEvery)
		runtime.KeepAlive(b)
	}
	hold(16)
	p.Mark()
	hold(64)
	report := p.Stop()
	t.Log(report)
	marked, whole, ok := strings.Cut(report, "over the whole run")
	if !ok || !strings.HasPrefix(marked, "until cmd/bench") {
		t.Fatalf("want the marked report, then the whole run's:\n%s", report)
	}
	objects := func(s string) float64 {
		m := regexp.MustCompile(`/memory/classes/heap/objects:bytes ([0-9.]+) MB`).FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("no heap objects in:\n%s", s)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	if v := objects(marked); v < 16 || v >= 64 {
		t.Errorf("heap objects at the peak until the mark: %v MB, want the 16 MB held then", v)
	}
	if v := objects(whole); v < 64 {
		t.Errorf("heap objects at the whole run's peak: %v MB, want the 64 MB held after the mark", v)
	}
}

// TestPeakMetricsIndexes: the indexes peakMem computes with name the
// metrics they mean.
func TestPeakMetricsIndexes(t *testing.T) {
	for _, tt := range []struct {
		i    int
		name string
	}{
		{peakTotal, "/memory/classes/total:bytes"},
		{peakReleased, "/memory/classes/heap/released:bytes"},
		{peakFree, "/memory/classes/heap/free:bytes"},
		{peakStacks, "/memory/classes/heap/stacks:bytes"},
		{peakGoroutines, "/sched/goroutines:goroutines"},
	} {
		if peakMetrics[tt.i] != tt.name {
			t.Errorf("peakMetrics[%d] = %s, want %s", tt.i, peakMetrics[tt.i], tt.name)
		}
	}
}
