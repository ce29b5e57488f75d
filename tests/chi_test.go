package tests

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/testkit"
)

// TestMountInChi mounts the server in a chi router, behind a middleware,
// beside an ordinary route, and has the official client connect through it
// on each transport, polling upgraded included: chi hands the server its
// requests unchanged, WebSocket upgrades too.
func TestMountInChi(t *testing.T) {
	var seen atomic.Int64
	web := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: newTestLogger(t).logger},
		Setup: func(srv *actorio.Server) {
			srv.OnConnection(func(s *actorio.Socket) { s.On("echo", echoHandler) })
		},
		Wrap: func(srv http.Handler) http.Handler {
			r := chi.NewRouter()
			r.Use(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					seen.Add(1)
					next.ServeHTTP(w, req)
				})
			})
			r.Get("/health", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
			r.Handle("/socket.io/*", srv)
			return r
		},
		CheckClose: true,
	})

	c := runScript(t, web.URL, driverScript, nil)
	for _, tc := range []struct {
		name string
		opts map[string]any
		want string
	}{
		{"websocket", wsOnly, "websocket"},
		{"polling", pollingOnly, "polling"},
		{"upgrade", map[string]any{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := c.on(t)
			c.open(tc.name, "/", with(tc.opts, "forceNew", true))
			l := c.expect("connect", tc.name)
			if tc.want != "" && l.Arg(2) != tc.want {
				t.Errorf("transport %v, want %s", l.Arg(2), tc.want)
			}
			if l := c.emitAck(tc.name, "echo", tc.name); l.Arg(2) != tc.name {
				t.Errorf("echo %s", l.Raw)
			}
		})
	}
	if resp, err := http.Get(web.URL + "/health"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /health: %v %v", resp, err)
	} else {
		_ = resp.Body.Close()
	}
	if seen.Load() < 4 {
		t.Errorf("the chi middleware saw %d requests", seen.Load())
	}
}
