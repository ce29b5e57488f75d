//go:build !race

package socketio

// raceEnabled reports whether the race detector, which adds allocations, is on.
const raceEnabled = false
