package gateway

import (
	"sync"
	"time"

	"github.com/actorio/actorio/internal/workpool"
)

// InlineGrace is how long a task run after a delivery (Conn.RunAfter) may
// hold the goroutine that reads its connection before another goroutine
// takes over the reading: the watch looks every InlineGrace, and hands
// over the runs it found in a task at its last look (so after one to two
// InlineGrace).
const InlineGrace = 5 * time.Millisecond

// inlineWatch watches a server's readers while they run the task a
// delivery left them (Conn.RunAfter), and hands the reading of one held
// too long over to a new run (parkedReader.takeOver). Its goroutine ticks
// only while such tasks run, and for a little while after.
type inlineWatch struct {
	mu      sync.Mutex
	runs    []inlineRun
	tick    uint32
	ticking bool
	// late counts the runs the watch found held too long (for tests).
	late int
}

// inlineRun is a reader in a task, and the watch's tick when it began.
type inlineRun struct {
	r    *parkedReader
	tick uint32
}

// idleTicks is how many ticks without a task the watch's goroutine waits
// for one before it ends.
const idleTicks = 20

// enter starts watching r's run, about to run a task.
func (w *inlineWatch) enter(r *parkedReader) {
	w.mu.Lock()
	r.watchIdx = int32(len(w.runs))
	w.runs = append(w.runs, inlineRun{r: r, tick: w.tick})
	start := !w.ticking
	w.ticking = true
	w.mu.Unlock()
	if start {
		s := r.c.srv
		s.goAlways(func() { w.loop(s) }) // the caller, a run, is tracked
	}
}

// leave ends the watch of r's run on worker me, and reports whether the
// watch handed the reading over meanwhile.
func (w *inlineWatch) leave(r *parkedReader, me *workpool.Worker) (handedOver bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r.worker.Load() != me {
		return true
	}
	w.removeLocked(int(r.watchIdx))
	return false
}

// removeLocked takes the run at i out of the watch.
func (w *inlineWatch) removeLocked(i int) {
	last := len(w.runs) - 1
	w.runs[i].r.watchIdx = -1
	if i != last {
		w.runs[i] = w.runs[last]
		w.runs[i].r.watchIdx = int32(i)
	}
	w.runs[last] = inlineRun{}
	w.runs = w.runs[:last]
}

// loop ticks while tasks run: a run found in the same task at two looks
// leaves the server's pool of runs (so Close does not wait for it) and
// its reading goes on in a new run. It ends once no task ran for
// idleTicks, or at once when none runs and s is closing.
func (w *inlineWatch) loop(s *Server) {
	t := time.NewTicker(InlineGrace)
	defer t.Stop()
	var late []*parkedReader
	idle := 0
	for range t.C {
		w.mu.Lock()
		if len(w.runs) == 0 {
			idle++
			if idle >= idleTicks || s.isClosing() {
				w.ticking = false
				w.mu.Unlock()
				return
			}
		} else {
			idle = 0
		}
		w.tick++
		for i := 0; i < len(w.runs); {
			run := w.runs[i]
			if w.tick-run.tick < 2 {
				i++
				continue
			}
			w.removeLocked(i)
			// Under mu, so that the run's leave sees either its own
			// worker (not handed over) or none.
			run.r.worker.Swap(nil).Leave()
			late = append(late, run.r)
			w.late++
		}
		w.mu.Unlock()
		for i, r := range late {
			r.takeOver()
			late[i] = nil
		}
		late = late[:0]
	}
}

// HandOver, called by a task that runs after a delivery (RunAfter) and is
// about to wait for something only the connection's reading brings (its
// client's ack), has another goroutine read on at once rather than after
// InlineGrace. Called from anywhere else, it does nothing.
func (c *Conn) HandOver() {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws == nil {
		return
	}
	bc, ok := ws.NetConn().(*batchConn)
	if !ok {
		return
	}
	r := bc.parked.Load()
	if r == nil {
		return
	}
	if c.srv.inline.handOver(r) {
		r.takeOver()
	}
}

// handOver takes r's run out of the watch, and out of the pool of runs,
// if it runs a task; it reports whether it did (then the caller starts the
// run that takes over).
func (w *inlineWatch) handOver(r *parkedReader) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r.watchIdx < 0 {
		return false
	}
	w.removeLocked(int(r.watchIdx))
	r.worker.Swap(nil).Leave()
	return true
}
