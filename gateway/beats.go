package gateway

import (
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
	// spare is the list of due sessions fire used last, kept for the next.
	spare []*Conn
	// stopped: the server closed; nothing is scheduled any more.
	stopped bool
}

// beat is one session's place in the heap.
type beat struct {
	due time.Duration // monoNow's clock
	c   *Conn
}

// beatHeap is a min-heap of beats by due time; each session knows its
// index (Conn.beatIdx, -1 when not in it). Its methods are
// container/heap's algorithm on the typed slice: through heap.Interface,
// every Push and Pop boxed a beat, an allocation per heartbeat.
type beatHeap []beat

func (h beatHeap) set(i int, b beat) {
	h[i] = b
	b.c.beatIdx = int32(i)
}

// push adds b.
func (h *beatHeap) push(b beat) {
	*h = append(*h, beat{})
	h.up(len(*h)-1, b)
}

// remove takes out the beat at i and returns its session.
func (h *beatHeap) remove(i int) *Conn {
	old := *h
	c := old[i].c
	last := len(old) - 1
	b := old[last]
	old[last] = beat{}
	*h = old[:last]
	if len(*h) == 0 {
		*h = nil // a heap emptied after a storm keeps its size: let it go
	} else if i < last {
		h.fix(i, b)
	}
	c.beatIdx = -1
	return c
}

// fix puts b at i, then moves it to its place.
func (h beatHeap) fix(i int, b beat) {
	if !h.down(i, b) {
		h.up(i, b)
	}
}

// up places b, going up from the hole at j.
func (h beatHeap) up(j int, b beat) {
	for j > 0 {
		p := (j - 1) / 2
		if h[p].due <= b.due {
			break
		}
		h.set(j, h[p])
		j = p
	}
	h.set(j, b)
}

// down places b, going down from the hole at i, and reports whether it
// moved.
func (h beatHeap) down(i int, b beat) bool {
	i0 := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].due < h[l].due {
			m = r
		}
		if b.due <= h[m].due {
			break
		}
		h.set(i, h[m])
		i = m
	}
	h.set(i, b)
	return i > i0
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
		b.h.fix(int(i), beat{due: due, c: c})
	} else {
		b.h.push(beat{due: due, c: c})
	}
	b.armLocked(now)
}

// cancel takes c out of the heap, if it is there.
func (b *beats) cancel(c *Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := c.beatIdx; i >= 0 {
		b.h.remove(int(i))
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

// maxSpare is the largest list of due sessions a schedule keeps for its
// next run (8 KB).
const maxSpare = 1024

// fire runs the heartbeats of the sessions due, then sets the timer for
// the next one.
func (b *beats) fire() {
	now := monoNow()
	b.mu.Lock()
	b.armed = 0
	due := b.spare // nil if another fire runs meanwhile
	b.spare = nil
	for len(b.h) > 0 && b.h[0].due <= now {
		due = append(due, b.h.remove(0))
	}
	if !b.stopped {
		b.armLocked(now)
	}
	b.mu.Unlock()
	for _, c := range due {
		b.run(c)
	}
	if cap(due) <= maxSpare {
		clear(due)
		b.mu.Lock()
		b.spare = due[:0]
		b.mu.Unlock()
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
