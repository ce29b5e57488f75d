package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/logbuf"
)

// Options.AckTimeout and Options.Retries against the actorio server.

// delivery is one event an actorio server's handler received.
type delivery struct {
	key  string // event:first argument (raw JSON)
	n    int    // how many times key was received, this one included
	args actorio.Args
	ack  actorio.AckFunc // nil without an acknowledgement request
}

// tally records, in order, the events an actorio server receives.
type tally struct {
	mu     sync.Mutex
	keys   []string
	copies map[string]int
	change chan struct{}
}

// tallyServer starts an actorio server whose sockets record every event
// they receive on the returned tally, then hand it to policy, which acks
// it or not.
func tallyServer(t testing.TB, policy func(d delivery)) (*goServer, *tally) {
	tl := &tally{copies: map[string]int{}, change: make(chan struct{})}
	g := startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.OnAny(func(_ *actorio.Socket, event string, args actorio.Args, ack actorio.AckFunc) {
				key := event + ":" + string(args.Raw(0))
				tl.mu.Lock()
				tl.keys = append(tl.keys, key)
				tl.copies[key]++
				n := tl.copies[key]
				close(tl.change)
				tl.change = make(chan struct{})
				tl.mu.Unlock()
				policy(delivery{key: key, n: n, args: args, ack: ack})
			})
		})
	})
	return g, tl
}

// ackAfter acks with the event's arguments once a delivery is the n-th of
// its key; earlier ones are ignored.
func ackAfter(n int) func(delivery) {
	return func(d delivery) {
		if d.n > n && d.ack != nil {
			_ = d.ack(d.args.Values()...)
		}
	}
}

// all returns every key received so far, in order.
func (tl *tally) all() []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return slices.Clone(tl.keys)
}

// count returns how many times key was received.
func (tl *tally) count(key string) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.copies[key]
}

// waitLen waits until n events were received.
func (tl *tally) waitLen(t testing.TB, n int) []string {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		tl.mu.Lock()
		keys, ch := slices.Clone(tl.keys), tl.change
		tl.mu.Unlock()
		if len(keys) >= n {
			return keys
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("server received %q, want %d events", keys, n)
		}
	}
}

// connected returns a connected socket to url with opts.
func connected(t testing.TB, url string, opts Options) (*Socket, *recorder) {
	t.Helper()
	s := mustNew(t, url, opts)
	r := record(s)
	mustConnect(t, s, r)
	return s, r
}

func TestGoAckTimeoutEndsEmitWithAck(t *testing.T) {
	const ackTimeout = 200 * time.Millisecond
	for _, c := range []struct {
		name    string
		policy  func(delivery)
		ctx     time.Duration // of EmitWithAck
		wantErr error         // nil: acknowledged
		notErr  error         // must not match
		min     time.Duration // the least the call may take
	}{
		{name: "acked", policy: ackAfter(0), ctx: waitTimeout},
		{name: "never acked", policy: ackAfter(1 << 30), ctx: waitTimeout, wantErr: ErrAckTimeout, min: ackTimeout},
		{name: "ctx ends first", policy: ackAfter(1 << 30), ctx: 50 * time.Millisecond, wantErr: context.DeadlineExceeded, notErr: ErrAckTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, _ := tallyServer(t, c.policy)
			s, _ := connected(t, g.URL, Options{AckTimeout: ackTimeout})
			ctx, cancel := context.WithTimeout(context.Background(), c.ctx)
			defer cancel()
			start := time.Now()
			a, err := s.EmitWithAck(ctx, "e", "x")
			took := time.Since(start)
			if c.wantErr == nil {
				if err != nil || a.String(0) != "x" {
					t.Fatalf("ack %q, err %v", a.String(0), err)
				}
				return
			}
			if !errors.Is(err, c.wantErr) || (c.notErr != nil && errors.Is(err, c.notErr)) {
				t.Fatalf("err %v, want %v (not %v)", err, c.wantErr, c.notErr)
			}
			if errors.Is(err, ErrAckTimeout) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%v does not wrap context.DeadlineExceeded", err)
			}
			if took < c.min || took > c.min+time.Second {
				t.Fatalf("failed after %v, want at least %v and not much more", took, c.min)
			}
			if n := s.pendingAcks(); n != 0 {
				t.Fatalf("%d acks still pending", n)
			}
		})
	}
}

func TestGoAckTimeoutDropsABufferedEmit(t *testing.T) {
	g, tl := tallyServer(t, ackAfter(0))
	s := mustNew(t, g.URL, Options{AckTimeout: 50 * time.Millisecond})
	if _, err := s.EmitWithAck(ctxT(t), "abandoned"); !errors.Is(err, ErrAckTimeout) {
		t.Fatalf("buffered EmitWithAck: %v", err)
	}
	must(t, s.Emit("kept"))
	r := record(s)
	mustConnect(t, s, r)
	if got := tl.waitLen(t, 1); got[0] != "kept:" {
		t.Fatalf("server got %q first", got)
	}
}

func TestGoRetriesUntilAcknowledged(t *testing.T) {
	const ackTimeout = 200 * time.Millisecond
	for _, c := range []struct {
		retries    int
		wantCopies int
		acked      bool
	}{
		{retries: 1, wantCopies: 2, acked: false},
		{retries: 2, wantCopies: 3, acked: true},
		{retries: 4, wantCopies: 3, acked: true},
	} {
		t.Run(fmt.Sprintf("retries=%d", c.retries), func(t *testing.T) {
			g, tl := tallyServer(t, ackAfter(2)) // the third copy is acknowledged
			s, _ := connected(t, g.URL, Options{AckTimeout: ackTimeout, Retries: c.retries})
			start := time.Now()
			a, err := s.EmitWithAck(ctxT(t), "job", "a")
			took := time.Since(start)
			if c.acked {
				if err != nil || a.String(0) != "a" {
					t.Fatalf("ack %q, err %v", a.String(0), err)
				}
			} else if !errors.Is(err, ErrAckTimeout) {
				t.Fatalf("err %v, want ErrAckTimeout", err)
			}
			// Each unacknowledged copy waited ackTimeout.
			if waited := time.Duration(c.wantCopies-1) * ackTimeout; took < waited {
				t.Fatalf("returned after %v, before %v", took, waited)
			}
			time.Sleep(2 * ackTimeout) // no late copy
			if n := tl.count(`job:"a"`); n != c.wantCopies {
				t.Fatalf("server saw %d copies, want %d", n, c.wantCopies)
			}
			if n := s.pendingAcks(); n != 0 {
				t.Fatalf("%d acks still pending", n)
			}
		})
	}
}

func TestGoRetryQueueSendsOneAtATimeInOrder(t *testing.T) {
	const total = 12
	var mu sync.Mutex
	inFlight, most := 0, 0
	g, tl := tallyServer(t, func(d delivery) {
		if d.ack == nil {
			t.Errorf("%s came without an acknowledgement request", d.key)
			return
		}
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		go func() { // a slow acknowledgement, off the socket's handler
			time.Sleep(15 * time.Millisecond)
			mu.Lock()
			inFlight--
			mu.Unlock()
			_ = d.ack(d.args.Values()...)
		}()
	})
	s, _ := connected(t, g.URL, Options{AckTimeout: 3 * time.Second, Retries: 2})
	var want []string
	for i := range total - 1 {
		must(t, s.Emit("n", i))
		want = append(want, fmt.Sprintf("n:%d", i))
	}
	a, err := s.EmitWithAck(ctxT(t), "n", total-1)
	must(t, err)
	want = append(want, fmt.Sprintf("n:%d", total-1))
	if string(a.Raw(0)) != fmt.Sprint(total-1) {
		t.Fatalf("last ack %s", a.Raw(0))
	}
	expectSeq(t, "server", tl.all(), want)
	mu.Lock()
	defer mu.Unlock()
	if most != 1 {
		t.Fatalf("the server had %d unacknowledged events at once", most)
	}
}

func TestGoRetryResendsTheEventInFlightAfterReconnection(t *testing.T) {
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"without AckTimeout", Options{Retries: 1}},
		{"with AckTimeout", Options{Retries: 1, AckTimeout: 5 * time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			held := make(chan struct{}, 1)
			g, tl := tallyServer(t, func(d delivery) {
				if d.n == 1 {
					held <- struct{}{} // the first copy is lost with its connection
					return
				}
				_ = d.ack("ok", d.n)
			})
			p := newCutProxy(t, g.URL)
			c.opts.Transports = []string{TransportWebSocket}
			s, r := connected(t, p.URL, c.opts)
			type result struct {
				a   Args
				err error
			}
			res := make(chan result, 1)
			go func() {
				a, err := s.EmitWithAck(ctxT(t), "hold", 1)
				res <- result{a, err}
			}()
			recvOne(t, held)
			p.cut()
			r.wait(t, EventConnect, 2)
			got := recvOne(t, res)
			if got.err != nil || got.a.String(0) != "ok" || string(got.a.Raw(1)) != "2" {
				t.Fatalf("ack %s %s, err %v", got.a.Raw(0), got.a.Raw(1), got.err)
			}
			if n := tl.count("hold:1"); n != 2 {
				t.Fatalf("server saw %d copies, want 2", n)
			}
		})
	}
}

func TestGoRetryCtxEndRemovesTheEventFromTheQueue(t *testing.T) {
	release := make(chan struct{})
	g, tl := tallyServer(t, func(d delivery) {
		switch d.key {
		case "first:":
			go func() { <-release; _ = d.ack() }()
		case "stuck:": // never acknowledged
		default:
			_ = d.ack()
		}
	})
	s, _ := connected(t, g.URL, Options{Retries: 3})

	// Queued behind "first": abandoned, it is never sent.
	must(t, s.Emit("first"))
	tl.waitLen(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.EmitWithAck(ctx, "abandoned"); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrAckTimeout) {
		t.Fatalf("abandoned: %v", err)
	}
	close(release)
	waitQueueLen(t, s, 0)
	// In flight: abandoned, the queue moves on.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := s.EmitWithAck(ctx2, "stuck"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stuck: %v", err)
	}
	if _, err := s.EmitWithAck(ctxT(t), "last"); err != nil {
		t.Fatal(err)
	}
	expectSeq(t, "server", tl.all(), []string{"first:", "stuck:", "last:"})
	if n := s.pendingAcks(); n != 0 {
		t.Fatalf("%d acks still pending", n)
	}
}

func TestGoRetryDroppedEmitIsLoggedAndTheQueueMovesOn(t *testing.T) {
	g, tl := tallyServer(t, func(d delivery) {
		if !strings.HasPrefix(d.key, "lost:") {
			_ = d.ack()
		}
	})
	logs := &logbuf.Buffer{}
	s, _ := connected(t, g.URL, Options{
		AckTimeout: 100 * time.Millisecond,
		Retries:    1,
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	must(t, s.Emit("lost", 1))
	if _, err := s.EmitWithAck(ctxT(t), "after"); err != nil {
		t.Fatal(err)
	}
	expectSeq(t, "server", tl.all(), []string{"lost:1", "lost:1", "after:"})
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "event=lost") || !strings.Contains(l, "given up after 2 tries") {
		t.Fatalf("log: %q", l)
	}
}

func TestGoRetryVolatileBypassesTheQueue(t *testing.T) {
	release := make(chan struct{})
	g, tl := tallyServer(t, func(d delivery) {
		if (d.key == "volatile:") != (d.ack == nil) {
			t.Errorf("%s: acknowledgement requested %v", d.key, d.ack != nil)
			return
		}
		switch d.key {
		case "held:":
			go func() { <-release; _ = d.ack() }()
		case "queued:":
			_ = d.ack()
		}
	})
	s, _ := connected(t, g.URL, Options{Retries: 1})
	must(t, s.Emit("held"))
	must(t, s.Emit("queued"))
	must(t, s.Volatile().Emit("volatile"))
	tl.waitLen(t, 2)
	close(release)
	expectSeq(t, "server", tl.waitLen(t, 3), []string{"held:", "volatile:", "queued:"})
}

func TestGoRetryQueueKeptAcrossDisconnect(t *testing.T) {
	held := make(chan struct{}, 1)
	g, tl := tallyServer(t, func(d delivery) {
		if d.key == "a:" && d.n == 1 {
			held <- struct{}{}
			return
		}
		_ = d.ack()
	})
	s, r := connected(t, g.URL, Options{Retries: 1, AckTimeout: 5 * time.Second})
	res := make(chan error, 2)
	for _, ev := range []string{"a", "b"} {
		go func() {
			_, err := s.EmitWithAck(ctxT(t), ev)
			res <- err
		}()
		if ev == "a" {
			recvOne(t, held)
		}
	}
	waitQueueLen(t, s, 2)
	s.Disconnect()
	r.wait(t, "disconnect:"+disconnect.IOClientDisconnect, 1)
	must(t, s.Connect())
	r.wait(t, EventConnect, 2)
	must(t, recvOne(t, res))
	must(t, recvOne(t, res))
	expectSeq(t, "server", tl.all(), []string{"a:", "a:", "b:"})
}

func TestGoRetryCloseFailsTheQueue(t *testing.T) {
	g, tl := tallyServer(t, func(delivery) {}) // nothing is acknowledged
	m, err := NewManager(g.URL, fast(Options{Retries: 2, AckTimeout: 5 * time.Second}))
	must(t, err)
	s := m.Socket("/")
	r := record(s)
	mustConnect(t, s, r)
	res := make(chan error, 3)
	for i := range 3 {
		go func() {
			_, err := s.EmitWithAck(ctxT(t), "e", i)
			res <- err
		}()
	}
	tl.waitLen(t, 1)
	waitQueueLen(t, s, 3)
	must(t, m.Close())
	for range 3 {
		if err := recvOne(t, res); !errors.Is(err, ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	}
	if n, q := s.pendingAcks(), s.queueLen(); n != 0 || q != 0 {
		t.Fatalf("after Close: %d acks pending, %d events queued", n, q)
	}
	if err := s.Emit("late"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Emit after Close: %v", err)
	}
	checkNoClientGoroutine(t)
}

func TestGoRetryOptionsMustNotBeNegative(t *testing.T) {
	for _, o := range []Options{{Retries: -1}, {AckTimeout: -time.Second}} {
		if _, err := New("http://127.0.0.1:1", o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// queueLen returns the number of events in the retry queue (tests only).
func (s *Socket) queueLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// waitQueueLen waits until s's retry queue holds n events.
func waitQueueLen(t testing.TB, s *Socket, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for s.queueLen() != n {
		if time.Now().After(deadline) {
			t.Fatalf("retry queue of %d events, want %d", s.queueLen(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
