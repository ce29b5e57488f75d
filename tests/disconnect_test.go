package tests

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
)

// discEnv is what one disconnect case works with: a server whose "/" and
// "/admin" sockets are watched, and a Node process with socket "a".
type discEnv struct {
	ts   *testServer
	c    *nodeClients
	dl   *disconnectLog
	id   string // socket a's id
	acks chan error
}

// TestDisconnectReasons ends a socket every way there is and checks the
// reason on both sides; each socket gets exactly one OnDisconnect.
func TestDisconnectReasons(t *testing.T) {
	quickPing := actorio.Options{PingInterval: 200 * time.Millisecond, PingTimeout: 200 * time.Millisecond}
	for _, tc := range []struct {
		name         string
		opts         actorio.Options
		client       map[string]any
		serverReason string
		clientReason string // "" when the client cannot tell (killed, stopped)
		// The /admin socket on the same connection: "" when it is not
		// affected, else its server-side and client-side reasons.
		adminReason, adminClientReason string
		run                            func(t *testing.T, e *discEnv)
	}{
		{
			name: "client disconnect", client: wsOnly,
			serverReason: disconnect.ClientNamespaceDisconnect, clientReason: "io client disconnect",
			run: func(t *testing.T, e *discEnv) {
				e.c.send(map[string]any{"op": "disconnect", "name": "a"})
			},
		},
		{
			name: "client disconnect polling", client: pollingOnly,
			serverReason: disconnect.ClientNamespaceDisconnect, clientReason: "io client disconnect",
			run: func(t *testing.T, e *discEnv) {
				e.c.send(map[string]any{"op": "disconnect", "name": "a"})
			},
		},
		{
			name: "server disconnect", client: wsOnly,
			serverReason: disconnect.ServerNamespaceDisconnect, clientReason: "io server disconnect",
			run: func(t *testing.T, e *discEnv) {
				e.c.emit("a", "kick", false)
			},
		},
		{
			// Disconnect(true) also closes the connection; the client still
			// learns it was the server's decision and does not reconnect.
			name: "server disconnect and close", client: wsOnly, adminReason: disconnect.ServerNamespaceDisconnect, adminClientReason: "io server disconnect",
			serverReason: disconnect.ServerNamespaceDisconnect, clientReason: "io server disconnect",
			run: func(t *testing.T, e *discEnv) {
				e.c.emit("a", "kick", true)
			},
		},
		{
			name: "client killed", client: wsOnly, adminReason: disconnect.TransportClose,
			serverReason: disconnect.TransportClose,
			run: func(t *testing.T, e *discEnv) {
				e.c.P.Kill()
			},
		},
		{
			// A killed polling client aborts its pending GET, as in the
			// reference server ("poll connection closed prematurely").
			name: "client killed polling", client: pollingOnly, adminReason: disconnect.TransportError,
			serverReason: disconnect.TransportError,
			run: func(t *testing.T, e *discEnv) {
				e.c.P.Kill()
			},
		},
		{
			name: "ping timeout", client: wsOnly, opts: quickPing, adminReason: disconnect.PingTimeout,
			serverReason: disconnect.PingTimeout,
			run:          stopClient,
		},
		{
			name: "ping timeout polling", client: pollingOnly, opts: quickPing, adminReason: disconnect.PingTimeout,
			serverReason: disconnect.PingTimeout,
			run:          stopClient,
		},
		{
			// Close also ends a handler blocked in EmitWithAck at once.
			name: "server close", client: wsOnly, adminReason: disconnect.ServerShuttingDown, adminClientReason: "transport close",
			serverReason: disconnect.ServerShuttingDown, clientReason: "transport close",
			run: func(t *testing.T, e *discEnv) {
				e.c.emit("a", "ask")
				e.c.expectEvent("a", "question")
				start := time.Now()
				if err := e.ts.Srv.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("Close took %v with a handler waiting for an ack", d)
				}
				if err := recv(t, e.acks, step, "EmitWithAck's result"); !errors.Is(err, actorio.ErrDisconnected) {
					t.Errorf("EmitWithAck during Close returned %v, want ErrDisconnected", err)
				}
			},
		},
		{
			name: "server close polling", client: pollingOnly, adminReason: disconnect.ServerShuttingDown, adminClientReason: "transport close",
			serverReason: disconnect.ServerShuttingDown, clientReason: "transport close",
			run: func(t *testing.T, e *discEnv) {
				if err := e.ts.Srv.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			},
		},
		{
			name: "handler panic", client: wsOnly,
			serverReason: disconnect.HandlerPanic, clientReason: "io server disconnect",
			run: func(t *testing.T, e *discEnv) {
				e.c.emit("a", "boom")
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &discEnv{dl: newDisconnectLog(), acks: make(chan error, 1)}
			e.ts = startServer(t, tc.opts, func(srv *actorio.Server) {
				setup := func(s *actorio.Socket) {
					e.dl.watch(s)
					s.On("kick", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
						var close bool
						_ = args.Decode(0, &close)
						s.Disconnect(close)
					})
					s.On("boom", func(*actorio.Socket, actorio.Args, actorio.AckFunc) {
						panic("boom (a test panics on purpose)")
					})
					s.On("ask", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
						ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
						defer cancel()
						_, err := s.EmitWithAck(ctx, "question")
						e.acks <- err
					})
					s.On("echo", echoHandler)
				}
				srv.OnConnection(setup)
				srv.Of("/admin").OnConnection(setup)
			})
			// Socket a, plus an /admin socket on the same connection and
			// a bystander b on a connection of its own in another process.
			e.c = startClients(t, e.ts)
			opts := with(tc.client, "reconnectionDelay", 100, "reconnectionDelayMax", 100)
			// a never acks: "ask" leaves its handler waiting.
			e.c.openNoAck("a", "/", opts)
			e.id = e.c.expect("connect", "a").Arg(1).(string)
			e.c.openNoAck("a-admin", "/admin", opts)
			e.c.expect("connect", "a-admin")
			bystander := startClients(t, e.ts)
			bID := bystander.connect("b", "/", wsOnly)

			e.c.send(map[string]any{"op": "info", "name": "a-admin"})
			adminID := e.c.expect("info", "a-admin").Arg(1).(map[string]any)["id"].(string)

			tc.run(t, e)

			ev := e.dl.waitID(t, e.id)
			if ev.Reason != tc.serverReason {
				t.Errorf("OnDisconnect of socket a: %q, want %q", ev.Reason, tc.serverReason)
			}
			if tc.clientReason != "" {
				if l := e.c.expect("disconnect", "a"); l.Arg(1) != tc.clientReason {
					t.Errorf("client a: disconnect %v, want %q", l.Arg(1), tc.clientReason)
				}
			}
			if tc.adminReason == "" {
				// Only "/" ended: the connection and its /admin socket go on.
				if l := e.c.emitAck("a-admin", "echo", "admin still here"); l.Arg(2) != "admin still here" {
					t.Errorf("/admin echo: %s", l.Raw)
				}
			} else {
				if ev := e.dl.waitID(t, adminID); ev.Reason != tc.adminReason {
					t.Errorf("OnDisconnect of /admin: %q, want %q", ev.Reason, tc.adminReason)
				}
				if tc.adminClientReason != "" {
					if l := e.c.expect("disconnect", "a-admin"); l.Arg(1) != tc.adminClientReason {
						t.Errorf("client a-admin: disconnect %v, want %q", l.Arg(1), tc.adminClientReason)
					}
				}
			}
			if tc.clientReason == "io server disconnect" {
				// The server's decision: the client does not come back.
				e.c.quiet("a reconnection", 300*time.Millisecond, func(l nodeLine) bool {
					return l.Ev == "connect"
				})
			}
			if tc.serverReason != disconnect.ServerShuttingDown {
				// The bystander on another connection never noticed.
				if l := bystander.emitAck("b", "echo", 1); l.Arg(2) != float64(1) {
					t.Errorf("bystander echo: %s", l.Raw)
				}
			}

			if err := e.ts.Srv.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			e.dl.expectOnce(t, e.id, tc.serverReason)
			if tc.adminReason != "" {
				e.dl.expectOnce(t, adminID, tc.adminReason)
			} else {
				e.dl.expectOnce(t, adminID, disconnect.ServerShuttingDown)
			}
			e.dl.expectOnce(t, bID, disconnect.ServerShuttingDown)
		})
	}
}

// stopClient freezes the client process (SIGSTOP): its kernel keeps the
// TCP connection open but nobody answers the pings. Killed afterwards.
func stopClient(t *testing.T, e *discEnv) {
	e.c.send(map[string]any{"op": "pid"})
	pid := int(e.c.waitFor("pid", func(l nodeLine) bool { return l.Ev == "pid" }).Arg(0).(float64))
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP: %v", err)
	}
	t.Cleanup(func() {
		e.c.P.Kill() // SIGKILL works on a stopped process
	})
}
