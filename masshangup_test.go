package actorio_test

import (
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/leakcheck"
	"github.com/gorilla/websocket"
)

// TestMassHangUpDisconnectsEachSocketOnce: when the clients of a thousand
// connected sockets hang up at once, each socket's disconnect handler runs
// exactly once, with "transport close", and the server never runs more
// than a few dozen goroutines more than before (the gateway's runs are
// bounded, and the actors' mailboxes wait in the workers' queue rather
// than each on a goroutine of its own: about 410 more before, about 30
// since, on two cores).
func TestMassHangUpDisconnectsEachSocketOnce(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	srv, err := actorio.NewServer(actorio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var connected, disconnected atomic.Int32
	var mu sync.Mutex
	reasons := map[string]int{}
	perSocket := map[string]int{}
	srv.Of("/").OnConnection(func(s *actorio.Socket) {
		connected.Add(1)
		s.OnDisconnect(func(s *actorio.Socket, reason string) {
			mu.Lock()
			reasons[reason]++
			perSocket[s.ID()]++
			mu.Unlock()
			disconnected.Add(1)
		})
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { _ = srv.Close(); ts.Close() })
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"

	const n = 1000
	wss := make([]*websocket.Conn, n)
	for i := range wss {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		t.Cleanup(func() { _ = ws.Close() })
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, open, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0{") {
			t.Fatalf("client %d: open packet %q, %v", i, open, err)
		}
		if err := ws.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(ok), "40{") {
			t.Fatalf("client %d: CONNECT answered %q, %v", i, ok, err)
		}
		wss[i] = ws
	}
	for deadline := time.Now().Add(10 * time.Second); connected.Load() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sockets connected", connected.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the workers of the connects end (200 ms idle)
	base := runtime.NumGoroutine()

	peak, ok := leakcheck.PeakDuring(func() {
		for _, ws := range wss {
			_ = ws.UnderlyingConn().Close()
		}
	}, func() bool { return disconnected.Load() >= n }, 30*time.Second)
	if !ok {
		t.Fatalf("%d of %d sockets disconnected after 30 s", disconnected.Load(), n)
	}
	time.Sleep(100 * time.Millisecond) // a second disconnect would come now
	mu.Lock()
	got := fmt.Sprint(reasons)
	twice := 0
	for _, k := range perSocket {
		if k != 1 {
			twice++
		}
	}
	sockets := len(perSocket)
	mu.Unlock()
	if want := fmt.Sprint(map[string]int{"transport close": n}); got != want || sockets != n || twice != 0 {
		t.Fatalf("disconnect reasons %s for %d sockets (%d more than once), want %s for %d", got, sockets, twice, want, n)
	}
	// Bounded runs and queued mailboxes, the closing goroutine, and a few
	// of the runtime's and the HTTP server's.
	bound := 8*runtime.GOMAXPROCS(0) + 40
	extra := peak - base
	if extra > bound {
		t.Fatalf("the hang-up of %d sockets ran %d goroutines more than before, want at most %d", n, extra, bound)
	}
	t.Logf("the hang-up of %d sockets ran at most %d goroutines more than before", n, extra)
}
