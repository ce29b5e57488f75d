//go:build !race

package cluster_test

// raceEnabled reports whether the tests run with the race detector, which
// rules out starting a node after others have talked (see cluster.WarmUp).
const raceEnabled = false
