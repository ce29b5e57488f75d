package gateway

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// workerIdle ends a worker that found no run to take for so long, so that
// a quiet server holds no spare goroutines.
const workerIdle = 200 * time.Millisecond

// workers runs the server's short-lived runs (a WebSocket reader's run
// after its connection became readable, a writer's run, the end of a
// suspended delivery) on goroutines that wait for the next run when done,
// instead of a new goroutine each. A new goroutine starts with a small
// stack, which a reader's run grew every time (gorilla's frame reading
// and the inbound route are deep): in a profile of idle WebSockets, the
// copying took a quarter of each heartbeat's reading.
//
// When no worker waits, a run starts a new one, so a run never waits for
// another (a blocked handler delays no one). At most maxIdle wait at
// once; each ends after workerIdle without a run, and all at stop.
type workers struct {
	work    chan task
	exit    func() // ends a run's tracking (Server.exit)
	done    chan struct{}
	stopped sync.Once
	idle    atomic.Int32
	maxIdle int32
	wg      sync.WaitGroup // the workers' goroutines
}

// task is a run: a func (taskFunc), or a value whose method is the run,
// which goes into the interface without an allocation (a parked reader's
// next run, every heartbeat's pong).
type task interface{ runTask() }

// taskFunc is a func as a task.
type taskFunc func()

func (f taskFunc) runTask() { f() }

func (w *workers) init(exit func()) {
	w.exit = exit
	w.work = make(chan task)
	w.done = make(chan struct{})
	w.maxIdle = int32(4 * runtime.GOMAXPROCS(0))
}

// run runs t on a waiting worker, or on a new one, then calls exit. Its
// caller must make sure stop is not waiting yet (Server.goTask: t is
// tracked, and Close stops the workers only once every tracked run has
// ended).
func (w *workers) run(t task) {
	select {
	case w.work <- t:
	default:
		w.wg.Add(1)
		go w.loop(t)
	}
}

func (w *workers) loop(f task) {
	defer w.wg.Done()
	var t *time.Timer
	for {
		w.do(f)
		if w.idle.Add(1) > w.maxIdle {
			w.idle.Add(-1)
			return
		}
		if t == nil {
			t = time.NewTimer(workerIdle)
		} else {
			t.Reset(workerIdle)
		}
		select {
		case f = <-w.work:
			w.idle.Add(-1)
			t.Stop()
		case <-t.C:
			w.idle.Add(-1)
			return
		case <-w.done:
			w.idle.Add(-1)
			t.Stop()
			return
		}
	}
}

// do runs f, then ends its tracking, even if f panics (as a goroutine
// of its own did; the panic goes on).
func (w *workers) do(f task) {
	defer w.exit()
	f.runTask()
}

// stop ends the waiting workers and waits for every worker to end; no run
// may start meanwhile or after. Later calls only wait.
func (w *workers) stop() {
	w.stopped.Do(func() { close(w.done) })
	w.wg.Wait()
}
