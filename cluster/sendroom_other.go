//go:build !linux

package cluster

import "net"

// sendBuffer returns 0 outside Linux: frames always go through the link's
// writer goroutine there.
func sendBuffer(net.Conn) int { return 0 }

// queued cannot tell outside Linux.
func queued(net.Conn) (int, bool) { return 0, false }
