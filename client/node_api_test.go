package client

import (
	"bytes"
	"net/http"
	"testing"
)

// The API against the Node.js socket.io v4 server.

func TestNodeEmitAckBinaryAllTransports(t *testing.T) {
	n := startNode(t, 0, nil)
	for _, tr := range [][]string{nil, {TransportWebSocket}, {TransportPolling}} {
		s := mustNew(t, n.URL, Options{Transports: tr})
		r := record(s)
		mustConnect(t, s, r)
		deep := map[string]any{"list": []any{1, []byte{1, 2}}, "obj": Object{{Key: "b", Value: []byte{3}}}}
		a, err := s.EmitWithAck(ctxT(t), "echo", "text", []byte{0xff, 0}, deep)
		must(t, err)
		var got struct {
			List []any
			Obj  struct{ B []byte }
		}
		must(t, a.Decode(2, &got))
		if a.String(0) != "text" || !bytes.Equal(a.Bytes(1), []byte{0xff, 0}) || !bytes.Equal(got.Obj.B, []byte{3}) {
			t.Fatalf("%v: ack %s %v %+v", tr, a.Raw(0), a.Bytes(1), got)
		}
		ev := n.expect("event")
		if ev.str(1) != "echo" || ev.raw(3) != `{"$bin":"/wA="}` || ev.raw(4) != `{"list":[1,{"$bin":"AQI="}],"obj":{"b":{"$bin":"Aw=="}}}` {
			t.Fatalf("%v: server got %v", tr, ev.Args)
		}
		must(t, s.Close())
	}
}

func TestNodeServerEventsMessageAndAcks(t *testing.T) {
	n := startNode(t, 0, nil)
	s := mustNew(t, n.URL, Options{})
	got := make(chan string, 4)
	s.On("news", func(a Args, ack AckFunc) {
		var v struct{ Blob []byte }
		_ = a.Decode(1, &v)
		got <- a.String(0) + " " + string(v.Blob) + " " + string(a.Bytes(2))
		if ack != nil {
			_ = ack("thanks", []byte("bin"))
		}
	})
	s.On(EventMessage, func(a Args, ack AckFunc) {
		got <- "message " + a.String(0)
		if ack != nil {
			_ = ack("got it")
		}
	})
	r := record(s)
	mustConnect(t, s, r)
	n.expect("connection")
	n.send(map[string]any{"cmd": "emit", "ev": "news", "ack": true, "args": []any{"hello", map[string]any{"blob": bin([]byte("deep"))}, bin([]byte("top"))}})
	if v := recv(t, got); v != "hello deep top" {
		t.Fatalf("news %q", v)
	}
	if a := n.expect("ack"); a.str(0) != "thanks" || a.raw(1) != `{"$bin":"Ymlu"}` {
		t.Fatalf("ack %v", a.Args)
	}
	n.send(map[string]any{"cmd": "send", "ack": true, "args": []any{"hi"}})
	if v := recv(t, got); v != "message hi" {
		t.Fatalf("message %q", v)
	}
	if a := n.expect("ack"); a.str(0) != "got it" {
		t.Fatalf("ack %v", a.Args)
	}
	must(t, s.Send("from go"))
	if ev := n.expect("event"); ev.str(1) != "message" || ev.str(2) != "from go" {
		t.Fatalf("server got %v", ev.Args)
	}
}

func TestNodeNamespacesShareOneConnection(t *testing.T) {
	n := startNode(t, 0, nil)
	m, err := NewManager(n.URL, fast(Options{}))
	must(t, err)
	t.Cleanup(func() { _ = m.Close() })
	a, b := m.Socket("/"), m.Socket("/admin")
	ra, rb := record(a), record(b)
	must(t, a.Connect())
	must(t, b.Connect())
	ra.wait(t, EventConnect, 1)
	rb.wait(t, EventConnect, 1)
	c1, c2 := n.expect("connection"), n.expect("connection")
	if c1.str(2) != c2.str(2) || c1.str(0) == c2.str(0) {
		t.Fatalf("namespaces %s and %s on Engine.IO sessions %s and %s", c1.str(0), c2.str(0), c1.str(2), c2.str(2))
	}
	// A drop disconnects and reconnects both.
	n.send(map[string]any{"cmd": "drop"})
	ra.wait(t, EventConnect, 2)
	rb.wait(t, EventConnect, 2)
	for _, r := range []*recorder{ra, rb} {
		ev := r.all()
		expectSeq(t, "both", ev, cat([]string{"connecting", "connect", "disconnect:transport close"}, attempts(1, count(ev, EventReconnectError)+1, true)))
	}
}

func TestNodeAuthQueryAndHeaders(t *testing.T) {
	n := startNode(t, 0, nil)
	for _, tr := range []string{TransportPolling, TransportWebSocket} {
		s := mustNew(t, n.URL+"/admin?foo=bar", Options{
			Transports: []string{tr},
			Header:     http.Header{"X-Test": {"yes"}},
			Auth:       map[string]any{"token": "abc"},
		})
		r := record(s)
		mustConnect(t, s, r)
		c := n.expect("connection")
		if c.str(0) != "/admin" || c.raw(3) != `{"token":"abc"}` || c.str(4) != "bar" || c.str(5) != "yes" {
			t.Fatalf("%s: server saw %v", tr, c.Args)
		}
		must(t, s.Close())
	}
}
