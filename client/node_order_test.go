package client

import (
	"errors"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
)

// Event order against the Node.js socket.io v4 server.

func TestNodeFirstConnectOrderAndUpgrade(t *testing.T) {
	n := startNode(t, 0, nil)
	s := mustNew(t, n.URL, Options{})
	r := record(s)
	mustConnect(t, s, r)
	c := n.expect("connection")
	if c.str(1) != s.ID() || c.str(6) != "polling" {
		t.Fatalf("server saw socket %s over %s, client has %s", c.str(1), c.str(6), s.ID())
	}
	if u := n.expect("upgrade"); u.str(1) != "websocket" {
		t.Fatalf("upgrade to %s", u.str(1))
	}
	waitTransport(t, s.Manager(), TransportWebSocket)
	r.quietFor(t, 50*time.Millisecond)
	expectSeq(t, "first connect", r.all(), []string{"connecting", "connect"})
}

func TestNodeTransportDroppedOrder(t *testing.T) {
	for _, c := range []struct {
		name       string
		transports []string
	}{
		{"upgraded", nil},
		{"websocket", []string{TransportWebSocket}},
		{"polling", []string{TransportPolling}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := startNode(t, 0, nil)
			s := mustNew(t, n.URL, Options{Transports: c.transports})
			r := record(s)
			mustConnect(t, s, r)
			if c.transports == nil {
				n.expect("upgrade")
				waitTransport(t, s.Manager(), TransportWebSocket)
			}
			n.send(map[string]any{"cmd": "drop"}) // socket.conn.close() on the server
			r.wait(t, EventConnect, 2)
			ev := r.all()
			want := cat([]string{"connecting", "connect", "disconnect:transport close"}, attempts(1, count(ev, EventReconnectError)+1, true))
			expectSeq(t, "dropped", ev, want)
			checkClassicRecovery(t, ev, disconnect.TransportClose)
			if d := n.expect("disconnect"); d.str(1) != "forced close" {
				t.Fatalf("server reason %q", d.str(1))
			}
		})
	}
}

func TestNodeServerRestartedOnSamePortOrder(t *testing.T) {
	n := startNode(t, 0, nil)
	s := mustNew(t, n.URL, Options{Transports: []string{TransportWebSocket}})
	r := record(s)
	mustConnect(t, s, r)
	n.kill()
	r.wait(t, EventReconnectError, 2)
	n2 := n.restart()
	r.wait(t, EventConnect, 2)
	ev := r.all()
	want := cat([]string{"connecting", "connect", "disconnect:transport close"}, attempts(1, count(ev, EventReconnectError)+1, true))
	expectSeq(t, "restart", ev, want)
	checkClassicRecovery(t, ev, disconnect.TransportClose)
	if c := n2.expect("connection"); c.str(1) != s.ID() {
		t.Fatalf("new server saw %s, client has %s", c.str(1), s.ID())
	}
}

func TestNodeServerGoneForGoodOrder(t *testing.T) {
	n := startNode(t, 0, nil)
	s := mustNew(t, n.URL, Options{ReconnectionAttempts: 3})
	r := record(s)
	mustConnect(t, s, r)
	n.expect("upgrade")
	waitTransport(t, s.Manager(), TransportWebSocket)
	n.kill()
	r.wait(t, EventReconnectFailed, 1)
	r.quietFor(t, 150*time.Millisecond)
	want := cat([]string{"connecting", "connect", "disconnect:transport close"}, attempts(1, 3, false), []string{"reconnect_failed"})
	expectSeq(t, "gone for good", r.all(), want)
}

func TestNodeServerDisconnect(t *testing.T) {
	n := startNode(t, 0, nil)
	s := mustNew(t, n.URL, Options{})
	r := record(s)
	mustConnect(t, s, r)
	n.send(map[string]any{"cmd": "disconnect", "nsp": "/"})
	r.wait(t, "disconnect:"+disconnect.IOServerDisconnect, 1)
	r.quietFor(t, 150*time.Millisecond)
	expectSeq(t, "server disconnect", r.all(), []string{"connecting", "connect", "disconnect:io server disconnect"})
	waitIdle(t, s.Manager())
}

func TestNodeClientDisconnect(t *testing.T) {
	n := startNode(t, 0, nil)
	s := mustNew(t, n.URL, Options{})
	r := record(s)
	mustConnect(t, s, r)
	s.Disconnect()
	if d := n.expect("disconnect"); d.str(1) != "client namespace disconnect" {
		t.Fatalf("server reason %q", d.str(1))
	}
	expectSeq(t, "client disconnect", r.all(), []string{"connecting", "connect", "disconnect:io client disconnect"})
}

func TestNodeMiddlewareRefusal(t *testing.T) {
	n := startNode(t, 0, nil)
	s := mustNew(t, n.URL+"/private", Options{})
	r := record(s)
	must(t, s.Connect())
	r.wait(t, EventError, 1)
	r.quietFor(t, 150*time.Millisecond)
	expectSeq(t, "refusal", r.all(), []string{"connecting", "connect_error", "error"})
	var ce *ConnectError
	if !errors.As(r.errOf(EventConnectError), &ce) || ce.Message != "not authorized" || string(ce.Data) != `{"code":42,"why":"test"}` {
		t.Fatalf("connect_error %#v", r.errOf(EventConnectError))
	}
	if a := (Event{Name: EventError, Err: ce}).Args(); string(a.Raw(0)) != `{"message":"not authorized","data":{"code":42,"why":"test"}}` {
		t.Fatalf("error args %s", a.Raw(0))
	}
}

func TestNodeHeartbeatIsAnswered(t *testing.T) {
	n := startNode(t, 0, map[string]string{"PING_INTERVAL": "100", "PING_TIMEOUT": "400"})
	for _, tr := range []string{TransportPolling, TransportWebSocket} {
		s := mustNew(t, n.URL, Options{Transports: []string{tr}})
		r := record(s)
		mustConnect(t, s, r)
		r.quietFor(t, 500*time.Millisecond)
	}
}
