package tests

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/actorio/actorio"
)

// pollingSocket opens a raw polling session, joins namespace "/" with a
// POST and never polls: nothing can be written to it, so its queue only
// grows. It returns the session id.
func pollingSocket(t *testing.T, ts *testServer) string {
	t.Helper()
	base := ts.URL + "/socket.io/?EIO=4&transport=polling"
	resp, err := http.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	sid, ok := strings.CutPrefix(string(body), `0{"sid":"`)
	if !ok {
		t.Fatalf("handshake %q", body)
	}
	sid = sid[:strings.IndexByte(sid, '"')]
	resp, err = http.Post(base+"&sid="+sid, "text/plain", strings.NewReader("40"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST 40: %s", resp.Status)
	}
	return sid
}

// TestCounters drives each of Server.Counters' figures over real sockets
// and checks that each moved by exactly what the test did: events in
// (official client emits), events out and ack latency (Socket.EmitWithAck,
// a broadcast), a volatile broadcast skipped for a connection that cannot
// take it, a slow consumer, a handler panic, and bytes both ways.
func TestCounters(t *testing.T) {
	const maxQueue = 8
	conns := make(chan *actorio.Socket, 4)
	ts := startServer(t, actorio.Options{MaxQueuePackets: maxQueue}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("echo", echoHandler)
			s.On("boom", func(*actorio.Socket, actorio.Args, actorio.AckFunc) { panic("boom") })
			conns <- s
		})
	})
	srv := ts.Srv
	c := startClients(t, ts)
	c.connect("a", "/", wsOnly)
	sock := recv(t, conns, step, "the connection")
	base := srv.Counters()
	at := func(what string, ok func(now, base actorio.NamespaceCounters) bool) actorio.Counters {
		t.Helper()
		var now actorio.Counters
		waitUntil(t, step, what, func() bool {
			now = srv.Counters()
			return ok(now.Namespaces["/"], base.Namespaces["/"])
		})
		return now
	}

	for i := range 3 {
		c.emitAck("a", "echo", i)
	}
	now := at("3 events in", func(n, b actorio.NamespaceCounters) bool { return n.EventsIn == b.EventsIn+3 })
	if now.BytesIn <= base.BytesIn || now.BytesOut <= base.BytesOut {
		t.Errorf("bytes in %d -> %d, out %d -> %d: want both to grow", base.BytesIn, now.BytesIn, base.BytesOut, now.BytesOut)
	}

	ctx := ctxStep(t, step)
	for i := range 5 {
		if _, err := sock.EmitWithAck(ctx, "q", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Emit("hello"); err != nil {
		t.Fatal(err)
	}
	c.expectEvent("a", "hello")
	now = at("6 events out", func(n, b actorio.NamespaceCounters) bool { return n.EventsOut == b.EventsOut+6 })
	h := now.Namespaces["/"].AckLatency
	if h.Count != base.Namespaces["/"].AckLatency.Count+5 || h.Sum <= 0 || len(h.Counts) != len(h.Bounds)+1 {
		t.Errorf("ack latency %+v: want 5 more acks, a positive sum and one count more than bounds", h)
	}

	// A raw polling socket that never polls cannot take a volatile packet.
	pollingSocket(t, ts)
	recv(t, conns, step, "the polling connection")
	base = srv.Counters()
	if err := srv.Of("/").Volatile().Emit("v"); err != nil {
		t.Fatal(err)
	}
	c.expectEvent("a", "v")
	at("a volatile packet dropped", func(n, b actorio.NamespaceCounters) bool {
		return n.DroppedVolatile == b.DroppedVolatile+1 && n.EventsOut == b.EventsOut+1
	})

	// Its queue (the CONNECT reply so far) overflows MaxQueuePackets.
	for i := range maxQueue + 2 {
		if err := srv.Emit("x", i); err != nil {
			t.Fatal(err)
		}
		c.expectEvent("a", "x") // the WebSocket client keeps up
	}
	waitUntil(t, step, "a slow consumer", func() bool { return srv.Counters().SlowConsumers == base.SlowConsumers+1 })

	c.emit("a", "boom")
	waitUntil(t, step, "a handler panic", func() bool { return srv.Counters().HandlerPanics == base.HandlerPanics+1 })
	if got := srv.Counters(); got.DroppedEvents != base.DroppedEvents {
		t.Errorf("dropped events %d, want %d (no rate limit)", got.DroppedEvents, base.DroppedEvents)
	}
}
