package client

import (
	"errors"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
)

// Event order against the actorio server: each way of losing the transport.

func TestGoFirstConnectOrder(t *testing.T) {
	g := startGo(t, actorio.Options{}, nil)
	s := mustNew(t, g.URL, Options{})
	r := record(s)
	mustConnect(t, s, r)
	if !s.Connected() || s.ID() == "" {
		t.Fatalf("connected=%v id=%q after connect", s.Connected(), s.ID())
	}
	r.quietFor(t, 100*time.Millisecond)
	expectSeq(t, "first connect", r.all(), []string{"connecting", "connect"})
}

func TestGoMomentaryLossOrder(t *testing.T) {
	for _, c := range []struct {
		name       string
		transports []string
		reason     string
	}{
		{"upgraded", nil, disconnect.TransportClose},
		{"websocket", []string{TransportWebSocket}, disconnect.TransportClose},
		{"polling", []string{TransportPolling}, disconnect.TransportError},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := startGo(t, actorio.Options{}, nil)
			p := newCutProxy(t, g.URL)
			s := mustNew(t, p.URL, Options{Transports: c.transports})
			r := record(s)
			mustConnect(t, s, r)
			if c.transports == nil {
				waitTransport(t, s.Manager(), TransportWebSocket)
			}
			p.down() // polling would survive a mere cut: Go's HTTP client retries the GET
			r.wait(t, "disconnect:"+c.reason, 1)
			p.up()
			r.wait(t, EventConnect, 2)
			ev := r.all()
			want := cat([]string{"connecting", "connect", "disconnect:" + c.reason}, attempts(1, count(ev, EventReconnectError)+1, true))
			expectSeq(t, "momentary loss", ev, want)
			checkClassicRecovery(t, r.all(), c.reason)
			if !s.Connected() {
				t.Fatal("not connected after reconnect")
			}
		})
	}
}

func TestGoServerRestartedOnSamePortOrder(t *testing.T) {
	g := startGo(t, actorio.Options{}, nil)
	s := mustNew(t, g.URL, Options{})
	r := record(s)
	mustConnect(t, s, r)
	waitTransport(t, s.Manager(), TransportWebSocket)
	g.stop()
	r.wait(t, EventReconnectError, 2) // at least two attempts fail while it is down
	g.start()
	r.wait(t, EventConnect, 2)
	ev := r.all()
	failed := count(ev, EventReconnectError)
	want := cat([]string{"connecting", "connect", "disconnect:transport close"}, attempts(1, failed+1, true))
	expectSeq(t, "restart", ev, want)
	checkClassicRecovery(t, ev, disconnect.TransportClose)
}

func TestGoServerGoneForGoodOrder(t *testing.T) {
	g := startGo(t, actorio.Options{}, nil)
	s := mustNew(t, g.URL, Options{ReconnectionAttempts: 3, Transports: []string{TransportWebSocket}})
	r := record(s)
	mustConnect(t, s, r)
	g.stop()
	r.wait(t, EventReconnectFailed, 1)
	r.quietFor(t, 150*time.Millisecond)
	want := cat([]string{"connecting", "connect", "disconnect:transport close"}, attempts(1, 3, false), []string{"reconnect_failed"})
	expectSeq(t, "gone for good", r.all(), want)
	expectSeq(t, "gone for good (classic)", classic(r.all()), []string{"connecting", "connect", "disconnect:transport close",
		"reconnecting:1", "connecting", "reconnecting:2", "connecting", "reconnecting:3", "connecting", "reconnect_failed"})
	if !s.Manager().idle() {
		t.Fatal("manager still running after reconnect_failed")
	}
}

func TestGoFirstConnectFailsWithoutReconnection(t *testing.T) {
	s := mustNew(t, freePort(t), Options{DisableReconnection: true})
	r := record(s)
	must(t, s.Connect())
	r.wait(t, EventConnectFailed, 1)
	r.quietFor(t, 100*time.Millisecond)
	expectSeq(t, "connect failed", r.all(), []string{"connecting", "connect_error", "connect_failed"})
	if r.errOf(EventConnectFailed) == nil {
		t.Fatal("connect_failed without an error")
	}
}

func TestGoFirstConnectFailsWhenAttemptsRunOut(t *testing.T) {
	s := mustNew(t, freePort(t), Options{ReconnectionAttempts: 2})
	r := record(s)
	must(t, s.Connect())
	r.wait(t, EventConnectFailed, 1)
	r.quietFor(t, 100*time.Millisecond)
	want := cat([]string{"connecting", "connect_error"}, attempts(1, 2, false), []string{"reconnect_failed", "connect_failed"})
	expectSeq(t, "attempts ran out", r.all(), want)
}

func TestGoFirstConnectSucceedsAfterRetries(t *testing.T) {
	url := freePort(t)
	s := mustNew(t, url, Options{})
	r := record(s)
	must(t, s.Connect())
	r.wait(t, EventReconnectError, 1)
	g := &goServer{t: t, addr: url[len("http://"):], opts: actorio.Options{Logger: quiet()}}
	g.start()
	t.Cleanup(g.stop)
	r.wait(t, EventConnect, 1)
	ev := r.all()
	failed := count(ev, EventReconnectError)
	want := cat([]string{"connecting", "connect_error"}, attempts(1, failed+1, true))
	expectSeq(t, "late server", ev, want)
}

func TestGoServerDisconnectIsNotReconnected(t *testing.T) {
	g := startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("kick me", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) { s.Disconnect(false) })
		})
	})
	s := mustNew(t, g.URL, Options{})
	r := record(s)
	mustConnect(t, s, r)
	must(t, s.Emit("kick me"))
	r.wait(t, "disconnect:"+disconnect.IOServerDisconnect, 1)
	r.quietFor(t, 150*time.Millisecond)
	expectSeq(t, "server disconnect", r.all(), []string{"connecting", "connect", "disconnect:io server disconnect"})
	if s.Connected() || s.ID() != "" {
		t.Fatal("still connected")
	}
	waitIdle(t, s.Manager())
	// Connect again on demand.
	must(t, s.Connect())
	r.wait(t, EventConnect, 2)
}

func TestGoClientDisconnect(t *testing.T) {
	reasons := make(chan string, 1)
	g := startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.OnDisconnect(func(_ *actorio.Socket, reason string) { reasons <- reason })
		})
	})
	s := mustNew(t, g.URL, Options{})
	r := record(s)
	mustConnect(t, s, r)
	s.Disconnect()
	r.wait(t, "disconnect:"+disconnect.IOClientDisconnect, 1)
	select {
	case reason := <-reasons:
		if reason != disconnect.ClientNamespaceDisconnect {
			t.Fatalf("server saw %q", reason)
		}
	case <-time.After(waitTimeout):
		t.Fatal("server saw no disconnect")
	}
	waitIdle(t, s.Manager())
	r.quietFor(t, 100*time.Millisecond)
	must(t, s.Connect())
	r.wait(t, EventConnect, 2)
	expectSeq(t, "client disconnect", r.all(), []string{"connecting", "connect", "disconnect:io client disconnect", "connecting", "connect"})
}

func TestGoMiddlewareRefusal(t *testing.T) {
	g := startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.Use(func(s *actorio.Socket) error {
			return &actorio.ConnectError{Message: "not allowed", Data: map[string]any{"code": 7}}
		})
	})
	s := mustNew(t, g.URL, Options{})
	r := record(s)
	var onError Args
	got := make(chan struct{})
	s.On(EventError, func(a Args, ack AckFunc) { onError = a; close(got) })
	must(t, s.Connect())
	r.wait(t, EventError, 1)
	<-got
	r.quietFor(t, 150*time.Millisecond)
	expectSeq(t, "refusal", r.all(), []string{"connecting", "connect_error", "error"})
	var ce *ConnectError
	if !errors.As(r.errOf(EventError), &ce) || ce.Message != "not allowed" || string(ce.Data) != `{"code":7}` {
		t.Fatalf("error %#v", r.errOf(EventError))
	}
	if string(onError.Raw(0)) != `{"message":"not allowed","data":{"code":7}}` {
		t.Fatalf("On(error) args %s", onError.Raw(0))
	}
	waitIdle(t, s.Manager())
}

func TestGoHeartbeatIsAnswered(t *testing.T) {
	g := startGo(t, actorio.Options{PingInterval: 100 * time.Millisecond, PingTimeout: 400 * time.Millisecond}, nil)
	for _, tr := range []string{TransportPolling, TransportWebSocket} {
		s := mustNew(t, g.URL, Options{Transports: []string{tr}})
		r := record(s)
		mustConnect(t, s, r)
		r.quietFor(t, 500*time.Millisecond)
	}
}

func TestGoLossWithoutReconnection(t *testing.T) {
	g := startGo(t, actorio.Options{}, nil)
	p := newCutProxy(t, g.URL)
	s := mustNew(t, p.URL, Options{DisableReconnection: true, Transports: []string{TransportWebSocket}})
	r := record(s)
	mustConnect(t, s, r)
	p.cut()
	r.wait(t, "disconnect:"+disconnect.TransportClose, 1)
	r.quietFor(t, 150*time.Millisecond)
	expectSeq(t, "no reconnection", r.all(), []string{"connecting", "connect", "disconnect:transport close"})
	waitIdle(t, s.Manager())
	must(t, s.Connect())
	r.wait(t, EventConnect, 2)
}

// waitIdle waits until m has no connection lifecycle running.
func waitIdle(t testing.TB, m *Manager) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !m.idle() {
		if time.Now().After(deadline) {
			t.Fatal("manager not idle")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
