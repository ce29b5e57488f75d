package tests

import (
	"testing"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
)

// TestReconnectAfterTransportDrop drops the client's TCP connections from
// the server side, with no Socket.IO or Engine.IO packet (what a proxy
// timeout or a network change does). The library has no public call that
// drops a transport without a namespace DISCONNECT (Socket.Disconnect(true)
// sends one, and the client then rightly stays away), so the test closes
// the connections the HTTP server accepted. The client must reconnect by
// itself and get a new socket id; the server sees a new connection.
func TestReconnectAfterTransportDrop(t *testing.T) {
	for _, tc := range []struct {
		name         string
		opts         map[string]any
		clientReason string
		serverReason string
	}{
		// The WebSocket dies under both ends: each reads the end of the
		// stream without a close frame, which Node's ws reports as a close
		// (1006), hence "transport close" on both sides.
		{"websocket", wsOnly, "transport close", disconnect.TransportClose},
		// The pending long-poll GET fails on both ends.
		{"polling", pollingOnly, "transport error", disconnect.TransportError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dl := newDisconnectLog()
			conns := make(chan string, 4)
			ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
				srv.OnConnection(func(s *actorio.Socket) {
					dl.watch(s)
					s.On("echo", echoHandler)
					conns <- s.ID()
				})
			})
			c := startClients(t, ts)
			opts := with(tc.opts, "reconnectionDelay", 50, "reconnectionDelayMax", 100, "randomizationFactor", 0)
			id1 := c.connect("a", "/", opts)
			if got := recv(t, conns, step, "the first connection"); got != id1 {
				t.Fatalf("server saw %s, client %s", got, id1)
			}
			if l := c.emitAck("a", "echo", "before"); l.Arg(2) != "before" {
				t.Fatalf("echo: %s", l.Raw)
			}

			if n := ts.DropConnections(); n == 0 {
				t.Fatal("no connection to drop")
			}

			if l := c.expect("disconnect", "a"); l.Arg(1) != tc.clientReason {
				t.Errorf("client disconnect reason %v, want %q", l.Arg(1), tc.clientReason)
			}
			if ev := dl.waitID(t, id1); ev.Reason != tc.serverReason {
				t.Errorf("server OnDisconnect reason %q, want %q", ev.Reason, tc.serverReason)
			}
			c.expect("reconnect", "a")
			l := c.expect("connect", "a")
			id2 := l.Arg(1).(string)
			if id2 == id1 {
				t.Errorf("reconnected with the same id %s", id1)
			}
			if l.Arg(2) != opts["transports"].([]string)[0] {
				t.Errorf("reconnected over %v", l.Arg(2))
			}
			if got := recv(t, conns, step, "the second connection"); got != id2 {
				t.Errorf("server saw %s, client %s", got, id2)
			}
			if l := c.emitAck("a", "echo", "after"); l.Arg(2) != "after" {
				t.Errorf("echo after reconnecting: %s", l.Raw)
			}
			socks, err := ts.Srv.Of("/").FetchSockets(ctxStep(t, step))
			if err != nil || len(socks) != 1 || socks[0].ID() != id2 {
				t.Errorf("FetchSockets after reconnecting: %v, %v", socks, err)
			}

			if err := ts.Srv.Close(); err != nil {
				t.Fatal(err)
			}
			dl.expectOnce(t, id1, tc.serverReason)
			dl.expectOnce(t, id2, disconnect.ServerShuttingDown)
		})
	}
}
