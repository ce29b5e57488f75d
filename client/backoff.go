package client

import (
	"math"
	"math/rand/v2"
	"time"
)

// backoff computes reconnection delays as the JavaScript client does: the
// base delay doubled at each attempt, moved up or down by a random
// deviation of at most jitter times itself, capped at max.
type backoff struct {
	base   time.Duration
	max    time.Duration
	jitter float64
	rand   func() float64 // in [0, 1); nil means math/rand/v2
}

// duration returns the delay before attempt (0 for the first reconnection attempt).
func (b backoff) duration(attempt int) time.Duration {
	d := float64(b.base) * math.Pow(2, float64(min(max(attempt, 0), 62)))
	if b.jitter > 0 {
		rnd := rand.Float64
		if b.rand != nil {
			rnd = b.rand
		}
		r := rnd()
		dev := math.Floor(r * b.jitter * d)
		// The same draw decides the direction, as in the JavaScript client.
		if int(math.Floor(r*10))&1 == 0 {
			d -= dev
		} else {
			d += dev
		}
	}
	if d >= float64(b.max) {
		return b.max
	}
	return time.Duration(max(d, 0))
}
