package gateway

import (
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
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

// closesAfterResume checks that c, which ended while a delivery was
// suspended, reports OnClose with reason only once resume ran the
// delivery's rest.
func (s *suspender) closesAfterResume(t *testing.T, h *recorder, c *Conn, resume func(), reason string) {
	t.Helper()
	select {
	case ev := <-h.closes:
		t.Fatalf("OnClose (%q) while a delivery is suspended", ev.reason)
	case <-time.After(300 * time.Millisecond):
	}
	resume()
	ev := h.nextClose(t)
	if ev.sid != c.ID() || ev.reason != reason {
		t.Fatalf("OnClose for %s with %q, want %s with %q", ev.sid, ev.reason, c.ID(), reason)
	}
	if !s.restedFor(c) {
		t.Fatal("OnClose came before the suspended delivery's rest")
	}
}

// closeSuspended shuts the server down while a delivery is suspended:
// its Close must not wait for the delivery.
func (e *env) closeSuspended(t *testing.T) {
	t.Helper()
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
}

// next waits for the resume of the next "later" delivery.
func (s *suspender) next(t *testing.T) func() {
	t.Helper()
	return receive(t, s.resumes, 5*time.Second, "no suspended delivery")
}

// TestSuspendedPosts: a delivery suspended on the last packet of a
// long-polling POST lets the POST be answered at once, holding no
// goroutine; the session's next POST waits until the resume ran the rest,
// then delivers its packets. A delivery resumed within its OnPacket call
// is ended by the POST's own handler, before the session's next packet.
func TestSuspendedPosts(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	s := newSuspender(t, e.h)
	base := runtime.NumGoroutine()
	const n = 20
	sids := make([]string, n)
	for i := range sids {
		sids[i] = e.handshake(t)
		e.h.nextConn(t)
		// Answered while suspended: the test holds every resume.
		if code, body := e.post(t, sids[i], "4later"); code != http.StatusOK || body != "ok" {
			t.Fatalf("POST of a suspended delivery: %d %q", code, body)
		}
	}
	resumes := make([]func(), n)
	for i := range resumes {
		resumes[i] = s.next(t)
	}
	settleGoroutines(t, base, 10, fmt.Sprintf("%d suspended POST deliveries", n))
	// Each session's next POST waits for its resume.
	var wg sync.WaitGroup
	var answered atomic.Int64
	for _, sid := range sids {
		wg.Go(func() {
			if code, body := e.post(t, sid, "4next"); code != http.StatusOK || body != "ok" {
				t.Errorf("next POST: %d %q", code, body)
			}
			answered.Add(1)
		})
	}
	time.Sleep(300 * time.Millisecond)
	if got := answered.Load() + s.nexts.Load(); got != 0 {
		t.Fatalf("%d POSTs answered or packets delivered before their session's suspended delivery was resumed", got)
	}
	for _, r := range resumes {
		go r()
	}
	wg.Wait()
	if got := s.nexts.Load(); got != n {
		t.Fatalf("%d packets delivered after the resumes, want %d", got, n)
	}
	// Resumed within the OnPacket call: ended by the POST's handler.
	sid := e.handshake(t)
	e.h.nextConn(t)
	if code, body := e.post(t, sid, "4now"); code != http.StatusOK || body != "ok" {
		t.Fatalf("POST of a delivery resumed at once: %d %q", code, body)
	}
	if code, body := e.post(t, sid, "4next"); code != http.StatusOK || body != "ok" {
		t.Fatalf("POST after it: %d %q", code, body)
	}
	waitFor(t, func() bool { return s.nexts.Load() == n+1 })
	if r := s.refused.Load(); r != 0 {
		t.Fatalf("Suspend refused %d times on a POST's last packet", r)
	}
}

// TestSuspendRefusedBeforeAPostsLastPacket: a packet followed by others in
// its POST cannot be suspended (the POST would have packets left to
// deliver): Suspend says so, the receiver waits within OnPacket, and the
// packets are delivered in order.
func TestSuspendRefusedBeforeAPostsLastPacket(t *testing.T) {
	e := startEnv(t, Config{})
	s := newSuspender(t, e.h)
	sid := e.handshake(t)
	e.h.nextConn(t)
	if code, body := e.post(t, sid, "4now\x1e4after"); code != http.StatusOK {
		t.Fatalf("POST: %d %s", code, body)
	}
	for _, want := range []string{"now", "after"} {
		if got := e.h.nextPacket(t); got != want {
			t.Fatalf("delivered %q, want %q", got, want)
		}
	}
	if got := s.refused.Load(); got != 1 {
		t.Fatalf("Suspend refused %d times before a POST's last packet, want 1", got)
	}
}

// TestSuspendedPostHoldsOnClose: a long-polling session that ends while
// the delivery of its answered POST is suspended reports OnClose only
// once the delivery is resumed and its rest ran.
func TestSuspendedPostHoldsOnClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, e *env, c *Conn)
	}{
		{"server closes", func(_ *testing.T, _ *env, c *Conn) { c.Close(disconnect.ForcedServerClose) }},
		{"server shuts down", func(t *testing.T, e *env, _ *Conn) { e.closeSuspended(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			e := startEnv(t, Config{})
			e.h.echo = false
			s := newSuspender(t, e.h)
			sid := e.handshake(t)
			c := e.h.nextConn(t)
			if code, body := e.post(t, sid, "4later"); code != http.StatusOK || body != "ok" {
				t.Fatalf("POST: %d %q", code, body)
			}
			resume := s.next(t)
			tc.end(t, e, c)
			s.closesAfterResume(t, e.h, c, resume, disconnect.ForcedServerClose)
		})
	}
}
