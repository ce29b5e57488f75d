package actors

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// recorder is a MessageInvoker that records what it is given, and panics
// on the user message "boom".
type recorder struct {
	mu        sync.Mutex
	user, sys []any
	escalated []any
}

func (r *recorder) InvokeUserMessage(m any) {
	if m == "boom" {
		panic("boom")
	}
	r.mu.Lock()
	r.user = append(r.user, m)
	r.mu.Unlock()
}

func (r *recorder) InvokeSystemMessage(m any) {
	r.mu.Lock()
	r.sys = append(r.sys, m)
	r.mu.Unlock()
}

func (r *recorder) EscalateFailure(reason, m any) {
	r.mu.Lock()
	r.escalated = append(r.escalated, m)
	r.mu.Unlock()
}

// heldDispatcher keeps what it is given to run until the test runs it.
type heldDispatcher struct{ held []func() }

func (d *heldDispatcher) Schedule(fn func()) { d.held = append(d.held, fn) }
func (d *heldDispatcher) Throughput() int    { return 300 }

func (d *heldDispatcher) runAll() {
	for len(d.held) > 0 {
		fn := d.held[0]
		d.held = d.held[1:]
		fn()
	}
}

func TestMailboxOrder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		post     func(m *mailbox)
		wantUser []any
		wantSys  []any
		wantEsc  []any
	}{
		{
			name: "user messages in order",
			post: func(m *mailbox) {
				for i := range 5 {
					m.PostUserMessage(i)
				}
			},
			wantUser: []any{0, 1, 2, 3, 4},
		},
		{
			name: "system messages before user messages queued with them",
			post: func(m *mailbox) {
				m.PostUserMessage("u1")
				m.PostSystemMessage("s1")
				m.PostUserMessage("u2")
				m.PostSystemMessage("s2")
			},
			wantUser: []any{"u1", "u2"},
			wantSys:  []any{"s1", "s2"},
		},
		{
			name: "suspended: user messages wait, system ones do not",
			post: func(m *mailbox) {
				m.PostSystemMessage(&actor.SuspendMailbox{})
				m.PostUserMessage("u1")
				m.PostSystemMessage("s1")
			},
			wantSys: []any{"s1"},
		},
		{
			name: "resumed: the user messages held run, in order",
			post: func(m *mailbox) {
				m.PostSystemMessage(&actor.SuspendMailbox{})
				m.PostUserMessage("u1")
				m.PostUserMessage("u2")
				m.PostSystemMessage(&actor.ResumeMailbox{})
			},
			wantUser: []any{"u1", "u2"},
		},
		{
			name: "a panic is escalated with its message, and what follows runs",
			post: func(m *mailbox) {
				m.PostUserMessage("u1")
				m.PostUserMessage("boom")
				m.PostUserMessage("u2")
			},
			wantUser: []any{"u1", "u2"},
			wantEsc:  []any{"boom"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, d := &recorder{}, &heldDispatcher{}
			m := newMailbox().(*mailbox)
			m.RegisterHandlers(r, d)
			tc.post(m)
			if len(d.held) != 1 {
				t.Fatalf("scheduled %d times before running, want once", len(d.held))
			}
			d.runAll()
			if !slices.Equal(r.user, tc.wantUser) || !slices.Equal(r.sys, tc.wantSys) || !slices.Equal(r.escalated, tc.wantEsc) {
				t.Errorf("user %v, system %v, escalated %v; want %v, %v, %v", r.user, r.sys, r.escalated, tc.wantUser, tc.wantSys, tc.wantEsc)
			}
			if m.running {
				t.Error("still marked running with nothing runnable")
			}
			m.PostUserMessage("later")
			if m.UserMessageCount() > 0 && !m.suspended && len(d.held) != 1 {
				t.Errorf("a message posted after the run scheduled %d runs, want 1", len(d.held))
			}
		})
	}
}

// TestMailboxIdleHoldsNothing checks that a drained mailbox lets its
// arrays go, and that one never drained keeps an array of about twice
// what is queued.
func TestMailboxIdleHoldsNothing(t *testing.T) {
	r, d := &recorder{}, &heldDispatcher{}
	m := newMailbox().(*mailbox)
	m.RegisterHandlers(r, d)
	m.PostSystemMessage("s")
	for i := range 100 {
		m.PostUserMessage(i)
	}
	d.runAll()
	if m.user != nil || m.sys != nil {
		t.Errorf("drained mailbox holds arrays of %d and %d", cap(m.user), cap(m.sys))
	}

	// A consumer always one message behind: 10 000 posts, each followed
	// by one message taken.
	m.PostUserMessage(-1)
	for i := range 10_000 {
		m.PostUserMessage(i)
		if msg, _ := m.next(); msg == nil {
			t.Fatal("nothing to take")
		}
		if cap(m.user) > 64 {
			t.Fatalf("after %d posts, %d queued in an array of %d", i+1, len(m.user), cap(m.user))
		}
	}
}

// TestMailboxUnderActors runs the mailbox under protoactor with actorio's
// dispatcher: every message of several senders arrives, each sender's in
// order, and an actor whose handler panics is restarted by its
// supervisor and goes on with the next message, while another actor is
// unaffected.
func TestMailboxUnderActors(t *testing.T) {
	sys := actor.NewActorSystem()
	d := newPoolDispatcher()
	defer d.close()
	const senders, each = 4, 2000
	type got struct {
		from, seq int
	}
	var mu sync.Mutex
	seen := map[string][]got{}
	done := make(chan struct{})
	total := 0
	props := actor.PropsFromProducer(func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			switch m := c.Message().(type) {
			case got:
				mu.Lock()
				seen[c.Self().Id] = append(seen[c.Self().Id], m)
				total++
				if total == 2*senders*each+1 {
					close(done)
				}
				mu.Unlock()
			case string:
				if m == "boom" {
					panic("boom")
				}
			}
		})
	}, actor.WithDispatcher(d), actor.WithMailbox(newMailbox))
	a := sys.Root.Spawn(props)
	b := sys.Root.Spawn(props)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				sys.Root.Send(a, got{s, i})
				sys.Root.Send(b, got{s, i})
				if s == 0 && i == each/2 {
					sys.Root.Send(a, "boom")
				}
			}
		})
	}
	wg.Wait()
	sys.Root.Send(a, got{-1, 0}) // after the restart
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d of %d messages arrived", total, 2*senders*each+1)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, list := range seen {
		next := map[int]int{}
		for _, g := range list {
			if g.from >= 0 && g.seq != next[g.from] {
				t.Fatalf("actor %s: sender %d's message %d came after %d", id, g.from, g.seq, next[g.from]-1)
			}
			next[g.from] = g.seq + 1
		}
		for s := range senders {
			if next[s] != each {
				t.Errorf("actor %s: %d of sender %d's messages", id, next[s], s)
			}
		}
	}
	for _, pid := range []*actor.PID{a, b} {
		if err := sys.Root.StopFuture(pid).Wait(); err != nil {
			t.Errorf("stop %v: %v", pid, err)
		}
	}
}
