package tests

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio"
)

// streamScript connects with the transports of $MODE ("default" lets the
// client start polling and upgrade) and, once connected, exchanges two
// numbered streams with the server: the server emits "n" 0, 1, 2, … and the
// client emits "c" 0, 1, 2, … every millisecond. In default mode both
// streams go on until 50 events after the upgrade, so they cross it.
const streamScript = clientLib + `
const mode = process.env.MODE;
const s = open('a', '/', mode === 'default' ? { query: { mode } } : { transports: [mode], query: { mode } });
let expected = 0, upgradedAt = -1, sent = 0, sentAtUpgrade = -1;
s.io.on('open', () => {
  const engine = s.io.engine;
  engine.on('upgrade', (tr) => {
    upgradedAt = expected;
    sentAtUpgrade = sent;
    out('upgrade', tr.name, engine.transport.name, upgradedAt, sentAtUpgrade);
    s.emit('upgraded');
  });
});
s.on('connect', () => {
  const timer = setInterval(() => {
    s.emit('c', sent++);
    const settled = mode !== 'default' || (sentAtUpgrade >= 0 && sent >= sentAtUpgrade + 50);
    if (sent >= 200 && settled) {
      clearInterval(timer);
      s.emit('cend', sent);
    }
  }, 1);
});
s.on('n', (i) => {
  if (i !== expected) out('bad', i, expected);
  expected = i + 1;
});
s.on('end', (total) => out('end', total, expected, upgradedAt, s.io.engine.transport.name));
for await (const c of input()) {
  if (c.op === 'echo') s.emit('echo', c.arg, (r) => out('echo', r, s.io.engine.transport.name));
}
`

// TestTransports runs polling only, WebSocket only and the default
// (polling, then the upgrade) and checks that two event streams, one each
// way, that cross the upgrade arrive exactly once and in order.
func TestTransports(t *testing.T) {
	for _, tc := range []struct {
		mode      string
		final     string // transport at the end
		upgrading bool
	}{
		{"polling", "polling", false},
		{"websocket", "websocket", false},
		{"default", "websocket", true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			type clientStream struct {
				n    int
				errs []string
			}
			clientDone := make(chan clientStream, 1)
			serverDone := make(chan int, 1)
			var wg sync.WaitGroup
			// The upgrade probe is held back 250ms so that the streams
			// really run over polling first, then over the WebSocket.
			delayProbe := func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					q := r.URL.Query()
					if q.Get("transport") == "websocket" && q.Get("sid") != "" {
						time.Sleep(250 * time.Millisecond)
					}
					h.ServeHTTP(w, r)
				})
			}
			ts := startServerWrapped(t, actorio.Options{}, func(srv *actorio.Server) {
				srv.OnConnection(func(s *actorio.Socket) {
					mode := s.Handshake().Query.Get("mode")
					var upgradedAt atomic.Int64
					upgradedAt.Store(-1)
					var sent atomic.Int64
					s.On("upgraded", func(*actorio.Socket, actorio.Args, actorio.AckFunc) {
						upgradedAt.Store(sent.Load())
					})
					s.On("echo", echoHandler)
					// The server's stream, from a goroutine of its own.
					wg.Add(1)
					go func() {
						defer wg.Done()
						i := 0
						for ; i < 20000; i++ {
							up := upgradedAt.Load()
							if i >= 200 && (mode != "default" || (up >= 0 && int64(i) >= up+50)) {
								break
							}
							if err := s.Emit("n", i); err != nil {
								return
							}
							sent.Store(int64(i + 1))
							time.Sleep(time.Millisecond)
						}
						_ = s.Emit("end", i)
						serverDone <- i
					}()
					// The client's stream: handlers run one at a time, in order.
					var got clientStream
					s.On("c", func(_ *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
						var k int
						if err := args.Decode(0, &k); err != nil || k != got.n {
							got.errs = append(got.errs, fmt.Sprintf("got c %s, want %d", args.Raw(0), got.n))
						}
						got.n = k + 1
					})
					s.On("cend", func(_ *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
						var total int
						_ = args.Decode(0, &total)
						if total != got.n {
							got.errs = append(got.errs, fmt.Sprintf("client sent %d, server got %d", total, got.n))
						}
						clientDone <- got
					})
				})
			}, delayProbe)
			t.Cleanup(wg.Wait) // before the server closes
			c := runScript(t, ts.URL, streamScript, map[string]string{"MODE": tc.mode})

			first := c.expect("connect", "a")
			wantFirst := tc.final
			if tc.upgrading {
				wantFirst = "polling"
			}
			if first.Arg(2) != wantFirst {
				t.Errorf("connected over %v, want %s", first.Arg(2), wantFirst)
			}

			total := recv(t, serverDone, 10*time.Second, "the end of the server's stream")
			end := c.waitFor("end", func(l nodeLine) bool { return l.Ev == "end" })
			if got := end.Values(); got[0] != float64(total) || got[1] != float64(total) || got[3] != tc.final {
				t.Errorf("client: end %s; server sent %d", end.Raw, total)
			}
			c.none("out-of-order event", func(l nodeLine) bool { return l.Ev == "bad" })

			if tc.upgrading {
				up := c.waitFor("upgrade", func(l nodeLine) bool { return l.Ev == "upgrade" })
				at := int(up.Arg(2).(float64))
				t.Logf("upgraded after %v of %d server events and %v client events", up.Arg(2), total, up.Arg(3))
				if up.Arg(0) != "websocket" || up.Arg(1) != "websocket" {
					t.Errorf("upgrade: %s", up.Raw)
				}
				if at <= 0 || at >= total {
					t.Errorf("the upgrade came after event %d of %d: the stream did not cross it", at, total)
				}
				if sentAt := int(up.Arg(3).(float64)); sentAt <= 0 {
					t.Errorf("the client had sent %d events before the upgrade", sentAt)
				}
			} else {
				c.none("upgrade", func(l nodeLine) bool { return l.Ev == "upgrade" })
			}

			got := recv(t, clientDone, 10*time.Second, "the end of the client's stream")
			if len(got.errs) > 0 || got.n < 200 {
				t.Errorf("server received %d client events: %v", got.n, got.errs)
			}

			// Still talking, over the final transport.
			c.send(map[string]any{"op": "echo", "arg": "still here"})
			l := c.waitFor("echo", func(l nodeLine) bool { return l.Ev == "echo" })
			if l.Arg(0) != "still here" || l.Arg(1) != tc.final {
				t.Errorf("echo: %s", l.Raw)
			}
		})
	}
}
