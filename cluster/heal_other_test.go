//go:build !unix

package cluster_test

// resume does nothing: only Unix stops processes (heal_unix_test.go).
func (n *procNode) resume() {}
