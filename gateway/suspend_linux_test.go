package gateway

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// suspender makes a recorder suspend the delivery of the messages named
// in how: "now" resumes within the OnPacket call, "later" hands its
// resume to the test. Each delivery's rest marks the session; a "next"
// delivered to a session whose rest has not run is an error.
type suspender struct {
	t       *testing.T
	mu      sync.Mutex
	rested  map[*Conn]*atomic.Bool
	resumes chan func()
	refused atomic.Int64 // Suspend calls answered !ok
	nexts   atomic.Int64
}

func newSuspender(t *testing.T, h *recorder) *suspender {
	s := &suspender{t: t, rested: map[*Conn]*atomic.Bool{}, resumes: make(chan func(), 256)}
	h.onPkt = s.onPacket
	return s
}

func (s *suspender) onPacket(c *Conn, p engineio.Packet) {
	switch string(p.Data) {
	case "now", "later":
		resume, ok := c.Suspend()
		if !ok {
			s.refused.Add(1)
			return
		}
		if _, again := c.Suspend(); again {
			s.t.Errorf("a second Suspend in one OnPacket call was granted")
		}
		done := new(atomic.Bool)
		s.mu.Lock()
		s.rested[c] = done
		s.mu.Unlock()
		rest := func() { done.Store(true) }
		if string(p.Data) == "now" {
			resume(rest)
			return
		}
		s.resumes <- func() { resume(rest) }
	case "next":
		if !s.restedFor(c) {
			s.t.Errorf("session %s: a packet was delivered before its suspended delivery ended", c.ID())
		}
		s.nexts.Add(1)
	}
}

// restedFor reports whether the rest of c's suspended delivery ran.
func (s *suspender) restedFor(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	done := s.rested[c]
	return done != nil && done.Load()
}

// next waits for the resume of the next "later" delivery.
func (s *suspender) next(t *testing.T) func() {
	t.Helper()
	select {
	case r := <-s.resumes:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no suspended delivery")
		return nil
	}
}

// TestSuspendedDeliveries: a delivery suspended on a parked WebSocket
// holds no goroutine until it is resumed, within its OnPacket call or
// later; its rest runs before the session's next packet is delivered,
// whether that packet came in the same write (already buffered) or after.
func TestSuspendedDeliveries(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	s := newSuspender(t, e.h)
	base := runtime.NumGoroutine()
	const n = 40 // sessions of each kind, "now" and "later"
	var wss, later []*websocket.Conn
	var apart []bool
	for i := range 2 * n {
		ws, _ := e.openWS(t)
		wss = append(wss, ws)
		first := "4now"
		if i%2 == 1 {
			first = "4later"
			later = append(later, ws)
		}
		// Half of each kind send "next" in the same write: the reader
		// holds it in its buffer while the delivery before is suspended.
		apart = append(apart, i/2%2 == 1)
		if !apart[i] {
			if _, err := ws.UnderlyingConn().Write(append(maskedText(first), maskedText("4next")...)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		writeText(t, ws, first)
	}
	resumes := make([]func(), n)
	for i := range resumes {
		resumes[i] = s.next(t)
	}
	for i, ws := range wss {
		if apart[i] {
			writeText(t, ws, "4next")
		}
	}
	waitFor(t, func() bool { return s.nexts.Load() == n })
	time.Sleep(200 * time.Millisecond)
	if got := s.nexts.Load(); got != n {
		t.Fatalf("%d packets delivered after %d deliveries resumed at once and %d suspended, want %d", got, n, n, n)
	}
	// The "now" sessions that sent "next" apart are busy (two runs in a
	// row): their runs wait on goroutines until a sweep finds them quiet.
	for deadline := time.Now().Add(5 * time.Second); parkedCount(e.srv) != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions parked, want %d", parkedCount(e.srv), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The poller's goroutines and a few of the HTTP server's and the
	// runtime's; n suspended and n parked sessions hold none.
	if extra := runtime.NumGoroutine() - base; extra > 10 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d suspended and %d parked sessions hold %d goroutines, want at most 10:\n%s", n, n, extra, buf[:runtime.Stack(buf, true)])
	}
	for _, r := range resumes {
		go r()
	}
	waitFor(t, func() bool { return s.nexts.Load() == 2*n })
	if r := s.refused.Load(); r != 0 {
		t.Fatalf("Suspend refused %d times on parked WebSockets", r)
	}
	// Every session reads on, parked again.
	for _, ws := range later {
		writeText(t, ws, "4again")
	}
	waitFor(t, func() bool { return parkedCount(e.srv) == 2*n })
}

// TestSuspendedDeliveryHoldsOnClose: a session that ends while a delivery
// is suspended (closed by the server, its client gone, or the whole
// server shut down, whose Close does not wait for the delivery) reports
// OnClose only once the delivery is resumed and its rest ran, as for an
// OnPacket call still running.
func TestSuspendedDeliveryHoldsOnClose(t *testing.T) {
	for _, tc := range []struct {
		name   string
		end    func(t *testing.T, e *env, ws *websocket.Conn, c *Conn)
		reason string
	}{
		{"server closes", func(_ *testing.T, _ *env, _ *websocket.Conn, c *Conn) { c.Close(disconnect.ForcedServerClose) }, disconnect.ForcedServerClose},
		{"client gone", func(_ *testing.T, _ *env, ws *websocket.Conn, _ *Conn) { _ = ws.UnderlyingConn().Close() }, disconnect.TransportClose},
		{"server shuts down", func(t *testing.T, e *env, _ *websocket.Conn, _ *Conn) {
			closed := make(chan error, 1)
			go func() { closed <- e.srv.Close() }()
			select {
			case err := <-closed:
				if err != nil {
					t.Fatalf("Close: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Server.Close did not return while a delivery was suspended")
			}
		}, disconnect.ForcedServerClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			e := startEnv(t, Config{})
			// No echo: the session may end (tc.end) before the OnPacket
			// call that suspended its delivery gets to send it.
			e.h.echo = false
			s := newSuspender(t, e.h)
			ws, c := e.openWS(t)
			writeText(t, ws, "4later")
			resume := s.next(t)
			tc.end(t, e, ws, c)
			select {
			case ev := <-e.h.closes:
				t.Fatalf("OnClose (%q) while a delivery is suspended", ev.reason)
			case <-time.After(300 * time.Millisecond):
			}
			resume()
			ev := e.h.nextClose(t)
			if ev.sid != c.ID() || ev.reason != tc.reason {
				t.Fatalf("OnClose for %s with %q, want %s with %q", ev.sid, ev.reason, c.ID(), tc.reason)
			}
			if !s.restedFor(c) {
				t.Fatal("OnClose came before the suspended delivery's rest")
			}
		})
	}
}

// TestSuspendRefused: where the transport cannot stop reading without
// holding its goroutine (a long-polling POST), Suspend says so and the
// receiver waits within OnPacket as before.
func TestSuspendRefused(t *testing.T) {
	e := startEnv(t, Config{})
	s := newSuspender(t, e.h)
	sid := e.handshake(t)
	e.h.nextConn(t)
	if code, body := e.post(t, sid, "4now"); code != 200 {
		t.Fatalf("POST: %d %s", code, body)
	}
	e.h.nextPacket(t)
	if got := s.refused.Load(); got != 1 {
		t.Fatalf("Suspend granted on a polling POST (refused %d times)", got)
	}
}
