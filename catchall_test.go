package actorio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/node"
	"github.com/actorio/actorio/internal/testkit"
)

// The catch-all API (OnAny, PrependAny, OffAny, ListenersAny and their
// Outgoing twins) and the room hooks (OnRoomEvent), side by side with
// Node's socket.io: the same app on both servers records what its hooks
// see, one official client script drives both the same way, and the two
// records must match once the socket ids are replaced by the clients'
// names.

// hooksAppJS is the app on Node's socket.io. It prints
// {"ev":"listening","args":[port]}, then one "log" line per record.
const hooksAppJS = `
import http from 'node:http';
import { Server } from 'socket.io';

const httpServer = http.createServer();
const io = new Server(httpServer);
const nsp = io.of('/');
const labels = new Map(); // socket id -> the client's name
const lab = (x) => labels.get(x) ?? x;
const log = (...a) => out('log', ...a);
const gone = new Map(); // name -> promise of its disconnect
for (const ev of ['create-room', 'delete-room', 'join-room', 'leave-room']) {
  nsp.adapter.on(ev, (room, id) => log(ev, lab(room), ...(id === undefined ? [] : [lab(id)])));
}
nsp.use((s, next) => {
  const name = s.handshake.auth.name;
  labels.set(s.id, name);
  gone.set(name, new Promise((r) => { s.data.gone = r; }));
  if (s.handshake.auth.mw) s.join(s.handshake.auth.mw);
  next();
});
nsp.on('connection', (s) => {
  const L = labels.get(s.id);
  log('connection', L);
  const f1 = (ev) => log('in-f1', L, ev);
  const f2 = (ev) => log('in-f2', L, ev);
  s.onAny(f1);
  s.prependAny(f2);
  s.onAny(f1);
  s.offAny(f1); // the first f1
  log('listenersAny', L, s.listenersAny().length);
  s.onAnyOutgoing((ev, ...args) => log('out', L, ev, ...args));
  s.prependAnyOutgoing((ev) => log('out0', L, ev));
  const never = () => log('never');
  s.onAnyOutgoing(never);
  s.offAnyOutgoing(never);
  log('listenersAnyOutgoing', L, s.listenersAnyOutgoing().length);
  s.on('disconnecting', (r) => log('disconnecting', L, r));
  s.on('disconnect', (r) => { log('disconnect', L, r); s.data.gone(); });
  s.on('join', (rooms, ack) => { s.join(rooms); ack('ok'); });
  s.on('leave', (room, ack) => { s.leave(room); ack('ok'); });
  s.on('emit', (ev, args, ack) => { s.emit(ev, ...args); ack('ok'); });
  s.on('emitack', (ev, args, ack) => { s.emit(ev, ...args, () => {}); ack('ok'); });
  s.on('to', (room, ev, args, ack) => { nsp.to(room).emit(ev, ...args); ack('ok'); });
  s.on('socketsJoin', (target, room, ack) => { nsp.in(target).socketsJoin(room); ack('ok'); });
  s.on('socketsLeave', (target, room, ack) => { nsp.in(target).socketsLeave(room); ack('ok'); });
  s.on('offAnyOutgoing', (ack) => { s.offAnyOutgoing(); ack('ok'); });
  s.on('waitgone', async (name, ack) => { await gone.get(name); ack('ok'); });
});
httpServer.listen(0, '127.0.0.1', () => out('listening', httpServer.address().port));
for await (const _ of input()) { /* stdin open: keep running */ }
exit(0);
`

// hooksClientJS drives one server (URL) with socket.io-client, the same
// steps for both servers.
const hooksClientJS = `
import { io } from 'socket.io-client';
const url = process.env.URL;
const conn = (name, mw) => new Promise((resolve, reject) => {
  const s = io(url, { auth: { name, mw }, transports: ['websocket'], forceNew: true, reconnection: false });
  s.on('ask', (n, cb) => cb('fine'));
  s.once('connect', () => resolve(s));
  s.once('connect_error', reject);
});
const A = await conn('A', 'mw');
await A.emitWithAck('join', ['a', 'b']);
await A.emitWithAck('join', ['a']); // already in: nothing
await A.emitWithAck('leave', 'a');
await A.emitWithAck('leave', 'zzz'); // not in: nothing
await A.emitWithAck('emit', 'hello', [1, 'x', { k: [true, null] }]);
await A.emitWithAck('emitack', 'ask', [2]);
const B = await conn('B');
await B.emitWithAck('join', ['b', A.id]); // a room named after A, which A is in
await B.emitWithAck('to', 'b', 'news', [3]);
await B.emitWithAck('socketsJoin', 'b', 'c');
await B.emitWithAck('socketsLeave', 'b', 'c');
await A.emitWithAck('offAnyOutgoing');
await B.emitWithAck('to', 'b', 'quiet', [4]);
A.disconnect();
await B.emitWithAck('waitgone', 'A');
await B.emitWithAck('leave', A.id);
B.disconnect();
out('done');
exit(0);
`

// hooksRecorder is the Go app's record, in the JSON of Node's log lines.
type hooksRecorder struct {
	mu     sync.Mutex
	lines  []string
	labels map[string]string // socket id -> the client's name
	gone   map[string]chan struct{}
}

func (r *hooksRecorder) log(vals ...any) {
	b, err := json.Marshal(vals)
	if err != nil {
		panic(err)
	}
	r.mu.Lock()
	r.lines = append(r.lines, string(b))
	r.mu.Unlock()
}

func (r *hooksRecorder) label(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l, ok := r.labels[id]; ok {
		return l
	}
	return id
}

func (r *hooksRecorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

// rawArgs returns args as JSON values, for the record.
func rawArgs(a actorio.Args) []any {
	out := make([]any, a.Len())
	for i := range a.Len() {
		out[i] = json.RawMessage(a.Raw(i))
	}
	return out
}

// setupHooksApp is hooksAppJS on actorio.
func setupHooksApp(srv *actorio.Server, r *hooksRecorder) {
	ns := srv.Of("/")
	ns.OnRoomEvent(func(ev actorio.RoomEvent) {
		vals := []any{string(ev.Kind), r.label(ev.Room)}
		if ev.ID != "" {
			vals = append(vals, r.label(ev.ID))
		}
		r.log(vals...)
	})
	ns.Use(func(s *actorio.Socket) error {
		var auth struct{ Name, Mw string }
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		r.mu.Lock()
		r.labels[s.ID()] = auth.Name
		r.gone[auth.Name] = make(chan struct{})
		r.mu.Unlock()
		if auth.Mw != "" {
			s.Join(auth.Mw)
		}
		return nil
	})
	ok := func(ack actorio.AckFunc) {
		if ack != nil {
			_ = ack("ok")
		}
	}
	ns.OnConnection(func(s *actorio.Socket) {
		L := r.label(s.ID())
		r.log("connection", L)
		f1 := func(_ *actorio.Socket, ev string, _ actorio.Args, _ actorio.AckFunc) { r.log("in-f1", L, ev) }
		f2 := func(_ *actorio.Socket, ev string, _ actorio.Args, _ actorio.AckFunc) { r.log("in-f2", L, ev) }
		offFirst := s.OnAny(f1)
		s.PrependAny(f2)
		s.OnAny(f1)
		offFirst()
		r.log("listenersAny", L, len(s.ListenersAny()))
		s.OnAnyOutgoing(func(_ *actorio.Socket, ev string, args actorio.Args) {
			r.log(append([]any{"out", L, ev}, rawArgs(args)...)...)
		})
		s.PrependAnyOutgoing(func(_ *actorio.Socket, ev string, _ actorio.Args) { r.log("out0", L, ev) })
		offNever := s.OnAnyOutgoing(func(*actorio.Socket, string, actorio.Args) { r.log("never") })
		offNever()
		r.log("listenersAnyOutgoing", L, len(s.ListenersAnyOutgoing()))
		s.OnDisconnecting(func(_ *actorio.Socket, reason string) { r.log("disconnecting", L, reason) })
		s.OnDisconnect(func(_ *actorio.Socket, reason string) {
			r.log("disconnect", L, reason)
			r.mu.Lock()
			close(r.gone[L])
			r.mu.Unlock()
		})
		s.On("join", func(s *actorio.Socket, a actorio.Args, ack actorio.AckFunc) {
			var rooms []string
			_ = a.Decode(0, &rooms)
			s.Join(rooms...)
			ok(ack)
		})
		s.On("leave", func(s *actorio.Socket, a actorio.Args, ack actorio.AckFunc) {
			s.Leave(a.String(0))
			ok(ack)
		})
		emitArgs := func(a actorio.Args, i int) []any {
			var vals []any
			_ = a.Decode(i, &vals)
			return vals
		}
		s.On("emit", func(s *actorio.Socket, a actorio.Args, ack actorio.AckFunc) {
			_ = s.Emit(a.String(0), emitArgs(a, 1)...)
			ok(ack)
		})
		s.On("emitack", func(s *actorio.Socket, a actorio.Args, ack actorio.AckFunc) {
			// The client's ack comes back while this handler waits.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = s.EmitWithAck(ctx, a.String(0), emitArgs(a, 1)...)
			ok(ack)
		})
		s.On("to", func(s *actorio.Socket, a actorio.Args, ack actorio.AckFunc) {
			_ = ns.To(a.String(0)).Emit(a.String(1), emitArgs(a, 2)...)
			ok(ack)
		})
		s.On("socketsJoin", func(s *actorio.Socket, a actorio.Args, ack actorio.AckFunc) {
			ns.In(a.String(0)).SocketsJoin(a.String(1))
			ok(ack)
		})
		s.On("socketsLeave", func(s *actorio.Socket, a actorio.Args, ack actorio.AckFunc) {
			ns.In(a.String(0)).SocketsLeave(a.String(1))
			ok(ack)
		})
		s.On("offAnyOutgoing", func(s *actorio.Socket, a actorio.Args, ack actorio.AckFunc) {
			s.OffAnyOutgoing()
			ok(ack)
		})
		s.On("waitgone", func(s *actorio.Socket, a actorio.Args, ack actorio.AckFunc) {
			r.mu.Lock()
			ch := r.gone[a.String(0)]
			r.mu.Unlock()
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
			}
			ok(ack)
		})
	})
}

// runHooksClient runs hooksClientJS against url and waits for its end.
func runHooksClient(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	p := node.Run(t, ctx, hooksClientJS, map[string]string{"URL": url})
	p.Expect(t, "done", 20*time.Second)
	if code := p.WaitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("client script for %s exited with %d\n%s", url, code, p.Stderr())
	}
}

// hooksStreams splits a record into the sequences whose order is defined:
// the rooms and lifecycle of the namespace ("rooms"), and, per socket, the
// incoming catch-all calls ("in A") and the outgoing ones ("out A"). Two
// orders differ, by design, and are made the same on both sides: the
// rooms a socket leaves as it disconnects are sorted by name, since
// actorio leaves them in that order and Node in the order they were
// joined (each room's leave-room and delete-room stay together, in
// order); and the sockets that SocketsJoin or SocketsLeave moves in or out
// of one room, which actorio reports in no particular order and Node in
// the order they joined the target room, are sorted.
func hooksStreams(t *testing.T, lines []string) map[string][]string {
	t.Helper()
	out := splitStreams(t, lines)
	rooms := out["rooms"]
	for i := 0; i < len(rooms); {
		key := func(l string) string {
			var vals []any
			_ = json.Unmarshal([]byte(l), &vals)
			if k := vals[0]; (k == "join-room" || k == "leave-room") && len(vals) == 3 {
				return fmt.Sprint(k, " ", vals[1])
			}
			return ""
		}
		k, j := key(rooms[i]), i+1
		for k != "" && j < len(rooms) && key(rooms[j]) == k {
			j++
		}
		slices.Sort(rooms[i:j])
		i = j
	}
	return out
}

func splitStreams(t *testing.T, lines []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	var seg [][]string // units of the disconnect under way
	var segKey []string
	for _, l := range lines {
		var vals []any
		if err := json.Unmarshal([]byte(l), &vals); err != nil {
			t.Fatalf("record %q: %v", l, err)
		}
		norm, _ := json.Marshal(vals)
		line := string(norm)
		kind, _ := vals[0].(string)
		switch {
		case strings.HasPrefix(kind, "in-"):
			out["in "+vals[1].(string)] = append(out["in "+vals[1].(string)], line)
		case strings.HasPrefix(kind, "out"):
			out["out "+vals[1].(string)] = append(out["out "+vals[1].(string)], line)
		case kind == "disconnecting":
			out["rooms"] = append(out["rooms"], line)
			seg = [][]string{}
		case seg != nil && (kind == "leave-room" || kind == "delete-room"):
			if kind == "leave-room" {
				seg = append(seg, []string{line})
				segKey = append(segKey, fmt.Sprint(vals[1]))
			} else {
				seg[len(seg)-1] = append(seg[len(seg)-1], line)
			}
		case seg != nil && kind == "disconnect":
			idx := make([]int, len(seg))
			for i := range idx {
				idx[i] = i
			}
			sort.SliceStable(idx, func(i, j int) bool { return segKey[idx[i]] < segKey[idx[j]] })
			for _, i := range idx {
				out["rooms"] = append(out["rooms"], seg[i]...)
			}
			out["rooms"] = append(out["rooms"], line)
			seg, segKey = nil, nil
		default:
			out["rooms"] = append(out["rooms"], line)
		}
	}
	return out
}

func TestCatchAllAndRoomHooksMatchNode(t *testing.T) {
	node.RequirePackage(t, "socket.io")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	ref := node.Run(t, ctx, hooksAppJS, nil)
	var port int
	if err := ref.Expect(t, "listening", 20*time.Second).Decode(0, &port); err != nil {
		t.Fatal(err)
	}
	rec := &hooksRecorder{labels: map[string]string{}, gone: map[string]chan struct{}{}}
	gs := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: quiet()},
		Setup:   func(srv *actorio.Server) { setupHooksApp(srv, rec) },
	})

	runHooksClient(t, ctx, fmt.Sprintf("http://127.0.0.1:%d", port))
	runHooksClient(t, ctx, gs.URL)

	const last = `["disconnect","B","client namespace disconnect"]`
	var nodeLines []string
	for !slices.Contains(nodeLines, last) {
		l := ref.Expect(t, "log", 10*time.Second)
		b, _ := json.Marshal(l.Args)
		nodeLines = append(nodeLines, string(b))
	}
	var goLines []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		goLines = rec.snapshot()
		if slices.Contains(goLines, last) || time.Now().After(deadline) {
			break
		}
	}

	want, got := hooksStreams(t, nodeLines), hooksStreams(t, goLines)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		seen := map[string]bool{}
		for k := range want {
			seen[k] = true
		}
		for k := range got {
			seen[k] = true
		}
		for k := range seen {
			if !yield(k) {
				return
			}
		}
	}) {
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("%s differs from Node's:\nactorio:\n  %s\nNode:\n  %s", k, strings.Join(got[k], "\n  "), strings.Join(want[k], "\n  "))
		}
	}
	if t.Failed() {
		t.Logf("actorio's record:\n  %s\nNode's record:\n  %s", strings.Join(goLines, "\n  "), strings.Join(nodeLines, "\n  "))
	}
}
