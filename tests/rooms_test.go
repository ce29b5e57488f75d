package tests

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/node"
)

// TestRoomsAndBroadcast drives three clients a, b and c through joins,
// leaves and every broadcast selector, from sockets and from the namespace.
//
// Absence checks use a barrier: after a selective emit the test sends a
// "sync" event to every socket through the same namespace supervisor.
// Delivery to one connection keeps the supervisor's order, so once a
// client has its "sync", anything sent to it before is already here.
func TestRoomsAndBroadcast(t *testing.T) {
	dl := newDisconnectLog()
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			dl.watch(s)
			s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				s.Join(args.String(0))
				_ = ack(s.Rooms())
			})
			s.On("leave", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				s.Leave(args.String(0))
				_ = ack(s.Rooms())
			})
			s.On("to", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				_ = ack(s.To(args.String(0)).Emit("msg", args.String(1)))
			})
			s.On("except", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				_ = ack(s.Except(args.String(0)).Emit("msg", args.String(1)))
			})
			s.On("bcast", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				_ = ack(s.Broadcast().Emit("msg", args.String(0)))
			})
		})
	})
	ns := ts.Srv.Of("/")
	c := startClients(t, ts)
	names := []string{"a", "b", "c"}
	ids := map[string]string{}
	for i, name := range names {
		// Mix the transports: the rooms must not care.
		opts := wsOnly
		if i == 2 {
			opts = pollingOnly
		}
		ids[name] = c.connect(name, "/", with(opts, "forceNew", true))
	}
	nameOf := map[string]string{}
	for n, id := range ids {
		nameOf[id] = n
	}

	syncN := 0
	// expectOnly checks that exactly the sockets in got received "msg" with
	// text since the last sync.
	expectOnly := func(text string, got ...string) {
		t.Helper()
		for _, name := range got {
			l := c.expectEvent(name, "msg")
			if l.Arg(3) != text {
				t.Fatalf("%s got msg %s, want %q", name, l.Raw, text)
			}
		}
		syncN++
		if err := ns.Emit("sync", syncN); err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if l := c.expectEvent(name, "sync"); l.Arg(3) != float64(syncN) {
				t.Fatalf("%s: %s, want sync %d", name, l.Raw, syncN)
			}
		}
		for _, name := range names {
			c.noEvent(name, "msg")
		}
	}
	fetch := func(op interface {
		FetchSockets(context.Context) ([]*actorio.Socket, error)
	}) []string {
		t.Helper()
		socks, err := op.FetchSockets(ctxStep(t, step))
		if err != nil {
			t.Fatalf("FetchSockets: %v", err)
		}
		var out []string
		for _, s := range socks {
			out = append(out, nameOf[s.ID()])
		}
		slices.Sort(out)
		return out
	}
	rooms := func(l node.Line) []string {
		var r []string
		if err := l.Decode(2, &r); err != nil {
			t.Fatalf("rooms ack %s: %v", l.Raw, err)
		}
		return r
	}

	// a and b join "r"; Rooms() holds the socket's own id too.
	for _, name := range []string{"a", "b"} {
		got := rooms(c.emitAck(name, "join", "r"))
		want := []string{ids[name], "r"}
		slices.Sort(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s rooms = %v, want %v", name, got, want)
		}
	}

	// s.To("r") from a member reaches the other member only.
	c.emitAck("a", "to", "r", "to r from a")
	expectOnly("to r from a", "b")
	// From a non-member it reaches both members.
	c.emitAck("c", "to", "r", "to r from c")
	expectOnly("to r from c", "a", "b")
	// Broadcast reaches everyone but the sender.
	c.emitAck("b", "bcast", "all but b")
	expectOnly("all but b", "a", "c")
	// s.Except("r") from c: everyone but c and the members of r.
	c.emitAck("c", "except", "r", "nobody")
	expectOnly("nobody")
	// To a socket's own room (its id).
	c.emitAck("a", "to", ids["c"], "private to c")
	expectOnly("private to c", "c")

	// The namespace: To("r").Except("x") with b in both.
	c.emitAck("b", "join", "x")
	if err := ns.To("r").Except("x").Emit("msg", "r but not x"); err != nil {
		t.Fatal(err)
	}
	expectOnly("r but not x", "a")
	if err := ns.Except("r").Emit("msg", "not r"); err != nil {
		t.Fatal(err)
	}
	expectOnly("not r", "c")
	if err := ns.To("r", "x").Emit("msg", "r or x"); err != nil {
		t.Fatal(err)
	}
	expectOnly("r or x", "a", "b")

	if got := fetch(ns); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("FetchSockets() = %v", got)
	}
	if got := fetch(ns.In("r")); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("In(r).FetchSockets() = %v", got)
	}

	// Leave stops delivery.
	if got := rooms(c.emitAck("b", "leave", "r")); slices.Contains(got, "r") || !slices.Contains(got, ids["b"]) {
		t.Errorf("b rooms after leaving r = %v", got)
	}
	c.emitAck("c", "to", "r", "r after b left")
	expectOnly("r after b left", "a")
	if got := fetch(ns.In("r")); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("In(r).FetchSockets() after b left = %v", got)
	}

	// SocketsJoin / SocketsLeave from the namespace.
	ns.SocketsJoin("all")
	if got := fetch(ns.In("all")); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("In(all) after SocketsJoin = %v", got)
	}
	socks, err := ns.FetchSockets(ctxStep(t, step))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		if r := s.Rooms(); !slices.Contains(r, "all") || !slices.Contains(r, s.ID()) {
			t.Errorf("%s Rooms() after SocketsJoin = %v", nameOf[s.ID()], r)
		}
	}
	if err := ns.To("all").Emit("msg", "to all"); err != nil {
		t.Fatal(err)
	}
	expectOnly("to all", "a", "b", "c")
	ns.In("x").SocketsLeave("all")
	if got := fetch(ns.In("all")); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Errorf("In(all) after x left it = %v", got)
	}
	if err := ns.To("all").Emit("msg", "to all but x"); err != nil {
		t.Fatal(err)
	}
	expectOnly("to all but x", "a", "c")

	// DisconnectSockets from the namespace: b (in x) only, then the rest.
	ns.In("x").DisconnectSockets(false)
	if l := c.expect("disconnect", "b"); l.Arg(1) != "io server disconnect" {
		t.Errorf("b: %s", l.Raw)
	}
	if ev := dl.next(t); ev.ID != ids["b"] || ev.Reason != disconnect.ServerNamespaceDisconnect {
		t.Errorf("OnDisconnect %+v, want b with %q", ev, disconnect.ServerNamespaceDisconnect)
	}
	if got := fetch(ns); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Errorf("FetchSockets() after b left = %v", got)
	}
	names = []string{"a", "c"}
	c.emitAck("a", "bcast", "b is gone")
	expectOnly("b is gone", "c")

	ns.DisconnectSockets(false)
	for _, name := range names {
		if l := c.expect("disconnect", name); l.Arg(1) != "io server disconnect" {
			t.Errorf("%s: %s", name, l.Raw)
		}
	}
	for range names {
		dl.next(t)
	}
	if got := fetch(ns); len(got) != 0 {
		t.Errorf("FetchSockets() after DisconnectSockets = %v", got)
	}
	for _, id := range ids {
		dl.expectOnce(t, id, disconnect.ServerNamespaceDisconnect)
	}
}

// TestJoinInMiddleware checks that rooms joined by a middleware hold once
// the socket connects, whichever of the join and the socket's readiness
// its namespace learns of first: the slow middleware makes the namespace
// process the join while the socket is not connected yet.
func TestJoinInMiddleware(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{
		{"join processed before the socket is ready", 50 * time.Millisecond},
		{"no delay", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
				srv.Use(func(s *actorio.Socket) error {
					s.Join("vip", "gone")
					s.Leave("gone")
					time.Sleep(tc.delay)
					return nil
				})
			})
			c := startClients(t, ts)
			id := c.connect("a", "/", wsOnly)
			// The CONNECT reply leaves before the namespace has put the
			// socket in its rooms (its SocketReady follows it), so this
			// goroutine, which the reply informed, waits; a lost join
			// never shows.
			var socks []*actorio.Socket
			waitUntil(t, step, "room vip to hold socket "+id, func() bool {
				var err error
				socks, err = ts.Srv.Of("/").In("vip").FetchSockets(ctxStep(t, step))
				return err == nil && len(socks) == 1 && socks[0].ID() == id
			})
			if rooms := socks[0].Rooms(); !slices.Equal(rooms, sorted([]string{id, "vip"})) {
				t.Fatalf("rooms %v, want %s and vip", rooms, id)
			}
			if err := ts.Srv.To("vip").Emit("hi"); err != nil {
				t.Fatal(err)
			}
			c.expectEvent("a", "hi")
			if n := ts.Srv.Stats().Namespaces["/"].Rooms; n != 2 {
				t.Fatalf("%d rooms, want its own and vip", n)
			}
		})
	}
}

// TestNamespaceRooms checks Namespace.Rooms: the rooms with a connected
// socket and their sizes, own-id rooms left out, following joins, leaves
// and disconnects; for a parent namespace, its children's added up.
func TestNamespaceRooms(t *testing.T) {
	var parent *actorio.Namespace
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		join := func(s *actorio.Socket) {
			s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				s.Join(args.String(0))
				_ = ack()
			})
			s.On("leave", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				s.Leave(args.String(0))
				_ = ack()
			})
		}
		srv.OnConnection(join)
		parent = srv.OfFunc(func(name string, _ json.RawMessage) bool { return strings.HasPrefix(name, "/game-") })
		parent.OnConnection(join)
	})
	c := startClients(t, ts)
	rooms := func(ns *actorio.Namespace) map[string]int {
		t.Helper()
		r, err := ns.Rooms(ctxStep(t, step))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	root := ts.Srv.Of("/")
	if r := rooms(root); len(r) != 0 {
		t.Fatalf("rooms with no socket: %v", r)
	}
	for _, name := range []string{"a", "b", "c"} {
		c.connect(name, "/", map[string]any{"forceNew": true})
	}
	c.emitAck("a", "join", "lobby")
	c.emitAck("b", "join", "lobby")
	c.emitAck("c", "join", "lobby")
	c.emitAck("a", "join", "vip")
	if r := rooms(root); !maps.Equal(r, map[string]int{"lobby": 3, "vip": 1}) {
		t.Fatalf("rooms %v, want lobby 3, vip 1", r)
	}
	c.emitAck("a", "leave", "vip")
	c.send(map[string]any{"op": "disconnect", "name": "c"})
	c.expect("disconnect", "c")
	waitUntil(t, step, "lobby 2 and no vip", func() bool {
		return maps.Equal(rooms(root), map[string]int{"lobby": 2})
	})

	c.connect("g1", "/game-1", nil)
	c.connect("g2", "/game-2", nil)
	c.emitAck("g1", "join", "table")
	c.emitAck("g2", "join", "table")
	if r := rooms(ts.Srv.Of("/game-1")); !maps.Equal(r, map[string]int{"table": 1}) {
		t.Fatalf("/game-1 rooms %v", r)
	}
	if r := rooms(parent); !maps.Equal(r, map[string]int{"table": 2}) {
		t.Fatalf("parent namespace rooms %v, want table 2", r)
	}
}
