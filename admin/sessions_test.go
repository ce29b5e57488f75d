package admin

import (
	"log/slog"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/internal/testkit"
)

// TestSessionRefsFollowSockets checks the admin's list of the sockets of
// each session (for transport updates): filled as sockets connect, on two
// namespaces of one session, and emptied as they go, whether or not the
// feed keeps up, so that it cannot grow with the sessions that ended.
func TestSessionRefsFollowSockets(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	web := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: log},
		Setup:   func(srv *actorio.Server) { srv.Of("/chat") },
	})
	a, err := Instrument(web.Srv, Options{NoAuth: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	refs := func() (sessions, sockets int) {
		a.refsMu.Lock()
		defer a.refsMu.Unlock()
		for _, r := range a.bySession {
			sockets += len(r)
		}
		return len(a.bySession), sockets
	}
	wait := func(what string, sessions, sockets int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			s, k := refs()
			if s == sessions && k == sockets {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d sessions, %d sockets listed; want %d and %d", what, s, k, sessions, sockets)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var clients []*client.Manager
	for range 3 {
		m, err := client.NewManager(web.URL, client.Options{Logger: log, DisableReconnection: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, nsp := range []string{"/", "/chat"} {
			if err := m.Socket(nsp).Connect(); err != nil {
				t.Fatal(err)
			}
		}
		clients = append(clients, m)
	}
	wait("three clients on two namespaces", 3, 6)
	clients[0].Socket("/chat").Disconnect()
	wait("one socket left its namespace", 3, 5)
	for _, m := range clients {
		_ = m.Close()
	}
	wait("every client closed", 0, 0)
}
