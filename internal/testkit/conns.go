// Package testkit holds pieces the tests of several packages share that
// have no package of their own in internal/.
package testkit

import (
	"net"
	"net/http"
	"sync"
)

// Conns follows the TCP connections an HTTP server accepted, hijacked
// WebSockets included, so that a test can cut them from the server's side,
// as a proxy or the network would, without any Engine.IO packet. Set
// Track as the server's ConnState hook; the zero value is ready to use.
type Conns struct {
	mu sync.Mutex
	m  map[net.Conn]http.ConnState // every connection not yet closed
}

// Track records that c entered state; it is an http.Server ConnState hook.
func (cs *Conns) Track(c net.Conn, state http.ConnState) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if state == http.StateClosed {
		delete(cs.m, c)
		return
	}
	if cs.m == nil {
		cs.m = map[net.Conn]http.ConnState{}
	}
	cs.m[c] = state
}

// Busy reports whether a request is in flight or a WebSocket is open on
// one of the connections.
func (cs *Conns) Busy() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, st := range cs.m {
		if st == http.StateActive || st == http.StateHijacked {
			return true
		}
	}
	return false
}

// CloseAll cuts every connection followed so far and returns how many. A
// TCP connection is shut down in both directions rather than closed: the
// server then reads its end and fails its writes, as when the peer or the
// network went away, and closes it itself. (Closing the descriptor under
// the server is not what a network does, and a server whose idle
// WebSockets wait in a poller of their own learns of it only at its next
// write: a closed descriptor leaves the poller without a word.)
func (cs *Conns) CloseAll() int {
	cs.mu.Lock()
	conns := make([]net.Conn, 0, len(cs.m))
	for c := range cs.m {
		conns = append(conns, c)
		delete(cs.m, c)
	}
	cs.mu.Unlock()
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseRead()
			_ = tc.CloseWrite()
			continue
		}
		_ = c.Close()
	}
	return len(conns)
}
