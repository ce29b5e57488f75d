package actorio_test

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/internal/testkit"
)

// What the catch-all API and the room hooks do beyond what Node's server
// shows side by side (catchall_test.go): where they run, what they may
// do, and how they are removed. Clients are Go clients.

// events records strings in order, for the hooks of these tests.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.got = append(e.got, s)
	e.mu.Unlock()
}

// wait returns the record once it has n entries, failing after 5 s.
func (e *events) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.mu.Lock()
		got := slices.Clone(e.got)
		e.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records of %d: %q", len(got), n, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// goClient connects a Go client to url+nsp and waits for connect.
func goClient(t *testing.T, url, nsp string, opts client.Options) *client.Socket {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	s, err := client.New(url+nsp, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	connected := make(chan struct{}, 1)
	s.On(client.EventConnect, func(client.Args, client.AckFunc) {
		select {
		case connected <- struct{}{}:
		default:
		}
	})
	if err := s.Connect(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(5 * time.Second):
		t.Fatal("no connect")
	}
	return s
}

func ackCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOnAnyOutgoingRunsBeforeEmitReturnsAndNestedEmitsGoFirst(t *testing.T) {
	var rec events
	wire := make(chan string, 8)
	gs := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: quiet()},
		Setup: func(srv *actorio.Server) {
			srv.OnConnection(func(s *actorio.Socket) {
				s.OnAnyOutgoing(func(s *actorio.Socket, ev string, args actorio.Args) {
					rec.add("start " + ev)
					if ev == "outer" {
						_ = s.Emit("nested") // written before "outer", as in Node
					}
					rec.add("end " + ev)
				})
				s.On("go", func(s *actorio.Socket, _ actorio.Args, ack actorio.AckFunc) {
					_ = s.Emit("outer")
					rec.add("emit returned")
					_ = ack()
				})
			})
		},
	})
	c := goClient(t, gs.URL, "/", client.Options{})
	c.OnAny(func(ev string, _ client.Args, _ client.AckFunc) { wire <- ev })
	if _, err := c.EmitWithAck(ackCtx(t), "go"); err != nil {
		t.Fatal(err)
	}
	want := []string{"start outer", "end outer", "start nested", "end nested", "emit returned"}
	if got := rec.wait(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("handler calls %q, want %q", got, want)
	}
	for _, w := range []string{"nested", "outer"} {
		if got := <-wire; got != w {
			t.Fatalf("client got %q, want %q", got, w)
		}
	}
}

func TestOnAnyOutgoingOfBroadcastsMayCallTheServer(t *testing.T) {
	// A broadcast runs its receivers' handlers after the namespace's lock
	// is released: one that joins, leaves and broadcasts again does not
	// deadlock, and each socket's handlers see its events in order.
	var rec events
	gs := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: quiet()},
		Setup: func(srv *actorio.Server) {
			ns := srv.Of("/")
			srv.OnConnection(func(s *actorio.Socket) {
				s.Join("all")
				s.OnAnyOutgoing(func(s *actorio.Socket, ev string, args actorio.Args) {
					rec.add(ev + " " + args.String(0))
					if ev == "tick" && args.String(0) == "2" {
						s.Join("x")
						s.Leave("x")
						_ = ns.To(s.ID()).Emit("tock", "from-handler")
					}
				})
				s.On("go", func(s *actorio.Socket, _ actorio.Args, ack actorio.AckFunc) {
					for _, n := range []string{"1", "2", "3"} {
						_ = ns.To("all").Emit("tick", n)
					}
					_ = ack()
				})
			})
		},
	})
	c := goClient(t, gs.URL, "/", client.Options{})
	if _, err := c.EmitWithAck(ackCtx(t), "go"); err != nil {
		t.Fatal(err)
	}
	want := []string{"tick 1", "tick 2", "tick 3", "tock from-handler"}
	if got := rec.wait(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("outgoing %q, want %q", got, want)
	}
}

func TestHookPanicIsLoggedAndTheNextHooksRun(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	var rec events
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	gs := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: log},
		Setup: func(srv *actorio.Server) {
			ns := srv.Of("/")
			ns.OnRoomEvent(func(ev actorio.RoomEvent) {
				if ev.Room == "boom" {
					panic("room hook")
				}
			})
			ns.OnRoomEvent(func(ev actorio.RoomEvent) {
				if ev.Room == "boom" {
					rec.add("room " + string(ev.Kind))
				}
			})
			srv.OnConnection(func(s *actorio.Socket) {
				s.OnAnyOutgoing(func(*actorio.Socket, string, actorio.Args) { panic("outgoing") })
				s.OnAnyOutgoing(func(_ *actorio.Socket, ev string, _ actorio.Args) { rec.add("out " + ev) })
				s.On("go", func(s *actorio.Socket, _ actorio.Args, ack actorio.AckFunc) {
					s.Join("boom")
					_ = s.Emit("e1")
					_ = ns.To("boom").Emit("e2")
					_ = ack()
				})
			})
		},
	})
	c := goClient(t, gs.URL, "/", client.Options{})
	if _, err := c.EmitWithAck(ackCtx(t), "go"); err != nil {
		t.Fatal(err)
	}
	want := []string{"room create-room", "room join-room", "out e1", "out e2"}
	if got := rec.wait(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("hooks %q, want %q", got, want)
	}
	if _, err := c.EmitWithAck(ackCtx(t), "go"); err != nil { // the socket is still there
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "hook panicked"); n < 4 {
		t.Fatalf("%d panics logged, want 4 or more:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRoomHooksMayCallTheServerAndRunInOrder(t *testing.T) {
	// A hook that joins another room: the join's events come after the
	// current ones, nothing deadlocks.
	var rec events
	gs := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: quiet()},
		Setup: func(srv *actorio.Server) {
			ns := srv.Of("/")
			ns.OnRoomEvent(func(ev actorio.RoomEvent) {
				if ev.Room != "a" && ev.Room != "b" {
					return // the socket's own room
				}
				rec.add(string(ev.Kind) + " " + ev.Room)
				if ev.Kind == actorio.RoomJoined && ev.Room == "a" {
					if s, ok := ns.Socket(ev.ID); ok {
						s.Join("b")
						_ = ns.To("b").Emit("in-b")
						rec.add("hook joined b")
					}
				}
			})
			srv.OnConnection(func(s *actorio.Socket) {
				s.On("go", func(s *actorio.Socket, _ actorio.Args, ack actorio.AckFunc) {
					s.Join("a")
					rec.add("join returned")
					_ = ack()
				})
			})
		},
	})
	c := goClient(t, gs.URL, "/", client.Options{})
	got := make(chan string, 1)
	c.On("in-b", func(client.Args, client.AckFunc) { got <- "in-b" })
	if _, err := c.EmitWithAck(ackCtx(t), "go"); err != nil {
		t.Fatal(err)
	}
	want := []string{"create-room a", "join-room a", "hook joined b", "create-room b", "join-room b", "join returned"}
	if r := rec.wait(t, len(want)); !slices.Equal(r, want) {
		t.Fatalf("hooks %q, want %q", r, want)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the hook's broadcast did not arrive")
	}
}

func TestRoomHooksOfParentNamespacesOffAndObservers(t *testing.T) {
	var rec events
	var obs roomObserver
	var offParent, offChild func()
	gs := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: quiet()},
		Setup: func(srv *actorio.Server) {
			srv.Observe(&obs)
			parent := srv.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`))
			offParent = parent.OnRoomEvent(func(ev actorio.RoomEvent) {
				if ev.Room == "r" {
					rec.add("parent " + ev.Namespace.Name() + " " + string(ev.Kind))
				}
			})
			parent.OnConnection(func(s *actorio.Socket) {
				if offChild == nil {
					offChild = s.Namespace().OnRoomEvent(func(ev actorio.RoomEvent) {
						if ev.Room == "r" {
							rec.add("child " + string(ev.Kind))
						}
					})
				}
				s.On("join", func(s *actorio.Socket, _ actorio.Args, ack actorio.AckFunc) {
					s.Join("r")
					_ = ack()
				})
				s.On("leave", func(s *actorio.Socket, _ actorio.Args, ack actorio.AckFunc) {
					s.Leave("r")
					_ = ack()
				})
			})
		},
	})
	c := goClient(t, gs.URL, "/dyn-1", client.Options{})
	step := func(ev string) {
		t.Helper()
		if _, err := c.EmitWithAck(ackCtx(t), ev); err != nil {
			t.Fatal(err)
		}
	}
	step("join")
	want := []string{"parent /dyn-1 create-room", "child create-room", "parent /dyn-1 join-room", "child join-room"}
	if got := rec.wait(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("hooks %q, want %q", got, want)
	}
	offParent()
	offParent()
	step("leave")
	want = append(want, "child leave-room", "child delete-room")
	if got := rec.wait(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("hooks %q, want %q", got, want)
	}
	offChild()
	step("join")
	step("leave")
	if got := rec.wait(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("hooks after off %q, want %q", got, want)
	}
	// The observer saw every change of "r" (not the sockets' own rooms),
	// with hooks installed or not.
	if got, want := obs.record(), []string{"join r", "leave r", "join r", "leave r"}; !slices.Equal(got, want) {
		t.Fatalf("observer %q, want %q", got, want)
	}
}

// roomObserver records the rooms joined and left, as an Observer.
type roomObserver struct{ events }

func (o *roomObserver) RoomJoined(_, room, _ string) { o.add("join " + room) }
func (o *roomObserver) RoomLeft(_, room, _ string)   { o.add("leave " + room) }

func (o *roomObserver) SessionOpened(string, string)                        {}
func (o *roomObserver) SessionUpgraded(string)                              {}
func (o *roomObserver) SessionClosed(string, string)                        {}
func (o *roomObserver) SocketConnected(*actorio.Socket)                     {}
func (o *roomObserver) SocketDisconnected(*actorio.Socket, string)          {}
func (o *roomObserver) SocketDataChanged(*actorio.Socket)                   {}
func (o *roomObserver) EventReceived(*actorio.Socket, string, actorio.Args) {}
func (o *roomObserver) EventSent(string, []string, string, actorio.Args)    {}
func (o *roomObserver) record() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.got)
}
