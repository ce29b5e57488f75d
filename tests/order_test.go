package tests

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/node"
)

// orderScript connects one official client and, for each scenario the
// test names, emits "go" with an ack and records, in arrival order, every
// event's name and first argument, the ack, and a disconnect, until the
// server's "end" event (or the disconnect) closes the scenario.
const orderScript = `
import { io } from 'socket.io-client';
const opts = JSON.parse(process.env.CLIENT_OPTS);
for await (const c of input()) {
  const got = [];
  const s = io(process.env.SERVER_URL, opts);
  await new Promise((res, rej) => { s.once('connect', res); s.once('connect_error', rej); });
  const done = new Promise((res) => {
    s.onAny((ev, ...args) => {
      if (ev === 'end') { res(); return; }
      got.push(ev + ':' + JSON.stringify(args[0] ?? null));
    });
    s.on('disconnect', (reason) => { got.push('disconnect:' + reason); res(); });
  });
  s.emit('go', c.scenario, (r) => got.push('ack:' + r));
  await done;
  // What trails the end (an ack sent after it) still counts.
  await sleep(100);
  out('order', c.scenario, got);
  s.disconnect();
}
`

// orderScenarios are handlers that write to the client in one order, by
// different paths (direct emit, ack, broadcast to a room or the namespace,
// volatile, server disconnect); the client must see that order.
var orderScenarios = []struct {
	name string
	run  func(s *actorio.Socket, ack actorio.AckFunc)
	want []string
	// volatile names an event the server may drop (a volatile one); when
	// it arrives it must keep its place.
	volatile string
}{
	{
		name: "join, tell the room, ack",
		run: func(s *actorio.Socket, ack actorio.AckFunc) {
			s.Join("r")
			_ = s.Namespace().To("r").Emit("room", 1)
			_ = ack("done")
			_ = s.Emit("end")
		},
		want: []string{"room:1", "ack:done"},
	},
	{
		name: "volatile then emit",
		run: func(s *actorio.Socket, ack actorio.AckFunc) {
			_ = s.Volatile().Emit("a", 1)
			_ = s.Emit("b", 2)
			_ = ack("done")
			_ = s.Emit("end")
		},
		want:     []string{"a:1", "b:2", "ack:done"},
		volatile: "a:1",
	},
	{
		name: "broadcasts and direct emits interleaved",
		run: func(s *actorio.Socket, ack actorio.AckFunc) {
			s.Join("r")
			for i := 0; i < 60; i++ {
				switch i % 3 {
				case 0:
					_ = s.Namespace().Emit("n", i)
				case 1:
					_ = s.Emit("n", i)
				default:
					_ = s.Namespace().To("r", s.ID()).Emit("n", i)
				}
			}
			_ = ack("done")
			_ = s.Emit("end")
		},
		want: func() []string {
			var w []string
			for i := 0; i < 60; i++ {
				w = append(w, fmt.Sprintf("n:%d", i))
			}
			return append(w, "ack:done")
		}(),
	},
	{
		name: "from another goroutine",
		run: func(s *actorio.Socket, ack actorio.AckFunc) {
			s.Join("r")
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = s.Namespace().To("r").Emit("x", 1)
				_ = s.Emit("x", 2)
				_ = s.Namespace().Except("nobody").Emit("x", 3)
			}()
			<-done
			_ = ack("done")
			_ = s.Emit("end")
		},
		want: []string{"x:1", "x:2", "x:3", "ack:done"},
	},
	{
		name: "emit and broadcast, then server disconnect",
		run: func(s *actorio.Socket, ack actorio.AckFunc) {
			_ = ack("done")
			_ = s.Emit("x", 1)
			_ = s.Namespace().To(s.ID()).Emit("x", 2)
			s.Disconnect(false)
		},
		want: []string{"ack:done", "x:1", "x:2", "disconnect:io server disconnect"},
	},
}

// TestWriteOrderPerConnection: whatever path a packet takes to the client
// (a socket's emit or ack, a room or namespace broadcast, volatile, a
// server disconnect), the client receives the packets one goroutine wrote
// in the order it wrote them, as Node writes every packet of a connection
// through one buffer. On both transports, with and without connection
// state recovery.
func TestWriteOrderPerConnection(t *testing.T) {
	for _, rec := range []bool{false, true} {
		for _, tr := range []string{"websocket", "polling"} {
			t.Run(fmt.Sprintf("%s recovery=%v", tr, rec), func(t *testing.T) {
				opts := actorio.Options{}
				if rec {
					opts.ConnectionStateRecovery = &actorio.ConnectionStateRecovery{}
				}
				ts := startServer(t, opts, func(srv *actorio.Server) {
					srv.OnConnection(func(s *actorio.Socket) {
						s.On("go", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
							name := args.String(0)
							for _, sc := range orderScenarios {
								if sc.name == name {
									sc.run(s, ack)
									return
								}
							}
							t.Errorf("unknown scenario %q", name)
						})
					})
				})
				p := node.Run(t, nil, orderScript, map[string]string{
					"SERVER_URL":  ts.URL,
					"CLIENT_OPTS": fmt.Sprintf(`{"transports":[%q],"reconnection":false}`, tr),
				})
				// Each scenario runs several times: a reversed order that
				// depends on scheduling shows in some of them.
				const rounds = 5
				for _, sc := range orderScenarios {
					for i := 0; i < rounds; i++ {
						if err := p.Send(map[string]any{"scenario": sc.name}); err != nil {
							t.Fatal(err)
						}
						l := p.Expect(t, "order", 20*time.Second)
						var got []string
						for _, v := range l.Arg(1).([]any) {
							got = append(got, v.(string))
						}
						want := sc.want
						if sc.volatile != "" && !slices.Contains(got, sc.volatile) {
							want = slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == sc.volatile })
						}
						if !slices.Equal(got, want) {
							t.Errorf("%s (round %d): the client got\n  %s\nwant\n  %s", sc.name, i,
								strings.Join(got, " "), strings.Join(want, " "))
						}
					}
				}
			})
		}
	}
}
