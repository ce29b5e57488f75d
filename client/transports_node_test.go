package client

import "testing"

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
