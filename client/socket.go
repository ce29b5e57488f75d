package client

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorio/actorio/internal/listeners"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/actorio/actorio/protocol/msgpack"
	"github.com/actorio/actorio/protocol/socketio"
)

// Socket is one namespace of a Manager's connection. Its events are
// delivered one at a time, in order; its methods are safe for concurrent use.
type Socket struct {
	m   *Manager
	nsp string
	cfg socketConfig
	d   *dispatcher

	mu         sync.Mutex
	handlers   listeners.List[EventHandler]
	anyIn      listeners.Any[AnyHandler]
	anyOut     listeners.Any[OutgoingHandler]
	eventHooks []func(Event)

	active    bool    // wants to be connected (Connect called, not yet given up)
	connected bool    // the server confirmed the CONNECT
	succeeded bool    // connected since the last Connect call
	closed    bool    // the Manager is closed
	eng       *engine // session the CONNECT was sent on, nil if none
	id        string
	session   uint64 // incremented at every connect; binds AckFuncs to it
	nextAckID uint64
	acks      map[uint64]*pendingAck
	sendBuf   []outbound // emits waiting for a connection, in order
	queue     []*queued  // the retry queue, head first (retry.go)
	recvBuf   []inbound  // events received on eng before its CONNECT answer

	// Connection state recovery (recovery.go).
	pid       string // private session id of the last CONNECT answer, "" when none
	offset    string // last argument of the last event received with a pid
	hasOffset bool   // offset was received
	recovered bool   // the last CONNECT answer restored the previous session
}

// outbound is an encoded emit waiting in the send buffer: its frames, and
// the event's JSON array and attachments for the OnAnyOutgoing handlers.
type outbound struct {
	frames []engineio.Packet
	data   []byte
	atts   [][]byte
	ackID  uint64
	hasAck bool
}

// pendingAck waits for the acknowledgement of one emitted event.
type pendingAck struct {
	ch   chan ackResult // capacity 1, written once; nil for a try of q
	sent bool           // the event left the buffer
	q    *queued        // the retry queue's event this try is of, or nil
}

type ackResult struct {
	args Args
	err  error
}

func newSocket(m *Manager, nsp string, cfg socketConfig) *Socket {
	return &Socket{
		m:    m,
		nsp:  nsp,
		cfg:  cfg,
		d:    newDispatcher(m.log),
		acks: map[uint64]*pendingAck{},
	}
}

// Manager returns the Manager whose connection the socket uses.
func (s *Socket) Manager() *Manager { return s.m }

// Namespace returns the socket's namespace, such as "/" or "/admin".
func (s *Socket) Namespace() string { return s.nsp }

// ID returns the socket id the server gave, or "" while not connected.
func (s *Socket) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected {
		return ""
	}
	return s.id
}

// Connected reports whether the socket is connected to its namespace.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// Connect starts connecting the socket (and its Manager, when needed)
// without waiting; events report the outcome. It does nothing on a socket
// already connected or connecting.
func (s *Socket) Connect() error { return s.m.connect(s) }

// Disconnect leaves the namespace ("io client disconnect"); the socket is
// not reconnected until Connect is called again. The Manager closes its
// connection when no socket remains connected or connecting.
func (s *Socket) Disconnect() { s.m.disconnect(s) }

// Close closes the socket's Manager, which disconnects every socket of it:
// use Disconnect to leave only this namespace.
func (s *Socket) Close() error { return s.m.Close() }

// On registers fn for event: an event the server emits, "message" for the
// server's send, or a lifecycle event such as "connect" or "disconnect"
// (fired by the client only: the server's events of those names are
// dropped).
//
// A server with connection state recovery on appends the event's offset to
// the arguments of every event it emits without an acknowledgement request:
// fn then sees it as an extra last string argument, which the socket, like
// the JavaScript client, cannot tell from an argument of the application.
func (s *Socket) On(event string, fn EventHandler) { s.addListener(event, fn, false) }

// Once registers fn for the next event of that name only.
func (s *Socket) Once(event string, fn EventHandler) { s.addListener(event, fn, true) }

func (s *Socket) addListener(event string, fn EventHandler, once bool) {
	s.mu.Lock()
	s.handlers.Add(event, fn, once)
	s.mu.Unlock()
}

// Off removes every handler registered with On or Once for event.
func (s *Socket) Off(event string) {
	s.mu.Lock()
	s.handlers.Remove(event)
	s.mu.Unlock()
}

// OnEvent registers fn for every lifecycle event, with its typed payload;
// it runs before the On handlers of the same event.
func (s *Socket) OnEvent(fn func(Event)) {
	s.mu.Lock()
	s.eventHooks = append(s.eventHooks, fn)
	s.mu.Unlock()
}

// Emit sends an event to the server, or buffers it until the socket is
// connected. Arguments are values encoding/json accepts; a []byte at any
// depth of []any, map[string]any or Object travels as a binary attachment.
//
// With Options.Retries, the event joins the socket's retry queue instead,
// with an acknowledgement request the server's handler must answer; an
// event given up is logged at Warn.
func (s *Socket) Emit(event string, args ...any) error {
	if s.m.opts.Retries > 0 {
		_, err := s.enqueue(event, args, nil)
		return err
	}
	_, err := s.emit(false, event, args, nil)
	return err
}

// Send emits the "message" event.
func (s *Socket) Send(args ...any) error { return s.Emit(EventMessage, args...) }

// EmitWithAck emits an event with an acknowledgement request and waits for
// the server's answer until ctx ends, or for Options.AckTimeout when that
// comes first: the error then wraps ErrAckTimeout. It fails with
// ErrDisconnected when the connection ends after the event was sent. An
// event still buffered when the wait ends is never sent.
//
// With Options.Retries, the event joins the socket's retry queue instead:
// a lost connection makes it sent again rather than fail, AckTimeout
// bounds each try, and the error after the last try wraps ErrAckTimeout.
// When ctx ends, the event leaves the queue.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	ch := make(chan ackResult, 1)
	var abandon func()
	var timeout <-chan time.Time
	if s.m.opts.Retries > 0 {
		q, err := s.enqueue(event, args, ch)
		if err != nil {
			return Args{}, err
		}
		abandon = func() { s.dequeue(q) }
	} else {
		id, err := s.emit(false, event, args, ch)
		if err != nil {
			return Args{}, err
		}
		abandon = func() { s.dropAck(id) }
		if d := s.m.opts.AckTimeout; d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return Args{}, fmt.Errorf("client: emit %q: %w", event, r.err)
		}
		return r.args, nil
	case <-ctx.Done():
		abandon()
		return Args{}, fmt.Errorf("client: emit %q: %w", event, ctx.Err())
	case <-timeout:
		abandon()
		return Args{}, fmt.Errorf("client: emit %q: %w", event, ErrAckTimeout)
	}
}

// Volatile returns an emitter whose events are dropped, not buffered,
// while the socket is not connected.
func (s *Socket) Volatile() Volatile { return Volatile{s} }

// Volatile emits events that are dropped while their socket is not connected.
type Volatile struct{ s *Socket }

// Emit sends the event if the socket is connected and drops it otherwise.
func (v Volatile) Emit(event string, args ...any) error {
	_, err := v.s.emit(true, event, args, nil)
	return err
}

// Send emits the "message" event if the socket is connected.
func (v Volatile) Send(args ...any) error { return v.Emit(EventMessage, args...) }

// encodeEmit checks the event name and encodes it with args: the JSON
// array of the EVENT packet and its binary attachments.
func encodeEmit(event string, args []any) ([]byte, [][]byte, error) {
	if reservedEmit[event] {
		return nil, nil, fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	data, atts, err := socketio.MarshalArgs(append([]any{event}, args...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("client: emit %q: %w", event, err)
	}
	return data, atts, nil
}

// emit encodes and sends, buffers or (volatile) drops an event; with ch it
// registers an acknowledgement and returns its id.
func (s *Socket) emit(volatile bool, event string, args []any, ch chan ackResult) (uint64, error) {
	data, atts, err := encodeEmit(event, args)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	p := socketio.Packet{Type: socketio.Event, Namespace: s.nsp, Data: data}
	var id uint64
	if ch != nil {
		id = s.nextAckID
		s.nextAckID++
		p.ID, p.HasID = id, true
	}
	frames := s.encodeFrames(p, atts)
	if s.connected && s.eng.send(frames...) {
		if ch != nil {
			s.acks[id] = &pendingAck{ch: ch, sent: true}
		}
		s.sentLocked(data, atts)
		return id, nil
	}
	if volatile {
		return id, nil
	}
	if ch != nil {
		s.acks[id] = &pendingAck{ch: ch}
	}
	s.sendBuf = append(s.sendBuf, outbound{frames: frames, data: data, atts: atts, ackID: id, hasAck: ch != nil})
	return id, nil
}

// dropAck forgets an acknowledgement nobody waits for any more, and its
// event if it is still buffered.
func (s *Socket) dropAck(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.acks, id)
	s.sendBuf = slices.DeleteFunc(s.sendBuf, func(o outbound) bool { return o.hasAck && o.ackID == id })
}

// encodeFrames encodes p and its attachments as Engine.IO messages with
// the Manager's parser.
func (s *Socket) encodeFrames(p socketio.Packet, atts [][]byte) []engineio.Packet {
	if s.m.opts.Parser != ParserMsgpack {
		return encodeFrames(p, atts)
	}
	b, err := msgpack.AppendPacket(nil, p, atts)
	if err != nil {
		// The client makes its packets' JSON: this is a bug.
		s.m.log.Error("client: packet not sent: msgpack cannot carry it", "err", err)
		return nil
	}
	return []engineio.Packet{{Type: engineio.Message, Data: b, Binary: true}}
}

// encodeFrames encodes p (its binary type and attachment count set from
// atts) as Engine.IO messages: the text packet, then one binary message per
// attachment.
func encodeFrames(p socketio.Packet, atts [][]byte) []engineio.Packet {
	if len(atts) > 0 {
		switch p.Type {
		case socketio.Event:
			p.Type = socketio.BinaryEvent
		case socketio.Ack:
			p.Type = socketio.BinaryAck
		}
		p.Attachments = len(atts)
	}
	frames := make([]engineio.Packet, 0, 1+len(atts))
	frames = append(frames, engineio.Packet{Type: engineio.Message, Data: socketio.AppendEncode(nil, p)})
	for _, a := range atts {
		frames = append(frames, engineio.Packet{Type: engineio.Message, Data: slices.Clone(a), Binary: true})
	}
	return frames
}

// ackFunc returns the AckFunc of an event received with ack id id during
// connection session.
func (s *Socket) ackFunc(session, id uint64) AckFunc {
	var done atomic.Bool
	return func(args ...any) error {
		data, atts, err := socketio.MarshalArgs(args...)
		if err != nil {
			return fmt.Errorf("client: ack: %w", err)
		}
		if done.Swap(true) {
			return nil
		}
		frames := s.encodeFrames(socketio.Packet{Type: socketio.Ack, Namespace: s.nsp, ID: id, HasID: true, Data: data}, atts)
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.connected || s.session != session || !s.eng.send(frames...) {
			return ErrNotConnected
		}
		return nil
	}
}

// post queues a lifecycle event for delivery.
func (s *Socket) post(ev Event) {
	s.d.push(func() { s.fireLifecycle(ev) })
}

func (s *Socket) fireLifecycle(ev Event) { fireEvent(&s.mu, &s.eventHooks, &s.handlers, ev) }

// fireEvent runs the OnEvent hooks, then the On and Once handlers, of a
// Socket's or a Manager's event ev: what they hold is read under mu, and
// they run without it.
func fireEvent(mu *sync.Mutex, hooksp *[]func(Event), handlers *listeners.List[EventHandler], ev Event) {
	mu.Lock()
	hooks := slices.Clone(*hooksp)
	ls := handlers.Take(ev.Name, nil)
	mu.Unlock()
	for _, h := range hooks {
		h(ev)
	}
	if len(ls) > 0 {
		args := ev.Args()
		for _, fn := range ls {
			fn(args, nil)
		}
	}
}

func (s *Socket) fireEvent(name string, args Args, ack AckFunc) {
	s.mu.Lock()
	anys := s.anyIn.List()
	ls := s.handlers.Take(name, nil)
	s.mu.Unlock()
	for _, fn := range anys {
		fn(name, args, ack)
	}
	for _, fn := range ls {
		fn(args, ack)
	}
}

// failAcks fails the pending acknowledgements with err: all of them, or
// only those whose event was sent. The retry queue fails all its events
// likewise, or else only ends the try in flight (see endTriesLocked). The
// caller holds s.mu.
func (s *Socket) failAcks(err error, all bool) {
	for id, pa := range s.acks {
		if pa.q == nil && (all || pa.sent) {
			delete(s.acks, id)
			pa.ch <- ackResult{err: err}
		}
	}
	if all {
		s.sendBuf = nil
		s.failQueueLocked(err)
	} else {
		s.endTriesLocked(err)
	}
}
