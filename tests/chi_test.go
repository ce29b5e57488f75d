package tests

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/actorio/actorio"
)

// TestMountInChi mounts the server in a chi router, behind a middleware,
// beside an ordinary route, and has the official client connect through it
// on each transport, polling upgraded included: chi hands the server its
// requests unchanged, WebSocket upgrades too.
func TestMountInChi(t *testing.T) {
	srv, err := actorio.NewServer(actorio.Options{Logger: newTestLogger(t).logger})
	if err != nil {
		t.Fatal(err)
	}
	srv.OnConnection(func(s *actorio.Socket) { s.On("echo", echoHandler) })
	var seen atomic.Int64
	r := chi.NewRouter()
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			seen.Add(1)
			next.ServeHTTP(w, req)
		})
	})
	r.Get("/health", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	r.Handle("/socket.io/*", srv)
	web := httptest.NewServer(r) // 127.0.0.1
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		web.Close()
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
