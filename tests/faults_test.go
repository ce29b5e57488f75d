package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
)

// Heartbeat of the fault tests that need one: a silent peer is gone
// quickPingInterval + quickPingTimeout after its last pong.
const (
	quickPingInterval = 300 * time.Millisecond
	quickPingTimeout  = 500 * time.Millisecond
)

// wsPeer is a hand-driven Engine.IO/Socket.IO client on a gorilla
// WebSocket, for the faults the official client cannot make: it stops
// answering pings, stops reading, or drops its TCP connection without a
// close frame. Until startReader it reads on the test's goroutine only.
type wsPeer struct {
	t    *testing.T
	ws   *websocket.Conn
	tcp  *net.TCPConn
	acks atomic.Uint64

	wmu sync.Mutex
	// Set by startReader: frames other than pings, and the reader's end.
	in         chan string
	readerDone chan struct{}
	pong       atomic.Bool
}

// peerOpts tunes a wsPeer.
type peerOpts struct {
	// rcvBuf, when set, is the socket's receive buffer (SO_RCVBUF): a small
	// one lets a peer that stops reading fill the server's send path fast.
	rcvBuf int
}

// dialPeer opens a WebSocket session and reads its open packet.
func dialPeer(t *testing.T, ts *testServer, o peerOpts) *wsPeer {
	t.Helper()
	p := &wsPeer{t: t}
	p.pong.Store(true)
	nd := net.Dialer{Timeout: step}
	if o.rcvBuf > 0 {
		nd.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.rcvBuf)
			})
			return errors.Join(err, serr)
		}
	}
	d := websocket.Dialer{
		HandshakeTimeout: step,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(ctx, network, addr)
			if err == nil {
				p.tcp = c.(*net.TCPConn)
			}
			return c, err
		},
	}
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, resp, err := d.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	_ = resp.Body.Close()
	p.ws = ws
	t.Cleanup(func() {
		_ = ws.Close()
		if p.readerDone != nil {
			<-p.readerDone
		}
	})
	if open := p.readSync(); !strings.HasPrefix(open, `0{"sid":"`) {
		t.Fatalf("open packet %q", open)
	}
	return p
}

// readSync reads the next frame other than a ping (which it answers) on
// the calling goroutine.
func (p *wsPeer) readSync() string {
	p.t.Helper()
	for {
		_ = p.ws.SetReadDeadline(time.Now().Add(step))
		_, data, err := p.ws.ReadMessage()
		if err != nil {
			p.t.Fatalf("peer read: %v", err)
		}
		if string(data) == "2" {
			p.send("3")
			continue
		}
		return string(data)
	}
}

// send writes one text frame.
func (p *wsPeer) send(s string) {
	p.t.Helper()
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.ws.SetWriteDeadline(time.Now().Add(step))
	if err := p.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		p.t.Fatalf("peer write %.40q: %v", s, err)
	}
}

// nspPrefix is what precedes a packet's ack id or payload for namespace nsp.
func nspPrefix(nsp string) string {
	if nsp == "/" {
		return ""
	}
	return nsp + ","
}

// join connects namespace nsp with the auth JSON (may be empty) and
// returns the socket id; before startReader only.
func (p *wsPeer) join(nsp, auth string) string {
	p.t.Helper()
	reply := p.joinReply(nsp, auth)
	var sid struct {
		Sid string `json:"sid"`
	}
	body, ok := strings.CutPrefix(reply, "40"+nspPrefix(nsp))
	if !ok || json.Unmarshal([]byte(body), &sid) != nil || sid.Sid == "" {
		p.t.Fatalf("connect to %s: reply %q", nsp, reply)
	}
	return sid.Sid
}

// joinReply sends the CONNECT packet of nsp and returns the answer.
func (p *wsPeer) joinReply(nsp, auth string) string {
	p.t.Helper()
	p.send("40" + nspPrefix(nsp) + auth)
	return p.readSync()
}

// startReader reads frames on a goroutine from now on, answering pings
// while p.pong is set; the goroutine ends with the connection.
func (p *wsPeer) startReader() {
	p.in = make(chan string, 1024)
	p.readerDone = make(chan struct{})
	go func() {
		defer close(p.readerDone)
		defer close(p.in)
		for {
			_ = p.ws.SetReadDeadline(time.Time{})
			_, data, err := p.ws.ReadMessage()
			if err != nil {
				return
			}
			if string(data) == "2" {
				if p.pong.Load() {
					p.wmu.Lock()
					_ = p.ws.WriteMessage(websocket.TextMessage, []byte("3"))
					p.wmu.Unlock()
				}
				continue
			}
			select {
			case p.in <- string(data):
			default: // nobody listens: drop
			}
		}
	}()
}

// expect waits for the first frame from the reader that match accepts,
// dropping the others.
func (p *wsPeer) expect(what string, match func(string) bool) string {
	p.t.Helper()
	timer := time.NewTimer(step)
	defer timer.Stop()
	for {
		select {
		case f, ok := <-p.in:
			if !ok {
				p.t.Fatalf("waiting for %s: connection closed", what)
			}
			if match(f) {
				return f
			}
		case <-timer.C:
			p.t.Fatalf("timed out after %v waiting for %s", step, what)
		}
	}
}

// echo emits "echo" with an ack on nsp and checks the answer; the reader
// must run.
func (p *wsPeer) echo(nsp, arg string) {
	p.t.Helper()
	id := p.acks.Add(1)
	q, _ := json.Marshal(arg)
	p.send(fmt.Sprintf(`42%s%d["echo",%s]`, nspPrefix(nsp), id, q))
	want := fmt.Sprintf(`43%s%d[%s]`, nspPrefix(nsp), id, q)
	p.expect("the ack "+want, func(f string) bool { return f == want })
}

// expectClosedByServer waits until the server ends the connection; the
// reader must run.
func (p *wsPeer) expectClosedByServer() {
	p.t.Helper()
	select {
	case <-p.readerDone:
	case <-time.After(step):
		p.t.Fatalf("connection still open after %v", step)
	}
}

// faultServer is a server whose sockets, in "/" and "/admin", can be made
// to panic, block or flood their client.
type faultServer struct {
	ts *testServer
	dl *disconnectLog
	// blocked receives the id of each socket whose "block" handler started;
	// the handler returns once release is closed.
	blocked chan string
	release chan struct{}
	unblock func()
}

// floodFrames and floodSize: what "flood" emits, far more than the
// kernel's buffers of a peer that does not read hold.
const (
	floodFrames = 400
	floodSize   = 32 << 10
)

func startFaultServer(t *testing.T, opts actorio.Options) *faultServer {
	t.Helper()
	f := &faultServer{dl: newDisconnectLog(), blocked: make(chan string, 4), release: make(chan struct{})}
	var once sync.Once
	f.unblock = func() { once.Do(func() { close(f.release) }) }
	// The auth payload {"panic": where} makes a socket panic in its
	// middleware, its connection handler or its disconnect handler;
	// {"panic":"nowhere"} makes its middleware refuse it.
	panicAt := func(s *actorio.Socket, where string) bool {
		var auth struct{ Panic string }
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		return auth.Panic == where
	}
	f.ts = startServer(t, opts, func(srv *actorio.Server) {
		mw := func(s *actorio.Socket) error {
			if panicAt(s, "middleware") {
				panic("a test middleware panics on purpose")
			}
			if panicAt(s, "nowhere") {
				return &actorio.ConnectError{Message: "refused"}
			}
			return nil
		}
		setup := func(s *actorio.Socket) {
			f.dl.watch(s)
			if panicAt(s, "disconnect") {
				s.OnDisconnect(func(*actorio.Socket, string) { panic("a test disconnect handler panics on purpose") })
			}
			s.On("echo", echoHandler)
			s.On("boom", func(*actorio.Socket, actorio.Args, actorio.AckFunc) {
				panic("a test handler panics on purpose")
			})
			s.On("block", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
				f.blocked <- s.ID()
				<-f.release
			})
			s.On("flood", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
				data := strings.Repeat("f", floodSize)
				for range floodFrames {
					if s.Emit("data", data) != nil {
						return
					}
				}
			})
			if panicAt(s, "welcome") {
				panic("a test connection handler panics on purpose")
			}
		}
		for _, ns := range []*actorio.Namespace{srv.Of("/"), srv.Of("/admin")} {
			ns.Use(mw)
			ns.OnConnection(setup)
		}
	})
	// Registered after startServer's cleanup, so it runs before it: a
	// failing test never leaves a handler blocked when the goroutines are
	// counted.
	t.Cleanup(f.unblock)
	return f
}

// baseline is what a fault must leave as it found: the server's Stats, the
// process's goroutine count and, among those goroutines, the server's own
// (see serverGoroutines).
type baseline struct {
	stats      actorio.Stats
	goroutines int
	server     int
}

// serverGoroutines returns the number of goroutines running gateway or
// actor code: transport readers and writers, polling requests being
// served, actors processing messages. Counting them, not all goroutines,
// tells a writer stuck on a dead peer from a pooled worker that has not
// timed out yet.
func serverGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	var dump strings.Builder
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "actorio/actorio/gateway.") || strings.Contains(g, "actorio/actorio/actors.") {
			count++
			dump.WriteString(g)
			dump.WriteString("\n\n")
		}
	}
	return count, dump.String()
}

// settle waits until the server's Stats stop changing and the goroutine
// counts stop falling (idle pooled workers and timers fade out), and
// returns them.
func (f *faultServer) settle(t *testing.T) baseline {
	t.Helper()
	b := baseline{stats: f.ts.Srv.Stats(), goroutines: runtime.NumGoroutine()}
	b.server, _ = serverGoroutines()
	stable := time.Now()
	waitUntil(t, step, "a quiet server", func() bool {
		cur := f.ts.Srv.Stats()
		n := runtime.NumGoroutine()
		srv, _ := serverGoroutines()
		if !reflect.DeepEqual(cur, b.stats) || n < b.goroutines || srv < b.server {
			b = baseline{stats: cur, goroutines: min(n, b.goroutines), server: min(srv, b.server)}
			stable = time.Now()
		}
		return time.Since(stable) > 250*time.Millisecond
	})
	return b
}

// expectBaseline fails the test unless the server's Stats and goroutines
// come back to b within leakWait.
func (f *faultServer) expectBaseline(t *testing.T, b baseline) {
	t.Helper()
	expectStats(t, f.ts.Srv, b.stats)
	deadline := time.Now().Add(leakWait)
	for {
		srv, dump := serverGoroutines()
		n := runtime.NumGoroutine()
		if srv <= b.server && n <= b.goroutines {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines (%d of the server), %d (%d) before the fault; the server's:\n%s",
				n, srv, b.goroutines, b.server, dump)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// expectStats waits until srv.Stats() equals want.
func expectStats(t *testing.T, srv *actorio.Server, want actorio.Stats) {
	t.Helper()
	var got actorio.Stats
	deadline := time.Now().Add(step)
	for {
		if got = srv.Stats(); reflect.DeepEqual(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server stats %+v, want %+v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// plus returns a copy of s with more sockets and rooms in namespace nsp.
func plus(s actorio.Stats, nsp string, sockets, rooms int) actorio.Stats {
	out := s
	out.Namespaces = maps.Clone(s.Namespaces)
	ns := out.Namespaces[nsp]
	ns.Sockets += sockets
	ns.Rooms += rooms
	out.Namespaces[nsp] = ns
	return out
}

// withConns returns a copy of s with n more sessions and connection actors.
func withConns(s actorio.Stats, n int) actorio.Stats {
	out := s
	out.Namespaces = maps.Clone(s.Namespaces)
	out.Sessions += n
	out.Connections += n
	return out
}

// TestFaults makes one connection fail in every way a server must survive.
// Each ends that connection's sockets with exactly one OnDisconnect and the
// right reason, a bystander on another connection keeps its echoes
// answered, and the server's Stats and the goroutine count come back to
// where they were.
func TestFaults(t *testing.T) {
	quickPing := actorio.Options{PingInterval: quickPingInterval, PingTimeout: quickPingTimeout}
	for _, tc := range []struct {
		name string
		opts actorio.Options
		run  func(t *testing.T, f *faultServer, by *wsPeer, base baseline)
	}{
		{"handler panic", actorio.Options{}, faultHandlerPanic},
		{"panic in middleware", actorio.Options{}, faultMiddlewarePanic},
		{"panic in connection handler", actorio.Options{}, faultWelcomePanic},
		{"panic in disconnect handler", actorio.Options{}, faultDisconnectPanic},
		{"blocked handler", quickPing, faultBlockedHandler},
		{"vanished client", actorio.Options{}, func(t *testing.T, f *faultServer, by *wsPeer, base baseline) {
			faultVanished(t, f, by, base, false)
		}},
		{"reset connection", actorio.Options{}, func(t *testing.T, f *faultServer, by *wsPeer, base baseline) {
			faultVanished(t, f, by, base, true)
		}},
		{"half-open connection", quickPing, faultHalfOpen},
		{"ping timeout", quickPing, faultPingTimeout},
		{"ping timeout polling", quickPing, faultPingTimeoutPolling},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFaultServer(t, tc.opts)
			by := dialPeer(t, f.ts, peerOpts{})
			byID := by.join("/", "")
			by.startReader()
			by.echo("/", "before")
			base := f.settle(t)
			want := actorio.Stats{Sessions: 1, Connections: 1,
				Namespaces: map[string]actorio.NamespaceStats{"/": {Sockets: 1, Rooms: 1}, "/admin": {}}}
			if !reflect.DeepEqual(base.stats, want) {
				t.Fatalf("stats with one client %+v, want %+v", base.stats, want)
			}

			tc.run(t, f, by, base)

			by.echo("/", "after")
			if r := f.dl.of(byID); len(r) != 0 {
				t.Errorf("the bystander was disconnected: %q", r)
			}
		})
	}
}

// faultHandlerPanic: an event handler panics. Its socket ends with
// "handler panic" and its client gets a DISCONNECT packet; the socket of
// the same connection in another namespace and the connection go on.
func faultHandlerPanic(t *testing.T, f *faultServer, by *wsPeer, base baseline) {
	p := dialPeer(t, f.ts, peerOpts{})
	id := p.join("/", "")
	adminID := p.join("/admin", "")
	p.startReader()
	p.send(`42["boom"]`)
	p.expect("the DISCONNECT packet", func(s string) bool { return s == "41" })
	if ev := f.dl.waitID(t, id); ev.Reason != disconnect.HandlerPanic {
		t.Errorf("OnDisconnect reason %q, want %q", ev.Reason, disconnect.HandlerPanic)
	}
	by.echo("/", "during")
	p.echo("/admin", "same connection, other namespace")
	expectStats(t, f.ts.Srv, plus(withConns(base.stats, 1), "/admin", 1, 1))

	_ = p.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(step))
	p.expectClosedByServer()
	f.dl.waitID(t, adminID)
	f.expectBaseline(t, base)
	f.dl.expectOnce(t, id, disconnect.HandlerPanic)
	f.dl.expectOnce(t, adminID, disconnect.TransportClose)
}

// faultMiddlewarePanic: middleware panics. The client gets one
// CONNECT_ERROR, the socket never connected so no OnDisconnect runs, and
// the connection can join again. Middleware that refuses at once does not
// make the server answer twice either (the connection actor used to add a
// "server error" of its own when the socket had already ended).
func faultMiddlewarePanic(t *testing.T, f *faultServer, by *wsPeer, base baseline) {
	p := dialPeer(t, f.ts, peerOpts{})
	if reply := p.joinReply("/", `{"panic":"middleware"}`); reply != `44{"message":"server error"}` {
		t.Fatalf("connect with a panicking middleware: %q, want a CONNECT_ERROR", reply)
	}
	for i := range 100 {
		if reply := p.joinReply("/", `{"panic":"nowhere"}`); reply != `44{"message":"refused"}` {
			t.Fatalf("refused connect %d: %q, want one CONNECT_ERROR", i, reply)
		}
	}
	expectStats(t, f.ts.Srv, withConns(base.stats, 1))
	id := p.join("/", "")
	p.startReader()
	p.echo("/", "joined again")
	_ = p.ws.Close()
	f.dl.waitID(t, id)
	f.expectBaseline(t, base)
	f.dl.expectOnce(t, id, disconnect.TransportClose)
	if n := len(f.dl.snapshot()); n != 1 {
		t.Errorf("%d sockets got an OnDisconnect, want only the one that connected: %v", n, f.dl.snapshot())
	}
}

// faultWelcomePanic: a connection handler panics after the socket
// connected: it ends with "handler panic".
func faultWelcomePanic(t *testing.T, f *faultServer, by *wsPeer, base baseline) {
	p := dialPeer(t, f.ts, peerOpts{})
	id := p.join("/", `{"panic":"welcome"}`)
	p.startReader()
	p.expect("the DISCONNECT packet", func(s string) bool { return s == "41" })
	if ev := f.dl.waitID(t, id); ev.Reason != disconnect.HandlerPanic {
		t.Errorf("OnDisconnect reason %q, want %q", ev.Reason, disconnect.HandlerPanic)
	}
	_ = p.ws.Close()
	f.expectBaseline(t, base)
	f.dl.expectOnce(t, id, disconnect.HandlerPanic)
}

// faultDisconnectPanic: a disconnect handler panics; the other disconnect
// handlers ran once, and nothing is left behind.
func faultDisconnectPanic(t *testing.T, f *faultServer, by *wsPeer, base baseline) {
	p := dialPeer(t, f.ts, peerOpts{})
	id := p.join("/", `{"panic":"disconnect"}`)
	adminID := p.join("/admin", `{"panic":"disconnect"}`)
	p.startReader()
	p.send(`42/admin,["boom"]`) // handler panic, then a panic in its disconnect handler
	p.expect("the DISCONNECT packet", func(s string) bool { return s == "41/admin," })
	f.dl.waitID(t, adminID)
	_ = p.ws.Close() // transport close, then a panic in the disconnect handler
	f.dl.waitID(t, id)
	f.expectBaseline(t, base)
	f.dl.expectOnce(t, adminID, disconnect.HandlerPanic)
	f.dl.expectOnce(t, id, disconnect.TransportClose)
}

// faultBlockedHandler: a handler blocks until the test releases it. Other
// sockets, the blocked socket's own connection (heartbeat and its other
// namespace) and new connections keep working. When the blocked socket's
// transport closes, the connection ends at once; the socket's OnDisconnect
// runs on its actor, so it comes once the handler returns: exactly once,
// with "transport close".
func faultBlockedHandler(t *testing.T, f *faultServer, by *wsPeer, base baseline) {
	p := dialPeer(t, f.ts, peerOpts{})
	id := p.join("/", "")
	adminID := p.join("/admin", "")
	p.startReader()
	p.send(`42["block"]`)
	if got := recv(t, f.blocked, step, "the blocked handler"); got != id {
		t.Fatalf("blocked socket %s, want %s", got, id)
	}
	// Longer than a heartbeat period: pings keep being answered.
	end := time.Now().Add(quickPingInterval + quickPingTimeout + 200*time.Millisecond)
	for i := 0; time.Now().Before(end); i++ {
		by.echo("/", fmt.Sprint("during ", i))
		p.echo("/admin", fmt.Sprint("same connection ", i))
		time.Sleep(50 * time.Millisecond)
	}
	other := dialPeer(t, f.ts, peerOpts{})
	otherID := other.join("/", "")
	other.startReader()
	other.echo("/", "new connection")
	_ = other.ws.Close()
	f.dl.waitID(t, otherID)

	// The transport closes while the handler is blocked.
	_ = p.ws.Close()
	f.dl.waitID(t, adminID)
	// The blocked socket's actor is still there, in its own room: it
	// leaves its rooms when it ends.
	stuck := plus(base.stats, "/", 1, 1)
	expectStats(t, f.ts.Srv, stuck)
	time.Sleep(100 * time.Millisecond)
	if r := f.dl.of(id); len(r) != 0 {
		t.Fatalf("OnDisconnect ran while the socket's handler was still running: %q", r)
	}
	by.echo("/", "still fine")

	f.unblock()
	if ev := f.dl.waitID(t, id); ev.Reason != disconnect.TransportClose {
		t.Errorf("OnDisconnect reason %q, want %q", ev.Reason, disconnect.TransportClose)
	}
	f.expectBaseline(t, base)
	f.dl.expectOnce(t, id, disconnect.TransportClose)
	f.dl.expectOnce(t, adminID, disconnect.TransportClose)
	f.dl.expectOnce(t, otherID, disconnect.TransportClose)
}

// faultVanished: the client's TCP connection ends without a close frame:
// closed (FIN), or reset (RST) when reset is set. Both are a
// "transport close", for both namespaces of the connection.
func faultVanished(t *testing.T, f *faultServer, by *wsPeer, base baseline, reset bool) {
	p := dialPeer(t, f.ts, peerOpts{})
	id := p.join("/", "")
	adminID := p.join("/admin", "")
	if reset {
		_ = p.tcp.SetLinger(0)
	}
	_ = p.tcp.Close()
	for _, sid := range []string{id, adminID} {
		if ev := f.dl.waitID(t, sid); ev.Reason != disconnect.TransportClose {
			t.Errorf("OnDisconnect reason %q, want %q", ev.Reason, disconnect.TransportClose)
		}
	}
	f.expectBaseline(t, base)
	f.dl.expectOnce(t, id, disconnect.TransportClose)
	f.dl.expectOnce(t, adminID, disconnect.TransportClose)
}

// faultHalfOpen: the client stops reading and answering, its TCP
// connection still open, while the server has megabytes to send it: the
// server's writes stall on the full buffers. The ping timeout ends the
// session, and everything it held (the writer stuck in a write included)
// is released at once, not a WriteTimeout later.
func faultHalfOpen(t *testing.T, f *faultServer, by *wsPeer, base baseline) {
	p := dialPeer(t, f.ts, peerOpts{rcvBuf: 4096})
	id := p.join("/", "")
	p.send(`42["flood"]`)
	// Not a byte read from here on.
	start := time.Now()
	ev := f.dl.waitID(t, id)
	if ev.Reason != disconnect.PingTimeout {
		t.Errorf("OnDisconnect reason %q, want %q", ev.Reason, disconnect.PingTimeout)
	}
	t.Logf("disconnected after %v", time.Since(start))
	f.expectBaseline(t, base)
	f.dl.expectOnce(t, id, disconnect.PingTimeout)
}

// faultPingTimeout: the client reads everything but never answers a ping.
func faultPingTimeout(t *testing.T, f *faultServer, by *wsPeer, base baseline) {
	p := dialPeer(t, f.ts, peerOpts{})
	id := p.join("/", "")
	adminID := p.join("/admin", "")
	p.pong.Store(false)
	p.startReader()
	p.echo("/", "alive")
	start := time.Now()
	p.expectClosedByServer()
	if d := time.Since(start); d > 3*(quickPingInterval+quickPingTimeout) {
		t.Errorf("closed after %v, want about %v", d, quickPingInterval+quickPingTimeout)
	}
	for _, sid := range []string{id, adminID} {
		if ev := f.dl.waitID(t, sid); ev.Reason != disconnect.PingTimeout {
			t.Errorf("OnDisconnect reason %q, want %q", ev.Reason, disconnect.PingTimeout)
		}
	}
	f.expectBaseline(t, base)
	f.dl.expectOnce(t, id, disconnect.PingTimeout)
	f.dl.expectOnce(t, adminID, disconnect.PingTimeout)
}

// faultPingTimeoutPolling: a polling client joins, then neither polls nor
// posts again.
func faultPingTimeoutPolling(t *testing.T, f *faultServer, by *wsPeer, base baseline) {
	hc := &http.Client{Timeout: step, Transport: &http.Transport{DisableKeepAlives: true}}
	base0 := f.ts.URL + "/socket.io/?EIO=4&transport=polling"
	do := func(method, url, body string) string {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
		}
		return string(b)
	}
	var open struct {
		Sid string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(do("GET", base0, ""), "0")), &open); err != nil || open.Sid == "" {
		t.Fatalf("polling handshake: %v", err)
	}
	u := base0 + "&sid=" + open.Sid
	do("POST", u, "40")
	reply := do("GET", u, "")
	var sid struct {
		Sid string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(reply, "40")), &sid); err != nil || sid.Sid == "" {
		t.Fatalf("polling connect reply %q", reply)
	}
	// Silence from here on.
	if ev := f.dl.waitID(t, sid.Sid); ev.Reason != disconnect.PingTimeout {
		t.Errorf("OnDisconnect reason %q, want %q", ev.Reason, disconnect.PingTimeout)
	}
	f.expectBaseline(t, base)
	f.dl.expectOnce(t, sid.Sid, disconnect.PingTimeout)
}

// TestCloseWithBlockedHandler closes the server while a handler blocks
// forever: Close gives up after CloseTimeout and returns an error, every
// other socket ends with "server shutting down" before it returns, every
// connection is closed, and the blocked socket's OnDisconnect runs once,
// with "server shutting down", when its handler finally returns.
func TestCloseWithBlockedHandler(t *testing.T) {
	const closeTimeout = 300 * time.Millisecond
	f := startFaultServer(t, actorio.Options{CloseTimeout: closeTimeout})
	by := dialPeer(t, f.ts, peerOpts{})
	byID := by.join("/", "")
	byAdminID := by.join("/admin", "")
	by.startReader()
	p := dialPeer(t, f.ts, peerOpts{})
	id := p.join("/", "")
	p.startReader()
	p.send(`42["block"]`)
	recv(t, f.blocked, step, "the blocked handler")

	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- f.ts.Srv.Close() }()
	var err error
	select {
	case err = <-closed:
	case <-time.After(closeTimeout + step):
		// Close hangs on the blocked handler: release it so that the test
		// ends, and fail.
		f.unblock()
		err = <-closed
		t.Fatalf("Close still running %v after CloseTimeout (%v), returned once the handler was released: %v", step, closeTimeout, err)
	}
	took := time.Since(start)
	t.Logf("Close took %v and returned %v", took, err)
	if err == nil {
		t.Error("Close returned nil with a socket that did not end")
	}
	if took < closeTimeout || took > closeTimeout+time.Second {
		t.Errorf("Close took %v, want CloseTimeout (%v) and a little more", took, closeTimeout)
	}
	// Everything else ended before Close returned.
	f.dl.expectOnce(t, byID, disconnect.ServerShuttingDown)
	f.dl.expectOnce(t, byAdminID, disconnect.ServerShuttingDown)
	by.expectClosedByServer()
	p.expectClosedByServer()
	if r := f.dl.of(id); len(r) != 0 {
		t.Errorf("OnDisconnect ran while the socket's handler was still running: %q", r)
	}
	// The blocked socket's actor is still there, in its own room.
	expectStats(t, f.ts.Srv, actorio.Stats{Namespaces: map[string]actorio.NamespaceStats{"/": {Sockets: 1, Rooms: 1}, "/admin": {}}})

	f.unblock()
	if ev := f.dl.waitID(t, id); ev.Reason != disconnect.ServerShuttingDown {
		t.Errorf("OnDisconnect reason %q, want %q", ev.Reason, disconnect.ServerShuttingDown)
	}
	expectStats(t, f.ts.Srv, actorio.Stats{Namespaces: map[string]actorio.NamespaceStats{"/": {}, "/admin": {}}})
	time.Sleep(50 * time.Millisecond)
	f.dl.expectOnce(t, id, disconnect.ServerShuttingDown)
	if err := f.ts.Srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
