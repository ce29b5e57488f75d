package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/listeners"
	"github.com/actorio/actorio/protocol/socketio"
)

// Manager owns one Engine.IO connection to a server and the sockets (one
// per namespace) multiplexed over it. It connects when a socket connects,
// reconnects after a loss, and closes the connection when no socket wants
// it any more. Its methods are safe for concurrent use.
type Manager struct {
	opts Options
	cfg  *engineConfig
	log  *slog.Logger
	bo   backoff

	mu      sync.Mutex
	sockets map[string]*Socket
	order   []*Socket // creation order: the order events are posted in
	cur     *run      // the connection's lifecycle goroutine, nil when idle
	closed  bool
	wg      sync.WaitGroup  // lifecycle goroutines
	warned  map[string]bool // reserved names of server events logged at Warn

	// The Manager's own events (open, close, ping, error, reconnect…),
	// delivered by d; hmu guards their handlers.
	d          *dispatcher
	hmu        sync.Mutex
	handlers   listeners.List[EventHandler]
	eventHooks []func(Event)
	// packets tells that a handler of EventPacket is registered: without
	// one, no packet event is made.
	packets atomic.Bool
}

// runState is where a lifecycle goroutine is.
type runState int

const (
	stateDialing runState = iota // an attempt is in progress
	stateOpen                    // the Engine.IO session is open
	stateWaiting                 // before an attempt: the attempt posts connecting
)

// run is one lifecycle goroutine: connection, losses and reconnections,
// until it gives up or is halted. Its state and eng are guarded by Manager.mu.
type run struct {
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{}
	once   sync.Once
	state  runState
	eng    *engine
}

// halt stops the run; its goroutine closes its session and returns.
func (r *run) halt() {
	r.once.Do(func() {
		close(r.stop)
		r.cancel()
	})
}

// New creates a Manager of its own for rawURL (http, https, ws or wss) and
// returns, not yet connected, the socket of the namespace in the URL's path
// ("/" when empty). Register handlers, then call Connect.
func New(rawURL string, opts Options) (*Socket, error) {
	m, err := NewManager(rawURL, opts)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(rawURL)
	return m.Socket(u.Path), nil
}

// NewManager creates a Manager for the server at rawURL (http, https, ws or
// wss; the URL's path is not used, its query is sent). It does not connect:
// sockets do, through Socket.Connect.
func NewManager(rawURL string, opts Options) (*Manager, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
		u.Scheme = "http"
	case "https", "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("client: URL %q: scheme must be http, https, ws or wss", rawURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: URL %q has no host", rawURL)
	}
	return &Manager{
		opts:    opts,
		cfg:     newEngineConfig(u, opts),
		log:     opts.Logger,
		bo:      backoff{base: opts.ReconnectionDelay, max: opts.ReconnectionDelayMax, jitter: opts.RandomizationFactor},
		sockets: map[string]*Socket{},
		d:       newDispatcher(opts.Logger),
	}, nil
}

// Socket returns the socket of namespace, creating it, not yet connected,
// on first use; later calls return the same socket and ignore opts. With
// Options.AutoConnect, it connects the socket it returns unless it is
// connected or connecting, as the JavaScript client's manager.socket.
func (m *Manager) Socket(namespace string, opts ...SocketOption) *Socket {
	s := m.socket(namespace, opts)
	if m.opts.AutoConnect {
		_ = s.Connect() // only ErrClosed, which the socket's methods return too
	}
	return s
}

func (m *Manager) socket(namespace string, opts []SocketOption) *Socket {
	if namespace == "" || namespace[0] != '/' {
		namespace = "/" + namespace
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.sockets[namespace]; ok {
		return s
	}
	var cfg socketConfig
	for _, o := range opts {
		o(&cfg)
	}
	s := newSocket(m, namespace, cfg)
	if m.closed {
		s.closed = true
		s.d.close()
	}
	m.sockets[namespace] = s
	m.order = append(m.order, s)
	return s
}

// Close disconnects every socket ("io client disconnect"), closes the
// connection and waits for the goroutines of the Manager and its sockets,
// except one still running an event handler. Later calls do nothing.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	r := m.cur
	m.cur = nil
	if r != nil {
		m.post(Event{Name: EventClose, Reason: disconnect.ForcedClose})
	}
	socks := m.order
	for _, s := range socks {
		s.mu.Lock()
		s.leaveLocked()
		s.closed = true
		s.failAcks(ErrClosed, true)
		s.mu.Unlock()
	}
	m.mu.Unlock()
	if r != nil {
		r.halt()
	}
	m.wg.Wait()
	m.cfg.closeIdle()
	for _, s := range socks {
		s.d.close()
	}
	m.d.close()
	return nil
}

// leaveLocked sends DISCONNECT if the socket is connected, posts its
// disconnect event, and makes it inactive; its next connection starts a new
// session. The caller holds s.mu.
func (s *Socket) leaveLocked() {
	if s.connected {
		s.eng.send(s.encodeFrames(socketio.Packet{Type: socketio.Disconnect, Namespace: s.nsp}, nil)...)
		s.connected = false
		s.failAcks(ErrDisconnected, false)
		s.post(Event{Name: EventDisconnect, Reason: disconnect.IOClientDisconnect})
	}
	s.active = false
	s.eng = nil
	s.recvBuf = nil
	s.forgetSessionLocked()
}

// connect makes s active, starting the connection when the Manager is idle.
func (m *Manager) connect(s *Socket) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	s.mu.Lock()
	if s.active {
		s.mu.Unlock()
		m.mu.Unlock()
		return nil
	}
	s.active, s.succeeded = true, false
	s.mu.Unlock()

	var eng *engine
	if r := m.cur; r == nil {
		m.startRun() // its first attempt posts connecting
	} else if r.state != stateWaiting {
		s.post(Event{Name: EventConnecting})
		eng = r.eng
	}
	m.mu.Unlock()
	if eng != nil {
		m.sendConnect(s, eng)
	}
	return nil
}

// disconnect is Socket.Disconnect.
func (m *Manager) disconnect(s *Socket) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.mu.Lock()
	s.leaveLocked()
	s.mu.Unlock()
	m.maybeIdleLocked()
}

// maybeIdle halts the connection when no socket is active any more.
func (m *Manager) maybeIdle() {
	m.mu.Lock()
	m.maybeIdleLocked()
	m.mu.Unlock()
}

func (m *Manager) maybeIdleLocked() {
	if m.cur == nil || len(m.activeLocked()) > 0 {
		return
	}
	m.log.Debug("client: no active socket, closing the connection")
	m.cur.halt()
	m.cur = nil
	m.post(Event{Name: EventClose, Reason: disconnect.ForcedClose})
}

// activeLocked returns the sockets that want to be connected, in creation
// order. The caller holds m.mu.
func (m *Manager) activeLocked() []*Socket {
	var out []*Socket
	for _, s := range m.order {
		s.mu.Lock()
		if s.active {
			out = append(out, s)
		}
		s.mu.Unlock()
	}
	return out
}

// startRun starts a lifecycle goroutine. The caller holds m.mu.
func (m *Manager) startRun() {
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{ctx: ctx, cancel: cancel, stop: make(chan struct{}), state: stateWaiting}
	m.cur = r
	m.wg.Add(1)
	go m.loop(r)
}

// loop connects, waits for the loss of the connection and reconnects,
// until reconnection is off or exhausted, no socket is active, or r is halted.
func (m *Manager) loop(r *run) {
	defer m.wg.Done()
	defer r.cancel()
	attempt := 0 // reconnection attempts made since the last success
	reconnecting := false
	var lastErr error
	for {
		if reconnecting {
			if lim := m.opts.ReconnectionAttempts; lim > 0 && attempt >= lim {
				m.giveUp(r, lastErr)
				return
			}
			delay := m.bo.duration(attempt)
			attempt++
			m.log.Debug("client: reconnecting", "attempt", attempt, "delay", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.stop:
				t.Stop()
				return
			}
			if !m.reconnectAttempt(r, attempt) {
				return
			}
		}
		if !m.beginAttempt(r) {
			return
		}
		ctx, cancel := context.WithTimeout(r.ctx, m.opts.Timeout)
		eng, err := dialEngine(ctx, m.cfg, &receiver{m: m})
		cancel()
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			m.log.Debug("client: connection attempt failed", "err", err)
			lastErr = err
			if !m.attemptFailed(r, err, reconnecting, attempt) {
				return
			}
			reconnecting = true
			continue
		}
		if !m.opened(r, eng, reconnecting, attempt) {
			eng.shutdown()
			eng.wait()
			return
		}
		attempt, reconnecting = 0, false
		select {
		case <-eng.done:
		case <-r.stop:
			eng.shutdown()
			eng.wait()
			return
		}
		eng.wait()
		if !m.lost(r, eng) {
			return
		}
		reconnecting = true
	}
}

// reconnectAttempt posts reconnecting and reconnect_attempt to every
// active socket, and reconnect_attempt to the Manager, before attempt;
// false when r is no longer current (or no socket is active, which makes
// the Manager idle).
func (m *Manager) reconnectAttempt(r *run, attempt int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.postActiveLocked(r, Event{Name: EventReconnecting, Attempt: attempt}, Event{Name: EventReconnectAttempt, Attempt: attempt}) {
		return false
	}
	m.post(Event{Name: EventReconnectAttempt, Attempt: attempt})
	return true
}

// postActiveLocked is postActive for a caller holding m.mu.
func (m *Manager) postActiveLocked(r *run, evs ...Event) bool {
	if m.cur != r {
		return false
	}
	socks := m.activeLocked()
	if len(socks) == 0 {
		m.cur = nil
		r.halt()
		return false
	}
	for _, s := range socks {
		for _, ev := range evs {
			s.post(ev)
		}
	}
	return true
}

// beginAttempt posts connecting to the active sockets before an attempt.
func (m *Manager) beginAttempt(r *run) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.postActiveLocked(r, Event{Name: EventConnecting}) {
		return false
	}
	r.state = stateDialing
	return true
}

// attemptFailed reports a failed attempt, the attempt-th reconnection
// attempt when reconnecting, to the active sockets and the Manager; false
// when no reconnection follows.
func (m *Manager) attemptFailed(r *run, err error, reconnecting bool, attempt int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur != r {
		return false
	}
	m.post(Event{Name: EventError, Err: err})
	if reconnecting {
		// The JavaScript client's Manager gives up before it reports the
		// last attempt's error: reconnect_failed, then reconnect_error.
		if lim := m.opts.ReconnectionAttempts; lim > 0 && attempt >= lim && !m.opts.DisableReconnection {
			m.post(Event{Name: EventReconnectFailed})
		}
		m.post(Event{Name: EventReconnectError, Err: err})
	}
	socks := m.activeLocked()
	for _, s := range socks {
		s.post(Event{Name: EventConnectError, Err: err})
		if reconnecting {
			s.post(Event{Name: EventReconnectError, Err: err})
		}
	}
	if m.opts.DisableReconnection || len(socks) == 0 {
		m.endRunLocked(r, socks, err)
		return false
	}
	r.state = stateWaiting
	return true
}

// giveUp ends the run when the reconnection attempts ran out.
func (m *Manager) giveUp(r *run, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur != r {
		return
	}
	socks := m.activeLocked()
	for _, s := range socks {
		s.post(Event{Name: EventReconnectFailed})
	}
	m.endRunLocked(r, socks, err)
}

// endRunLocked makes the Manager idle after a failure: connect_failed goes
// to the sockets that never connected since their Connect call, and every
// socket becomes inactive. The caller holds m.mu.
func (m *Manager) endRunLocked(r *run, socks []*Socket, err error) {
	for _, s := range socks {
		s.mu.Lock()
		if !s.succeeded {
			s.post(Event{Name: EventConnectFailed, Err: err})
		}
		s.active = false
		s.eng = nil
		s.recvBuf = nil
		s.mu.Unlock()
	}
	m.cur = nil
	r.halt()
}

// opened installs a new session: reconnect goes to the active sockets, then
// each sends its CONNECT. False when r is no longer current.
func (m *Manager) opened(r *run, eng *engine, reconnecting bool, attempt int) bool {
	m.mu.Lock()
	if m.cur != r {
		m.mu.Unlock()
		return false
	}
	r.state, r.eng = stateOpen, eng
	socks := m.activeLocked()
	m.post(Event{Name: EventOpen})
	if reconnecting {
		m.post(Event{Name: EventReconnect, Attempt: attempt})
		for _, s := range socks {
			s.post(Event{Name: EventReconnect, Attempt: attempt})
		}
	}
	m.mu.Unlock()
	m.log.Debug("client: connected", "sid", eng.sid, "transport", eng.transportName())
	for _, s := range socks {
		m.sendConnect(s, eng)
	}
	return true
}

// lost handles the end of a session: every socket connected over it gets
// disconnect. False when no reconnection follows.
func (m *Manager) lost(r *run, eng *engine) bool {
	reason, err, desc := eng.closeReason()
	m.log.Debug("client: connection lost", "reason", reason, "err", err)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur != r {
		return false
	}
	if reason == disconnect.TransportError {
		m.post(Event{Name: EventError, Err: err}) // the JavaScript client's engine error, before its close
	}
	m.post(Event{Name: EventClose, Reason: reason, Description: desc})
	r.eng = nil
	r.state = stateWaiting
	for _, s := range m.order {
		s.mu.Lock()
		if s.eng == eng {
			if s.connected {
				s.connected = false
				s.failAcks(ErrDisconnected, false)
				s.post(Event{Name: EventDisconnect, Reason: reason, Err: err, Description: desc})
			}
			s.eng = nil
			s.recvBuf = nil // not delivered: the next CONNECT asks for them again
		}
		s.mu.Unlock()
	}
	socks := m.activeLocked()
	if m.opts.DisableReconnection || len(socks) == 0 {
		for _, s := range socks {
			s.mu.Lock()
			s.active = false
			s.mu.Unlock()
		}
		m.cur = nil
		r.halt()
		return false
	}
	return true
}

// sendConnect sends s's CONNECT over eng unless it is no longer wanted or
// already sent there, with the session to restore if any. Auth functions
// run here, outside every lock.
func (m *Manager) sendConnect(s *Socket, eng *engine) {
	auth, err := s.authPayload()
	s.mu.Lock()
	if !s.active || s.connected || s.eng == eng {
		s.mu.Unlock()
		return
	}
	if err == nil {
		auth, err = s.connectPayloadLocked(auth)
	}
	if err != nil {
		s.active = false
		s.post(Event{Name: EventConnectError, Err: err})
		s.post(Event{Name: EventError, Err: err})
		s.mu.Unlock()
		m.maybeIdle()
		return
	}
	s.eng = eng
	s.recvBuf = nil
	eng.send(s.encodeFrames(socketio.Packet{Type: socketio.Connect, Namespace: s.nsp, Data: auth}, nil)...)
	s.mu.Unlock()
}

// authPayload returns the JSON object to send with CONNECT, or nil.
func (s *Socket) authPayload() ([]byte, error) {
	v, fn := s.m.opts.Auth, s.m.opts.AuthFunc
	if s.cfg.hasAuth {
		v, fn = s.cfg.auth, s.cfg.authFunc
	}
	if fn != nil {
		v = fn()
	}
	if v == nil {
		return nil, nil
	}
	data, atts, err := socketio.MarshalArgs(v)
	if err != nil {
		return nil, fmt.Errorf("client: auth: %w", err)
	}
	elems, err := socketio.SplitArray(data)
	if err != nil || len(elems) != 1 || len(atts) > 0 || elems[0][0] != '{' {
		return nil, errors.New("client: auth must encode as a JSON object without binary data")
	}
	return elems[0], nil
}
