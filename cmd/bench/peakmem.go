package main

import (
	"fmt"
	"runtime/metrics"
	"strings"
	"sync"
	"time"
)

// peakEvery is how often a peakMem samples the runtime's memory.
const peakEvery = 20 * time.Millisecond

// peakMem samples the Go runtime's memory classes while a server runs and
// keeps the sample at which the runtime used the most memory (what it
// holds from the system, less what it returned and less free heap), with
// the most it held (free heap included: what RSS follows) and the largest
// goroutine count and stack size seen, so that a profile says what a
// scenario's peak was made of; the heap profile and memstats written at
// exit show the end of the run only.
type peakMem struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	atPeak  []metrics.Sample // the sample kept (see peakMem)
	used    uint64           // total less released and free, at that sample
	maxHeld uint64           // largest total less released seen
	maxG    uint64           // largest goroutine count seen
	maxStk  uint64           // largest stack bytes seen
	// marked is the report as it stood at the last Mark, "" before one.
	marked string
}

// Indexes in peakMetrics of the samples peakMem computes with; the report
// lists every sample after total and released.
const (
	peakTotal = iota
	peakReleased
	_ // heap objects
	_ // heap unused
	peakFree
	peakStacks
	_ // os stacks
	_ // metadata
	_ // other
	peakGoroutines
)

// peakMetrics are the runtime/metrics peakMem reads, in report order.
var peakMetrics = []string{
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/os-stacks:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/other:bytes",
	"/sched/goroutines:goroutines",
}

// startPeakMem starts sampling every peakEvery until Stop.
func startPeakMem() *peakMem {
	p := &peakMem{stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

func (p *peakMem) loop() {
	defer close(p.done)
	s := make([]metrics.Sample, len(peakMetrics))
	for i, name := range peakMetrics {
		s[i].Name = name
	}
	t := time.NewTicker(peakEvery)
	defer t.Stop()
	for {
		metrics.Read(s)
		p.take(s)
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

// take records s if the runtime used more memory then than at the sample
// kept so far.
func (p *peakMem) take(s []metrics.Sample) {
	val := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	held := val(peakTotal) - min(val(peakTotal), val(peakReleased))
	used := held - min(held, val(peakFree))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.maxHeld = max(p.maxHeld, held)
	p.maxG = max(p.maxG, val(peakGoroutines))
	p.maxStk = max(p.maxStk, val(peakStacks))
	if p.atPeak == nil || used > p.used {
		p.used = used
		p.atPeak = append(p.atPeak[:0], s...)
	}
}

// Mark keeps the report as it stands now: cmd/bench marks a server when it
// reads its memory (SIGUSR1, see serverProc.mem), so that the report of
// Stop says what the peak the bench measured was made of, not a later one
// (the close of thousands of connections at the end of a run).
func (p *peakMem) Mark() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.marked = p.reportLocked()
}

// Stop ends the sampling and returns the report: the memory classes at the
// peak, in MB, and the largest goroutine count and stack size seen, until
// the last Mark and over the whole run.
func (p *peakMem) Stop() string {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.marked == "" {
		return "over the whole run (never marked):\n" + p.reportLocked()
	}
	return "until cmd/bench last read the server's memory:\n" + p.marked +
		"over the whole run, the end of the run included:\n" + p.reportLocked()
}

// reportLocked formats the peak so far; p.mu is held.
func (p *peakMem) reportLocked() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sampled every %v: the runtime held at most %.1f MB from the system (free heap included); when it used the most, %.1f MB:\n",
		peakEvery, mb(p.maxHeld), mb(p.used))
	for i, s := range p.atPeak {
		if i == peakTotal || i == peakReleased || s.Value.Kind() != metrics.KindUint64 {
			continue
		}
		if strings.HasSuffix(s.Name, ":bytes") {
			fmt.Fprintf(&b, "  %s %.1f MB\n", s.Name, mb(s.Value.Uint64()))
		} else {
			fmt.Fprintf(&b, "  %s %d\n", s.Name, s.Value.Uint64())
		}
	}
	fmt.Fprintf(&b, "largest seen: %d goroutines, %.1f MB of goroutine stacks\n", p.maxG, mb(p.maxStk))
	return b.String()
}

// mb converts bytes to MB.
func mb(b uint64) float64 { return float64(b) / (1 << 20) }
