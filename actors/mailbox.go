package actors

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// mailbox is the mailbox of actorio's actors: protoactor's mailbox
// semantics (system messages first, suspension, a panic escalated to the
// supervisor, at most Throughput messages per run before yielding) on two
// slices under one mutex, instead of protoactor's two lock-free linked
// queues. An actor that has nothing queued holds no queue at all: a
// connection keeps two actors for its whole life, and protoactor's
// mailbox cost about 180 bytes each when idle (its struct, two queue
// heads and the two last nodes), this one 96.
type mailbox struct {
	mu         sync.Mutex
	sys        []any // system messages, oldest first
	user       []any // user messages, oldest first
	running    bool  // handed to the dispatcher, or running
	suspended  bool
	inline     atomic.Bool // run by RunTask, on the goroutine that read its event
	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
}

// newMailbox is the actor.MailboxProducer of actorio's actors.
func newMailbox() actor.Mailbox { return &mailbox{} }

// PostUserMessage implements actor.Mailbox. A MessageBatch (or an
// envelope holding one) is posted as its messages, then itself, as
// protoactor's mailbox does.
func (m *mailbox) PostUserMessage(msg any) {
	if b, ok := msg.(actor.MessageBatch); ok {
		for _, x := range b.GetMessages() {
			m.PostUserMessage(x)
		}
	}
	if env, ok := msg.(*actor.MessageEnvelope); ok {
		if b, ok := env.Message.(actor.MessageBatch); ok {
			for _, x := range b.GetMessages() {
				m.PostUserMessage(x)
			}
		}
	}
	m.mu.Lock()
	m.user = append(m.user, msg)
	m.scheduleLocked()
}

// PostSystemMessage implements actor.Mailbox.
func (m *mailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	m.sys = append(m.sys, msg)
	m.scheduleLocked()
}

// postClaimed queues msg as PostUserMessage does, but a mailbox that was
// idle is left to the caller to run (RunTask, or schedule) instead of
// handed to the dispatcher: postClaimed then reports true.
func (m *mailbox) postClaimed(msg any) (claimed bool) {
	m.mu.Lock()
	m.user = append(m.user, msg)
	if m.running {
		m.mu.Unlock()
		return false
	}
	m.running = true
	m.mu.Unlock()
	return true
}

// schedule hands a mailbox claimed by postClaimed to the dispatcher.
func (m *mailbox) schedule() { m.dispatcher.Schedule(m.process) }

// RunTask runs a mailbox claimed by postClaimed on the caller's goroutine
// (a workpool.Task: gateway.Conn.RunAfter).
func (m *mailbox) RunTask() {
	m.inline.Store(true)
	m.process()
	m.inline.Store(false)
}

// scheduleLocked hands the mailbox to the dispatcher unless it is there
// already, and releases m.mu.
func (m *mailbox) scheduleLocked() {
	if m.running {
		m.mu.Unlock()
		return
	}
	m.running = true
	m.mu.Unlock()
	m.dispatcher.Schedule(m.process)
}

// RegisterHandlers implements actor.Mailbox.
func (m *mailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker = invoker
	m.dispatcher = dispatcher
}

// Start implements actor.Mailbox.
func (m *mailbox) Start() {}

// UserMessageCount implements actor.Mailbox.
func (m *mailbox) UserMessageCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.user)
}

// process runs what is queued until nothing runnable is left, then
// leaves the dispatcher; a message posted meanwhile finds it running, or
// schedules it again.
func (m *mailbox) process() {
	for m.run() {
	}
}

// run invokes queued messages, at most the dispatcher's throughput before
// yielding the processor, and reports whether it must be called again:
// false once nothing runnable is left (the mailbox is then no longer
// running). A panic in a handler is escalated with its message, and the
// mailbox stays scheduled for what follows (the supervisor's directive
// comes as a system message).
func (m *mailbox) run() (again bool) {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
			again = true
		}
	}()
	t := m.dispatcher.Throughput()
	for i := 0; ; i++ {
		if i > t {
			i = 0
			runtime.Gosched()
		}
		var sys bool
		msg, sys = m.next()
		switch {
		case msg == nil:
			return false
		case !sys:
			m.invoker.InvokeUserMessage(msg)
		default:
			switch msg.(type) {
			case *actor.SuspendMailbox:
				m.setSuspended(true)
			case *actor.ResumeMailbox:
				m.setSuspended(false)
			default:
				m.invoker.InvokeSystemMessage(msg)
			}
		}
	}
}

// next takes the next message to run: a system message if any, else a
// user message unless suspended. With none, the mailbox stops running
// and next returns nil.
func (m *mailbox) next() (msg any, sys bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sys) > 0 {
		msg = m.sys[0]
		m.sys[0] = nil
		m.sys = m.sys[1:]
		if len(m.sys) == 0 {
			m.sys = nil
		}
		return msg, true
	}
	if m.suspended || len(m.user) == 0 {
		m.running = false
		return nil, false
	}
	msg = m.user[0]
	m.user[0] = nil
	// Taken from the front, the slice loses capacity: an append past it
	// copies what is left into a new array, so the array never holds
	// more than about twice what is queued.
	m.user = m.user[1:]
	if len(m.user) == 0 {
		m.user = nil // an idle actor keeps no array
	}
	return msg, false
}

func (m *mailbox) setSuspended(v bool) {
	m.mu.Lock()
	m.suspended = v
	m.mu.Unlock()
}
