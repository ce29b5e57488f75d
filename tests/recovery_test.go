package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/logbuf"
)

// recoveryScript opens one official client with the options in OPTS and
// reports its connects (id, recovered, transport) and disconnects. It keeps
// the numbers of the events "a", "b", "c" and "bin" in arrival order and
// prints them when the server emits "done". Each event must end with the
// offset string the server appends; one that does not is reported. The
// commands "disconnect" and "connect" call the socket's methods.
const recoveryScript = `
import { io } from 'socket.io-client';
const s = io(process.env.SERVER_URL, JSON.parse(process.env.OPTS));
const got = { a: [], b: [], c: [], bin: [] };
s.on('connect', () => out('connect', s.id, s.recovered === true, s.io.engine.transport.name));
s.on('disconnect', (reason) => out('disconnect', reason));
for (const ev of ['a', 'b', 'c']) {
  s.on(ev, (n, offset) => {
    got[ev].push(n);
    if (typeof offset !== 'string') out('no-offset', ev, n);
  });
}
s.on('bin', (n, buf, offset) => {
  if (!Buffer.isBuffer(buf) || buf.length !== 1 || buf[0] !== n % 256) out('bad-bin', n);
  if (typeof offset !== 'string') out('no-offset', 'bin', n);
  got.bin.push(n);
});
s.on('done', () => out('got', got));
for await (const c of input()) {
  if (c.op === 'disconnect') s.disconnect();
  if (c.op === 'connect') s.connect();
}
`

// recoveryClient runs recoveryScript against ts with the client options opts.
func recoveryClient(t *testing.T, ts *testServer, opts map[string]any) *nodeClients {
	t.Helper()
	b, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	return runScript(t, ts.URL, recoveryScript, map[string]string{"OPTS": string(b)})
}

// seq returns from, from+step, ... up to to.
func seq(from, to, step int) []int {
	var out []int
	for i := from; i <= to; i += step {
		out = append(out, i)
	}
	return out
}

// TestRecoveryKillTransportMidStream kills the client's transport while the
// server emits steadily to it through three paths (a room broadcast, a
// broadcast to the socket's own id, Socket.Emit on the current socket) plus
// binary events, and asserts that the official client, reconnecting by
// itself, is restored (same id, recovered, rooms and Data back, middleware
// skipped) and got every event of every stream exactly once, in order.
func TestRecoveryKillTransportMidStream(t *testing.T) {
	const n = 400
	const dropAt = 150
	for _, tc := range []struct {
		name string
		opts map[string]any
	}{
		{"websocket", wsOnly},
		{"polling", pollingOnly},
		{"upgrade", map[string]any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dl := newDisconnectLog()
			var (
				mu          sync.Mutex
				sockets     []*actorio.Socket
				middlewares atomic.Int32
			)
			connected := make(chan *actorio.Socket, 4)
			ts := startServer(t, actorio.Options{ConnectionStateRecovery: &actorio.ConnectionStateRecovery{}}, func(srv *actorio.Server) {
				srv.Use(func(s *actorio.Socket) error {
					middlewares.Add(1)
					return nil
				})
				srv.OnConnection(func(s *actorio.Socket) {
					dl.watch(s)
					if !s.Recovered() {
						s.Join("r")
						s.SetData("player-7")
					}
					mu.Lock()
					sockets = append(sockets, s)
					mu.Unlock()
					connected <- s
				})
			})
			c := recoveryClient(t, ts, with(tc.opts, "reconnectionDelay", 100, "reconnectionDelayMax", 100, "randomizationFactor", 0))
			first := c.waitFor("the first connect", func(l nodeLine) bool { return l.Ev == "connect" })
			sid := first.Arg(0).(string)
			if first.Arg(1) != false {
				t.Fatalf("first connect says recovered: %s", first.Raw)
			}
			s1 := recv(t, connected, step, "the first connection")
			if s1.ID() != sid || s1.Recovered() {
				t.Fatalf("server socket %s recovered=%v, client %s", s1.ID(), s1.Recovered(), sid)
			}

			// The producer: a steady stream on every path. Socket.Emit on a
			// socket that has ended fails with ErrNotConnected; the producer
			// then waits for the restored socket and emits again.
			srv := ts.Srv
			reached := make(chan struct{})
			produced := make(chan error, 1)
			// Registered after startServer, this cleanup runs before the
			// server closes: a failed test stops the producer first.
			stop := make(chan struct{})
			stopped := make(chan struct{})
			t.Cleanup(func() { close(stop); <-stopped })
			go func() {
				defer close(stopped)
				cur := s1
				for i := 1; i <= n; i++ {
					if i == dropAt {
						close(reached)
					}
					if err := srv.To("r").Emit("a", i); err != nil {
						produced <- err
						return
					}
					if err := srv.To(sid).Emit("b", i); err != nil {
						produced <- err
						return
					}
					for {
						err := cur.Emit("c", i)
						if err == nil {
							break
						}
						if !errors.Is(err, actorio.ErrNotConnected) {
							produced <- err
							return
						}
						select {
						case cur = <-connected:
						case <-stop:
							produced <- errors.New("stopped")
							return
						case <-time.After(step):
							produced <- fmt.Errorf("no socket to emit c %d to", i)
							return
						}
					}
					if i%10 == 0 {
						if err := srv.To(sid).Emit("bin", i, []byte{byte(i)}); err != nil {
							produced <- err
							return
						}
					}
					select {
					case <-stop:
						produced <- errors.New("stopped")
						return
					case <-time.After(time.Millisecond):
					}
				}
				produced <- srv.To(sid).Emit("done")
			}()

			recv(t, reached, step, "the producer's drop point")
			// A polling client may open its next request just as the
			// connections are dropped, and not notice: drop again.
			for attempt := 0; ; attempt++ {
				if ts.DropConnections() == 0 {
					t.Fatal("no connection to drop")
				}
				_, err := c.waitForTimeout("the client's disconnect", 500*time.Millisecond, func(l nodeLine) bool { return l.Ev == "disconnect" })
				if err == nil {
					break
				}
				if attempt == 5 {
					t.Fatal(err)
				}
			}
			second := c.waitFor("the reconnect", func(l nodeLine) bool { return l.Ev == "connect" })
			if second.Arg(0) != sid || second.Arg(1) != true {
				t.Fatalf("reconnect %s: want id %s recovered", second.Raw, sid)
			}
			if err := recv(t, produced, 2*step, "the producer's end"); err != nil {
				t.Fatalf("producer: %v", err)
			}
			got := c.waitFor("the events", func(l nodeLine) bool { return l.Ev == "got" })
			var streams map[string][]int
			if err := json.Unmarshal(got.Args[0], &streams); err != nil {
				t.Fatalf("decode %s: %v", got.Raw, err)
			}
			for _, ev := range []string{"a", "b", "c"} {
				if want := seq(1, n, 1); !slices.Equal(streams[ev], want) {
					t.Errorf("stream %s: got %d events %v, want 1..%d once each in order", ev, len(streams[ev]), streams[ev], n)
				}
			}
			if want := seq(10, n, 10); !slices.Equal(streams["bin"], want) {
				t.Errorf("binary stream: got %v, want %v", streams["bin"], want)
			}
			c.none("an event without offset or with a bad attachment", func(l nodeLine) bool {
				return l.Ev == "no-offset" || l.Ev == "bad-bin"
			})

			mu.Lock()
			defer mu.Unlock()
			if len(sockets) != 2 {
				t.Fatalf("%d connections, want 2", len(sockets))
			}
			s2 := sockets[1]
			if !s2.Recovered() || s2.ID() != sid {
				t.Errorf("restored socket %s recovered=%v, want %s recovered", s2.ID(), s2.Recovered(), sid)
			}
			if s2.Data() != "player-7" {
				t.Errorf("restored Data %v, want player-7", s2.Data())
			}
			if rooms := s2.Rooms(); !slices.Equal(rooms, []string{"r", sid}) && !slices.Equal(rooms, []string{sid, "r"}) {
				t.Errorf("restored rooms %v, want r and %s", rooms, sid)
			}
			if m := middlewares.Load(); m != 1 {
				t.Errorf("middleware ran %d times, want once (skipped on recovery)", m)
			}
			// Which of the two a dropped connection gives depends on what
			// the server was doing with it; both are recoverable.
			if r := dl.of(sid); len(r) != 1 || (r[0] != disconnect.TransportError && r[0] != disconnect.TransportClose) {
				t.Errorf("OnDisconnect calls of the first socket: %q, want one transport error or close", r)
			}
		})
	}
}

// TestRecoveryRefused covers the cases where a reconnecting client gets a
// new session: it disconnected by choice, its session expired, the log no
// longer holds what it missed, or recovery is off.
func TestRecoveryRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  *actorio.ConnectionStateRecovery
		// lose ends the first socket; emitGap events go to it while it is
		// away.
		lose    func(t *testing.T, ts *testServer, c *nodeClients)
		emitGap int
		wait    time.Duration
	}{
		{
			name: "client disconnect",
			rec:  &actorio.ConnectionStateRecovery{},
			lose: func(t *testing.T, ts *testServer, c *nodeClients) {
				c.send(map[string]any{"op": "disconnect"})
				c.waitFor("disconnect", func(l nodeLine) bool { return l.Ev == "disconnect" })
				c.send(map[string]any{"op": "connect"})
			},
		},
		{
			name: "expired",
			rec:  &actorio.ConnectionStateRecovery{MaxDisconnectionDuration: 200 * time.Millisecond},
			lose: dropTransport,
			wait: 600 * time.Millisecond,
		},
		{
			name:    "log overflow",
			rec:     &actorio.ConnectionStateRecovery{MaxPackets: 5},
			lose:    dropTransport,
			emitGap: 20,
		},
		{
			name: "recovery off",
			lose: dropTransport,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dl := newDisconnectLog()
			connected := make(chan *actorio.Socket, 4)
			ts := startServer(t, actorio.Options{ConnectionStateRecovery: tc.rec}, func(srv *actorio.Server) {
				srv.OnConnection(func(s *actorio.Socket) {
					dl.watch(s)
					connected <- s
				})
			})
			delay := 300 + int(tc.wait/time.Millisecond)
			c := recoveryClient(t, ts, with(wsOnly, "reconnectionDelay", delay, "reconnectionDelayMax", delay, "randomizationFactor", 0))
			first := c.waitFor("the first connect", func(l nodeLine) bool { return l.Ev == "connect" })
			sid := first.Arg(0).(string)
			recv(t, connected, step, "the first connection")
			// One logged event gives the client an offset.
			if err := ts.Srv.To(sid).Emit("a", 1); err != nil {
				t.Fatal(err)
			}
			if err := ts.Srv.To(sid).Emit("done"); err != nil {
				t.Fatal(err)
			}
			c.waitFor("the first events", func(l nodeLine) bool { return l.Ev == "got" })

			tc.lose(t, ts, c)
			dl.waitID(t, sid)
			for i := range tc.emitGap {
				if err := ts.Srv.To(sid).Emit("a", i+2); err != nil {
					t.Fatal(err)
				}
			}
			second := c.waitFor("the reconnect", func(l nodeLine) bool { return l.Ev == "connect" })
			s2 := recv(t, connected, step, "the second connection")
			if second.Arg(0) == sid || second.Arg(1) != false || s2.Recovered() || s2.ID() == sid {
				t.Fatalf("reconnect %s (server socket %s recovered=%v): want a new session", second.Raw, s2.ID(), s2.Recovered())
			}
		})
	}
}

// dropTransport closes the client's TCP connections from the server side.
func dropTransport(t *testing.T, ts *testServer, _ *nodeClients) {
	if ts.DropConnections() == 0 {
		t.Fatal("no connection to drop")
	}
}

// TestRecoveryLeftBehind reconnects with a session whose socket the server
// still holds: the client's first connection is alive as far as the server
// knows (its transport died unnoticed, say). The server must end that
// socket once, with "transport close", and restore its session on the new
// connection: same id and private id, the missed events, and nothing more
// for the connection left behind.
func TestRecoveryLeftBehind(t *testing.T) {
	dl := newDisconnectLog()
	connected := make(chan *actorio.Socket, 4)
	ts := startServer(t, actorio.Options{ConnectionStateRecovery: &actorio.ConnectionStateRecovery{}}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			dl.watch(s)
			connected <- s
		})
	})
	p1 := dialPeer(t, ts, peerOpts{})
	var first struct{ Sid, Pid string }
	if reply := p1.joinReply("/", ""); !strings.HasPrefix(reply, "40") || json.Unmarshal([]byte(reply[2:]), &first) != nil || first.Pid == "" {
		t.Fatalf("CONNECT reply %q, want sid and pid", reply)
	}
	recv(t, connected, step, "the first connection")
	emit := func(n int) {
		t.Helper()
		if err := ts.Srv.To(first.Sid).Emit("a", n); err != nil {
			t.Fatal(err)
		}
	}
	emit(1)
	var ev []any
	if f := p1.readSync(); !strings.HasPrefix(f, "42") || json.Unmarshal([]byte(f[2:]), &ev) != nil || len(ev) != 3 {
		t.Fatalf("event %q, want [\"a\",1,offset]", f)
	}
	offset, _ := ev[2].(string)
	emit(2) // p1 does not read them: lost with the connection left behind
	emit(3)

	p2 := dialPeer(t, ts, peerOpts{})
	auth, _ := json.Marshal(map[string]string{"pid": first.Pid, "offset": offset})
	// As the reference server: the missed events, then the CONNECT reply.
	p2.send("40" + string(auth))
	for _, want := range []int{2, 3} {
		f := p2.readSync()
		if !strings.HasPrefix(f, fmt.Sprintf(`42["a",%d,"`, want)) {
			t.Fatalf("replayed %q, want event a %d", f, want)
		}
	}
	var second struct{ Sid, Pid string }
	if reply := p2.readSync(); json.Unmarshal([]byte(strings.TrimPrefix(reply, "40")), &second) != nil || second != first {
		t.Fatalf("restore reply %q, want sid %s and pid %s", reply, first.Sid, first.Pid)
	}
	s2 := recv(t, connected, step, "the restored connection")
	if !s2.Recovered() || s2.ID() != first.Sid {
		t.Fatalf("restored socket %s recovered %v", s2.ID(), s2.Recovered())
	}
	dl.waitID(t, first.Sid)
	dl.expectOnce(t, first.Sid, disconnect.TransportClose)

	emit(4)
	if f := p2.readSync(); !strings.HasPrefix(f, `42["a",4,"`) {
		t.Fatalf("after restore %q, want event a 4", f)
	}
	p1.startReader()
	select {
	case f, ok := <-p1.in:
		for ok && !strings.HasPrefix(f, `42["a",4`) {
			select {
			case f, ok = <-p1.in:
			case <-time.After(200 * time.Millisecond):
				ok = false
			}
		}
		if ok {
			t.Fatalf("the connection left behind got %q", f)
		}
	case <-time.After(200 * time.Millisecond):
	}
}

// TestRecoveryEmitThenDisconnectKeepsOrder: with recovery on, a socket's
// own packets go through its namespace actor. An event emitted just before
// Socket.Disconnect must still reach the client before the DISCONNECT
// packet, and the server disconnect is not recoverable: the client gets a
// new session when it connects again.
func TestRecoveryEmitThenDisconnectKeepsOrder(t *testing.T) {
	ts := startServer(t, actorio.Options{ConnectionStateRecovery: &actorio.ConnectionStateRecovery{}}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("quit", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
				for i := range 20 {
					_ = s.Emit("bye", i)
				}
				s.Disconnect(false)
			})
		})
	})
	c := startClients(t, ts)
	c.connect("a", "/", wsOnly)
	c.emit("a", "quit")
	for i := range 20 {
		l := c.waitFor("the next line of a", func(l nodeLine) bool {
			return (l.Ev == "event" || l.Ev == "disconnect") && l.Arg(0) == "a"
		})
		if l.Ev != "event" || l.Arg(1) != "bye" || l.Arg(3) != float64(i) {
			t.Fatalf("line %d: %s, want event bye %d before the disconnect", i, l.Raw, i)
		}
	}
	if l := c.expect("disconnect", "a"); l.Arg(1) != "io server disconnect" {
		t.Fatalf("disconnect %s, want io server disconnect", l.Raw)
	}
}

// restoreTarget is a server with recovery on whose sockets in "/" block in
// the handler of "block" until release is closed, and a first connection
// whose session the tests claim again.
type restoreTarget struct {
	ts       *testServer
	dl       *disconnectLog
	blocked  chan string // the id of each socket whose "block" handler started
	release  chan struct{}
	logs     *logbuf.Buffer // the server's log, debug level
	sid, pid string
}

// newRestoreTarget starts the server, with the namespace middleware mw
// if not nil (run for restored sockets too), and connects the first peer.
func newRestoreTarget(t *testing.T, mw actorio.Middleware) (*restoreTarget, *wsPeer) {
	t.Helper()
	rt := &restoreTarget{dl: newDisconnectLog(), blocked: make(chan string, 4), release: make(chan struct{}),
		logs: &logbuf.Buffer{}}
	t.Cleanup(func() {
		select {
		case <-rt.release:
		default:
			close(rt.release)
		}
	})
	opts := actorio.Options{
		ConnectionStateRecovery: &actorio.ConnectionStateRecovery{RunMiddlewares: mw != nil},
		Logger:                  slog.New(slog.NewTextHandler(rt.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	rt.ts = startServer(t, opts, func(srv *actorio.Server) {
		if mw != nil {
			srv.Use(mw)
		}
		srv.OnConnection(func(s *actorio.Socket) {
			rt.dl.watch(s)
			s.On("block", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
				rt.blocked <- s.ID()
				<-rt.release
			})
		})
	})
	p := dialPeer(t, rt.ts, peerOpts{})
	var first struct{ Sid, Pid string }
	if reply := p.joinReply("/", ""); json.Unmarshal([]byte(strings.TrimPrefix(reply, "40")), &first) != nil || first.Pid == "" {
		t.Fatalf("CONNECT reply %q, want sid and pid", reply)
	}
	rt.sid, rt.pid = first.Sid, first.Pid
	return rt, p
}

// claim sends, on a new connection, a CONNECT asking to restore the
// first session.
func (rt *restoreTarget) claim(t *testing.T) *wsPeer {
	t.Helper()
	p := dialPeer(t, rt.ts, peerOpts{})
	auth, _ := json.Marshal(map[string]string{"pid": rt.pid})
	p.send("40" + string(auth))
	return p
}

// replySID reads p's CONNECT reply and returns the socket id it names.
func replySID(t *testing.T, p *wsPeer) string {
	t.Helper()
	reply := p.readSync()
	var r struct{ Sid string }
	if json.Unmarshal([]byte(strings.TrimPrefix(reply, "40")), &r) != nil || r.Sid == "" {
		t.Fatalf("CONNECT reply %q, want a sid", reply)
	}
	return r.Sid
}

// TestRecoveryClaimedAgainWhileWaiting: a client claims its session while
// the socket it left behind is still busy in a handler, then, giving that
// attempt up, claims it again on another connection. The newest claim
// waits for the session; the one given up gets a new socket at once.
func TestRecoveryClaimedAgainWhileWaiting(t *testing.T) {
	rt, p1 := newRestoreTarget(t, nil)
	p1.send(`42["block"]`)
	recv(t, rt.blocked, step, "the block handler")

	p2 := rt.claim(t) // waits: the first socket cannot end while it blocks
	waitUntil(t, step, "the first claim to wait", func() bool {
		return strings.Contains(rt.logs.String(), "left its socket behind")
	})
	p3 := rt.claim(t)
	if sid := replySID(t, p2); sid == rt.sid {
		t.Fatalf("the claim given up restored the session %s", sid)
	}
	close(rt.release)
	if sid := replySID(t, p3); sid != rt.sid {
		t.Fatalf("the newest claim got socket %s, want the session's %s", sid, rt.sid)
	}
	rt.dl.expectOnce(t, rt.sid, disconnect.TransportClose)
}

// TestRecoveryStaleClaimTimeout: a claim that waited for the socket left
// behind, and was restored, has a timeout (3 s) that fires later. A second
// claim of the same session, waiting for the restored socket (busy in a
// handler), must not be cut short by it: it waits for that socket and
// restores the session.
func TestRecoveryStaleClaimTimeout(t *testing.T) {
	rt, _ := newRestoreTarget(t, nil)
	start := time.Now()
	p2 := rt.claim(t) // waits for the first socket, which ends at once
	if sid := replySID(t, p2); sid != rt.sid {
		t.Fatalf("the first claim got socket %s, want %s", sid, rt.sid)
	}
	p2.send(`42["block"]`)
	recv(t, rt.blocked, step, "the block handler")
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
	p3 := rt.claim(t) // waits for p2's socket, blocked
	// The first claim's timeout fires at 3 s; the second's at 4.5 s.
	time.Sleep(time.Until(start.Add(3400 * time.Millisecond)))
	close(rt.release)
	if sid := replySID(t, p3); sid != rt.sid {
		t.Fatalf("the second claim got socket %s, want the session's %s", sid, rt.sid)
	}
}

// TestRecoveryRestoreInterrupted: the connection of a client whose session
// is being restored closes before the socket connected (here in the
// namespace middleware). The client got nothing of that attempt, so its
// next claim restores the session, missed events included.
func TestRecoveryRestoreInterrupted(t *testing.T) {
	var interrupt atomic.Bool
	interrupt.Store(true)
	rt, p1 := newRestoreTarget(t, func(s *actorio.Socket) error {
		if s.Recovered() && interrupt.CompareAndSwap(true, false) {
			s.CloseConn()
		}
		return nil
	})
	_ = p1.ws.Close()
	rt.dl.waitID(t, rt.sid)
	if err := rt.ts.Srv.To(rt.sid).Emit("a", 1); err != nil {
		t.Fatal(err)
	}

	p2 := rt.claim(t)
	p2.startReader()
	p2.expectClosedByServer()
	if interrupt.Load() {
		t.Fatal("the middleware did not see a restored socket")
	}

	p3 := rt.claim(t)
	if f := p3.readSync(); !strings.HasPrefix(f, `42["a",1,"`) {
		t.Fatalf("replayed %q, want event a 1", f)
	}
	if sid := replySID(t, p3); sid != rt.sid {
		t.Fatalf("the claim after the interrupted one got socket %s, want the session's %s", sid, rt.sid)
	}
}
