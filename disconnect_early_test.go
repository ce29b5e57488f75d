package actorio_test

import (
	"context"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/testkit"
)

// TestDisconnectFromAnotherGoroutineAtConnection: a connection handler
// that hands its socket to a goroutine which disconnects it at once (before
// the namespace has recorded the socket's actor) ends it once, with the
// client told "io server disconnect". Run under -race, this caught the
// socket actor's pid read before it was set.
func TestDisconnectFromAnotherGoroutineAtConnection(t *testing.T) {
	var rs reasons
	ts := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: quiet()},
		Setup: func(srv *actorio.Server) {
			srv.OnConnection(func(s *actorio.Socket) {
				s.OnDisconnect(rs.add)
				go s.Disconnect(false)
			})
		},
		LeakWait: leakWait,
	})
	for i := range 20 {
		s, err := client.New(ts.URL, client.Options{Transports: []string{client.TransportWebSocket}, DisableReconnection: true, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 4)
		s.OnEvent(func(ev client.Event) {
			if ev.Name == "disconnect" {
				got <- ev.Reason
			}
		})
		if err := s.Connect(); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		select {
		case r := <-got:
			if r != disconnect.IOServerDisconnect {
				t.Errorf("round %d: client disconnected with %q, want %q", i, r, disconnect.IOServerDisconnect)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the client was not disconnected", i)
		}
		_ = s.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		snap := rs.snapshot()
		done := len(snap) == 20
		for id, r := range snap {
			if len(r) != 1 || r[0] != disconnect.ServerNamespaceDisconnect {
				done = false
				if len(r) > 1 {
					t.Fatalf("socket %s: OnDisconnect %v, want once %q", id, r, disconnect.ServerNamespaceDisconnect)
				}
			}
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("OnDisconnect calls: %v", snap)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
