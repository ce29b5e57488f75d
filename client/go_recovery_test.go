package client

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
)

// TestGoRecoveryAfterTransportCutMidStream is the recovery test against
// actorio's own server: the server streams numbered events to the socket
// through its own-id room, the test cuts the connection mid-stream and
// keeps it down until the server has noticed and emitted while the socket
// was away; the client must come back with the same id, Recovered, and
// every number exactly once, in order; with either parser (the offsets
// travel as msgpack strings with the msgpack one).
func TestGoRecoveryAfterTransportCutMidStream(t *testing.T) {
	const total = 500
	for _, c := range []struct {
		name       string
		transports []string
		parser     Parser
	}{
		{"websocket", []string{TransportWebSocket}, ParserJSON},
		{"polling", []string{TransportPolling}, ParserJSON},
		{"upgraded", nil, ParserJSON},
		{"msgpack websocket", []string{TransportWebSocket}, ParserMsgpack},
		{"msgpack polling", []string{TransportPolling}, ParserMsgpack},
	} {
		t.Run(c.name, func(t *testing.T) {
			conns := make(chan *actorio.Socket, 4)
			gone := make(chan string, 4)
			var away atomic.Bool
			missed := make(chan struct{})
			stop := make(chan struct{})
			streamed := make(chan struct{})
			g := startGo(t, actorio.Options{
				ConnectionStateRecovery: &actorio.ConnectionStateRecovery{},
				// Notices a polling session cut between two requests soon.
				PingInterval: 400 * time.Millisecond,
				PingTimeout:  time.Second,
				Parser:       actorio.Parser(c.parser),
			}, func(srv *actorio.Server) {
				srv.OnConnection(func(s *actorio.Socket) {
					s.OnDisconnect(func(s *actorio.Socket, reason string) {
						away.Store(true)
						gone <- reason
					})
					conns <- s
				})
			})
			t.Cleanup(func() { close(stop); <-streamed })
			p := newCutProxy(t, g.URL)
			s := mustNew(t, p.URL, Options{Transports: c.transports, Parser: c.parser})
			l := logStream(s)
			r := record(s)
			mustConnect(t, s, r)
			s1 := recvOne(t, conns)
			id := s1.ID()
			if id != s.ID() || s1.Recovered() || s.Recovered() {
				t.Fatalf("first connection: server %s recovered %v, client %s recovered %v", id, s1.Recovered(), s.ID(), s.Recovered())
			}
			if c.transports == nil {
				waitTransport(t, s.Manager(), TransportWebSocket)
			}
			srv := g.server()
			go func() {
				defer close(streamed)
				signalled := false
				for i := 1; i <= total; i++ {
					if err := srv.To(id).Emit("n", i); err != nil {
						t.Errorf("emit %d: %v", i, err)
						return
					}
					if !signalled && away.Load() {
						signalled = true
						close(missed)
					}
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
				}
				if err := srv.To(id).Emit("end"); err != nil {
					t.Errorf("emit end: %v", err)
				}
			}()
			l.waitFor(t, "20 numbers", func(items []string) bool { return countPrefix(items, "n:") >= 20 })

			p.down()
			if reason := recvOne(t, gone); reason != disconnect.TransportClose && reason != disconnect.TransportError && reason != disconnect.PingTimeout {
				t.Fatalf("server disconnect reason %q", reason)
			}
			recvOne(t, missed)
			p.up()

			r.wait(t, EventConnect, 2)
			s2 := recvOne(t, conns)
			if s2.ID() != id || !s2.Recovered() {
				t.Fatalf("reconnection: server socket %s recovered %v, want %s recovered", s2.ID(), s2.Recovered(), id)
			}
			if s.ID() != id || !s.Recovered() {
				t.Fatalf("reconnection: client has %s recovered %v, want %s recovered", s.ID(), s.Recovered(), id)
			}
			l.waitFor(t, "end", func(items []string) bool { return slices.Contains(items, "end") })

			expectRecoveredStream(t, l, total)
		})
	}
}
