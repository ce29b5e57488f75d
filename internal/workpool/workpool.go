// Package workpool runs short tasks on goroutines that wait for the next
// task when done, instead of a new goroutine per task: a waiting worker's
// stack has kept its size, so a deep task does not grow a fresh stack
// each time, and handing a task over allocates nothing.
//
// When no worker waits, a task starts a new one, so a task never waits
// for another (one that blocks delays no other). At most 4 × GOMAXPROCS
// workers wait at once; each ends after Idle without a task, and all waiting ones
// at Close.
//
// At most 4 × GOMAXPROCS workers are starting (made, their goroutine not
// yet running) at once: a task that finds that many waits in the pool's
// queue, and each worker, as it starts, starts the next for the queue's
// first task, then takes queued tasks after its own. So a burst of
// thousands of tasks (thousands of clients hanging up at once) does not
// make thousands of goroutines that the processors then run one after
// the other, and no queued task waits for another to end: the chain of
// starts goes on whatever the tasks do.
package workpool

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Idle is how long a worker waits for its next task before it ends.
const Idle = 200 * time.Millisecond

// Task is one unit of work: a Func, or a value whose method is the work
// (a pointer goes into the interface without an allocation).
type Task interface{ RunTask() }

// WorkerTask is a Task that is told which worker runs it, so that it may
// take that worker out of the pool while it runs (Worker.Leave).
type WorkerTask interface {
	Task
	RunOn(w *Worker)
}

// Worker is one of a pool's goroutines, as a WorkerTask sees it.
type Worker struct {
	p    *Pool
	left atomic.Bool
}

// Leave takes w out of its pool while w runs a task, from any goroutine:
// the pool's after runs now rather than when the task returns, Wait no
// longer waits for w, and w ends when its task returns. A task that
// blocks for long (a user's handler) can so be left behind by a Close.
// It must be called at most once per task, and only while w runs it.
func (w *Worker) Leave() {
	w.left.Store(true)
	if w.p.after != nil {
		w.p.after()
	}
	w.p.wg.Done()
}

// Func is a func as a Task.
type Func func()

// RunTask implements Task.
func (f Func) RunTask() { f() }

// Pool is a set of workers; make one with New.
type Pool struct {
	work    chan Task
	after   func()
	done    chan struct{}
	closed  sync.Once
	idle    atomic.Int32
	maxIdle int32
	wg      sync.WaitGroup

	// mu guards starting and the queue (pending from head on); queued is
	// the queue's length, read without mu.
	mu       sync.Mutex
	starting int32
	pending  []Task
	head     int
	queued   atomic.Int32
}

// New returns a pool of which at most 4 × GOMAXPROCS workers wait at
// once; after, if not nil, runs after each task (deferred, so before a
// panic of the task goes on).
func New(after func()) *Pool {
	return &Pool{
		work:    make(chan Task),
		after:   after,
		done:    make(chan struct{}),
		maxIdle: int32(4 * runtime.GOMAXPROCS(0)),
	}
}

// Run runs t on a waiting worker, or on a new one, or queues it for the
// next worker to start when 4 × GOMAXPROCS are starting; it never waits.
// Run must not be called once Wait has started.
func (p *Pool) Run(t Task) {
	select {
	case p.work <- t:
		return
	default:
	}
	p.mu.Lock()
	if p.starting < p.maxIdle {
		p.starting++
		p.mu.Unlock()
		p.wg.Add(1)
		go p.loop(t)
		return
	}
	p.pending = append(p.pending, t)
	p.queued.Add(1)
	p.mu.Unlock()
}

// started ends a worker's start: it starts the next worker, for the first
// queued task, if any.
func (p *Pool) started() {
	p.mu.Lock()
	p.starting--
	next, ok := p.popLocked()
	if ok {
		p.starting++
	}
	p.mu.Unlock()
	if ok {
		p.wg.Add(1)
		go p.loop(next)
	}
}

// takeQueued returns the first queued task, if any.
func (p *Pool) takeQueued() (Task, bool) {
	if p.queued.Load() == 0 {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.popLocked()
}

// popLocked takes the first queued task; p.mu is held.
func (p *Pool) popLocked() (Task, bool) {
	if p.head == len(p.pending) {
		return nil, false
	}
	t := p.pending[p.head]
	p.pending[p.head] = nil
	p.head++
	switch {
	case p.head == len(p.pending):
		p.pending, p.head = p.pending[:0], 0
	case p.head >= compactAfter && 2*p.head >= len(p.pending):
		// A queue that never empties (tasks coming as fast as they
		// go) must not grow its array by what it took already.
		n := copy(p.pending, p.pending[p.head:])
		clear(p.pending[n:])
		p.pending, p.head = p.pending[:n], 0
	}
	p.queued.Add(-1)
	return t, true
}

// compactAfter is how many taken tasks the queue's array keeps at its
// start, at most, before the rest moves down (while at least as many
// wait).
const compactAfter = 256

func (p *Pool) loop(t Task) {
	p.started()
	w := &Worker{p: p}
	defer func() {
		if !w.left.Load() {
			p.wg.Done()
		}
	}()
	var timer *time.Timer
	for {
		p.do(t, w)
		if w.left.Load() {
			return
		}
		if next, ok := p.takeQueued(); ok {
			t = next
			continue
		}
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		if timer == nil {
			timer = time.NewTimer(Idle)
		} else {
			timer.Reset(Idle)
		}
		select {
		case t = <-p.work:
			p.idle.Add(-1)
			timer.Stop()
		case <-timer.C:
			p.idle.Add(-1)
			return
		case <-p.done:
			p.idle.Add(-1)
			timer.Stop()
			return
		}
	}
}

func (p *Pool) do(t Task, w *Worker) {
	if p.after != nil {
		defer func() {
			if !w.left.Load() {
				p.after()
			}
		}()
	}
	if wt, ok := t.(WorkerTask); ok {
		wt.RunOn(w)
		return
	}
	t.RunTask()
}

// Close ends the waiting workers; busy ones end when their task does.
// Later calls do nothing.
func (p *Pool) Close() { p.closed.Do(func() { close(p.done) }) }

// Wait waits until every worker has ended (after Close).
func (p *Pool) Wait() { p.wg.Wait() }
