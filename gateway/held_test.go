package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// queued returns how many packets c holds that no writer has taken.
func queued(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queuedLocked()
}

// waitWriterIdle waits until c writes to its WebSocket and no writer runs
// on it (the one that wrote the open packet may still be finishing).
func waitWriterIdle(t *testing.T, c *Conn) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		idle := c.out != nil && !c.writing
		c.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer of the open packet is still running")
		}
	}
}

// TestHeldWritersWaitForRelease sends to WebSocket connections with a
// Held: nothing is written until Release, a send without it meanwhile
// queues behind, and after Release every client gets every message in
// order, closing ones their close after them.
func TestHeldWritersWaitForRelease(t *testing.T) {
	tests := []struct {
		name  string
		close bool // the server closes the session while its writer is held
	}{
		{"open", false},
		{"closed while held", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			e := startEnv(t, Config{})
			var clients []*websocket.Conn
			var conns []*Conn
			for range 2 {
				ws, c := e.openWS(t)
				clients, conns = append(clients, ws), append(conns, c)
				waitWriterIdle(t, c)
			}
			var h Held
			for i := range 3 {
				for _, c := range conns {
					if err := c.SendWith(SendOptions{Held: &h, Shared: true}, msg(strings.Repeat("h", i+1))); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, c := range conns {
				if err := c.Send(msg("after")); err != nil {
					t.Fatal(err)
				}
				if tt.close {
					c.Close("server shutting down")
				}
			}
			if len(h.writers) != len(conns) {
				t.Fatalf("%d writers held, want one per connection (%d)", len(h.writers), len(conns))
			}
			// Long enough for a writer that was started to take the queue.
			time.Sleep(100 * time.Millisecond)
			for i, c := range conns {
				if n := queued(c); n != 4 {
					t.Fatalf("connection %d: %d packets queued before Release, want all 4", i, n)
				}
			}
			h.Release()
			if len(h.writers) != 0 {
				t.Fatalf("%d writers still held after Release", len(h.writers))
			}
			for i, ws := range clients {
				for _, want := range []string{"4h", "4hh", "4hhh", "4after"} {
					if got := readText(t, ws); got != want {
						t.Fatalf("client %d got %q, want %q", i, got, want)
					}
				}
				if tt.close {
					if err := expectClosed(t, ws); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
						t.Fatalf("client %d: %v, want a close frame without status", i, err)
					}
				}
			}
			// The writers run as ever after a Release: a send is written.
			if !tt.close {
				for i, c := range conns {
					if err := c.Send(msg("later")); err != nil {
						t.Fatal(err)
					}
					if got := readText(t, clients[i]); got != "4later" {
						t.Fatalf("client %d got %q after Release", i, got)
					}
				}
			}
		})
	}
}
