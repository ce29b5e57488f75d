package client

import (
	"testing"
	"time"
)

// TestNodeTryAllTransports checks Options.TryAllTransports against the
// Node socket.io server allowing long-polling only: the client's
// WebSocket is refused and it connects by polling, and only when asked to.
func TestNodeTryAllTransports(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tryAll bool
	}{
		{"fallback", true},
		{"no fallback", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, 0, map[string]string{"TRANSPORTS": TransportPolling})
			s, err := New(n.URL, fast(Options{Transports: []string{TransportWebSocket, TransportPolling},
				TryAllTransports: tc.tryAll, DisableReconnection: true}))
			must(t, err)
			t.Cleanup(func() { _ = s.Close() })
			rec := record(s)
			must(t, s.Connect())
			if !tc.tryAll {
				rec.wait(t, EventConnectFailed, 1)
				return
			}
			l := n.expect("connection")
			if got := l.str(6); got != TransportPolling {
				t.Fatalf("the Node server saw transport %q, want polling (%s)", got, l.Args)
			}
			rec.wait(t, EventConnect, 1)
		})
	}
}

// TestNodeUpgradeLeavesOnlyTheWebSocket: once upgraded, the client closes
// the idle connections of its polling requests (the official client, in
// Node, leaves none open either), instead of leaving them to the server's
// keep-alive timeout (5 s for Node's, none for a Go http.Server without
// IdleTimeout).
func TestNodeUpgradeLeavesOnlyTheWebSocket(t *testing.T) {
	n := startNode(t, 0, nil)
	p := newCutProxy(t, n.URL)
	m, err := NewManager(p.URL, fast(Options{DisableReconnection: true}))
	must(t, err)
	t.Cleanup(func() { _ = m.Close() })
	s := m.Socket("/")
	mustConnect(t, s, record(s))
	waitTransport(t, m, TransportWebSocket)
	deadline := time.Now().Add(2 * time.Second) // within Node's keepAliveTimeout
	for p.open() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open 2 s after the upgrade, want the WebSocket alone", p.open())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
