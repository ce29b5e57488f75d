package tests

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/actorio/actorio"
)

// TestRoomsMemoryMassLeave joins 200 sockets on real connections to 500
// rooms each, rooms of their own (100 000 memberships), then makes them
// leave every one while staying connected: the heap the memberships took
// must be given back (Go maps never shrink by themselves). It reports the
// bytes per membership.
func TestRoomsMemoryMassLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 200 connections")
	}
	const sockets, perSocket = 200, 500
	ts := startServer(t, actorio.Options{}, nil)
	for range sockets {
		p := dialPeer(t, ts, peerOpts{})
		p.join("/", "")
		p.startReader()
	}
	all, err := ts.Srv.Of("/").FetchSockets(ctxStep(t, step))
	if err != nil || len(all) != sockets {
		t.Fatalf("FetchSockets: %d sockets, %v", len(all), err)
	}
	rooms := make([][]string, sockets)
	for i := range rooms {
		for j := range perSocket {
			rooms[i] = append(rooms[i], fmt.Sprintf("user-%03d-%03d", i, j))
		}
	}
	heap := func() int64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()
	for i, s := range all {
		s.Join(rooms[i]...)
	}
	joined := heap() - before
	if n := ts.Srv.Stats().Namespaces["/"].Rooms; n != sockets*perSocket+sockets {
		t.Fatalf("%d rooms, want %d", n, sockets*perSocket+sockets)
	}
	for i, s := range all {
		s.Leave(rooms[i]...)
	}
	held := heap() - before
	runtime.KeepAlive(rooms)
	t.Logf("%d memberships: %.0f B each on the heap; %d KB held once all ended (of %d KB)",
		sockets*perSocket, float64(joined)/(sockets*perSocket), held>>10, joined>>10)
	// Generous: noise and fixed costs are allowed, nothing proportional to
	// the memberships that ended.
	if held > joined/4 {
		t.Errorf("%d KB of %d KB still held after every membership ended", held>>10, joined>>10)
	}
}

// TestRoomsLimitPerSocket sets MaxRoomsPerSocket to 3 and has an official
// client ask to join rooms: a join that would take it past 3 joins none of
// its rooms (TryJoin says ErrTooManyRooms, Join only logs), broadcasts to
// a refused room miss it, leaving a room makes space again, and 50 refused
// joins make two log lines, not 50.
func TestRoomsLimitPerSocket(t *testing.T) {
	logger, logs := warnLogger()
	ts := startServer(t, actorio.Options{MaxRoomsPerSocket: 3, Logger: logger}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("try", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				rooms := make([]string, args.Len())
				for i := range rooms {
					rooms[i] = args.String(i)
				}
				res := "ok"
				if err := s.TryJoin(rooms...); errors.Is(err, actorio.ErrTooManyRooms) {
					res = "too many"
				} else if err != nil {
					res = err.Error()
				}
				_ = ack(res, len(s.Rooms())-1)
			})
			s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				s.Join(args.String(0))
				_ = ack(len(s.Rooms()) - 1)
			})
			s.On("leave", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				s.Leave(args.String(0))
				_ = ack()
			})
		})
	})
	c := startClients(t, ts)
	c.connect("a", "/", wsOnly)
	for _, tc := range []struct {
		rooms []any
		want  string
		n     float64
	}{
		{[]any{"r1", "r2"}, "ok", 2},
		{[]any{"r3", "r4"}, "too many", 2},
		{[]any{"r1", "r3"}, "ok", 3},
		{[]any{"r4"}, "too many", 3},
	} {
		if l := c.emitAck("a", "try", tc.rooms...); l.Arg(2) != tc.want || l.Arg(3) != tc.n {
			t.Fatalf("TryJoin%v: %s, want %q with %v rooms", tc.rooms, l.Raw, tc.want, tc.n)
		}
	}
	if err := ts.Srv.To("r4").Emit("to-r4"); err != nil {
		t.Fatal(err)
	}
	if err := ts.Srv.To("r3").Emit("to-r3"); err != nil {
		t.Fatal(err)
	}
	c.expectEvent("a", "to-r3")
	c.noEvent("a", "to-r4")
	for i := range 50 {
		if l := c.emitAck("a", "join", fmt.Sprint("x", i)); l.Arg(2) != 3.0 {
			t.Fatalf("Join past the bound: %s", l.Raw)
		}
	}
	c.emitAck("a", "leave", "r1")
	if l := c.emitAck("a", "try", "r4"); l.Arg(2) != "ok" || l.Arg(3) != 3.0 {
		t.Fatalf("TryJoin after a leave: %s", l.Raw)
	}
	if err := ts.Srv.Close(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "MaxRoomsPerSocket reached") {
			lines = append(lines, l)
		}
	}
	// 52 refusals: the first is logged, the other 51 in one line.
	if len(lines) != 2 || !strings.Contains(lines[1], "more=51") {
		t.Fatalf("log lines for 52 refused joins:\n%s", strings.Join(lines, "\n"))
	}
}
