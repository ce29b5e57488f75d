package client

import (
	"log/slog"
	"runtime/debug"
	"sync"
)

// dispatcher runs a Socket's event deliveries one at a time, in order, on
// a goroutine started with the first delivery, never holding a lock of the
// package while running one.
type dispatcher struct {
	log *slog.Logger

	mu      sync.Mutex
	queue   []func()
	started bool
	closed  bool
	busy    bool          // a delivery is running
	wake    chan struct{} // capacity 1: the queue changed
	done    chan struct{} // closed when the goroutine returns
}

func newDispatcher(log *slog.Logger) *dispatcher {
	return &dispatcher{log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues fn; it is dropped once the dispatcher is closed.
func (d *dispatcher) push(fn func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.queue = append(d.queue, fn)
	if !d.started {
		d.started = true
		go d.loop()
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) loop() {
	defer close(d.done)
	for {
		d.mu.Lock()
		for len(d.queue) == 0 {
			if d.closed {
				d.mu.Unlock()
				return
			}
			d.mu.Unlock()
			<-d.wake
			d.mu.Lock()
		}
		fn := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.busy = true
		d.mu.Unlock()

		d.run(fn)

		d.mu.Lock()
		d.busy = false
		d.mu.Unlock()
	}
}

// run calls fn, logging a panic instead of letting it kill the program.
func (d *dispatcher) run(fn func()) {
	defer func() {
		if v := recover(); v != nil {
			d.log.Error("client: event handler panicked", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	fn()
}

// close lets the goroutine deliver what is queued and return, and waits for
// it unless it is running a delivery (the caller may be that delivery).
func (d *dispatcher) close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	started, busy := d.started, d.busy
	select {
	case d.wake <- struct{}{}:
	default:
	}
	d.mu.Unlock()
	if started && !busy {
		<-d.done
	}
}
