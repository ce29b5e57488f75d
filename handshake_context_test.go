package actorio_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/internal/testkit"
)

// userKey is the context key the middleware of these tests uses.
type userKey struct{}

// withUser is ordinary net/http middleware putting the X-User header's
// value in the request's context, as an authentication layer would.
func withUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-User"); u != "" {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
		}
		next.ServeHTTP(w, r)
	})
}

func TestHandshakeContextCarriesNetHTTPMiddlewareValues(t *testing.T) {
	for _, tc := range []struct {
		name       string
		transports []string
		// serve: the server listens and serves as actorio.Serve does on
		// actorio.Listen's listener, which answers WebSocket upgrades
		// without net/http.
		serve bool
	}{
		{"polling", []string{client.TransportPolling}, false},
		{"polling then websocket", []string{client.TransportPolling, client.TransportWebSocket}, false},
		{"websocket", []string{client.TransportWebSocket}, false},
		{"polling then websocket, actorio.Serve", []string{client.TransportPolling, client.TransportWebSocket}, true},
		{"websocket, actorio.Serve", []string{client.TransportWebSocket}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ln net.Listener
			if tc.serve {
				var err error
				if ln, err = actorio.Listen("tcp", "127.0.0.1:0"); err != nil {
					t.Fatal(err)
				}
			}
			type seen struct {
				mw, conn, header string
				done             bool
			}
			got := make(chan seen, 1)
			gs := testkit.StartServer(t, testkit.ServerConfig{
				Options:       actorio.Options{Logger: quiet()},
				Wrap:          withUser,
				Listener:      ln,
				ServeUpgrades: tc.serve,
				Setup: func(srv *actorio.Server) {
					var mwUser string
					srv.Of("/").Use(func(s *actorio.Socket) error {
						mwUser, _ = s.Handshake().Context().Value(userKey{}).(string)
						return nil
					})
					srv.OnConnection(func(s *actorio.Socket) {
						h := s.Handshake()
						u, _ := h.Context().Value(userKey{}).(string)
						// The handshake request has been answered: its
						// context is over, its values are not.
						done := false
						select {
						case <-h.Context().Done():
							done = true
						case <-time.After(2 * time.Second):
						}
						got <- seen{mw: mwUser, conn: u, header: h.Headers.Get("X-User"), done: done}
					})
				},
			})
			goClient(t, gs.URL, "/", client.Options{
				Transports: tc.transports,
				Header:     http.Header{"X-User": {"alice"}},
			})
			select {
			case g := <-got:
				if g.mw != "alice" || g.conn != "alice" || g.header != "alice" {
					t.Fatalf("middleware saw %q, connection handler %q, header %q; want alice", g.mw, g.conn, g.header)
				}
				if !g.done {
					t.Error("the handshake request's context is not done after its answer")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no connection")
			}
		})
	}
}

func TestHandshakeContextWithoutMiddlewareHasNoValue(t *testing.T) {
	got := make(chan any, 1)
	gs := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: quiet()},
		Setup: func(srv *actorio.Server) {
			srv.OnConnection(func(s *actorio.Socket) {
				got <- s.Handshake().Context().Value(userKey{})
			})
		},
	})
	goClient(t, gs.URL, "/", client.Options{})
	if v := <-got; v != nil {
		t.Fatalf("value %v, want none", v)
	}
	if (actorio.Handshake{}).Context() == nil {
		t.Fatal("the zero Handshake has a nil context")
	}
}
