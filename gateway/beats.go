package gateway

import (
	"container/heap"
	"sync"
	"time"
)

// beats runs the heartbeats of a server's sessions on one timer: each
// session is due at one time (its next ping, its pong's deadline, or a v3
// client's deadline), and the sessions wait in a heap by that time. A
// session costs the heap one entry (16 B) instead of a time.Timer of its
// own (about 130 B with its callback), the largest item of an idle
// session's memory that it could do without.
//
// The timer's callback takes the sessions that are due out of the heap,
// then runs each one's heartbeat (run, Conn.onHeartbeat in a server) in
// turn, on the timer's goroutine; a heartbeat may schedule its session
// again. As with a timer per session, a heartbeat may run after its
// session was scheduled anew or stopped: it decides from the session's
// state what is due, if anything.
//
// Lock order: a session's mu, then b.mu; the callback holds b.mu only to
// take the due sessions, never while it runs them.
type beats struct {
	run func(c *Conn)

	mu    sync.Mutex
	h     beatHeap
	timer *time.Timer   // made on first use
	armed time.Duration // when timer fires (monoNow's clock); 0: not armed
	// stopped: the server closed; nothing is scheduled any more.
	stopped bool
}

// beat is one session's place in the heap.
type beat struct {
	due time.Duration // monoNow's clock
	c   *Conn
}

// beatHeap is a min-heap of beats by due time; each session knows its
// index (Conn.beatIdx, -1 when not in it).
type beatHeap []beat

func (h beatHeap) Len() int           { return len(h) }
func (h beatHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h beatHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].c.beatIdx = int32(i)
	h[j].c.beatIdx = int32(j)
}
func (h *beatHeap) Push(x any) {
	b := x.(beat)
	b.c.beatIdx = int32(len(*h))
	*h = append(*h, b)
}
func (h *beatHeap) Pop() any {
	old := *h
	b := old[len(old)-1]
	old[len(old)-1] = beat{}
	*h = old[:len(old)-1]
	if len(*h) == 0 {
		*h = nil // a heap emptied after a storm keeps its size: let it go
	}
	b.c.beatIdx = -1
	return b
}

// schedule makes c due after d from now, in place of any time it was due.
func (b *beats) schedule(c *Conn, d time.Duration) {
	now := monoNow()
	due := now + d
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	if i := c.beatIdx; i >= 0 {
		b.h[i].due = due
		heap.Fix(&b.h, int(i))
	} else {
		heap.Push(&b.h, beat{due: due, c: c})
	}
	b.armLocked(now)
}

// cancel takes c out of the heap, if it is there.
func (b *beats) cancel(c *Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := c.beatIdx; i >= 0 {
		heap.Remove(&b.h, int(i))
	}
}

// armLocked sets the timer for the first session due, unless it is set
// for that time or before; b.mu must be held.
func (b *beats) armLocked(now time.Duration) {
	if len(b.h) == 0 {
		return
	}
	first := b.h[0].due
	if b.armed != 0 && b.armed <= first {
		return
	}
	b.armed = first
	d := max(first-now, 0)
	if b.timer == nil {
		b.timer = time.AfterFunc(d, b.fire)
		return
	}
	b.timer.Reset(d)
}

// fire runs the heartbeats of the sessions due, then sets the timer for
// the next one.
func (b *beats) fire() {
	now := monoNow()
	b.mu.Lock()
	b.armed = 0
	var due []*Conn
	for len(b.h) > 0 && b.h[0].due <= now {
		due = append(due, heap.Pop(&b.h).(beat).c)
	}
	if !b.stopped {
		b.armLocked(now)
	}
	b.mu.Unlock()
	for _, c := range due {
		b.run(c)
	}
}

// stop ends the schedule: the timer stops, and what is scheduled later is
// dropped. A heartbeat running then finishes.
func (b *beats) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	if b.timer != nil {
		b.timer.Stop()
	}
	for _, x := range b.h {
		x.c.beatIdx = -1
	}
	b.h = nil
}
