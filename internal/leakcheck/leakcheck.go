// Package leakcheck tells tests whether the goroutines started since a
// baseline have ended.
package leakcheck

import (
	"bytes"
	"runtime"
	"runtime/pprof"
	"time"
)

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
