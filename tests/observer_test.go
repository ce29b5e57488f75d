package tests

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
)

// recorder is an Observer that writes down every report as a line.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

func (r *recorder) SessionOpened(sid, transport string) { r.add("open %s", transport) }
func (r *recorder) SessionUpgraded(sid string)          { r.add("upgraded") }
func (r *recorder) SessionClosed(sid, reason string)    { r.add("closed %s", reason) }
func (r *recorder) SocketConnected(s *actorio.Socket)   { r.add("connected %s", s.Namespace().Name()) }
func (r *recorder) SocketDisconnected(s *actorio.Socket, reason string) {
	r.add("disconnected %s", reason)
}
func (r *recorder) SocketDataChanged(s *actorio.Socket) { r.add("data %v", s.Data()) }
func (r *recorder) RoomJoined(nsp, room, id string)     { r.add("joined %s %s", nsp, room) }
func (r *recorder) RoomLeft(nsp, room, id string)       { r.add("left %s %s", nsp, room) }
func (r *recorder) EventReceived(s *actorio.Socket, event string, args actorio.Args) {
	r.add("received %s %s", event, args.Raw(0))
}
func (r *recorder) EventSent(nsp string, ids []string, event string, args actorio.Args) {
	r.add("sent %s %s to %d", event, args.Raw(0), len(ids))
}

// TestObserver checks the reports of one socket's life, in order, and
// that stop ends them.
func TestObserver(t *testing.T) {
	rec := &recorder{}
	var stop func()
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		stop = srv.Observe(rec)
		srv.OnConnection(func(s *actorio.Socket) {
			s.Join("lobby")
			s.On("hello", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
				s.SetData("greeted")
				_ = s.Emit("welcome", args.String(0))
				_ = s.Namespace().To("lobby").Emit("news", 7)
				s.Leave("lobby")
				s.Leave("lobby") // no change: not reported
			})
		})
	})
	c := startClients(t, ts)
	c.connect("a", "/", wsOnly)
	c.emit("a", "hello", "bob")
	c.expectEvent("a", "news")
	c.send(map[string]any{"op": "disconnect", "name": "a"})
	want := []string{
		"open websocket",
		"connected /",
		"joined / lobby",
		`received hello "bob"`,
		"data greeted",
		`sent welcome "bob" to 1`,
		"sent news 7 to 1",
		"left / lobby",
		"disconnected " + disconnect.ClientNamespaceDisconnect,
		"closed transport close",
	}
	waitUntil(t, step, "the reports of a's whole life", func() bool { return len(rec.snapshot()) >= len(want) })
	got := rec.snapshot()
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("reports:\n  %s\nwant, in some order:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// Reports made by one goroutine keep its order; those of different
	// goroutines (the socket actor, the namespace supervisor, the
	// transport) may interleave.
	for _, chain := range [][]string{
		{"open websocket", "connected /", `received hello "bob"`, "data greeted", `sent welcome "bob" to 1`, "disconnected " + disconnect.ClientNamespaceDisconnect},
		{"joined / lobby", "sent news 7 to 1", "left / lobby"},
		{`sent welcome "bob" to 1`, "sent news 7 to 1"},
	} {
		last := -1
		for _, line := range chain {
			i := slices.Index(got, line)
			if i < last {
				t.Fatalf("%q came before %q: %v", line, chain, got)
			}
			last = i
		}
	}

	stop()
	c.connect("b", "/", nil)
	c.emit("b", "hello", "eve")
	c.expectEvent("b", "news")
	if got := rec.snapshot(); len(got) != len(want) {
		t.Fatalf("reports after stop: %v", got[len(want):])
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// panicky is an Observer that panics at every report.
type panicky struct{ recorder }

func (p *panicky) RoomJoined(nsp, room, id string) { panic("observer bug") }
func (p *panicky) EventReceived(s *actorio.Socket, event string, args actorio.Args) {
	panic("observer bug")
}
func (p *panicky) SessionUpgraded(sid string) { panic("observer bug") }

// TestObserverPanic checks that an observer's panic in a namespace actor,
// a socket actor or a transport goroutine is logged and changes nothing
// else: the events still reach their handlers and the other observers.
func TestObserverPanic(t *testing.T) {
	rec := &recorder{}
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.Observe(&panicky{})
		srv.Observe(rec)
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				s.Join(args.String(0))
				_ = ack(s.Rooms())
			})
		})
	})
	c := startClients(t, ts)
	c.connect("a", "/", nil) // polling, then the upgrade
	l := c.emitAck("a", "join", "r")
	if rooms, _ := l.Arg(2).([]any); len(rooms) != 2 {
		t.Fatalf("join acked with %s", l.Raw)
	}
	socks, err := ts.Srv.Of("/").In("r").FetchSockets(ctxStep(t, step))
	if err != nil || len(socks) != 1 {
		t.Fatalf("room r: %v, %v", socks, err)
	}
	waitUntil(t, step, "the other observer's reports", func() bool {
		got := rec.snapshot()
		return slices.Contains(got, "upgraded") && slices.Contains(got, "joined / r") && slices.Contains(got, `received join "r"`)
	})
}
