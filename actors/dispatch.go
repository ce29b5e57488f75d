package actors

import (
	"runtime"
	"sync/atomic"
	"time"
)

// idleWorkerTimeout ends a worker that found no mailbox to run for so long,
// so that a quiet server holds no spare goroutines.
const idleWorkerTimeout = 200 * time.Millisecond

// poolDispatcher runs mailboxes on parked worker goroutines instead of
// starting a goroutine per mailbox activation, as protoactor's default
// dispatcher does: a worker's stack stays grown, so a message does not pay
// for a new goroutine and its stack growth. When no worker is idle it starts
// one, so a blocked handler never delays other actors.
type poolDispatcher struct {
	work    chan func()
	done    chan struct{}
	idle    atomic.Int32
	maxIdle int32
}

func newPoolDispatcher() *poolDispatcher {
	return &poolDispatcher{
		work:    make(chan func()),
		done:    make(chan struct{}),
		maxIdle: int32(4 * runtime.GOMAXPROCS(0)),
	}
}

// Schedule implements actor.Dispatcher.
func (d *poolDispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
	default:
		go d.worker(fn)
	}
}

// Throughput implements actor.Dispatcher: messages per mailbox run.
func (d *poolDispatcher) Throughput() int { return 300 }

func (d *poolDispatcher) worker(fn func()) {
	var idle *time.Timer
	for {
		fn()
		if d.idle.Add(1) > d.maxIdle {
			d.idle.Add(-1)
			return
		}
		if idle == nil {
			idle = time.NewTimer(idleWorkerTimeout)
		} else {
			idle.Reset(idleWorkerTimeout)
		}
		select {
		case fn = <-d.work:
			d.idle.Add(-1)
			idle.Stop()
		case <-idle.C:
			d.idle.Add(-1)
			return
		case <-d.done:
			d.idle.Add(-1)
			idle.Stop()
			return
		}
	}
}

// close ends the idle workers; busy ones end when their mailbox run does.
func (d *poolDispatcher) close() { close(d.done) }
