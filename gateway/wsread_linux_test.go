package gateway

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/leakcheck"
	"github.com/gorilla/websocket"
)

// pollerCounts returns how many readers wait in s's poller (parked), and
// how many runs of busy connections wait on their goroutine for the next
// bytes (active).
func pollerCounts(s *Server) (parked, active int) {
	s.mu.Lock()
	p := s.poll
	s.mu.Unlock()
	if p == nil {
		return 0, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked), len(p.active)
}

// parkedCount returns how many readers wait in the server's poller.
func parkedCount(s *Server) int { n, _ := pollerCounts(s); return n }

// activeCount returns how many runs of s's readers wait on their goroutine
// for a busy connection's next bytes.
func activeCount(s *Server) int { _, n := pollerCounts(s); return n }

// TestIdleWebSocketsHoldNoGoroutine: idle WebSocket sessions, opened
// directly or upgraded from polling, wait in the poller without a
// goroutine each, and every one of them still reads what its client sends
// next, and notices its client leaving.
func TestIdleWebSocketsHoldNoGoroutine(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	const direct, upgraded = 60, 20
	base := runtime.NumGoroutine()
	var wss []*websocket.Conn
	for range direct {
		ws, _ := e.openWS(t)
		wss = append(wss, ws)
	}
	for range upgraded {
		wss = append(wss, e.upgradeSession(t))
	}
	// One exchange each, so that every reader has run and parked again.
	for i, ws := range wss {
		writeText(t, ws, fmt.Sprintf("4hello %d", i))
	}
	for i, ws := range wss {
		if got, want := readText(t, ws), fmt.Sprintf("4hello %d", i); got != want {
			t.Fatalf("session %d echoed %q, want %q", i, got, want)
		}
	}
	waitFor(t, func() bool { return parkedCount(e.srv) == len(wss) })
	// The poller's goroutine and a few of the HTTP server's and the
	// runtime's; 80 reader goroutines before the poller.
	settleGoroutines(t, base, 10, fmt.Sprintf("%d idle websockets", len(wss)))
	// Every client leaves: each session ends with a transport close.
	for _, ws := range wss {
		_ = ws.UnderlyingConn().Close()
	}
	for range wss {
		if ev := e.h.nextClose(t); ev.reason != disconnect.TransportClose {
			t.Fatalf("close reason %q, want %q", ev.reason, disconnect.TransportClose)
		}
	}
	waitFor(t, func() bool { return parkedCount(e.srv) == 0 })
	// With no WebSocket left, the server runs no poller.
	waitFor(t, func() bool {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		return e.srv.poll == nil && e.srv.pollUsers == 0
	})
	if n, dump := leakcheck.Settle(base+3, 3*time.Second); dump != "" {
		t.Fatalf("%d goroutines, %d before the websockets:\n%s", n, base, dump)
	}
}

// upgradeSession opens a polling session and upgrades it to a WebSocket,
// as the official client does.
func (e *env) upgradeSession(t *testing.T) *websocket.Conn {
	t.Helper()
	ws := e.probe(t, e.handshake(t))
	writeText(t, ws, "5")
	e.h.nextConn(t)
	return ws
}

// TestParkedWebSocketReadsAFrameInPieces: a frame whose bytes arrive in
// pieces, seconds apart, wakes its reader with the first piece and is read
// whole; meanwhile the other sessions are served.
func TestParkedWebSocketReadsAFrameInPieces(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	var raw net.Conn
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		raw = c
		return c, err
	}}
	ws, _, err := d.Dial(e.wsBase+"?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	readText(t, ws)
	other, _ := e.openWS(t)
	waitFor(t, func() bool { return parkedCount(e.srv) == 2 })

	frame := maskedText("4split across reads")
	if _, err := raw.Write(frame[:3]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	writeText(t, other, "4meanwhile")
	if got := readText(t, other); got != "4meanwhile" {
		t.Fatalf("other session echoed %q", got)
	}
	if _, err := raw.Write(frame[3:10]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := raw.Write(frame[10:]); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, ws); got != "4split across reads" {
		t.Fatalf("echo %q", got)
	}
	// Two frames in one write: both read, though the poller reports the
	// bytes once.
	two := append(maskedText("4one"), maskedText("4two")...)
	if _, err := raw.Write(two); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"4one", "4two"} {
		if got := readText(t, ws); got != want {
			t.Fatalf("echo %q, want %q", got, want)
		}
	}
}

// maskedText is a client's text frame carrying s (under 126 bytes).
func maskedText(s string) []byte {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	b := []byte{0x81, 0x80 | byte(len(s)), key[0], key[1], key[2], key[3]}
	for i := range len(s) {
		b = append(b, s[i]^key[i%4])
	}
	return b
}

// TestServerClosesParkedWebSocket: a session the server closes while its
// reader is parked sends its close frame, ends once, and leaves the poller.
func TestServerClosesParkedWebSocket(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	ws, c := e.openWS(t)
	waitFor(t, func() bool { return parkedCount(e.srv) == 1 })
	c.Close(disconnect.ForcedServerClose)
	if err := expectClosed(t, ws); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
		t.Fatalf("client read %v, want a close frame without status", err)
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.ForcedServerClose {
		t.Fatalf("close reason %q", ev.reason)
	}
	waitFor(t, func() bool { return parkedCount(e.srv) == 0 })
}

// echoBusy sends n messages 10 ms apart, each after the echo of the one
// before: enough runs in a row, soon after each other, for the
// connection to count as busy.
func echoBusy(t *testing.T, ws *websocket.Conn, n int) {
	t.Helper()
	for i := range n {
		want := fmt.Sprintf("4busy %d", i)
		writeText(t, ws, want)
		if got := readText(t, ws); got != want {
			t.Fatalf("echo %q, want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBusyWebSocketParksOnceQuiet: a connection that keeps sending is read
// by a run that waits on its goroutine, not parked after each message;
// once quiet it parks, and it reads on afterwards (the deadline that ended
// the run's wait does not fail the next read).
func TestBusyWebSocketParksOnceQuiet(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	ws, _ := e.openWS(t)
	echoBusy(t, ws, 20)
	if n := parkedCount(e.srv); n != 0 {
		t.Fatalf("a busy connection's reader is parked (%d parked)", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for parkedCount(e.srv) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("a quiet connection's reader did not park")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"4after the sweep", "4and again"} {
		writeText(t, ws, want)
		if got := readText(t, ws); got != want {
			t.Fatalf("echo %q, want %q", got, want)
		}
	}
}

// TestBusyWebSocketEndsWhileWaiting: a busy connection's run, waiting on
// its goroutine for the next bytes, ends the session once, with the reason
// of what ended it: the client's close frame, its connection dropped or
// reset, or the server's close.
func TestBusyWebSocketEndsWhileWaiting(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, ws *websocket.Conn, c *Conn)
		want string
	}{
		{"close frame", func(t *testing.T, ws *websocket.Conn, _ *Conn) {
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			if err := ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		}, disconnect.TransportClose},
		{"dropped", func(t *testing.T, ws *websocket.Conn, _ *Conn) { _ = ws.NetConn().Close() }, disconnect.TransportClose},
		{"reset", func(t *testing.T, ws *websocket.Conn, _ *Conn) {
			tc := ws.NetConn().(*net.TCPConn)
			if err := tc.SetLinger(0); err != nil {
				t.Fatal(err)
			}
			_ = tc.Close()
		}, disconnect.TransportClose},
		{"server", func(t *testing.T, _ *websocket.Conn, c *Conn) { c.Close(disconnect.ForcedServerClose) }, disconnect.ForcedServerClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			e := startEnv(t, Config{})
			ws, c := e.openWS(t)
			defer ws.Close()
			echoBusy(t, ws, 5)
			waitFor(t, func() bool { return activeCount(e.srv) == 1 })
			tc.end(t, ws, c)
			if ev := e.h.nextClose(t); ev.reason != tc.want {
				t.Fatalf("close reason %q (%v), want %q", ev.reason, ev.err, tc.want)
			}
			select {
			case ev := <-e.h.closes:
				t.Fatalf("a second OnClose: %q", ev.reason)
			case <-time.After(100 * time.Millisecond):
			}
			waitFor(t, func() bool { return activeCount(e.srv) == 0 && parkedCount(e.srv) == 0 })
		})
	}
}

// TestWebSocketClientSendsAtOnce: clients that send right after the
// handshake, before reading the open packet, wake their reader while the
// handshake still parks it; every message is read, once.
func TestWebSocketClientSendsAtOnce(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	const n = 40
	wss := make([]*websocket.Conn, n)
	for i := range wss {
		wss[i] = e.dial(t, "EIO=4&transport=websocket")
		writeText(t, wss[i], fmt.Sprintf("4first %d", i))
		writeText(t, wss[i], fmt.Sprintf("4second %d", i))
	}
	for i, ws := range wss {
		readText(t, ws) // open
		for _, want := range []string{fmt.Sprintf("4first %d", i), fmt.Sprintf("4second %d", i)} {
			if got := readText(t, ws); got != want {
				t.Fatalf("session %d echoed %q, want %q", i, got, want)
			}
		}
	}
}

// TestUpgradingWebSocketsHoldNoGoroutine: the WebSockets of upgrades wait
// for their client's probe, and then for its upgrade packet, parked in the
// poller, without a goroutine each; each upgrade then completes, and its
// session reads on.
func TestUpgradingWebSocketsHoldNoGoroutine(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	const n = 40
	sids := make([]string, n)
	conns := make([]*Conn, n)
	for i := range sids {
		sids[i] = e.handshake(t)
		conns[i] = e.h.nextConn(t)
	}
	base := runtime.NumGoroutine()
	held := func(stage string) {
		t.Helper()
		waitFor(t, func() bool { return parkedCount(e.srv) == n })
		// The poller's goroutines and a few of the HTTP server's (its
		// idle keep-alive connections) and the runtime's.
		settleGoroutines(t, base, 10, fmt.Sprintf("%d upgrades %s", n, stage))
	}
	wss := make([]*websocket.Conn, n)
	for i, sid := range sids {
		wss[i] = e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	}
	held("waiting for the probe")
	for _, ws := range wss {
		writeText(t, ws, "2probe")
		if got := readText(t, ws); got != "3probe" {
			t.Fatalf("probe answer %q", got)
		}
	}
	held("waiting for the upgrade packet")
	for _, ws := range wss {
		writeText(t, ws, "5")
	}
	waitFor(t, func() bool {
		for _, c := range conns {
			if c.Transport() != TransportWebSocket {
				return false
			}
		}
		return true
	})
	// Upgraded, each parks at once: the probe's quick runs do not make
	// the session's reader a busy one, which would wait on its goroutine
	// for a sweep (a second at least).
	for deadline := time.Now().Add(500 * time.Millisecond); parkedCount(e.srv) != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d upgraded sessions parked after 500ms", parkedCount(e.srv), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	held("done")
	for i, ws := range wss {
		writeText(t, ws, fmt.Sprintf("4after %d", i))
		if got, want := readText(t, ws), fmt.Sprintf("4after %d", i); got != want {
			t.Fatalf("session %d echoed %q, want %q", i, got, want)
		}
	}
}

// TestUpgradeTimeoutWithoutProbe: an upgrade whose client sends nothing on
// its WebSocket (parked, so no read deadline applies) is aborted after
// UpgradeTimeout: the WebSocket is closed, the session keeps polling.
func TestUpgradeTimeoutWithoutProbe(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{UpgradeTimeout: 200 * time.Millisecond})
	sid := e.handshake(t)
	c := e.h.nextConn(t)
	ws := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	waitFor(t, func() bool { return parkedCount(e.srv) == 1 })
	start := time.Now()
	expectClosed(t, ws)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("probe WebSocket closed after %v, want about 200ms", d)
	}
	waitFor(t, func() bool { return parkedCount(e.srv) == 0 })
	_ = c.Send(msg("still polling"))
	if status, body := e.poll(t, sid); status != 200 || body != "4still polling" {
		t.Fatalf("GET after the aborted upgrade: %d %q", status, body)
	}
	// A second upgrade then succeeds.
	ws2 := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	writeText(t, ws2, "2probe")
	if got := readText(t, ws2); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	writeText(t, ws2, "5")
	writeText(t, ws2, "4hello")
	if got := readText(t, ws2); got != "4hello" {
		t.Fatalf("echo %q", got)
	}
}

// pollUsers returns how many WebSockets hold the server's poller (parked
// or reading); each holds Server.Close until it lets go.
func pollUsers(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pollUsers
}

// TestSessionClosedBeforeItsReaderStarts: a session closed in OnOpen has
// its WebSocket closed by its writer, which may finish before the
// session's reader is set up; that reader still lets go of the poller and
// of Server.Close (which once waited for it forever in CI).
func TestSessionClosedBeforeItsReaderStarts(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	e.h.onOpen = func(c *Conn) { c.Close(disconnect.ForcedServerClose) }
	for i := 0; i < 200; i++ {
		ws := e.dial(t, "EIO=4&transport=websocket")
		_ = expectClosed(t, ws)
		_ = ws.Close()
		<-e.h.opened
		<-e.h.closes
	}
	waitFor(t, func() bool { return pollUsers(e.srv) == 0 })
	closed := make(chan struct{})
	go func() {
		_ = e.srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Server.Close still waits after 5 s")
	}
}
