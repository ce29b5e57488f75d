package actors

import "github.com/actorio/actorio/internal/workpool"

// poolDispatcher runs mailboxes on waiting worker goroutines
// (internal/workpool) instead of starting a goroutine per mailbox
// activation, as protoactor's default dispatcher does: a worker's stack
// stays grown, so a message does not pay for a new goroutine and its
// stack growth. When no worker waits it starts one, so a blocked handler
// never delays other actors.
type poolDispatcher struct{ pool *workpool.Pool }

func newPoolDispatcher() *poolDispatcher { return &poolDispatcher{pool: workpool.New(nil)} }

// Schedule implements actor.Dispatcher.
func (d *poolDispatcher) Schedule(fn func()) { d.pool.Run(workpool.Func(fn)) }

// Throughput implements actor.Dispatcher: messages per mailbox run.
func (d *poolDispatcher) Throughput() int { return 300 }

// close ends the idle workers; busy ones end when their mailbox run does.
func (d *poolDispatcher) close() { d.pool.Close() }
