//go:build !linux

package gateway

import (
	"net"
	"time"
)

// readyListen returns ln unchanged: without epoll connections are handed
// over as soon as they are accepted.
func readyListen(ln *net.TCPListener, _ time.Duration) net.Listener { return ln }

// serveUpgrades does nothing: without epoll every connection goes to
// net/http.
func serveUpgrades(net.Listener, *upgradeServer) bool { return false }
