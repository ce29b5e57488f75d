// Package testwait waits, in tests, for what other goroutines send.
package testwait

import (
	"testing"
	"time"
)

// Receive waits up to d for the next value on ch and returns it; when none
// comes, it fails tb, saying what it waited for.
func Receive[T any](tb testing.TB, ch <-chan T, d time.Duration, what string) T {
	tb.Helper()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case v := <-ch:
		return v
	case <-t.C:
		tb.Fatalf("timed out after %v waiting for %s", d, what)
		var zero T
		return zero
	}
}
