package actorio

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/actorio/actorio/internal/listeners"
	"github.com/actorio/actorio/protocol/socketio"
)

// This file is the catch-all API of a server socket, as Node's onAny,
// prependAny, offAny, listenersAny and their Outgoing twins. Node removes
// a handler by its value (offAny(fn)); Go functions cannot be compared, so
// every registration returns the function that removes it, as
// Server.Observe does, and OffAny() without argument removes them all.

// OutgoingHandler handles an event sent to the socket's client (see
// Socket.OnAnyOutgoing): its name and arguments, as encoded.
type OutgoingHandler func(s *Socket, event string, args Args)

// OnAny registers fn for every event the socket receives, run before the
// socket's middleware (Use) and the event's own handlers, after those
// registered before. It returns the function that removes this
// registration (Node's offAny(fn)).
func (s *Socket) OnAny(fn AnyHandler) (off func()) { return s.addAny(fn, false) }

// PrependAny is OnAny, but fn runs before the OnAny handlers registered so
// far (Node's prependAny).
func (s *Socket) PrependAny(fn AnyHandler) (off func()) { return s.addAny(fn, true) }

func (s *Socket) addAny(fn AnyHandler, prepend bool) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.moreLocked()
	return listeners.Off(&s.mu, &m.anyIn, m.anyIn.Add(fn, prepend))
}

// OffAny removes every OnAny and PrependAny handler (Node's offAny()).
func (s *Socket) OffAny() {
	s.mu.Lock()
	if m := s.more; m != nil {
		m.anyIn.Clear()
	}
	s.mu.Unlock()
}

// ListenersAny returns the OnAny and PrependAny handlers in the order they
// run, as a copy.
func (s *Socket) ListenersAny() []AnyHandler {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.more == nil {
		return nil
	}
	return s.more.anyIn.List()
}

// OnAnyOutgoing registers fn for every event sent to the socket's client:
// its own Emit, Send and EmitWithAck (without the ack, which is Node's last
// argument), and every broadcast that reaches it, from this node or
// another; not the acknowledgements it sends. It returns the function that
// removes this registration (Node's offAnyOutgoing(fn)).
//
// The handlers of a socket run one at a time, in the order its events
// were sent, and never under a lock of the server: they may emit, join or
// broadcast. For the socket's own Emit, Send and EmitWithAck they run in
// the calling goroutine before the packet is written, as in Node (unless
// they are running on another goroutine at that moment: that one runs
// them next, in order). A broadcast hands its packet to every receiver
// under the namespace's lock, so its handlers run just after, on a
// goroutine started for the socket. Unlike Node's, they see neither an
// event the socket's connection refused (a volatile one it was not ready
// for), nor the offset a server with ConnectionStateRecovery appends.
func (s *Socket) OnAnyOutgoing(fn OutgoingHandler) (off func()) { return s.addOutgoing(fn, false) }

// PrependAnyOutgoing is OnAnyOutgoing, but fn runs before the handlers
// registered so far (Node's prependAnyOutgoing).
func (s *Socket) PrependAnyOutgoing(fn OutgoingHandler) (off func()) {
	return s.addOutgoing(fn, true)
}

func (s *Socket) addOutgoing(fn OutgoingHandler, prepend bool) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.moreLocked()
	id := m.anyOut.Add(fn, prepend)
	s.countOutgoingLocked()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		m.anyOut.Remove(id)
		s.countOutgoingLocked()
	}
}

// OffAnyOutgoing removes every OnAnyOutgoing and PrependAnyOutgoing
// handler (Node's offAnyOutgoing()).
func (s *Socket) OffAnyOutgoing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.more != nil {
		s.more.anyOut.Clear()
	}
	s.countOutgoingLocked()
}

// ListenersAnyOutgoing returns the OnAnyOutgoing and PrependAnyOutgoing
// handlers in the order they run, as a copy.
func (s *Socket) ListenersAnyOutgoing() []OutgoingHandler {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.more == nil {
		return nil
	}
	return s.more.anyOut.List()
}

// outgoingSockets counts the sockets, of every server of the process, that
// have OnAnyOutgoing handlers: while it is zero a broadcast looks for none.
var outgoingSockets atomic.Int64

// countOutgoingLocked keeps hasOut, the namespace's count and
// outgoingSockets in step with the socket's OnAnyOutgoing handlers; a
// disconnected socket counts no more. s.mu must be held.
func (s *Socket) countOutgoingLocked() {
	want := s.more != nil && s.more.anyOut.Len() > 0 && !s.ended
	if want == s.hasOut.Load() {
		return
	}
	s.hasOut.Store(want)
	d := int64(-1)
	if want {
		d = 1
	}
	s.ns.outgoing.Add(d)
	outgoingSockets.Add(d)
}

// endOutgoing stops counting the socket among those with OnAnyOutgoing
// handlers, once it disconnected.
func (s *Socket) endOutgoing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	s.countOutgoingLocked()
}

// sending runs the OnAnyOutgoing handlers for an event of the socket's own
// (data is the JSON array [event, args...], atts its attachments), before
// it is written.
func (s *Socket) sending(data []byte, atts [][]byte) {
	if !s.hasOut.Load() {
		return
	}
	if q := s.queueOutgoing(data, atts); q != nil {
		q.run(s.ns.srv.opts.Logger)
	}
}

// queueOutgoing queues a call of the handlers registered now for an event
// sent to the socket, and returns the queue it is in, or nil when there
// was no handler.
func (s *Socket) queueOutgoing(data []byte, atts [][]byte) *serial {
	s.mu.Lock()
	m := s.more
	var fns []OutgoingHandler
	if m != nil {
		fns = m.anyOut.List()
	}
	s.mu.Unlock()
	if len(fns) == 0 {
		return nil
	}
	m.outQ.add(func() {
		event, args, err := socketio.NewDecodedEventArgs(data, atts)
		if err != nil {
			return
		}
		log := s.ns.srv.opts.Logger
		for _, fn := range fns {
			runHook(log, func() { fn(s, event, args) })
		}
	})
	return &m.outQ
}

// outgoingTo returns what runs the OnAnyOutgoing handlers of the
// receivers of a broadcast in the namespace called nsp (data and atts as
// for sending), given their ids under the namespace's lock: it only
// queues them and starts a goroutine per socket to run them. Nil when no
// socket of that namespace has any.
func (s *Server) outgoingTo(nsp string, data []byte, atts [][]byte) func(ids []string) {
	if outgoingSockets.Load() == 0 {
		return nil
	}
	ns := s.lookupName(nsp)
	if ns == nil || ns.a == nil || ns.outgoing.Load() == 0 {
		return nil
	}
	a, log := ns.a, s.opts.Logger
	return func(ids []string) {
		for _, id := range ids {
			p, ok := a.Socket(id)
			if !ok {
				continue
			}
			h, ok := p.Handler().(hooks)
			if !ok || !h.s.hasOut.Load() {
				continue
			}
			if q := h.s.queueOutgoing(data, atts); q != nil {
				q.start(log)
			}
		}
	}
}

// serial runs queued functions one at a time, in the order they were
// queued, on whichever goroutine runs the queue: the caller of run when
// nobody runs it at that moment, or a goroutine start starts. A function
// that queues more (a hook that joins a room, an outgoing handler that
// emits) does not run them itself: the loop running it runs them after
// it. A panic is logged and goes no further. The zero value is ready.
type serial struct {
	mu      sync.Mutex
	queue   []func()
	running bool
}

// add queues fn without running it.
func (q *serial) add(fn func()) {
	q.mu.Lock()
	q.queue = append(q.queue, fn)
	q.mu.Unlock()
}

// run runs the queue on the calling goroutine until it is empty, unless
// another goroutine runs it.
func (q *serial) run(log *slog.Logger) {
	if q.claim() {
		q.loop(log)
	}
}

// start runs the queue on a new goroutine unless one runs it already. It
// never blocks: a caller under a lock may use it.
func (q *serial) start(log *slog.Logger) {
	if q.claim() {
		go q.loop(log)
	}
}

// claim makes the caller the one running a non-empty queue.
func (q *serial) claim() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running || len(q.queue) == 0 {
		return false
	}
	q.running = true
	return true
}

func (q *serial) loop(log *slog.Logger) {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.queue = nil
			q.running = false
			q.mu.Unlock()
			return
		}
		fn := q.queue[0]
		q.queue[0] = nil
		q.queue = q.queue[1:]
		q.mu.Unlock()
		runHook(log, fn)
	}
}

// runHook runs fn, user code that is not an event handler (an
// OnAnyOutgoing handler, a room hook), logging a panic instead of letting
// it go further: it may run on a goroutine of the server's own.
func runHook(log *slog.Logger, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("actorio: hook panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	fn()
}
