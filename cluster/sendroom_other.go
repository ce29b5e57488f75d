//go:build !linux

package cluster

import (
	"net"
	"syscall"
)

// rawConn returns nil outside Linux: frames always go through the link's
// writer goroutine there.
func rawConn(net.Conn) syscall.RawConn { return nil }

// sendBuffer returns 0 outside Linux.
func sendBuffer(syscall.RawConn) int { return 0 }

// queued cannot tell outside Linux.
func queued(syscall.RawConn) (int, bool) { return 0, false }
