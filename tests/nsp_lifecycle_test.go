package tests

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
)

// gamePattern is the dynamic namespaces of these tests: one per game.
var gamePattern = regexp.MustCompile(`^/game-\d+$`)

// nspSupervisors counts the namespace supervisors of sys whose name holds
// prefix ("ns:/game-", say): what is left of a namespace once removed.
func nspSupervisors(sys *actor.ActorSystem, prefix string) int {
	n := 0
	for _, m := range sys.ProcessRegistry.LocalPIDs.LocalPIDs {
		for _, k := range m.Keys() {
			if strings.Contains(k, prefix) && !strings.Contains(strings.TrimPrefix(k[strings.Index(k, prefix):], prefix), "/") {
				n++
			}
		}
	}
	return n
}

// nspNames returns the names of the namespaces in Stats that start with
// prefix.
func nspNames(srv *actorio.Server, prefix string) []string {
	var out []string
	for name := range srv.Stats().Namespaces {
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	return out
}

// waitNspGone waits until the namespace name is no longer in Stats.
func waitNspGone(t *testing.T, srv *actorio.Server, name string) {
	t.Helper()
	waitUntil(t, step, name+" to be removed", func() bool {
		_, ok := srv.Stats().Namespaces[name]
		return !ok
	})
}

// TestNspLifecycleChildRemovedWhenEmpty plays more games than
// MaxDynamicNamespaces, one after the other, with the official client:
// each game's namespace is removed once its player left, its supervisor
// stops, and the next game is accepted. Before, the third game was refused
// until restart.
func TestNspLifecycleChildRemovedWhenEmpty(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	ts := startServer(t, actorio.Options{MaxDynamicNamespaces: 2, ActorSystem: sys}, func(srv *actorio.Server) {
		srv.OfRegexp(gamePattern).OnConnection(func(s *actorio.Socket) { s.On("echo", echoHandler) })
	})
	c := startClients(t, ts)
	for i := 1; i <= 5; i++ {
		name, nsp := fmt.Sprint("g", i), fmt.Sprint("/game-", i)
		c.connect(name, nsp, with(wsOnly, "forceNew", true))
		if l := c.emitAck(name, "echo", nsp); l.Arg(2) != nsp {
			t.Fatalf("echo in %s: %s", nsp, l.Raw)
		}
		c.send(map[string]any{"op": "disconnect", "name": name})
		c.expect("disconnect", name)
		waitNspGone(t, ts.Srv, nsp)
	}
	waitUntil(t, step, "every game's supervisor to stop", func() bool { return nspSupervisors(sys, "ns:/game-") == 0 })
	if got := nspNames(ts.Srv, "/game-"); len(got) != 0 {
		t.Fatalf("namespaces left: %v", got)
	}
}

// TestNspLifecycleKeepEmptyChildNamespaces keeps Node's default: with
// KeepEmptyChildNamespaces a child outlives its last socket and counts
// against MaxDynamicNamespaces.
func TestNspLifecycleKeepEmptyChildNamespaces(t *testing.T) {
	ts := startServer(t, actorio.Options{MaxDynamicNamespaces: 1, KeepEmptyChildNamespaces: true}, func(srv *actorio.Server) {
		srv.OfRegexp(gamePattern).OnConnection(func(s *actorio.Socket) { s.On("echo", echoHandler) })
	})
	p := dialPeer(t, ts, peerOpts{})
	p.join("/game-1", "")
	p.send("41/game-1,")
	time.Sleep(200 * time.Millisecond)
	if _, ok := ts.Srv.Stats().Namespaces["/game-1"]; !ok {
		t.Fatal("/game-1 was removed with KeepEmptyChildNamespaces")
	}
	if got, want := p.joinReply("/game-2", ""), `44/game-2,{"message":"Invalid namespace"}`; got != want {
		t.Fatalf("second name over MaxDynamicNamespaces 1: %q, want %q", got, want)
	}
	p.join("/game-1", "")
}

// TestNspLifecycleRecreatedChildRunsParentHandlers removes a child, then
// adds middleware and a connection handler to its parent: the child made
// again by the next client runs them. A handle of the removed child, and a
// handle Of gives for a name no client has joined yet (creating nothing),
// reach the sockets of the child alive when they broadcast.
func TestNspLifecycleRecreatedChildRunsParentHandlers(t *testing.T) {
	var parent *actorio.Namespace
	handles := make(chan *actorio.Namespace, 4)
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		parent = srv.OfRegexp(gamePattern)
		parent.OnConnection(func(s *actorio.Socket) {
			s.On("echo", echoHandler)
			handles <- s.Namespace()
		})
	})
	c := startClients(t, ts)
	c.connect("g1", "/game-1", with(wsOnly, "forceNew", true))
	old := recv(t, handles, step, "the first /game-1 socket")
	if ns, ok := ts.Srv.Namespace("/game-1"); !ok || ns != old {
		t.Fatalf("Namespace(/game-1) = %p, %v while alive, want %p", ns, ok, old)
	}
	c.send(map[string]any{"op": "disconnect", "name": "g1"})
	c.expect("disconnect", "g1")
	waitNspGone(t, ts.Srv, "/game-1")
	if _, ok := ts.Srv.Namespace("/game-1"); ok {
		t.Fatal("Namespace(/game-1) found a removed child")
	}

	var passed atomic.Int64
	parent.Use(func(s *actorio.Socket) error { passed.Add(1); return nil })
	parent.OnConnection(func(s *actorio.Socket) { _ = s.Emit("welcome", s.Namespace().Name()) })

	c.connect("g2", "/game-1", with(wsOnly, "forceNew", true))
	if l := c.expectEvent("g2", "welcome"); l.Arg(3) != "/game-1" {
		t.Fatalf("welcome: %s", l.Raw)
	}
	recv(t, handles, step, "the second /game-1 socket")
	if passed.Load() != 1 {
		t.Fatalf("the parent's middleware ran %d times for the new child, want 1", passed.Load())
	}
	if err := old.Emit("via-old-handle", 1); err != nil {
		t.Fatal(err)
	}
	c.expectEvent("g2", "via-old-handle")

	// Of on a name of the parent with no child alive creates nothing.
	h := ts.Srv.Of("/game-9")
	if got := nspNames(ts.Srv, "/game-9"); len(got) != 0 {
		t.Fatalf("Of(/game-9) created %v", got)
	}
	c.connect("g9", "/game-9", with(wsOnly, "forceNew", true))
	c.expectEvent("g9", "welcome")
	if err := h.Emit("via-of-handle", 9); err != nil {
		t.Fatal(err)
	}
	c.expectEvent("g9", "via-of-handle")
	if l := c.emitAck("g9", "echo", "x"); l.Arg(2) != "x" {
		t.Fatalf("echo: %s", l.Raw)
	}
}

// nspRawClient is a WebSocket Socket.IO client for tests whose clients
// run in goroutines of their own: it returns errors instead of failing
// the test.
type nspRawClient struct {
	ws *websocket.Conn
}

func dialNspRaw(ts *testServer) (*nspRawClient, error) {
	d := websocket.Dialer{HandshakeTimeout: step}
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	_ = resp.Body.Close()
	c := &nspRawClient{ws: ws}
	if open, err := c.read(); err != nil || !strings.HasPrefix(open, `0{"sid":"`) {
		_ = ws.Close()
		return nil, fmt.Errorf("open packet %q: %v", open, err)
	}
	return c, nil
}

func (c *nspRawClient) send(s string) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(step))
	return c.ws.WriteMessage(websocket.TextMessage, []byte(s))
}

// read returns the next frame other than a ping, which it answers.
func (c *nspRawClient) read() (string, error) {
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(step))
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return "", err
		}
		if string(data) == "2" {
			if err := c.send("3"); err != nil {
				return "", err
			}
			continue
		}
		return string(data), nil
	}
}

// game joins nsp, checks with an echo that its socket is served, and
// leaves it.
func (c *nspRawClient) game(nsp string, round int) error {
	if err := c.send("40" + nsp + ","); err != nil {
		return err
	}
	reply, err := c.read()
	if err != nil {
		return fmt.Errorf("connect to %s: %w", nsp, err)
	}
	if !strings.HasPrefix(reply, "40"+nsp+`,{"sid":"`) {
		return fmt.Errorf("connect to %s: reply %q", nsp, reply)
	}
	if err := c.send(fmt.Sprintf(`42%s,%d["echo",%d]`, nsp, round, round)); err != nil {
		return err
	}
	want := fmt.Sprintf(`43%s,%d[%d]`, nsp, round, round)
	if got, err := c.read(); err != nil || got != want {
		return fmt.Errorf("echo in %s: %q, %v; want %q", nsp, got, err, want)
	}
	return c.send("41" + nsp + ",")
}

// TestNspLifecycleConnectDuringRemoval has clients join and leave three
// games over and over, side by side, so that the games' namespaces are
// removed and made again while CONNECTs arrive: every CONNECT must land in
// a namespace that serves it (never "Invalid namespace", a server error or
// silence), and once all left the namespaces and their supervisors are
// gone.
func TestNspLifecycleConnectDuringRemoval(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	var incarnations sync.Map // *actorio.Namespace -> struct{}
	ts := startServer(t, actorio.Options{ActorSystem: sys}, func(srv *actorio.Server) {
		srv.OfRegexp(gamePattern).OnConnection(func(s *actorio.Socket) {
			incarnations.Store(s.Namespace(), struct{}{})
			s.On("echo", echoHandler)
		})
	})
	const clients, rounds, games = 4, 60, 3
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			c, err := dialNspRaw(ts)
			if err != nil {
				errs <- err
				return
			}
			defer c.ws.Close()
			for r := range rounds {
				nsp := fmt.Sprint("/game-", 1+(i+r)%games)
				if err := c.game(nsp, r); err != nil {
					errs <- fmt.Errorf("client %d, round %d: %w", i, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for g := 1; g <= games; g++ {
		waitNspGone(t, ts.Srv, fmt.Sprint("/game-", g))
	}
	waitUntil(t, step, "the games' supervisors to stop", func() bool { return nspSupervisors(sys, "ns:/game-") == 0 })
	n := 0
	incarnations.Range(func(any, any) bool { n++; return true })
	t.Logf("%d games in %d namespaces, made %d times", clients*rounds, games, n)
	if n <= games {
		t.Errorf("the namespaces were made %d times in all: never removed while clients came and went", n)
	}
}

// TestNspLifecycleRecoveryKeepsChild checks that with connection state
// recovery a child namespace whose last socket lost its transport waits
// for the session it keeps: the client comes back within
// MaxDisconnectionDuration and gets its socket back, and once the last
// session has expired the namespace goes.
func TestNspLifecycleRecoveryKeepsChild(t *testing.T) {
	ts := startServer(t, actorio.Options{ConnectionStateRecovery: &actorio.ConnectionStateRecovery{MaxDisconnectionDuration: time.Second}},
		func(srv *actorio.Server) {
			srv.OfRegexp(gamePattern).OnConnection(func(s *actorio.Socket) { s.On("echo", echoHandler) })
		})
	connect := func(auth string) (sid, pid string) {
		c, err := dialNspRaw(ts)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.send("40/game-1," + auth); err != nil {
			t.Fatal(err)
		}
		reply, err := c.read()
		if err != nil {
			t.Fatal(err)
		}
		var r struct{ Sid, Pid string }
		if body, ok := strings.CutPrefix(reply, "40/game-1,"); !ok || json.Unmarshal([]byte(body), &r) != nil {
			t.Fatalf("connect reply %q", reply)
		}
		_ = c.ws.Close() // the transport dies: the session is kept
		return r.Sid, r.Pid
	}
	sid, pid := connect("")
	waitUntil(t, step, "the socket to end", func() bool { return ts.Srv.Stats().Namespaces["/game-1"].Sockets == 0 })
	time.Sleep(300 * time.Millisecond)
	if _, ok := ts.Srv.Stats().Namespaces["/game-1"]; !ok {
		t.Fatal("/game-1 was removed while it kept a session for recovery")
	}
	sid2, _ := connect(fmt.Sprintf(`{"pid":%q}`, pid))
	if sid2 != sid {
		t.Fatalf("reconnect got socket %s, want the recovered %s", sid2, sid)
	}
	start := time.Now()
	waitNspGone(t, ts.Srv, "/game-1")
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("/game-1 removed %v after its last socket ended, before its session expired", d)
	}
}

// TestNspLifecycleCloseDuringChurn closes the server while clients join
// and leave games, so that children are being removed and made as Close
// drains: Close returns without error and in time, and leaves no
// goroutine behind (checked at cleanup).
func TestNspLifecycleCloseDuringChurn(t *testing.T) {
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OfRegexp(gamePattern).OnConnection(func(s *actorio.Socket) { s.On("echo", echoHandler) })
	})
	var wg sync.WaitGroup
	var games atomic.Int64
	for i := range 4 {
		c, err := dialNspRaw(ts)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer c.ws.Close()
			for r := 0; ; r++ {
				if c.game(fmt.Sprint("/game-", (i+r)%3), r) != nil {
					return // the server closed
				}
				games.Add(1)
			}
		})
	}
	waitUntil(t, step, "some games", func() bool { return games.Load() >= 40 })
	start := time.Now()
	if err := ts.Srv.Close(); err != nil {
		t.Fatalf("Close during churn: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	wg.Wait()
	t.Logf("%d games before Close, which took %v", games.Load(), time.Since(start).Round(time.Millisecond))
}

// TestNspLifecycleRefusedLeavesNothing has a parent's middleware refuse
// every socket: each refused CONNECT made a child, which goes with its
// refused socket, so MaxDynamicNamespaces is never reached and every
// client gets the middleware's answer, not "Invalid namespace". A handler
// registered on a live child (through Of) runs after the parent's, as in
// Node.
func TestNspLifecycleRefusedLeavesNothing(t *testing.T) {
	var order []string
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	ts := startServer(t, actorio.Options{MaxDynamicNamespaces: 3}, func(srv *actorio.Server) {
		parent := srv.OfRegexp(gamePattern)
		parent.Use(func(s *actorio.Socket) error {
			if s.Namespace().Name() == "/game-999" {
				return nil
			}
			return &actorio.ConnectError{Message: "no such game"}
		})
		parent.OnConnection(func(s *actorio.Socket) { note("parent") })
	})
	p := dialPeer(t, ts, peerOpts{})
	for i := range 20 {
		nsp := fmt.Sprint("/game-", i)
		if got, want := p.joinReply(nsp, ""), "44"+nsp+`,{"message":"no such game"}`; got != want {
			t.Fatalf("CONNECT %d: %q, want %q", i, got, want)
		}
	}
	p.join("/game-999", "")
	ns, ok := ts.Srv.Namespace("/game-999")
	if !ok {
		t.Fatal("no /game-999 while a socket is in it")
	}
	ns.OnConnection(func(s *actorio.Socket) { note("child") })
	q := dialPeer(t, ts, peerOpts{})
	q.join("/game-999", "")
	waitUntil(t, step, "the handlers of the second socket", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 3
	})
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(order, ",") != "parent,parent,child" {
		t.Fatalf("connection handlers ran in the order %v", order)
	}
}
