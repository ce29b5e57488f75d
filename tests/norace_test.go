//go:build !race

package tests

// raceEnabled reports whether the tests run with the race detector; the
// demo is then built with -race too, reusing the test build's cache.
const raceEnabled = false
