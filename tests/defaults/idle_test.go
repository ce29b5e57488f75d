package defaults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
)

// action is one thing a scenario does at a time after the connection.
type action struct {
	at   time.Duration
	what string
	do   func(t *testing.T, s *server, p peer, so *actorio.Socket)
}

// The times of the actions. The server writes to a session only at the
// handshake, for the actions, and for its pings, at about 25 s and 50 s
// (each PingInterval after the previous pong). Every action comes 12 s or
// more after the server's previous write: longer than WriteTimeout and
// UpgradeTimeout (10 s), shorter than PingInterval (25 s); the last ones
// come after ConnectTimeout (45 s) and after PingInterval + PingTimeout
// (45 s), so that a session at the defaults lives through every timer.
const (
	atFirst  = 1 * time.Second
	atGap    = 14 * time.Second // 13 s after the first, before any ping
	atPing1  = 38 * time.Second // 13 s after the first ping
	atPing2  = 62 * time.Second // 12 s after the second ping
	lastStep = atPing2
	// peerLife bounds a Node script's life.
	peerLife = lastStep + 40*time.Second
)

func echo(n int) func(*testing.T, *server, peer, *actorio.Socket) {
	return func(t *testing.T, _ *server, p peer, _ *actorio.Socket) { p.echo(t, n) }
}

// scenarios are the idle patterns: the client's acked events, the
// server's own emits, broadcasts and acked emits, and a client that does
// nothing but answer pings for more than a minute.
var scenarios = []struct {
	name    string
	actions []action
}{
	{"acks", []action{
		{atFirst, "echo with ack", echo(1)},
		{atGap, "echo with ack", echo(2)},
		{atPing1, "echo with ack", echo(3)},
		{atPing2, "echo with ack", echo(4)},
	}},
	{"server-emits", []action{
		{13 * time.Second, "Socket.Emit", func(t *testing.T, _ *server, p peer, so *actorio.Socket) {
			if err := so.Emit("direct", 1); err != nil {
				t.Fatalf("Emit: %v", err)
			}
			p.expect(t, "direct", 1)
		}},
		{atPing1, "broadcast to a room", func(t *testing.T, s *server, p peer, _ *actorio.Socket) {
			if err := s.srv.Of("/").To("all").Emit("room", 2); err != nil {
				t.Fatalf("broadcast: %v", err)
			}
			p.expect(t, "room", 2)
		}},
		{atPing2, "Socket.EmitWithAck", func(t *testing.T, _ *server, p peer, so *actorio.Socket) {
			ctx, cancel := context.WithTimeout(t.Context(), step)
			defer cancel()
			done := make(chan error, 1)
			var reply actorio.Args
			go func() {
				var err error
				reply, err = so.EmitWithAck(ctx, "ask", 3)
				done <- err
			}()
			p.expect(t, "ask", 3)
			if err := <-done; err != nil {
				t.Fatalf("EmitWithAck: %v", err)
			}
			if reply.Len() != 2 || reply.String(0) != "ok" {
				t.Fatalf("EmitWithAck reply %v, want [ok 3]", reply.Values())
			}
		}},
	}},
	{"idle", []action{
		{atPing2, "echo with ack, the first packet since the connection", echo(1)},
	}},
}

// TestIdleGaps connects each client library, on each transport, to a
// server with the default options, and lets it sit idle between actions
// for longer than every internal timeout but the heartbeat's: every action
// must work, neither side may see a disconnect, and the server may log no
// fault. All of them run at once; the package takes about a minute.
func TestIdleGaps(t *testing.T) {
	t.Parallel()
	for _, k := range allKinds {
		for _, tr := range allTransports {
			for _, sc := range scenarios {
				t.Run(fmt.Sprintf("%s/%s/%s", k.name, tr.name, sc.name), func(t *testing.T) {
					t.Parallel()
					s := startServer(t, k.opts, nil)
					p := k.dial(t, s, tr, peerLife)
					start := time.Now()
					so := s.socket(t, p.id())
					for _, a := range sc.actions {
						time.Sleep(time.Until(start.Add(a.at)))
						if f := p.faults(); len(f) > 0 {
							t.Fatalf("client faults before %s at %v: %q\nserver log:\n%s", a.what, a.at, f, s.log.String())
						}
						s.noneGone(t)
						a.do(t, s, p, so)
						t.Logf("%v: %s done", time.Since(start).Round(time.Millisecond), a.what)
					}
					if f := p.faults(); len(f) > 0 {
						t.Errorf("client faults: %q", f)
					}
					s.noneGone(t)
					s.cleanLog(t)
					if got := so.Transport(); got != tr.final {
						t.Errorf("the session is on %s, want %s", got, tr.final)
					}
					p.close(t)
					if g := s.expectGone(t, step, "client closed"); g.reason != disconnect.ClientNamespaceDisconnect {
						t.Errorf("server-side reason %q after the client closed, want %q", g.reason, disconnect.ClientNamespaceDisconnect)
					}
				})
			}
		}
	}
}
