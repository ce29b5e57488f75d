package gateway

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// beatRecorder is a schedule whose heartbeats record which session ran
// and when.
type beatRecorder struct {
	b   *beats
	mu  sync.Mutex
	ran []*Conn
	at  map[*Conn]time.Duration
	got chan struct{}
}

func newBeatRecorder() *beatRecorder {
	r := &beatRecorder{b: &beats{}, at: map[*Conn]time.Duration{}, got: make(chan struct{}, 64)}
	r.b.run = func(c *Conn) {
		r.mu.Lock()
		r.ran = append(r.ran, c)
		r.at[c] = monoNow()
		r.mu.Unlock()
		r.got <- struct{}{}
	}
	return r
}

func (r *beatRecorder) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-r.got:
		case <-time.After(3 * time.Second):
			t.Fatalf("heartbeats ran %d times, want %d", len(r.ran), n)
		}
	}
}

func newBeatConn() *Conn { return &Conn{beatIdx: -1} }

// TestBeatsRunDueSessionsInOrder checks the heartbeat schedule: each
// session runs once, not before its time, in the order of their times;
// a session scheduled again runs at its new time only, a cancelled one not
// at all, and nothing runs once the schedule stopped.
func TestBeatsRunDueSessionsInOrder(t *testing.T) {
	r := newBeatRecorder()
	a, b, c, moved, cancelled := newBeatConn(), newBeatConn(), newBeatConn(), newBeatConn(), newBeatConn()
	start := monoNow()
	want := map[*Conn]time.Duration{a: 90 * time.Millisecond, b: 30 * time.Millisecond, c: 60 * time.Millisecond, moved: 120 * time.Millisecond}
	r.b.schedule(moved, 10*time.Millisecond) // then later
	r.b.schedule(cancelled, 20*time.Millisecond)
	for _, x := range []*Conn{a, b, c} {
		r.b.schedule(x, want[x])
	}
	r.b.schedule(moved, want[moved])
	r.b.cancel(cancelled)
	r.wait(t, 4)
	time.Sleep(50 * time.Millisecond) // nothing more comes
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ran) != 4 {
		t.Fatalf("%d heartbeats ran, want 4", len(r.ran))
	}
	for i, x := range []*Conn{b, c, a, moved} {
		if r.ran[i] != x {
			t.Fatalf("heartbeat %d ran for the wrong session", i)
		}
		if early := want[x] - (r.at[x] - start); early > 0 {
			t.Fatalf("heartbeat %d ran %v early", i, early)
		}
	}
	if _, ok := r.at[cancelled]; ok {
		t.Fatal("a cancelled session's heartbeat ran")
	}
	for _, x := range []*Conn{a, b, c, moved, cancelled} {
		if x.beatIdx != -1 {
			t.Fatalf("a session that ran is still in the schedule at %d", x.beatIdx)
		}
	}
	if r.b.h != nil {
		t.Fatalf("the schedule holds %d sessions after they all ran", len(r.b.h))
	}

	r.b.schedule(a, 20*time.Millisecond)
	r.b.stop()
	r.b.schedule(b, time.Millisecond)
	select {
	case <-r.got:
		t.Fatal("a heartbeat ran after stop")
	case <-time.After(100 * time.Millisecond):
	}
}

// TestBeatsHeapStaysOrdered schedules, moves and cancels many sessions at
// random (the timer set far ahead) and checks after each step that the
// heap is ordered and that each session knows its place in it.
func TestBeatsHeapStaysOrdered(t *testing.T) {
	b := &beats{run: func(*Conn) { t.Error("a heartbeat ran") }}
	defer b.stop()
	rng := rand.New(rand.NewPCG(1, 2))
	conns := make([]*Conn, 200)
	for i := range conns {
		conns[i] = newBeatConn()
	}
	for step := range 5000 {
		c := conns[rng.IntN(len(conns))]
		if rng.IntN(4) == 0 {
			b.cancel(c)
		} else {
			b.schedule(c, time.Hour+time.Duration(rng.IntN(1000))*time.Second)
		}
		b.mu.Lock()
		for i, x := range b.h {
			if int(x.c.beatIdx) != i {
				b.mu.Unlock()
				t.Fatalf("step %d: the session at %d thinks it is at %d", step, i, x.c.beatIdx)
			}
			if p := (i - 1) / 2; i > 0 && b.h[p].due > x.due {
				b.mu.Unlock()
				t.Fatalf("step %d: %d is due before its parent %d", step, i, p)
			}
		}
		in := 0
		for _, c := range conns {
			if c.beatIdx >= 0 {
				in++
			}
		}
		if in != len(b.h) {
			b.mu.Unlock()
			t.Fatalf("step %d: %d sessions think they are scheduled, the heap holds %d", step, in, len(b.h))
		}
		b.mu.Unlock()
	}
}
