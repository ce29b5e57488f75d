// Package leakcheck tells tests whether the goroutines started since a
// baseline have ended.
package leakcheck

import (
	"bytes"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
)

// Check records how many goroutines run now and registers a cleanup that
// fails t when, once the cleanups registered after it have run, more
// remain after waiting up to wait for them to end. Call it before
// starting what the test must stop, so that its cleanup runs last.
func Check(t testing.TB, wait time.Duration) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		if n, dump := Settle(before, wait); dump != "" {
			t.Errorf("%d goroutines left after the test's cleanups, %d before:\n%s", n, before, dump)
		}
	})
}

// Settle waits up to wait for the goroutine count to fall back to baseline.
// It returns the last count and, when the count stayed above baseline, a
// dump of every goroutine for the failure message.
func Settle(baseline int, wait time.Duration) (n int, dump string) {
	deadline := time.Now().Add(wait)
	for {
		n = runtime.NumGoroutine()
		if n <= baseline {
			return n, ""
		}
		if time.Now().After(deadline) {
			var buf bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
			return n, buf.String()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// PeakDuring runs start on a goroutine of its own and, until done reports
// true, samples the goroutine count as often as the scheduler lets it; it
// returns the largest count seen, and false when done did not report true
// within wait.
func PeakDuring(start func(), done func() bool, wait time.Duration) (peak int, ok bool) {
	go start()
	deadline := time.Now().Add(wait)
	for !done() {
		peak = max(peak, runtime.NumGoroutine())
		if time.Now().After(deadline) {
			return peak, false
		}
		runtime.Gosched()
	}
	return peak, true
}
