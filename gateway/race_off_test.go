//go:build !race

package gateway

// raceEnabled reports whether the race detector is on: it adds allocations,
// and its sync.Pool drops a share of what is put in it.
const raceEnabled = false
