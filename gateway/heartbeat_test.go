package gateway

import (
	"errors"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
)

const (
	testPingInterval = 300 * time.Millisecond
	testPingTimeout  = 200 * time.Millisecond
)

func TestPollingPingPong(t *testing.T) {
	e := startEnv(t, Config{PingInterval: testPingInterval, PingTimeout: testPingTimeout})
	sid := e.handshake(t)
	start := time.Now()
	for i := 0; i < 3; i++ {
		if status, body := e.poll(t, sid); status != 200 || body != "2" {
			t.Fatalf("round %d GET: %d %q", i, status, body)
		}
		if status, _ := e.post(t, sid, "3"); status != 200 {
			t.Fatalf("round %d POST: %d", i, status)
		}
	}
	if d := time.Since(start); d < 3*testPingInterval-30*time.Millisecond {
		t.Fatalf("three pings after %v", d)
	}
}

func TestPollingPingTimeoutIsOnTime(t *testing.T) {
	e := startEnv(t, Config{PingInterval: testPingInterval, PingTimeout: testPingTimeout})
	start := time.Now()
	sid := e.handshake(t)
	ev := e.h.nextClose(t)
	elapsed := time.Since(start)
	if ev.reason != disconnect.PingTimeout || !errors.Is(ev.err, ErrPingTimeout) {
		t.Fatalf("close %+v", ev)
	}
	want := testPingInterval + testPingTimeout
	if elapsed < want-20*time.Millisecond || elapsed > want+300*time.Millisecond {
		t.Fatalf("closed after %v, want about %v", elapsed, want)
	}
	if status, _ := e.poll(t, sid); status != 400 {
		t.Fatalf("GET after timeout: %d", status)
	}
}

func TestPollingPendingGetGetsCloseOnPingTimeout(t *testing.T) {
	e := startEnv(t, Config{PingInterval: testPingInterval, PingTimeout: testPingTimeout})
	sid := e.handshake(t)
	if _, body := e.poll(t, sid); body != "2" {
		t.Fatalf("first GET %q", body)
	}
	// No pong: the next GET is answered with a close packet at the timeout.
	if status, body := e.poll(t, sid); status != 200 || body != "1" {
		t.Fatalf("second GET: %d %q", status, body)
	}
}

func TestWebSocketPingPong(t *testing.T) {
	e := startEnv(t, Config{PingInterval: testPingInterval, PingTimeout: testPingTimeout})
	ws := e.dial(t, "EIO=4&transport=websocket")
	readText(t, ws)
	for i := 0; i < 3; i++ {
		if got := readText(t, ws); got != "2" {
			t.Fatalf("round %d: %q", i, got)
		}
		writeText(t, ws, "3")
	}
	writeText(t, ws, "4alive")
	if got := readText(t, ws); got != "4alive" {
		t.Fatalf("echo %q", got)
	}
}

func TestWebSocketPingTimeout(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{PingInterval: testPingInterval, PingTimeout: testPingTimeout})
	start := time.Now()
	ws := e.dial(t, "EIO=4&transport=websocket")
	readText(t, ws)
	if got := readText(t, ws); got != "2" {
		t.Fatalf("got %q", got)
	}
	expectClosed(t, ws)
	if ev := e.h.nextClose(t); ev.reason != disconnect.PingTimeout {
		t.Fatalf("close %+v", ev)
	}
	if d := time.Since(start); d > testPingInterval+testPingTimeout+300*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}
}

// TestPollingDeadlineCountsFromHandshake: a client silent for exactly
// pingInterval + pingTimeout after reading the open packet finds the session
// gone, however late the heartbeat timers fire (the request checks the
// deadline itself).
func TestPollingDeadlineCountsFromHandshake(t *testing.T) {
	e := startEnv(t, Config{PingInterval: testPingInterval, PingTimeout: testPingTimeout})
	for i := 0; i < 3; i++ {
		sid := e.handshake(t)
		time.Sleep(testPingInterval + testPingTimeout)
		if status, body := e.poll(t, sid); status != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
			t.Fatalf("round %d, GET at the deadline: %d %q", i, status, body)
		}
	}
}

// TestPongJustInTimeKeepsSession: a pong posted before the deadline resets it.
func TestPongJustInTimeKeepsSession(t *testing.T) {
	e := startEnv(t, Config{PingInterval: testPingInterval, PingTimeout: testPingTimeout})
	sid := e.handshake(t)
	if _, body := e.poll(t, sid); body != "2" {
		t.Fatalf("GET %q", body)
	}
	time.Sleep(testPingTimeout / 2)
	if status, _ := e.post(t, sid, "3"); status != 200 {
		t.Fatalf("pong: %d", status)
	}
	time.Sleep(testPingInterval)
	if status, body := e.poll(t, sid); status != 200 || body != "2" {
		t.Fatalf("GET after the pong: %d %q", status, body)
	}
}
