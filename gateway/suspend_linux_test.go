package gateway

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/gorilla/websocket"
)

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
	waitBusyParked(t, e, n)
	// The poller's goroutines and a few of the HTTP server's and the
	// runtime's; n suspended and n parked sessions hold none.
	settleGoroutines(t, base, 10, fmt.Sprintf("%d suspended and %d parked sessions", n, n))
	for _, r := range resumes {
		go r()
	}
	waitFor(t, func() bool { return s.nexts.Load() == 2*n })
	if r := s.refused.Load(); r != 0 {
		t.Fatalf("Suspend refused %d times on parked WebSockets", r)
	}
	// Every session reads on, parked again: a "later" session whose "next"
	// came apart has now had runs in a row too, so it is busy.
	for _, ws := range later {
		writeText(t, ws, "4again")
	}
	waitBusyParked(t, e, 2*n)
}

// waitBusyParked waits until want sessions are parked, some of them busy:
// a busy connection's run parks once a sweep found it quiet for a whole
// window (one to two activeWindows), later under a loaded machine, hence
// more than waitFor's 3 s.
func waitBusyParked(t *testing.T, e *env, want int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); parkedCount(e.srv) != want; {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions parked, want %d", parkedCount(e.srv), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
		{"server shuts down", func(t *testing.T, e *env, _ *websocket.Conn, _ *Conn) { e.closeSuspended(t) }, disconnect.ForcedServerClose},
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
			s.closesAfterResume(t, e.h, c, resume, tc.reason)
		})
	}
}
