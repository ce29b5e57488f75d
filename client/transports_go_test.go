package client

import (
	"testing"

	"github.com/actorio/actorio"
)

// TestGoTryAllTransports checks Options.TryAllTransports against servers
// that allow one transport only: the client connects by the next of its
// transports when the first fails to open, and only when asked to.
func TestGoTryAllTransports(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server []string // the transports the server allows
		client []string
		tryAll bool
		want   string // the transport connected with; "" for a failure
	}{
		{"WebSocket refused, polling next", []string{TransportPolling}, []string{TransportWebSocket, TransportPolling}, true, TransportPolling},
		{"WebSocket refused, no fallback", []string{TransportPolling}, []string{TransportWebSocket, TransportPolling}, false, ""},
		{"polling refused, WebSocket next", []string{TransportWebSocket}, []string{TransportPolling, TransportWebSocket}, true, TransportWebSocket},
		{"first transport fine", []string{TransportPolling, TransportWebSocket}, []string{TransportWebSocket, TransportPolling}, true, TransportWebSocket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGo(t, actorio.Options{Transports: tc.server}, func(srv *actorio.Server) {
				srv.OnConnection(func(s *actorio.Socket) { _ = s.Emit("hello", s.Transport()) })
			})
			s, err := New(g.URL, fast(Options{Transports: tc.client, TryAllTransports: tc.tryAll, DisableReconnection: true}))
			must(t, err)
			t.Cleanup(func() { _ = s.Close() })
			rec := record(s)
			hello := make(chan string, 1)
			s.On("hello", func(a Args, _ AckFunc) { hello <- a.String(0) })
			must(t, s.Connect())
			if tc.want == "" {
				rec.wait(t, EventConnectFailed, 1)
				if s.Connected() {
					t.Fatal("connected without the fallback")
				}
				return
			}
			if got := recv(t, hello); got != tc.want {
				t.Fatalf("the server saw transport %q, want %q", got, tc.want)
			}
			if got := s.Manager().transport(); got != tc.want {
				t.Fatalf("client transport %q, want %q", got, tc.want)
			}
		})
	}
}
