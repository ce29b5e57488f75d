package soak

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram counts durations in buckets an eighth of a power of two wide
// (12.5% resolution), without locks and in constant memory however many
// deliveries a large run makes.
type histogram struct {
	counts [64 * 8]atomic.Int64
}

// bucketOf returns the bucket of d nanoseconds: d itself below 8, else
// eight buckets per power of two.
func bucketOf(d int64) int {
	if d < 8 {
		return int(max(d, 0))
	}
	e := bits.Len64(uint64(d)) - 1
	return e*8 + int(d>>(e-3)&7)
}

// bucketTop returns the largest duration of bucket b.
func bucketTop(b int) time.Duration {
	if b < 8 {
		return time.Duration(b)
	}
	e, m := b/8, int64(b%8)
	return time.Duration((8+m+1)<<(e-3) - 1)
}

func (h *histogram) add(d time.Duration) { h.counts[bucketOf(int64(d))].Add(1) }

// quantile returns an upper bound of quantile q (0 < q <= 1) within 12.5%,
// and 0 when nothing was counted.
func (h *histogram) quantile(q float64) time.Duration {
	var total int64
	for i := range h.counts {
		total += h.counts[i].Load()
	}
	if total == 0 {
		return 0
	}
	rank := int64(q*float64(total) + 0.5)
	rank = max(rank, 1)
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return bucketTop(i)
		}
	}
	return bucketTop(len(h.counts) - 1)
}
