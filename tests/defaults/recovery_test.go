package defaults

import (
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/disconnect"
)

// recoveryWindow is ConnectionStateRecovery's default
// MaxDisconnectionDuration.
const recoveryWindow = 2 * time.Minute

// reconnectWait bounds how long the Go client, at its default
// reconnection delays (1 s doubling up to 5 s, ±50%), takes to come back
// once the server accepts it again.
const reconnectWait = 5*time.Second*3/2 + step

// dropConnections closes, from the server's side, every TCP connection
// the server accepted: the client's transport dies without a packet.
func (s *server) dropConnections() { s.tcp.CloseAll() }

// TestRecoveryWindow: with ConnectionStateRecovery{} (all defaults) a Go
// client, at its default options, that loses its connection and can only
// come back after a while gets its session back, with what was emitted to
// it meanwhile, after 15 s (longer than every timeout but the heartbeat's)
// and not after MaxDisconnectionDuration (2 minutes). The second case
// makes this the package's longest test.
func TestRecoveryWindow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		away      time.Duration
		recovered bool
	}{
		{"back after 15s", 15 * time.Second, true},
		{"back after 2m5s", recoveryWindow + 5*time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var refuse atomic.Bool
			s := startServer(t, actorio.Options{
				ConnectionStateRecovery: &actorio.ConnectionStateRecovery{},
				AllowRequest: func(*http.Request) error {
					if refuse.Load() {
						return errors.New("refused by the test")
					}
					return nil
				},
			}, nil)
			connects := make(chan struct{}, 4)
			disconnects := make(chan string, 4)
			missed := make(chan string, 4)
			sock, err := client.New(s.url, client.Options{
				Transports: []string{client.TransportWebSocket},
				Logger:     slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sock.Close()
			sock.OnEvent(func(e client.Event) {
				switch e.Name {
				case client.EventConnect:
					connects <- struct{}{}
				case client.EventDisconnect:
					disconnects <- e.Reason
				}
			})
			sock.On("missed", func(args client.Args, _ client.AckFunc) { missed <- args.String(0) })
			if err := sock.Connect(); err != nil {
				t.Fatal(err)
			}
			wait := func(ch <-chan struct{}, d time.Duration, what string) {
				t.Helper()
				select {
				case <-ch:
				case <-time.After(d):
					t.Fatalf("no %s within %v", what, d)
				}
			}
			wait(connects, step, "connection")
			id := sock.ID()
			<-s.conns

			refuse.Store(true)
			s.dropConnections()
			left := time.Now()
			g := s.expectGone(t, step, "connection dropped")
			if g.id != id || (g.reason != disconnect.TransportClose && g.reason != disconnect.TransportError) {
				t.Errorf("OnDisconnect(%s, %q), want (%s, transport close or error)", g.id, g.reason, id)
			}
			select {
			case r := <-disconnects:
				t.Logf("client: disconnect %q", r)
			case <-time.After(step):
				t.Fatal("the client saw no disconnect")
			}
			if err := s.srv.To(id).Emit("missed", "while away"); err != nil {
				t.Fatal(err)
			}

			time.Sleep(time.Until(left.Add(tc.away)))
			refuse.Store(false)
			wait(connects, reconnectWait, "reconnection")
			t.Logf("back %v after the drop", time.Since(left).Round(time.Millisecond))
			if got := sock.Recovered(); got != tc.recovered {
				t.Errorf("Recovered() = %v, want %v", got, tc.recovered)
			}
			if same := sock.ID() == id; same != tc.recovered {
				t.Errorf("socket id %s after %s, was %s", sock.ID(), tc.name, id)
			}
			select {
			case m := <-missed:
				if !tc.recovered {
					t.Errorf("a new session got %q", m)
				}
			case <-time.After(time.Second):
				if tc.recovered {
					t.Error("the restored session did not get what was emitted while it was away")
				}
			}
			sock.Disconnect()
			if err := sock.Close(); err != nil {
				t.Error(err)
			}
			if g := s.expectGone(t, step, "client closed"); g.reason != disconnect.ClientNamespaceDisconnect {
				t.Errorf("reason %q after the client closed, want %q", g.reason, disconnect.ClientNamespaceDisconnect)
			}
		})
	}
}
