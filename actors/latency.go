package actors

import (
	"sync/atomic"
	"time"
)

// AckLatencyBounds are the upper bounds of the ack latency histogram's
// buckets, from a loopback round trip to a client on a slow mobile link.
var AckLatencyBounds = []time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// latency is a histogram of durations over AckLatencyBounds, updated with
// atomics: no lock on the ack path.
type latency struct {
	counts [14]atomic.Uint64 // len(AckLatencyBounds)+1: the last counts what is above every bound
	sum    atomic.Int64      // nanoseconds
}

func (l *latency) observe(d time.Duration) {
	i := 0
	for i < len(AckLatencyBounds) && d > AckLatencyBounds[i] {
		i++
	}
	l.counts[i].Add(1)
	l.sum.Add(int64(d))
}
