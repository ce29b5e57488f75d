package tests

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/node"
)

// closeRaceScript connects a polling-only socket.io-client for each command
// {url, n} it reads, emits "bye" with n, and reports how the socket and its
// Manager ended: out("ended", socket reason, manager reason).
const closeRaceScript = `
import { io } from 'socket.io-client';
for await (const cmd of input()) {
	const s = io(cmd.url, { transports: ['polling'], reconnection: false, forceNew: true });
	const ended = await new Promise((resolve) => {
		let socketReason = null;
		s.on('connect', () => s.emit('bye', cmd.n));
		s.on('connect_error', (err) => resolve(['connect_error', String(err && err.message)]));
		s.on('disconnect', (reason) => { socketReason = reason; });
		// The Manager's close comes after the socket's disconnect.
		s.io.on('close', (reason) => setTimeout(() => resolve([socketReason, reason]), 10));
	});
	s.close();
	out('ended', ...ended);
}
exit(0);
`

// TestGatewayPollingServerCloseReachesClient: when the server ends a
// polling session, the official client learns it from the close packet on
// its next GET, never from a failed request ("transport error"), whether
// the close comes while a GET is pending or between two. The server emits
// n events before it closes, so that the close falls at varied points of
// the client's GET cycle.
func TestGatewayPollingServerCloseReachesClient(t *testing.T) {
	node.Require(t)
	tests := []struct {
		name  string
		tries int
		// serve starts a server whose "bye" handler emits n events and
		// then closes; one per try when perTry.
		perTry bool
		close  func(srv *actorio.Server, s *actorio.Socket)
		// The reasons the client may report: its socket's and its
		// Manager's (the Engine.IO close). Never "transport error".
		socketReason   string
		managerReasons []string
	}{
		{
			// The socket's reason is Node's. Node's Manager reports
			// "forced close": Node answers one GET with the "41" and
			// keeps the close packet for the next, so the client closes
			// first. Ours come in one answer ("transport close") unless
			// a pending GET took the "41" alone.
			name: "Socket.Disconnect(true)", tries: 50,
			close:          func(_ *actorio.Server, s *actorio.Socket) { s.Disconnect(true) },
			socketReason:   "io server disconnect",
			managerReasons: []string{"transport close", "forced close"},
		},
		{
			// Node, which also closes its HTTP server in io.close(),
			// reports "transport error" here; the close packet must
			// arrive instead.
			name: "Server.Close", tries: 30, perTry: true,
			close:          func(srv *actorio.Server, _ *actorio.Socket) { go srv.Close() },
			socketReason:   "transport close",
			managerReasons: []string{"transport close"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := func() *testServer {
				return startServer(t, actorio.Options{}, func(srv *actorio.Server) {
					srv.OnConnection(func(s *actorio.Socket) {
						s.On("bye", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
							var n int
							_ = args.Decode(0, &n)
							for i := 0; i < n; i++ {
								_ = s.Emit("ok", i)
								time.Sleep(time.Duration(i) * 100 * time.Microsecond)
							}
							tc.close(srv, s)
						})
					})
				})
			}
			var ts *testServer
			if !tc.perTry {
				ts = start()
			}
			p := node.Run(t, nil, closeRaceScript, nil)
			deadline := time.Now().Add(40 * time.Second)
			bad := 0
			for i := 0; i < tc.tries && time.Now().Before(deadline); i++ {
				if tc.perTry {
					ts = start()
				}
				if err := p.Send(map[string]any{"url": ts.URL, "n": i % 5}); err != nil {
					t.Fatalf("try %d: %v", i, err)
				}
				l := p.Expect(t, "ended", step)
				if l.Arg(0) != tc.socketReason || !slices.Contains(tc.managerReasons, fmt.Sprint(l.Arg(1))) {
					bad++
					t.Errorf("try %d (%d events first): the client ended with %v / %v, want %s / one of %q",
						i, i%5, l.Arg(0), l.Arg(1), tc.socketReason, tc.managerReasons)
				}
				if bad >= 5 {
					t.Fatalf("stopped after %d tries", i+1)
				}
			}
			_ = p.CloseStdin()
			if code := p.WaitExit(t, step); code != 0 {
				t.Fatalf("script exited with %d", code)
			}
		})
	}
}
