package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
)

// echoServer acknowledges "echo" with its arguments and records every
// event it receives, in order, on events.
func echoServer(t testing.TB, events chan<- string) *goServer {
	return startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.OnAny(func(s *actorio.Socket, event string, args actorio.Args, ack actorio.AckFunc) {
				if events != nil {
					events <- event + ":" + string(args.Raw(0))
				}
				if ack != nil {
					_ = ack(args.Values()...)
				}
			})
		})
	})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func recv(t testing.TB, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(waitTimeout):
		t.Fatal("nothing received")
		return ""
	}
}

func TestGoEmitWithAckBinaryAtAnyDepth(t *testing.T) {
	g := echoServer(t, nil)
	for _, tr := range [][]string{nil, {TransportWebSocket}, {TransportPolling}} {
		s := mustNew(t, g.URL, Options{Transports: tr})
		r := record(s)
		mustConnect(t, s, r)
		deep := map[string]any{"list": []any{1, []byte{1, 2}}, "obj": Object{{Key: "b", Value: []byte{3}}}}
		a, err := s.EmitWithAck(ctxT(t), "echo", "text", []byte{0xff, 0}, deep)
		must(t, err)
		if a.Len() != 3 || a.String(0) != "text" || !bytes.Equal(a.Bytes(1), []byte{0xff, 0}) {
			t.Fatalf("%v: ack %d args %q %v", tr, a.Len(), a.String(0), a.Bytes(1))
		}
		var got struct {
			List []any
			Obj  struct{ B []byte }
		}
		must(t, a.Decode(2, &got))
		if !bytes.Equal(got.Obj.B, []byte{3}) || len(got.List) != 2 {
			t.Fatalf("%v: deep value %+v", tr, got)
		}
	}
}

func TestGoServerAckRequestAndSend(t *testing.T) {
	answers := make(chan string, 2)
	g := startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("ready", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
					defer cancel()
					a, err := s.EmitWithAck(ctx, "question", "6*7", []byte{9})
					answers <- fmt.Sprintf("%s %v", a.String(0), err)
					_ = s.Send("hello", []byte{1})
				}()
			})
			s.On("message", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
				answers <- "message " + args.String(0)
			})
		})
	})
	s := mustNew(t, g.URL, Options{})
	s.On("question", func(args Args, ack AckFunc) {
		if ack == nil || args.String(0) != "6*7" || !bytes.Equal(args.Bytes(1), []byte{9}) {
			t.Errorf("question %q %v ack=%v", args.String(0), args.Bytes(1), ack != nil)
			return
		}
		must(t, ack("42"))
		if err := ack("again"); err != nil {
			t.Errorf("second ack: %v", err)
		}
	})
	msgs := make(chan string, 1)
	s.On(EventMessage, func(args Args, ack AckFunc) {
		msgs <- args.String(0) + fmt.Sprint(args.Bytes(1), ack == nil)
		_ = s.Send("back")
	})
	r := record(s)
	mustConnect(t, s, r)
	must(t, s.Emit("ready"))
	if a := recv(t, answers); a != "42 <nil>" {
		t.Fatalf("server's ack: %q", a)
	}
	if m := recv(t, msgs); m != "hello[1] true" {
		t.Fatalf("message %q", m)
	}
	if m := recv(t, answers); m != "message back" {
		t.Fatalf("server got %q", m)
	}
}

func TestGoOnAnyOnceOff(t *testing.T) {
	g := startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("go", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
				for i := range 3 {
					_ = s.Emit("tick", i)
				}
				_ = s.Emit("end")
			})
		})
	})
	s := mustNew(t, g.URL, Options{})
	var mu sync.Mutex
	var any, once, on, off []string
	done := make(chan struct{})
	s.OnAny(func(event string, args Args, _ AckFunc) {
		mu.Lock()
		any = append(any, event+string(args.Raw(0)))
		mu.Unlock()
		if event == "end" {
			close(done)
		}
	})
	s.Once("tick", func(a Args, _ AckFunc) { once = append(once, string(a.Raw(0))) })
	s.On("tick", func(a Args, _ AckFunc) { on = append(on, string(a.Raw(0))) })
	s.On("end", func(a Args, _ AckFunc) { off = append(off, "end") })
	s.Off("end")
	r := record(s)
	mustConnect(t, s, r)
	must(t, s.Emit("go"))
	<-done
	mu.Lock()
	defer mu.Unlock()
	expectSeq(t, "OnAny", any, []string{"tick0", "tick1", "tick2", "end"})
	expectSeq(t, "Once", once, []string{"0"})
	expectSeq(t, "On", on, []string{"0", "1", "2"})
	expectSeq(t, "Off", off, nil)
}

func TestGoBufferedEmitsFlushedInOrder(t *testing.T) {
	events := make(chan string, 200)
	g := echoServer(t, events)
	p := newCutProxy(t, g.URL)
	s := mustNew(t, p.URL, Options{Transports: []string{TransportWebSocket}})
	for i := range 20 {
		must(t, s.Emit("n", i))
	}
	s.On(EventDisconnect, func(Args, AckFunc) {
		for i := 20; i < 40; i++ {
			_ = s.Emit("n", i)
		}
	})
	r := record(s)
	mustConnect(t, s, r)
	for i := range 20 {
		if got, want := recv(t, events), fmt.Sprintf("n:%d", i); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	p.cut()
	r.wait(t, EventConnect, 2)
	for i := 20; i < 40; i++ {
		if got, want := recv(t, events), fmt.Sprintf("n:%d", i); got != want {
			t.Fatalf("after reconnect: got %q, want %q", got, want)
		}
	}
}

func TestGoVolatileDroppedWhileDisconnected(t *testing.T) {
	events := make(chan string, 10)
	g := echoServer(t, events)
	s := mustNew(t, g.URL, Options{})
	must(t, s.Volatile().Emit("volatile", 1))
	must(t, s.Volatile().Send("volatile message"))
	must(t, s.Emit("buffered", 2))
	r := record(s)
	mustConnect(t, s, r)
	if got := recv(t, events); got != "buffered:2" {
		t.Fatalf("first event %q", got)
	}
	must(t, s.Volatile().Emit("volatile", 3))
	if got := recv(t, events); got != "volatile:3" {
		t.Fatalf("connected volatile: %q", got)
	}
}

func TestGoEmitWithAckTimeoutAndDisconnect(t *testing.T) {
	g := startGo(t, actorio.Options{}, nil) // nobody acknowledges
	p := newCutProxy(t, g.URL)
	s := mustNew(t, p.URL, Options{Transports: []string{TransportWebSocket}})
	r := record(s)
	mustConnect(t, s, r)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.EmitWithAck(ctx, "void"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
	if n := s.pendingAcks(); n != 0 {
		t.Fatalf("%d acks still pending after the timeout", n)
	}

	errc := make(chan error, 1)
	go func() {
		_, err := s.EmitWithAck(ctxT(t), "void")
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	p.cut()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrDisconnected) {
			t.Fatalf("disconnect: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("EmitWithAck still waiting after the disconnect")
	}
}

func TestGoEmitRejectsReservedAndUnencodable(t *testing.T) {
	s := mustNew(t, freePort(t), Options{})
	sr := mustNew(t, freePort(t), Options{Retries: 1})
	emitters := map[string]func(name string) error{
		"Emit":          func(name string) error { return s.Emit(name) },
		"Volatile.Emit": func(name string) error { return s.Volatile().Emit(name) },
		"EmitWithAck": func(name string) error {
			_, err := s.EmitWithAck(ctxT(t), name)
			return err
		},
		"Emit with Retries": func(name string) error { return sr.Emit(name) },
		"EmitWithAck with Retries": func(name string) error {
			_, err := sr.EmitWithAck(ctxT(t), name)
			return err
		},
	}
	// The names the JavaScript client refuses to emit.
	for _, name := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"} {
		for how, emit := range emitters {
			if err := emit(name); !errors.Is(err, ErrReservedEvent) || !strings.Contains(err.Error(), strconv.Quote(name)) {
				t.Errorf("%s(%q): %v", how, name, err)
			}
		}
	}
	if err := s.Emit("bad", make(chan int)); err == nil {
		t.Error("a channel was encoded")
	}
	must(t, s.Close())
	if err := s.Emit("late"); !errors.Is(err, ErrClosed) {
		t.Errorf("Emit after Close: %v", err)
	}
	if err := s.Connect(); !errors.Is(err, ErrClosed) {
		t.Errorf("Connect after Close: %v", err)
	}
}

func TestGoNamespacesShareOneConnection(t *testing.T) {
	var handshakes atomic.Int32
	g := startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		for _, nsp := range []string{"/", "/admin"} {
			srv.Of(nsp).OnConnection(func(s *actorio.Socket) {
				_ = s.Emit("where", s.Namespace().Name())
			})
		}
	})
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("sid") == "" {
			handshakes.Add(1)
		}
		g.server().ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)

	m, err := NewManager(counting.URL, fast(Options{}))
	must(t, err)
	t.Cleanup(func() { _ = m.Close() })
	got := make(chan string, 2)
	for _, nsp := range []string{"/", "admin"} {
		s := m.Socket(nsp)
		if m.Socket(nsp) != s {
			t.Fatal("Socket returned a different socket for the same namespace")
		}
		s.On("where", func(a Args, _ AckFunc) { got <- s.Namespace() + "=" + a.String(0) })
		must(t, s.Connect())
	}
	a, b := recv(t, got), recv(t, got)
	if !(a == "/=/" && b == "/admin=/admin") && !(b == "/=/" && a == "/admin=/admin") {
		t.Fatalf("got %q and %q", a, b)
	}
	if n := handshakes.Load(); n != 1 {
		t.Fatalf("%d Engine.IO handshakes, want 1", n)
	}
	// Leaving one namespace keeps the connection for the other.
	m.Socket("/admin").Disconnect()
	time.Sleep(50 * time.Millisecond)
	if !m.Socket("/").Connected() || m.idle() {
		t.Fatal("leaving /admin closed the shared connection")
	}
}

func TestGoAuthFuncRunsOnEveryConnect(t *testing.T) {
	tokens := make(chan string, 4)
	g := startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.Use(func(s *actorio.Socket) error {
			tokens <- string(s.Handshake().Auth)
			return nil
		})
	})
	p := newCutProxy(t, g.URL)
	var n atomic.Int32
	s := mustNew(t, p.URL, Options{
		Transports: []string{TransportWebSocket},
		AuthFunc:   func() any { return map[string]any{"token": n.Add(1)} },
	})
	r := record(s)
	mustConnect(t, s, r)
	p.cut()
	r.wait(t, EventConnect, 2)
	if a, b := recv(t, tokens), recv(t, tokens); a != `{"token":1}` || b != `{"token":2}` {
		t.Fatalf("auth %s then %s", a, b)
	}
}

func TestGoAuthThatIsNotAnObject(t *testing.T) {
	g := startGo(t, actorio.Options{}, nil)
	s := mustNew(t, g.URL, Options{Auth: "not an object"})
	r := record(s)
	must(t, s.Connect())
	r.wait(t, EventError, 1)
	expectSeq(t, "bad auth", r.all(), []string{"connecting", "connect_error", "error"})
	waitIdle(t, s.Manager())
}

func TestGoQueryHeadersAndPerSocketAuth(t *testing.T) {
	type seen struct{ query, header, auth string }
	got := make(chan seen, 4)
	g := startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			h := s.Handshake()
			got <- seen{h.Query.Get("foo"), h.Headers.Get("X-Test"), string(h.Auth)}
		})
	})
	for _, tr := range []string{TransportPolling, TransportWebSocket} {
		m, err := NewManager(g.URL+"?from=url", fast(Options{
			Transports: []string{tr},
			Query:      map[string][]string{"foo": {"bar"}},
			Header:     http.Header{"X-Test": {"yes"}},
			Auth:       map[string]any{"ignored": true},
		}))
		must(t, err)
		s := m.Socket("/", WithAuth(Object{{Key: "z", Value: 1}, {Key: "a", Value: 2}}))
		must(t, s.Connect())
		if v := <-got; v != (seen{"bar", "yes", `{"z":1,"a":2}`}) {
			t.Fatalf("%s: server saw %+v", tr, v)
		}
		must(t, m.Close())
	}
}

func TestGoConcurrentUse(t *testing.T) {
	g := echoServer(t, nil)
	s := mustNew(t, g.URL, Options{})
	r := record(s)
	mustConnect(t, s, r)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				a, err := s.EmitWithAck(ctxT(t), "echo", w, i, []byte{byte(i)})
				if err != nil {
					t.Error(err)
					return
				}
				var gw, gi int
				if a.Decode(0, &gw) != nil || a.Decode(1, &gi) != nil || gw != w || gi != i || a.Bytes(2)[0] != byte(i) {
					t.Errorf("worker %d #%d got %s %s", w, i, a.Raw(0), a.Raw(1))
					return
				}
				s.On("x", func(Args, AckFunc) {})
				_ = s.ID()
				_ = s.Connected()
				s.Off("x")
			}
		}()
	}
	wg.Wait()
}

func TestGoCloseLeavesNoGoroutine(t *testing.T) {
	g := echoServer(t, nil)
	for _, tr := range [][]string{nil, {TransportWebSocket}, {TransportPolling}} {
		m, err := NewManager(g.URL, fast(Options{Transports: tr}))
		must(t, err)
		a, b := m.Socket("/"), m.Socket("/other")
		ra := record(a)
		mustConnect(t, a, ra)
		must(t, b.Connect())
		if _, err := a.EmitWithAck(ctxT(t), "echo", 1); err != nil {
			t.Fatal(err)
		}
		if tr == nil {
			waitTransport(t, m, TransportWebSocket)
		}
		must(t, m.Close())
		ra.wait(t, "disconnect:"+disconnect.IOClientDisconnect, 1)
		checkNoClientGoroutine(t)
	}
}

func TestGoCloseFromAHandler(t *testing.T) {
	g := echoServer(t, nil)
	s := mustNew(t, g.URL, Options{})
	closed := make(chan error, 1)
	s.On(EventConnect, func(Args, AckFunc) { closed <- s.Close() })
	r := record(s)
	must(t, s.Connect())
	select {
	case err := <-closed:
		must(t, err)
	case <-time.After(waitTimeout):
		t.Fatal("Close from a handler did not return")
	}
	r.wait(t, "disconnect:"+disconnect.IOClientDisconnect, 1)
	checkNoClientGoroutine(t)
}

func TestGoHandlerPanicDoesNotStopDelivery(t *testing.T) {
	g := startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			_ = s.Emit("boom")
			_ = s.Emit("after")
		})
	})
	s := mustNew(t, g.URL, Options{})
	s.On("boom", func(Args, AckFunc) { panic("handler bug") })
	after := make(chan string, 1)
	s.On("after", func(Args, AckFunc) { after <- "ok" })
	must(t, s.Connect())
	recv(t, after)
}

func TestGoClassicEventsByNameWithArgs(t *testing.T) {
	g := startGo(t, actorio.Options{}, nil)
	p := newCutProxy(t, g.URL)
	s := mustNew(t, p.URL, Options{Transports: []string{TransportWebSocket}})
	var mu sync.Mutex
	var got []string
	for _, name := range []string{EventConnecting, EventConnect, EventDisconnect, EventReconnecting,
		EventReconnectAttempt, EventReconnect, EventConnectError, EventReconnectError} {
		s.On(name, func(a Args, ack AckFunc) {
			mu.Lock()
			defer mu.Unlock()
			if ack != nil {
				t.Errorf("%s has an ack", name)
			}
			str := name
			if a.Len() > 0 {
				str += " " + string(a.Raw(0))
			}
			got = append(got, str)
		})
	}
	r := record(s)
	mustConnect(t, s, r)
	p.down()
	r.wait(t, EventReconnectError, 1)
	p.up()
	r.wait(t, EventConnect, 2)
	// On handlers run right after the OnEvent hook that recorded connect.
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := count(got, EventConnect)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 13 {
		t.Fatalf("events %q", got)
	}
	want := []string{"connecting", "connect", `disconnect "transport close"`, "reconnecting 1", "reconnect_attempt 1", "connecting"}
	expectSeq(t, "On by name", got[:6], want)
	if e := got[6]; len(e) < len("connect_error {\"message\":") || e[:len("connect_error {\"message\":")] != "connect_error {\"message\":" {
		t.Fatalf("connect_error args: %q", e)
	}
	last := got[len(got)-2:]
	n := count(r.all(), EventReconnectError) + 1
	expectSeq(t, "On by name (end)", last, []string{fmt.Sprintf("reconnect %d", n), "connect"})
}

func TestGoNewTakesTheNamespaceFromTheURL(t *testing.T) {
	g := startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.Of("/chat").OnConnection(func(s *actorio.Socket) { _ = s.Emit("hi", s.Namespace().Name()) })
	})
	s := mustNew(t, g.URL+"/chat", Options{})
	got := make(chan string, 1)
	s.On("hi", func(a Args, _ AckFunc) { got <- a.String(0) })
	must(t, s.Connect())
	if v := recv(t, got); v != "/chat" || s.Namespace() != "/chat" {
		t.Fatalf("namespace %q %q", v, s.Namespace())
	}
}

func TestGoMethodsFromHandlers(t *testing.T) {
	events := make(chan string, 10)
	g := echoServer(t, events)
	p := newCutProxy(t, g.URL)
	s := mustNew(t, p.URL, Options{Transports: []string{TransportWebSocket}})
	ids := make(chan string, 2)
	s.On(EventConnect, func(Args, AckFunc) {
		s.On("unused", func(Args, AckFunc) {})
		s.Off("unused")
		_ = s.Emit("from handler", s.Connected())
		if _, err := s.EmitWithAck(ctxT(t), "echo", 1); err != nil {
			t.Error(err)
		}
		ids <- s.ID()
	})
	s.Once(EventDisconnect, func(Args, AckFunc) {
		s.Disconnect()
		_ = s.Connect()
	})
	r := record(s)
	must(t, s.Connect())
	if id := <-ids; id == "" {
		t.Fatal("no id in the connect handler")
	}
	if got := recv(t, events); got != "from handler:true" {
		t.Fatalf("server got %q", got)
	}
	p.cut()
	r.wait(t, EventConnect, 2)
	<-ids
}

func TestGoAbandonedBufferedEmitWithAckIsNeverSent(t *testing.T) {
	events := make(chan string, 10)
	g := echoServer(t, events)
	s := mustNew(t, g.URL, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.EmitWithAck(ctx, "abandoned"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	must(t, s.Emit("kept"))
	r := record(s)
	mustConnect(t, s, r)
	if got := recv(t, events); got != "kept:" {
		t.Fatalf("server got %q first", got)
	}
}
