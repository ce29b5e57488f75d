package client

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/node"
)

// The catch-all API of the Go client, side by side with socket.io-client:
// catchAllClientJS records what its hooks see against Node's server, and
// the Go client must record the same.

// catchAllClientJS runs with socket.io-client against URL, prints "ready"
// once connected and its emits acknowledged, waits for one line on stdin
// (the test has the server emit "ask" with an ack meanwhile), then prints
// its record.
const catchAllClientJS = `
import { io } from 'socket.io-client';
const rec = [];
const s = io(process.env.URL, { autoConnect: false, transports: ['websocket'], reconnection: false });
s.onAnyOutgoing((ev, ...args) => rec.push(JSON.stringify(['out', ev, ...args])));
s.prependAnyOutgoing((ev) => rec.push(JSON.stringify(['out0', ev])));
const never = () => rec.push('never');
s.onAnyOutgoing(never);
s.offAnyOutgoing(never);
const f1 = (ev) => rec.push(JSON.stringify(['in-f1', ev]));
const f2 = (ev) => rec.push(JSON.stringify(['in-f2', ev]));
s.onAny(f1);
s.prependAny(f2);
s.onAny(f1);
s.offAny(f1); // the first f1
rec.push(JSON.stringify(['listenersAny', s.listenersAny().length]));
rec.push(JSON.stringify(['listenersAnyOutgoing', s.listenersAnyOutgoing().length]));
s.on('connect', () => rec.push(JSON.stringify(['connect'])));
s.on('ask', (n, cb) => cb('fine')); // an ack: not an outgoing event
s.emit('early', 1);            // buffered: sent, and seen, on connect
s.volatile.emit('dropped', 2); // not connected: dropped, not seen
s.connect();
await new Promise((r) => s.once('connect', r));
s.emit('b', { x: [1, null] });
await s.emitWithAck('c', 'y'); // seen without the ack
out('ready');
await next();
await sleep(100);
out('record', rec);
s.disconnect();
exit(0);
`

// canonJSON re-encodes JSON text, so that two encoders' texts compare.
func canonJSON(t *testing.T, text string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestNodeCatchAllAndOutgoingMatchJSClient(t *testing.T) {
	n := startNode(t, 0, nil)
	p := node.Run(t, nil, catchAllClientJS, map[string]string{"URL": n.URL})
	p.Expect(t, "ready", waitTimeout)
	n.send(map[string]any{"cmd": "emit", "ev": "ask", "ack": true, "args": []any{5}})
	n.expect("ack")
	must(t, p.Send("go on"))
	var jsRec []string
	must(t, p.Expect(t, "record", waitTimeout).Decode(0, &jsRec))
	for i, r := range jsRec {
		jsRec[i] = canonJSON(t, r)
	}
	t.Logf("socket.io-client: %q", jsRec)

	for _, srv := range []string{"node", "go"} {
		t.Run(srv, func(t *testing.T) {
			url, emitAsk := n.URL, func() {
				n.send(map[string]any{"cmd": "emit", "ev": "ask", "ack": true, "args": []any{5}})
				n.expect("ack")
			}
			if srv == "go" {
				url, emitAsk = goAskServer(t)
			}
			var mu sync.Mutex
			var rec []string
			add := func(vals ...any) {
				b, _ := json.Marshal(vals)
				mu.Lock()
				rec = append(rec, canonJSON(t, string(b)))
				mu.Unlock()
			}
			s := mustNew(t, url, Options{Transports: []string{TransportWebSocket}, DisableReconnection: true})
			s.OnAnyOutgoing(func(ev string, args Args) {
				vals := []any{"out", ev}
				for i := range args.Len() {
					vals = append(vals, json.RawMessage(args.Raw(i)))
				}
				add(vals...)
			})
			s.PrependAnyOutgoing(func(ev string, _ Args) { add("out0", ev) })
			s.OnAnyOutgoing(func(string, Args) { add("never") })()
			f1 := func(ev string, _ Args, _ AckFunc) { add("in-f1", ev) }
			offFirst := s.OnAny(f1)
			s.PrependAny(func(ev string, _ Args, _ AckFunc) { add("in-f2", ev) })
			s.OnAny(f1)
			offFirst()
			add("listenersAny", len(s.ListenersAny()))
			add("listenersAnyOutgoing", len(s.ListenersAnyOutgoing()))
			r := record(s)
			s.On(EventConnect, func(Args, AckFunc) { add("connect") })
			s.On("ask", func(_ Args, ack AckFunc) { _ = ack("fine") })
			must(t, s.Emit("early", 1))
			must(t, s.Volatile().Emit("dropped", 2))
			mustConnect(t, s, r)
			must(t, s.Emit("b", map[string]any{"x": []any{1, nil}}))
			_, err := s.EmitWithAck(ctxT(t), "c", "y")
			must(t, err)
			emitAsk()
			time.Sleep(100 * time.Millisecond)
			mu.Lock()
			got := slices.Clone(rec)
			mu.Unlock()
			expectSeq(t, "catch-all", got, jsRec)
		})
	}
}

// goAskServer starts an actorio server that acks every event with its
// arguments, as the Node script does, and returns its URL and what makes
// it emit "ask" with an ack to every socket and wait for the answers.
func goAskServer(t *testing.T) (string, func()) {
	t.Helper()
	g := echoServer(t, nil)
	return g.URL, func() {
		ns := g.server().Of("/")
		if _, err := ns.EmitWithAck(ctxT(t), "ask", 5); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOutgoingSeesEveryTryOfTheRetryQueue(t *testing.T) {
	tries := make(chan struct{}, 8)
	g := startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("lost", func(*actorio.Socket, actorio.Args, actorio.AckFunc) { tries <- struct{}{} }) // never acks
		})
	})
	s := mustNew(t, g.URL, Options{Retries: 1, AckTimeout: 100 * time.Millisecond})
	var mu sync.Mutex
	var out []string
	s.OnAnyOutgoing(func(ev string, args Args) {
		mu.Lock()
		out = append(out, ev+" "+string(args.Raw(0)))
		mu.Unlock()
	})
	r := record(s)
	mustConnect(t, s, r)
	_, err := s.EmitWithAck(ctxT(t), "lost", "x")
	if err == nil {
		t.Fatal("EmitWithAck of an event never acknowledged succeeded")
	}
	for range 2 {
		select {
		case <-tries:
		case <-time.After(waitTimeout):
			t.Fatal("the server did not get both tries")
		}
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	expectSeq(t, "outgoing", out, []string{`lost "x"`, `lost "x"`})
}

func TestServerEventsNamedLikeManagerEventsAreDelivered(t *testing.T) {
	g := startGo(t, actorio.Options{}, nil)
	s := mustNew(t, g.URL, Options{})
	got := make(chan string, 8)
	for _, ev := range []string{EventOpen, EventClose, EventPing} {
		s.On(ev, func(a Args, _ AckFunc) { got <- "socket " + ev + " " + a.String(0) })
	}
	var mgr []string
	var mu sync.Mutex
	s.Manager().OnEvent(func(e Event) {
		mu.Lock()
		mgr = append(mgr, e.Name)
		mu.Unlock()
	})
	r := record(s)
	mustConnect(t, s, r)
	for _, ev := range []string{EventOpen, EventClose, EventPing} {
		must(t, g.server().Of("/").Emit(ev, "from the server"))
		if v := recv(t, got); v != "socket "+ev+" from the server" {
			t.Fatalf("got %q", v)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(mgr, []string{EventOpen}) {
		t.Fatalf("Manager events %q, want only its own open", mgr)
	}
}

func TestAutoConnect(t *testing.T) {
	g := startGo(t, actorio.Options{}, nil)
	s := mustNew(t, g.URL, Options{AutoConnect: true})
	deadline := time.Now().Add(waitTimeout)
	for !s.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("New with AutoConnect did not connect")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := record(s)
	s.Disconnect()
	r.wait(t, EventDisconnect+":"+"io client disconnect", 1)
	if again := s.Manager().Socket("/"); again != s {
		t.Fatal("Manager.Socket returned another socket")
	}
	r.wait(t, EventConnect, 1) // Manager.Socket connected it again
	// Without AutoConnect, nothing connects until Connect.
	m, err := NewManager(g.URL, fast(Options{}))
	must(t, err)
	t.Cleanup(func() { _ = m.Close() })
	idle := m.Socket("/")
	ri := record(idle)
	ri.quietFor(t, 100*time.Millisecond)
	if idle.Connected() {
		t.Fatal("a socket connected without AutoConnect")
	}
}
