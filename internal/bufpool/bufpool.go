// Package bufpool recycles the byte buffers of long-polling answers, by
// power-of-two capacity from 1<<MinShift to 1<<MaxShift bytes: a
// receiver of a fan-out over long-polling would otherwise have a buffer
// allocated, and zeroed, for every answer it is sent, on the node that
// holds its session and, when its request was handed over, on the node
// that read the answer off the cluster's link.
//
// Whoever Puts a buffer must hold the only reference to it: the next Get
// may hand it to anyone. A buffer outside the classes is left to the
// collector.
package bufpool

import (
	"math/bits"
	"sync"
)

const (
	// MinShift is the smallest class: a buffer of 256 bytes or less is
	// allocated, not pooled.
	MinShift = 9
	// MaxShift is the largest class (1 MB): a larger buffer is left to
	// the collector.
	MaxShift = 20
)

var classes [MaxShift - MinShift + 1]sync.Pool

// Get returns an empty buffer of at least n bytes' capacity: from the
// smallest class that holds n, or of exactly n outside the classes.
func Get(n int) []byte {
	k := bits.Len(uint(max(n, 1) - 1))
	if k < MinShift || k > MaxShift {
		return make([]byte, 0, n)
	}
	if b, _ := classes[k-MinShift].Get().(*[]byte); b != nil {
		return (*b)[:0]
	}
	return make([]byte, 0, 1<<k)
}

// Put hands b back to its class, when its capacity is one; the caller
// must not use b afterwards.
func Put(b []byte) {
	c := cap(b)
	if c < 1<<MinShift || c > 1<<MaxShift || c&(c-1) != 0 {
		return
	}
	b = b[:0]
	classes[bits.Len(uint(c))-1-MinShift].Put(&b)
}
