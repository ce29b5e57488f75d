package workpool

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A task never waits for another: with hundreds of tasks blocked (many
// times the workers that start at once, so that most were queued while
// workers started), every one of them starts, and the next task still
// runs, on a new worker.
func TestRunNeverWaits(t *testing.T) {
	p := New(nil)
	release := make(chan struct{})
	var started sync.WaitGroup
	const blocked = 300 // many times 4 × GOMAXPROCS on any machine these tests run on
	started.Add(blocked)
	for range blocked {
		p.Run(Func(func() { started.Done(); <-release }))
	}
	all := make(chan struct{})
	go func() { started.Wait(); close(all) }()
	select {
	case <-all: // all three hundred run at once
	case <-time.After(5 * time.Second):
		t.Fatal("blocked tasks kept queued ones from starting")
	}
	ran := make(chan struct{})
	p.Run(Func(func() { close(ran) }))
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("a task waited for blocked ones")
	}
	close(release)
	p.Close()
	p.Wait()
}

// Workers are reused: tasks run one after the other take one goroutine,
// and after runs after each task.
func TestWorkersAreReused(t *testing.T) {
	var after atomic.Int32
	p := New(func() { after.Add(1) })
	base := runtime.NumGoroutine()
	for range 100 {
		done := make(chan struct{})
		p.Run(Func(func() { close(done) }))
		<-done
		if n := runtime.NumGoroutine() - base; n > 2 {
			t.Fatalf("%d goroutines for tasks run one after the other", n)
		}
	}
	p.Close()
	p.Wait()
	if got := after.Load(); got != 100 {
		t.Fatalf("after ran %d times, want 100", got)
	}
}

// Waiting workers end after Idle, and Close ends them at once.
func TestIdleWorkersEnd(t *testing.T) {
	p := New(nil)
	base := runtime.NumGoroutine()
	var wg sync.WaitGroup
	release := make(chan struct{})
	wg.Add(4)
	for range 4 {
		p.Run(Func(func() { wg.Done(); <-release }))
	}
	wg.Wait()
	close(release)
	deadline := time.Now().Add(Idle + 2*time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still wait after %v", runtime.NumGoroutine()-base, Idle)
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	p.Run(Func(func() { close(done) }))
	<-done
	p.Close()
	p.Wait() // returns: the waiting worker ended at Close
}

// leaver is a task that takes its worker out of the pool, then blocks
// until released.
type leaver struct {
	left    chan struct{}
	release chan struct{}
}

func (l *leaver) RunTask() { l.RunOn(nil) }

func (l *leaver) RunOn(w *Worker) {
	w.Leave()
	close(l.left)
	<-l.release
}

// A worker that left runs after once, at Leave, and Wait returns while
// its task still runs; the worker ends with its task, never to run
// another.
func TestLeave(t *testing.T) {
	var after atomic.Int32
	p := New(func() { after.Add(1) })
	l := &leaver{left: make(chan struct{}), release: make(chan struct{})}
	base := runtime.NumGoroutine()
	p.Run(l)
	<-l.left
	if got := after.Load(); got != 1 {
		t.Fatalf("after ran %d times at Leave, want 1", got)
	}
	p.Close()
	waited := make(chan struct{})
	go func() { p.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait waited for a worker that left")
	}
	close(l.release)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("the worker that left did not end with its task")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := after.Load(); got != 1 {
		t.Fatalf("after ran %d times, want 1", got)
	}
}

// A burst of short tasks, run faster than workers start, makes a few
// workers that take the queued tasks one after the other, not a goroutine
// per task; every task runs once.
func TestBurstStartsFewWorkers(t *testing.T) {
	p := New(nil)
	base := runtime.NumGoroutine()
	const n = 10000
	var ran atomic.Int32
	var peak int
	for i := range n {
		p.Run(Func(func() { ran.Add(1) }))
		if i%100 == 0 {
			peak = max(peak, runtime.NumGoroutine()-base)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ran.Load() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tasks ran", ran.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	// Measured on two cores: 8 to 85 goroutines, with or without -race;
	// 642 to 2 551 with a new goroutine per task found no waiting worker.
	if bound := n / 40; peak > bound {
		t.Fatalf("%d tasks in a burst ran on up to %d goroutines, want at most %d", n, peak, bound)
	}
	t.Logf("%d tasks in a burst ran on up to %d goroutines", n, peak)
	p.Close()
	p.Wait()
}

// A queue that never empties keeps an array of the size of what waits,
// not of everything that went through it.
func TestQueueThatNeverEmptiesStaysSmall(t *testing.T) {
	p := &Pool{}
	push := func() {
		p.mu.Lock()
		p.pending = append(p.pending, Func(func() {})) // as Run queues
		p.queued.Add(1)
		p.mu.Unlock()
	}
	pop := func() {
		p.mu.Lock()
		if _, ok := p.popLocked(); !ok {
			t.Fatal("queue empty")
		}
		p.mu.Unlock()
	}
	const waiting = 500
	for range 2 * waiting {
		push()
	}
	for range waiting {
		pop()
	}
	for range 100000 { // as many come as go
		push()
		pop()
	}
	if got := int(p.queued.Load()); got != waiting {
		t.Fatalf("%d tasks queued, want %d", got, waiting)
	}
	if c := cap(p.pending); c > 4*(waiting+compactAfter) {
		t.Fatalf("the queue's array holds %d for %d waiting tasks", c, waiting)
	}
}
