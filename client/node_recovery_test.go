package client

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/socketio"
)

// Connection state recovery against the Node.js socket.io v4 server.

// startRecoveryNode starts the Node server with connection state recovery
// on. Its short heartbeat bounds how long it takes to notice a polling
// session whose connections were cut between two requests.
func startRecoveryNode(t *testing.T) *nodeServer {
	t.Helper()
	return startNode(t, 0, map[string]string{"RECOVERY": "1", "PING_INTERVAL": "400", "PING_TIMEOUT": "1000"})
}

// startRecoveryNodeParser is startRecoveryNode with the given parser.
func startRecoveryNodeParser(t *testing.T, parser Parser) *nodeServer {
	t.Helper()
	if parser == ParserMsgpack {
		return startNode(t, 0, map[string]string{"RECOVERY": "1", "PING_INTERVAL": "400", "PING_TIMEOUT": "1000", "PARSER": "msgpack"})
	}
	return startRecoveryNode(t)
}

// recoverableReasons are the server-side disconnect reasons after which the
// Node server keeps the session for recovery.
var recoverableReasons = []string{"transport close", "transport error", "ping timeout", "forced close"}

// cutAndRestore cuts the client's connections through p and refuses new
// ones until the Node server has noticed the loss of the socket (so that
// it has kept the session) and has emitted to it while it was away; it
// returns the server's disconnect line.
func cutAndRestore(t *testing.T, n *nodeServer, p *cutProxy, waitMissed bool) nodeLine {
	t.Helper()
	p.down()
	d := n.expect("disconnect")
	if !slices.Contains(recoverableReasons, d.str(1)) {
		t.Fatalf("server disconnect reason %q is not recoverable", d.str(1))
	}
	if waitMissed {
		n.expect("missed")
	}
	p.up()
	return d
}

// seqLog is the ordered log of what a socket's handlers saw; lifecycle
// events and events share the socket's delivery goroutine, so the order is
// the delivery order.
type seqLog struct {
	mu     sync.Mutex
	items  []string
	change chan struct{}
}

func newSeqLog() *seqLog { return &seqLog{change: make(chan struct{})} }

func (l *seqLog) add(item string) {
	l.mu.Lock()
	l.items = append(l.items, item)
	close(l.change)
	l.change = make(chan struct{})
	l.mu.Unlock()
}

func (l *seqLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.items)
}

// waitFor waits until ok accepts the log.
func (l *seqLog) waitFor(t testing.TB, what string, ok func([]string) bool) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		l.mu.Lock()
		items, ch := slices.Clone(l.items), l.change
		l.mu.Unlock()
		if ok(items) {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %s within %v; log has %d items, last %q", what, waitTimeout, len(items), items[max(0, len(items)-5):])
		}
	}
}

// logStream logs connect, disconnect, every "n" event as "n:<number>"
// (after checking that its last argument is an offset) and "end".
func logStream(s *Socket) *seqLog {
	l := newSeqLog()
	s.OnEvent(func(e Event) {
		if e.Name == EventConnect || e.Name == EventDisconnect {
			l.add(e.Name)
		}
	})
	s.On("n", func(a Args, _ AckFunc) {
		var num int
		if a.Len() != 2 || a.Decode(0, &num) != nil || a.String(1) == "" {
			l.add("bad n " + string(a.Raw(0)) + " " + string(a.Raw(1)))
			return
		}
		l.add("n:" + strconv.Itoa(num))
	})
	s.On("end", func(a Args, _ AckFunc) {
		if a.Len() != 1 || a.String(0) == "" {
			l.add("bad end")
			return
		}
		l.add("end")
	})
	return l
}

// expectRecoveredStream checks a logStream log of a stream of numbers
// 1..total cut once and recovered: every number once, in order, those
// missed during the cut right after the reconnection's connect.
func expectRecoveredStream(t *testing.T, l *seqLog, total int) {
	t.Helper()
	got := l.all()
	k := slices.Index(got, "disconnect") - 1
	if k < 20 {
		t.Fatalf("disconnect at %d in %q", k, got[:min(len(got), 40)])
	}
	want := []string{"connect"}
	for i := 1; i <= total; i++ {
		if i == k+1 {
			want = append(want, "disconnect", "connect")
		}
		want = append(want, "n:"+strconv.Itoa(i))
	}
	want = append(want, "end")
	expectSeq(t, "stream", got, want)
}

// recvOne returns the next value of ch, failing after waitTimeout.
func recvOne[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatal("nothing received")
		var zero T
		return zero
	}
}

// countPrefix returns how many items of l start with prefix.
func countPrefix(l []string, prefix string) int {
	c := 0
	for _, it := range l {
		if strings.HasPrefix(it, prefix) {
			c++
		}
	}
	return c
}

func TestNodeRecoveryAfterTransportCutMidStream(t *testing.T) {
	const total = 500
	for _, c := range []struct {
		name       string
		transports []string
		parser     Parser
	}{
		{"websocket", []string{TransportWebSocket}, ParserJSON},
		{"polling", []string{TransportPolling}, ParserJSON},
		{"upgraded", nil, ParserJSON},
		{"msgpack websocket", []string{TransportWebSocket}, ParserMsgpack},
		{"msgpack polling", []string{TransportPolling}, ParserMsgpack},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := startRecoveryNodeParser(t, c.parser)
			p := newCutProxy(t, n.URL)
			s := mustNew(t, p.URL, Options{Transports: c.transports, Parser: c.parser})
			l := logStream(s)
			r := record(s)
			mustConnect(t, s, r)
			c1 := n.expect("connection")
			id := c1.str(1)
			if id != s.ID() || c1.raw(7) != "false" || s.Recovered() {
				t.Fatalf("first connection: server saw %s recovered %s, client has %s recovered %v", id, c1.raw(7), s.ID(), s.Recovered())
			}
			if c.transports == nil {
				n.expect("upgrade")
				waitTransport(t, s.Manager(), TransportWebSocket)
			}
			n.send(map[string]any{"cmd": "stream", "ev": "n", "n": total, "every": 5})
			l.waitFor(t, "20 numbers", func(items []string) bool { return countPrefix(items, "n:") >= 20 })

			cutAndRestore(t, n, p, true)
			r.wait(t, EventConnect, 2)
			c2 := n.expect("connection")
			if c2.str(1) != id || c2.raw(7) != "true" {
				t.Fatalf("reconnection: server saw %s recovered %s, want %s recovered", c2.str(1), c2.raw(7), id)
			}
			if s.ID() != id || !s.Recovered() {
				t.Fatalf("reconnection: client has %s recovered %v, want %s recovered", s.ID(), s.Recovered(), id)
			}
			l.waitFor(t, "end", func(items []string) bool { return slices.Contains(items, "end") })

			expectRecoveredStream(t, l, total)
		})
	}
}

func TestNodeRecoveryKeepsRoomsAndSendsSession(t *testing.T) {
	n := startRecoveryNode(t)
	p := newCutProxy(t, n.URL)
	s := mustNew(t, p.URL, Options{Transports: []string{TransportWebSocket}, Auth: map[string]any{"token": "abc"}})
	type roomEvent struct{ text, offset string }
	got := make(chan roomEvent, 8)
	s.On("room", func(a Args, _ AckFunc) { got <- roomEvent{a.String(0), a.String(a.Len() - 1)} })
	r := record(s)
	mustConnect(t, s, r)
	c1 := n.expect("connection")
	id := c1.str(1)
	if c1.raw(3) != `{"token":"abc"}` {
		t.Fatalf("first CONNECT auth %s, want the user's auth only", c1.raw(3))
	}
	n.send(map[string]any{"cmd": "join", "room": "r"})
	n.expect("done")
	n.send(map[string]any{"cmd": "to", "room": "r", "ev": "room", "args": []any{"before"}})
	before := recvOne(t, got)
	if before.text != "before" || before.offset == "" || before.offset == "before" {
		t.Fatalf("room event %+v, want text and offset", before)
	}

	cutAndRestore(t, n, p, false)
	n.send(map[string]any{"cmd": "to", "room": "r", "ev": "room", "args": []any{"away"}})
	n.expect("done")
	r.wait(t, EventConnect, 2)

	c2 := n.expect("connection")
	if c2.str(1) != id || c2.raw(7) != "true" || !strings.Contains(c2.raw(8), `"r"`) {
		t.Fatalf("reconnection: server saw id %s recovered %s rooms %s, want %s recovered in r", c2.str(1), c2.raw(7), c2.raw(8), id)
	}
	// The CONNECT carried pid and offset first, then the user's auth.
	v, err := socketio.ParseValue([]byte(c2.raw(3)), nil)
	must(t, err)
	auth, _ := v.(Object)
	if len(auth) != 3 || auth[0].Key != "pid" || auth[0].Value == "" || auth[1].Key != "offset" || auth[1].Value != before.offset || auth[2].Key != "token" {
		t.Fatalf("reconnection CONNECT auth %s, want pid, offset %q, token", c2.raw(3), before.offset)
	}
	if e := recvOne(t, got); e.text != "away" {
		t.Fatalf("missed room event %+v, want away", e)
	}
	n.send(map[string]any{"cmd": "to", "room": "r", "ev": "room", "args": []any{"after"}})
	if e := recvOne(t, got); e.text != "after" {
		t.Fatalf("room event %+v after recovery, want after", e)
	}
	if s.ID() != id || !s.Recovered() {
		t.Fatalf("client has %s recovered %v, want %s recovered", s.ID(), s.Recovered(), id)
	}
}

func TestNodeExplicitDisconnectDoesNotRecover(t *testing.T) {
	for _, c := range []struct {
		name   string
		reason string
		leave  func(n *nodeServer, s *Socket)
	}{
		{"client disconnect", disconnect.IOClientDisconnect, func(_ *nodeServer, s *Socket) { s.Disconnect() }},
		{"server disconnect", disconnect.IOServerDisconnect, func(n *nodeServer, _ *Socket) { n.send(map[string]any{"cmd": "disconnect"}) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := startRecoveryNode(t)
			s := mustNew(t, n.URL, Options{Transports: []string{TransportWebSocket}})
			got := make(chan string, 4)
			s.On("x", func(a Args, _ AckFunc) { got <- a.String(0) })
			r := record(s)
			mustConnect(t, s, r)
			id := n.expect("connection").str(1)
			n.send(map[string]any{"cmd": "emit", "ev": "x", "args": []any{"hi"}})
			if v := recv(t, got); v != "hi" {
				t.Fatalf("event %q", v)
			}
			c.leave(n, s)
			r.wait(t, "disconnect:"+c.reason, 1)
			must(t, s.Connect())
			r.wait(t, EventConnect, 2)
			c2 := n.expect("connection")
			if c2.str(1) == id || c2.raw(7) != "false" || c2.raw(3) != "{}" {
				t.Fatalf("second connection: server saw id %s (first %s) recovered %s auth %s, want a fresh session without pid", c2.str(1), id, c2.raw(7), c2.raw(3))
			}
			if s.ID() != c2.str(1) || s.Recovered() {
				t.Fatalf("client has %s recovered %v, want %s not recovered", s.ID(), s.Recovered(), c2.str(1))
			}
		})
	}
}
