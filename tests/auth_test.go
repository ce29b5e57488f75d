package tests

import (
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/node"
)

// TestMiddlewareAuth refuses and accepts sockets from middleware: a refused
// client gets connect_error with the message and data the server set, and
// never reaches the connection handler.
func TestMiddlewareAuth(t *testing.T) {
	var (
		mu        sync.Mutex
		seen      []string // auth payloads the middleware saw
		connected []string // ids the connection handler saw
	)
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.Use(func(s *actorio.Socket) error {
			var auth struct {
				Token string `json:"token"`
			}
			_ = json.Unmarshal(s.Handshake().Auth, &auth)
			mu.Lock()
			seen = append(seen, string(s.Handshake().Auth))
			mu.Unlock()
			switch auth.Token {
			case "secret":
				return nil
			case "plain":
				return errors.New("plain refusal")
			default:
				return &actorio.ConnectError{
					Message: "unauthorized",
					Data:    map[string]any{"code": 401, "reason": "bad token", "token": auth.Token},
				}
			}
		})
		// A second middleware runs only after the first accepted.
		srv.Use(func(s *actorio.Socket) error {
			s.SetData("checked")
			return nil
		})
		srv.OnConnection(func(s *actorio.Socket) {
			mu.Lock()
			connected = append(connected, s.ID())
			mu.Unlock()
			s.On("data", func(s *actorio.Socket, _ actorio.Args, ack actorio.AckFunc) { _ = ack(s.Data()) })
		})
	})
	c := startClients(t, ts)

	for _, tc := range []struct {
		name     string
		auth     any
		wantErr  string // connect_error message, "" when accepted
		wantData any
	}{
		{"no auth", nil, "unauthorized", map[string]any{"code": float64(401), "reason": "bad token", "token": ""}},
		{"wrong token", map[string]any{"token": "guess"}, "unauthorized", map[string]any{"code": float64(401), "reason": "bad token", "token": "guess"}},
		{"plain error", map[string]any{"token": "plain"}, "plain refusal", nil},
		{"right token", map[string]any{"token": "secret"}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := c.on(t)
			opts := with(wsOnly, "forceNew", true, "reconnection", false)
			if tc.auth != nil {
				opts["auth"] = tc.auth
			}
			c.open(tc.name, "/", opts)
			l := c.waitFor("connect or connect_error of "+tc.name, func(l node.Line) bool {
				return (l.Ev == "connect" || l.Ev == "connect_error") && l.Arg(0) == tc.name
			})
			if tc.wantErr == "" {
				if l.Ev != "connect" {
					t.Fatalf("refused: %s", l.Raw)
				}
				if got := c.emitAck(tc.name, "data").Arg(2); got != "checked" {
					t.Errorf("second middleware's data = %v, want checked", got)
				}
				return
			}
			if l.Ev != "connect_error" {
				t.Fatalf("accepted: %s", l.Raw)
			}
			e := l.Arg(1).(map[string]any)
			if e["message"] != tc.wantErr || !reflect.DeepEqual(e["data"], tc.wantData) {
				t.Errorf("connect_error = %s, want message %q data %v", l.Args[1], tc.wantErr, tc.wantData)
			}
		})
	}

	// The middleware saw every attempt; the connection handler only the
	// accepted one. A refused socket is not retried by the client, so
	// after a round trip on the accepted socket nothing more can come.
	c.emitAck("right token", "data")
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"", `{"token":"guess"}`, `{"token":"plain"}`, `{"token":"secret"}`}; !reflect.DeepEqual(seen, want) {
		t.Errorf("middleware saw auth %q, want %q", seen, want)
	}
	if len(connected) != 1 {
		t.Errorf("connection handler ran for %d sockets (%v), want 1", len(connected), connected)
	}
}
