package actorio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorio/actorio/actors"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/listeners"
	"github.com/actorio/actorio/protocol/socketio"
)

// EventHandler handles one received event; ack is nil unless the client
// asked for an acknowledgement.
type EventHandler func(s *Socket, args Args, ack AckFunc)

// AnyHandler handles every received event, before the event's own handlers.
type AnyHandler func(s *Socket, event string, args Args, ack AckFunc)

// AckFunc sends an acknowledgement back to the client; only the first call
// sends anything.
type AckFunc func(args ...any) error

// Handshake is what the client sent when it connected.
type Handshake struct {
	// Headers are the HTTP headers of the first request.
	Headers http.Header
	// Host is the host the first request was sent to (net/http keeps it
	// out of Headers).
	Host string
	// Query holds the query parameters of the first request.
	Query url.Values
	// Auth is the JSON payload of the client's CONNECT packet (nil if none).
	Auth json.RawMessage
	// Address is the client's remote address.
	Address string
	// Time is when the connection was opened.
	Time time.Time
	// URL is the request URL of the first request.
	URL string
	// Secure reports whether the connection came over TLS.
	Secure bool

	ctx context.Context // the first request's context
}

// Context returns the context of the first HTTP request, the Engine.IO
// handshake, with the values net/http middleware wrapping the server put
// in it (r.WithContext(context.WithValue(...)) with an authenticated
// user, say), for Namespace.Use middleware and connection handlers to
// read. That request has been answered by then, so the context is
// cancelled: its Values stay readable, but it is Done and its Err is not
// nil, so it must not bound work done for the socket.
func (h Handshake) Context() context.Context {
	if h.ctx == nil {
		return context.Background()
	}
	return h.ctx
}

// Socket is one client connected to one namespace. Its handlers run one at
// a time, in the order the client sent the events; its other methods are
// safe for concurrent use.
type Socket struct {
	ns   *Namespace
	p    *actors.SocketRef
	auth json.RawMessage // what Handshake reports with the connection's request
	data atomic.Value    // holds dataBox

	mu           sync.Mutex
	listeners    listeners.List[EventHandler]
	onDisconnect []func(s *Socket, reason string)
	// more holds what most sockets never use; nil until one of its
	// handlers is added, and never reset (guarded by mu). A socket lives
	// as long as its connection: without it, each idle socket carried
	// about 190 more bytes.
	more *socketMore
	// ended is set once the socket disconnected (guarded by mu); hasOut
	// tells that it has OnAnyOutgoing handlers and has not ended, for the
	// broadcasts that look without the lock (once it is seen set, more
	// may be read without the lock: it was set before).
	ended  bool
	hasOut atomic.Bool
}

// socketMore is what a Socket holds only once it is used: catch-all
// handlers, middlewares, OnError and OnDisconnecting handlers, and the
// queue that runs the OnAnyOutgoing handlers in order (catchall.go).
type socketMore struct {
	anyIn           listeners.Any[AnyHandler]
	anyOut          listeners.Any[OutgoingHandler]
	middlewares     []SocketMiddleware
	onError         []func(s *Socket, err error)
	onDisconnecting []func(s *Socket, reason string)
	outQ            serial
}

// moreLocked returns s.more, made if need be; s.mu must be held.
func (s *Socket) moreLocked() *socketMore {
	if s.more == nil {
		s.more = &socketMore{}
	}
	return s.more
}

// SocketMiddleware vets one event a socket received, after the socket's
// OnAny handlers and before its own handlers: an error stops the event
// there (its handlers do not run and the client gets no ack) and goes to
// the socket's OnError handlers.
type SocketMiddleware func(s *Socket, event string, args Args) error

type dataBox struct{ v any }

func newSocket(ns *Namespace, p *actors.SocketRef, auth []byte) hooks {
	s := &Socket{ns: ns, p: p}
	if len(auth) > 0 {
		s.auth = json.RawMessage(auth)
	}
	if d, ok := p.RestoredData(); ok {
		s.data.Store(dataBox{d})
	}
	return hooks{s}
}

// ID returns the socket id (distinct from the Engine.IO session id).
func (s *Socket) ID() string { return s.p.ID() }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.ns }

// Handshake returns what the client sent when it connected. A session
// keeps its handshake packed, so each call builds Headers and Query anew
// (about 1.6 KB of garbage for a browser's WebSocket handshake, 13
// headers and a three-parameter query): a handler that reads several
// fields should call it once.
func (s *Socket) Handshake() Handshake {
	r := s.p.Conn().Request()
	return Handshake{Headers: r.Header(), Host: r.Host, Query: r.Query(), Auth: s.auth, Address: r.RemoteAddr, Time: r.Time, URL: r.URL, Secure: r.Secure, ctx: r.Context()}
}

// SessionID returns the id of the Engine.IO session the socket runs on,
// which the client's sockets of other namespaces share.
func (s *Socket) SessionID() string { return s.p.Conn().ID() }

// Transport returns the transport of the socket's session now, "polling"
// or "websocket".
func (s *Socket) Transport() string { return s.p.Conn().Transport() }

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool { return s.p.Connected() }

// Recovered reports whether the socket restored the session of a socket
// that lost its connection (see ConnectionStateRecovery): it has that
// socket's id, rooms and Data, and the client got the packets it missed.
func (s *Socket) Recovered() bool { return s.p.Recovered() }

// Data returns the value last stored with SetData.
func (s *Socket) Data() any {
	b, _ := s.data.Load().(dataBox)
	return b.v
}

// SetData stores an application value with the socket.
func (s *Socket) SetData(v any) {
	s.data.Store(dataBox{v})
	if s.p != nil {
		s.p.DataChanged()
	}
	if o := s.ns.srv.observer(); o != nil {
		o.SocketDataChanged(s)
	}
}

// On registers a handler for event.
func (s *Socket) On(event string, fn EventHandler) { s.addListener(event, fn, false) }

// Once registers a handler run for the next event of that name only.
func (s *Socket) Once(event string, fn EventHandler) { s.addListener(event, fn, true) }

func (s *Socket) addListener(event string, fn EventHandler, once bool) {
	s.mu.Lock()
	s.listeners.Add(event, fn, once)
	s.mu.Unlock()
}

// Off removes every handler of event.
func (s *Socket) Off(event string) {
	s.mu.Lock()
	s.listeners.Remove(event)
	s.mu.Unlock()
}

// Use adds a middleware run, in order, for every event the socket
// receives from now on (see SocketMiddleware).
func (s *Socket) Use(mw SocketMiddleware) {
	s.mu.Lock()
	m := s.moreLocked()
	m.middlewares = append(m.middlewares, mw)
	s.mu.Unlock()
}

// OnError registers a handler for the errors of the socket's middlewares.
func (s *Socket) OnError(fn func(s *Socket, err error)) {
	s.mu.Lock()
	m := s.moreLocked()
	m.onError = append(m.onError, fn)
	s.mu.Unlock()
}

// OnDisconnecting registers a handler run when the socket is about to
// disconnect, while it is still in its rooms.
func (s *Socket) OnDisconnecting(fn func(s *Socket, reason string)) {
	s.mu.Lock()
	m := s.moreLocked()
	m.onDisconnecting = append(m.onDisconnecting, fn)
	s.mu.Unlock()
}

// OnDisconnect registers a handler run once when the socket disconnects,
// whatever the cause, with one of package disconnect's reasons.
func (s *Socket) OnDisconnect(fn func(s *Socket, reason string)) {
	s.mu.Lock()
	s.onDisconnect = append(s.onDisconnect, fn)
	s.mu.Unlock()
}

// DisconnectDescription returns the details of a transport's end, which
// Node passes as the disconnect event's second argument (description):
// in OnDisconnecting and OnDisconnect handlers (and after), the error
// the socket's Engine.IO connection ended with, when that end ended the
// socket. It is always set for reason "transport error" (an error
// wrapping gateway.ErrHeartbeatDirection, gateway.ErrPayloadTooLarge,
// gateway.ErrPollAborted, gateway.ErrPollOverlap, or the network's read
// or write error), as with Node; actorio also gives one for "ping
// timeout" (gateway.ErrPingTimeout), "slow consumer"
// (gateway.ErrSlowConsumer) and an Engine.IO packet that does not decode
// ("parse error"), where Node gives none. It is nil for every other end:
// a client's or the server's disconnect, a clean "transport close", a
// Socket.IO packet that does not decode, the server's Close.
func (s *Socket) DisconnectDescription() error { return s.p.Description() }

// Emit sends an event to this socket's client. Arguments are any values
// encoding/json accepts; a []byte at any depth in []any, map[string]any or
// Object travels as a binary attachment.
func (s *Socket) Emit(event string, args ...any) error {
	frame, data, atts, err := encodeEvent(s.ns.name, event, 0, false, args)
	if err != nil {
		return err
	}
	s.sending(data, atts)
	if err := s.p.WriteEvent(frame, atts, false); err != nil {
		return err
	}
	s.ns.srv.reportSent(s.ns.name, []string{s.p.ID()}, data, atts)
	return nil
}

// Send emits the "message" event.
func (s *Socket) Send(args ...any) error { return s.Emit("message", args...) }

// EmitWithAck sends an event and waits for the client's acknowledgement
// until ctx ends.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	id := s.p.Namespace().NextAckID()
	frame, data, atts, err := encodeEvent(s.ns.name, event, id, true, args)
	if err != nil {
		return Args{}, err
	}
	s.sending(data, atts)
	type result struct {
		args Args
		err  error
	}
	ch := make(chan result, 1)
	start := time.Now()
	s.p.RegisterAck(id, func(data []byte, atts [][]byte) {
		if data == nil {
			ch <- result{err: ErrDisconnected}
			return
		}
		s.ns.a.ObserveAck(time.Since(start))
		a, err := newArgs(data, atts, 0)
		ch <- result{a, err}
	})
	if err := s.p.WriteEvent(frame, atts, true); err != nil {
		s.p.RemoveAck(id)
		return Args{}, err
	}
	s.ns.srv.reportSent(s.ns.name, []string{s.p.ID()}, data, atts)
	s.p.AwaitClient()
	select {
	case r := <-ch:
		if r.err != nil {
			return Args{}, fmt.Errorf("emit %q: %w", event, r.err)
		}
		return r.args, nil
	case <-ctx.Done():
		s.p.RemoveAck(id)
		return Args{}, fmt.Errorf("emit %q: %w", event, ctx.Err())
	}
}

// Volatile returns an operator that sends to this socket only if its
// connection can take the packet now.
func (s *Socket) Volatile() *BroadcastOperator {
	return &BroadcastOperator{ns: s.ns, rooms: []string{s.ID()}, volatile: true}
}

// Compress returns an operator that sends to this socket only, its
// packets compressed or not as BroadcastOperator.Compress says (Node's
// socket.compress(false).emit). Like Volatile, it selects this socket: to
// send uncompressed to rooms, use s.To(room).Compress(false).
func (s *Socket) Compress(compress bool) *BroadcastOperator {
	return &BroadcastOperator{ns: s.ns, rooms: []string{s.ID()}, uncompressed: !compress}
}

// Join adds the socket to rooms.
func (s *Socket) Join(rooms ...string) { s.p.Join(rooms...) }

// Leave removes the socket from rooms.
func (s *Socket) Leave(rooms ...string) { s.p.Leave(rooms...) }

// Rooms returns the rooms the socket is in, its own id among them.
func (s *Socket) Rooms() []string { return s.p.Rooms() }

// To selects the sockets in rooms, except this one.
func (s *Socket) To(rooms ...string) *BroadcastOperator { return s.Broadcast().To(rooms...) }

// In is the same as To.
func (s *Socket) In(rooms ...string) *BroadcastOperator { return s.To(rooms...) }

// Except selects every socket of the namespace but this one and those in
// rooms.
func (s *Socket) Except(rooms ...string) *BroadcastOperator { return s.Broadcast().Except(rooms...) }

// Broadcast selects every socket of the namespace but this one.
func (s *Socket) Broadcast() *BroadcastOperator {
	return &BroadcastOperator{ns: s.ns, exceptIDs: []string{s.ID()}}
}

// Disconnect disconnects the socket from its namespace; close also closes
// the underlying connection, disconnecting its other namespaces too.
func (s *Socket) Disconnect(close bool) {
	s.p.Disconnect(disconnect.ServerNamespaceDisconnect, true, close)
}

// CloseConn closes the socket's underlying Engine.IO connection, as Node's
// socket.conn.close(): unlike Disconnect(true), no DISCONNECT packet goes
// first, so the client sees "transport close" and reconnects (every
// namespace of the connection), while the server's sockets end with
// "forced close".
func (s *Socket) CloseConn() { s.p.Conn().Close(disconnect.ForcedClose) }

// hooks is how the socket's actor runs the user code of a Socket; it keeps
// those entry points out of Socket's public methods.
type hooks struct{ s *Socket }

// Authorize runs the namespace middleware.
func (h hooks) Authorize() *actors.Refusal {
	s := h.s
	mws, _ := s.ns.handlers()
	for _, mw := range mws {
		err := mw(s)
		if err == nil {
			continue
		}
		ce, ok := err.(*ConnectError)
		if !ok {
			ce = &ConnectError{Message: err.Error()}
		}
		body := socketio.Object{{Key: "message", Value: ce.Message}}
		if ce.Data != nil {
			body = append(body, socketio.Member{Key: "data", Value: ce.Data})
		}
		payload, err := body.MarshalJSON()
		if err != nil {
			payload = fmt.Appendf(nil, `{"message":%q}`, ce.Message)
		}
		return &actors.Refusal{Payload: payload}
	}
	return nil
}

// Welcome runs the namespace's connection handlers.
func (h hooks) Welcome() {
	if o := h.s.ns.srv.observer(); o != nil {
		o.SocketConnected(h.s)
	}
	_, fns := h.s.ns.handlers()
	for _, fn := range fns {
		fn(h.s)
	}
}

// Event runs the handlers of one received event.
func (h hooks) Event(pkt *actors.InboundEvent) {
	s := h.s
	// The connection's inbound route decoded the packet: its JSON is valid.
	name, args, err := socketio.NewDecodedEventArgs(pkt.Data, pkt.Attachments)
	if err != nil {
		return
	}
	var ack AckFunc
	if pkt.HasID {
		ack = s.ackFunc(pkt.ID)
	}
	var buf [4]EventHandler
	s.mu.Lock()
	var anys []AnyHandler
	var mws []SocketMiddleware
	if m := s.more; m != nil {
		anys = m.anyIn.List()
		mws = slices.Clone(m.middlewares)
	}
	var run []EventHandler
	if len(mws) == 0 {
		run = s.listeners.Take(name, buf[:0])
	}
	s.mu.Unlock()
	if o := s.ns.srv.observer(); o != nil {
		o.EventReceived(s, name, args)
	}
	for _, fn := range anys {
		fn(s, name, args, ack)
	}
	if len(mws) > 0 {
		for _, mw := range mws {
			if err := mw(s, name, args); err != nil {
				s.fail(name, err)
				return
			}
		}
		s.mu.Lock()
		run = s.listeners.Take(name, buf[:0])
		s.mu.Unlock()
	}
	for _, fn := range run {
		fn(s, args, ack)
	}
	if s.ns.forwarded.Load() || (s.ns.parent != nil && s.ns.parent.forwarded.Load()) {
		s.forwardEvent(name, args, ack)
	}
}

// fail hands the error of a socket middleware, which stopped event, to
// the OnError handlers, or logs it when there is none.
func (s *Socket) fail(event string, err error) {
	s.mu.Lock()
	var fns []func(s *Socket, err error)
	if m := s.more; m != nil {
		fns = slices.Clone(m.onError)
	}
	s.mu.Unlock()
	if len(fns) == 0 {
		s.ns.srv.opts.Logger.Warn("actorio: event stopped by a socket middleware, and the socket has no OnError handler",
			"nsp", s.ns.name, "sid", s.ID(), "event", event, "err", err)
		return
	}
	for _, fn := range fns {
		fn(s, err)
	}
}

func (s *Socket) ackFunc(id uint64) AckFunc {
	var sent atomic.Bool
	return func(args ...any) error {
		if !sent.CompareAndSwap(false, true) {
			return nil
		}
		// Encoded in one buffer sized for it: the header, then the
		// arguments. An ack with binary arguments is framed again, its
		// header carrying the attachments' count.
		p := socketio.Packet{Type: socketio.Ack, Namespace: s.ns.name, ID: id, HasID: true}
		frame := socketio.AppendEncode(make([]byte, 0, ackSizeHint(s.ns.name, args)), p)
		head := len(frame)
		frame, atts, err := socketio.AppendMarshalArgs(frame, nil, args...)
		if err != nil {
			return fmt.Errorf("encode ack: %w", err)
		}
		if len(atts) > 0 {
			p.Type, p.Data, p.Attachments = socketio.BinaryAck, frame[head:], len(atts)
			frame = socketio.AppendEncode(nil, p)
		}
		return s.p.Write(frame, atts)
	}
}

// ackSizeHint guesses the bytes of an ACK packet of namespace nsp with
// args: enough for the usual arguments (strings, raw JSON, numbers)
// without characters to escape, a guess for the others (a short guess
// costs the buffer's growth).
func ackSizeHint(nsp string, args []any) int {
	n := len(nsp) + 24 // type, namespace's comma, ack id, brackets
	for _, a := range args {
		switch v := a.(type) {
		case json.RawMessage:
			n += len(v) + 1
		case string:
			n += len(v) + 3
		case int, int64, float64, uint64:
			n += 21
		default:
			n += 32
		}
	}
	return n
}

// Data returns the socket's Data, kept with its session for recovery.
func (h hooks) Data() any { return h.s.Data() }

// Disconnecting runs the OnDisconnecting handlers.
func (h hooks) Disconnecting(reason string) {
	s := h.s
	s.mu.Lock()
	var fns []func(s *Socket, reason string)
	if m := s.more; m != nil {
		fns = slices.Clone(m.onDisconnecting)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(s, reason)
	}
}

// Disconnected runs the OnDisconnect handlers.
func (h hooks) Disconnected(reason string) {
	s := h.s
	if o := s.ns.srv.observer(); o != nil {
		o.SocketDisconnected(s, reason)
	}
	s.endOutgoing()
	s.mu.Lock()
	fns := slices.Clone(s.onDisconnect)
	s.mu.Unlock()
	for _, fn := range fns {
		fn(s, reason)
	}
}

// encodeEvent encodes an EVENT (or BINARY_EVENT) packet once.
func encodeEvent(nsp, event string, id uint64, withID bool, args []any) (frame, data []byte, atts [][]byte, err error) {
	data, atts, err = encodeEventData(event, args)
	if err != nil {
		return nil, nil, nil, err
	}
	return eventPacket(nsp, id, withID, data, atts), data, atts, nil
}

// eventPacket frames data, the JSON array [event, args...], as the EVENT
// packet of the namespace nsp (BINARY_EVENT when it has attachments), with
// the ack id id when withID.
func eventPacket(nsp string, id uint64, withID bool, data []byte, atts [][]byte) []byte {
	t := socketio.Event
	if len(atts) > 0 {
		t = socketio.BinaryEvent
	}
	return socketio.AppendEncode(nil, socketio.Packet{Type: t, Namespace: nsp, ID: id, HasID: withID, Data: data, Attachments: len(atts)})
}
