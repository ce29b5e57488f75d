package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/workpool"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// Server is an Engine.IO v4 server, and v3 too with Config.AllowEIO3; it
// is an http.Handler.
type Server struct {
	cfg      Config
	handler  Handler
	log      *slog.Logger
	upgrader websocket.Upgrader
	// shared holds the compressed messages of broadcasts
	// (Config.PerMessageDeflate, SendOptions.Shared).
	shared sharedFrames

	mu sync.Mutex
	// closing: Close has started; only the last GETs (and POSTs) of
	// lingering sessions are still served. shut: they are over too.
	closing  bool
	shut     bool
	sessions map[string]*Conn
	// slots counts the sessions and handshakes in progress holding a slot
	// (see reserve), in total and by remote address.
	slots       int
	slotsByAddr map[string]int
	wg          sync.WaitGroup // requests being served, timers firing and goroutines started
	// Counters for Stats: message bytes read and taken to be written,
	// sessions closed as slow consumers.
	bytesIn, bytesOut, slowConsumers atomic.Int64
	packetsIn, packetsOut            atomic.Int64
	// polling counts the registered sessions on the polling transport.
	polling atomic.Int64
	// lingering holds the polling sessions that ended while no GET was
	// pending, by id, until a GET gets their last answer or closeLinger
	// passes (see lingerLocked). Guarded by mu.
	lingering   map[string]*Conn
	closeLinger time.Duration
	// observer, when set, is told of sessions opening, upgrading and
	// ending (SetObserver).
	observer atomic.Pointer[Observer]
	// poll holds idle WebSockets while the server has any (acquirePoller),
	// for pollUsers of them; pollFailed: it could not start. Guarded by
	// mu. pollWG counts the goroutines of every poller started.
	poll       *poller
	pollUsers  int
	pollFailed bool
	pollWG     sync.WaitGroup
	// beats schedules the sessions' heartbeats.
	beats beats
	// runs are the goroutines goTracked runs on: a WebSocket reader's run
	// after its connection became readable, a writer's run, the end of a
	// suspended delivery. A new goroutine per run grew a small stack every
	// time (gorilla's frame reading and the inbound route are deep): in a
	// profile of idle WebSockets, a quarter of each heartbeat's reading.
	runs *workpool.Pool
	// inline watches the runs that run a task after a delivery
	// (Conn.RunAfter).
	inline inlineWatch
}

// Observer is told of sessions opening, changing transport and ending. It
// is the part of actorio.Observer that this package reports, with the same
// methods, so the server installs its one observer here as it is. Its
// methods run on transport goroutines and must return quickly.
type Observer interface {
	// SessionOpened reports a new session and its first transport, before
	// the Handler's OnOpen runs.
	SessionOpened(sid, transport string)
	// SessionUpgraded reports that session sid now uses WebSocket.
	SessionUpgraded(sid string)
	// SessionClosed reports that session sid ended with reason, before its
	// receiver's OnClose runs.
	SessionClosed(sid, reason string)
}

// SetObserver installs o, replacing the previous one; nil removes it.
func (s *Server) SetObserver(o Observer) {
	if o == nil {
		s.observer.Store(nil)
		return
	}
	s.observer.Store(&o)
}

// observing returns the installed Observer, or nil.
func (s *Server) observing() Observer {
	if o := s.observer.Load(); o != nil {
		return *o
	}
	return nil
}

// New returns a Server that reports new sessions to h.
func New(cfg Config, h Handler) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:      cfg,
		handler:  h,
		log:      cfg.Logger,
		sessions: make(map[string]*Conn),

		lingering:   make(map[string]*Conn),
		closeLinger: closeLinger,

		slotsByAddr: make(map[string]int),
	}
	s.beats.run = (*Conn).onHeartbeat
	s.runs = workpool.New(s.exit)
	s.upgrader = websocket.Upgrader{
		// The small read buffer hijackWrap makes (not net/http's 4 KB
		// one; ReadBufferSize 0 adopts it) and write buffers taken from a
		// pool only while a frame is written keep an idle connection small.
		WriteBufferPool: &writeBuffers,
		// ServeHTTP checked the origin before anything else.
		CheckOrigin: func(*http.Request) bool { return true },
		// Negotiated with the clients that offer it (each session then
		// compresses as Config.PerMessageDeflate says, see writeFrames).
		EnableCompression: cfg.PerMessageDeflate != nil,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			s.log.Warn("engine.io websocket handshake failed", slog.Int("status", status), slog.Any("err", reason))
			if status == http.StatusForbidden {
				s.fail(w, r, CodeForbidden)
				return
			}
			s.fail(w, r, CodeBadRequest)
		},
	}
	return s
}

// enter registers a unit of work with the server; it fails after Close.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return false
	}
	s.wg.Add(1)
	return true
}

// isClosing reports whether Close has started.
func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// exit ends a unit of work registered by enter.
func (s *Server) exit() { s.wg.Done() }

// writeBuffers lends WebSocket write buffers to the frames being written.
var writeBuffers sync.Pool

// goAlways runs f on a new goroutine that Close waits for, even once Close
// started; its caller must itself be tracked (or be Close, before it waits).
func (s *Server) goAlways(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// goTracked runs f on a goroutine of its own (a waiting worker's, see
// Server.runs) that Close waits for and reports whether it did; f is not
// run once Close started.
func (s *Server) goTracked(f func()) bool { return s.goTask(workpool.Func(f)) }

// goTask is goTracked for a task.
func (s *Server) goTask(t workpool.Task) bool {
	if !s.enter() {
		return false
	}
	s.runs.Run(t)
	return true
}

// BytesIn returns the bytes of the message packets read from clients so
// far (Engine.IO payloads, without WebSocket or HTTP framing).
func (s *Server) BytesIn() int64 { return s.bytesIn.Load() }

// BytesOut returns the bytes of the message packets taken from sessions'
// queues to be written so far (Engine.IO payloads, without framing).
func (s *Server) BytesOut() int64 { return s.bytesOut.Load() }

// Path returns the endpoint's path, as configured and normalized: with a
// leading and a trailing "/".
func (s *Server) Path() string { return s.cfg.Path }

// PacketsIn returns the number of message packets read from clients so
// far; PacketsOut those taken from sessions' queues to be written.
func (s *Server) PacketsIn() int64 { return s.packetsIn.Load() }

// PacketsOut returns the number of message packets taken from sessions'
// queues to be written so far.
func (s *Server) PacketsOut() int64 { return s.packetsOut.Load() }

// PollingCount returns the number of live sessions on the polling
// transport.
func (s *Server) PollingCount() int { return int(s.polling.Load()) }

// SlowConsumers returns the number of sessions closed so far because their
// queue overflowed (disconnect.SlowConsumer).
func (s *Server) SlowConsumers() int64 { return s.slowConsumers.Load() }

// Count returns the number of live sessions.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// register adds a new session; it fails after Close.
func (s *Server) register(c *Conn) bool {
	polling := c.Transport() == TransportPolling
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut || s.closing {
		return false
	}
	s.sessions[c.id] = c
	if polling {
		s.polling.Add(1)
	}
	if c.slot != nil {
		c.slot.used = true // now released by remove
	}
	return true
}

// remove forgets a closed session, or with linger moves it to the
// lingering ones in the same step, so that no request finds it in
// neither. Its transport is final: a closed session no longer upgrades.
func (s *Server) remove(c *Conn, linger bool) {
	polling := c.Transport() == TransportPolling
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[c.id] == c {
		delete(s.sessions, c.id)
		s.releaseLocked(c.slot)
		if polling {
			s.polling.Add(-1)
		}
	}
	if linger {
		s.lingerLocked(c)
	}
}

// closeLinger bounds how long a polling session that the server closed
// with no GET pending stays within reach of the client's next GET. That
// GET normally leaves right after the previous answer; Node waits for it
// too (up to 30 s).
const closeLinger = 5 * time.Second

// lingerLocked keeps the closed polling session c within reach of GETs,
// unless the server is shutting down. A GET for it gets its last answer:
// after a server close, what was queued and the close packet (a POST
// before it gets "ok"), for up to closeLinger; after the client's close,
// the noop, only until the POST that carried the close is answered (see
// awaitRacingGet). Lingering sessions are not counted and hold no slot.
// s.mu is held.
func (s *Server) lingerLocked(c *Conn) {
	if s.shut {
		return
	}
	if old := s.lingering[c.id]; old != nil && old.lingerTimer != nil {
		old.lingerTimer.Stop()
	}
	s.lingering[c.id] = c
	c.lingerTimer = time.AfterFunc(s.closeLinger, func() { s.unlinger(c) })
}

// unlinger forgets the lingering session c, if it still is.
func (s *Server) unlinger(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lingering[c.id] != c {
		return
	}
	delete(s.lingering, c.id)
	if c.lingerTimer != nil {
		c.lingerTimer.Stop()
		c.lingerTimer = nil
	}
}

// lookupRequest returns the session a request names: a live one or, for
// the polling transport, a lingering one; closing reports that Close has
// started.
func (s *Server) lookupRequest(sid string, polling bool) (c *Conn, closing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c = s.sessions[sid]
	if c == nil && polling {
		c = s.lingering[sid]
	}
	return c, s.closing
}

// CloseSession ends the live session of id sid from the server side, as
// Conn.Close does with reason, and reports whether there was one.
func (s *Server) CloseSession(sid, reason string) bool {
	s.mu.Lock()
	c := s.sessions[sid]
	s.mu.Unlock()
	if c == nil {
		return false
	}
	c.Close(reason)
	return true
}

// stopLingeringLocked forgets every lingering session; s.mu is held.
func (s *Server) stopLingeringLocked() {
	for id, c := range s.lingering {
		if c.lingerTimer != nil {
			c.lingerTimer.Stop()
			c.lingerTimer = nil
		}
		delete(s.lingering, id)
	}
}

// awaitLingering waits until no session lingers, or until deadline.
func (s *Server) awaitLingering(deadline time.Time) {
	for s.lingeringCount() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// lingeringCount returns the number of lingering sessions.
func (s *Server) lingeringCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lingering)
}

// slot is the place a handshake holds under the connection limits, from
// the check until its session ends, or until the handshake fails.
type slot struct {
	addr string
	used bool // a registered session owns it
}

// slotKey carries a handshake's slot in its request's context to newConn.
type slotKey struct{}

// remoteHost returns the IP address of a request's RemoteAddr, without the
// port; an IPv4-mapped IPv6 address is given as the IPv4 address.
func remoteHost(r *http.Request) string {
	return addrHost(r.RemoteAddr)
}

// addrHost returns the IP address of a host:port network address.
func addrHost(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap().String()
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// reserve takes a slot for a handshake under MaxConnections and
// MaxConnectionsPerAddress; it returns nil when either is reached.
func (s *Server) reserve(r *http.Request) *slot {
	addr := remoteHost(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.MaxConnections > 0 && s.slots >= s.cfg.MaxConnections {
		return nil
	}
	if s.cfg.MaxConnectionsPerAddress > 0 && s.slotsByAddr[addr] >= s.cfg.MaxConnectionsPerAddress {
		return nil
	}
	s.slots++
	s.slotsByAddr[addr]++
	return &slot{addr: addr}
}

// unreserve gives back the slot of a handshake that opened no session.
func (s *Server) unreserve(sl *slot) {
	s.mu.Lock()
	if !sl.used {
		s.releaseLocked(sl)
	}
	s.mu.Unlock()
}

// releaseLocked gives a slot back; s.mu is held.
func (s *Server) releaseLocked(sl *slot) {
	if sl == nil {
		return
	}
	s.slots--
	if n := s.slotsByAddr[sl.addr] - 1; n > 0 {
		s.slotsByAddr[sl.addr] = n
	} else {
		delete(s.slotsByAddr, sl.addr)
	}
}

// Close closes every session with reason "forced server close" and waits
// for every request being served and every goroutine the server started.
// What is queued for a client is flushed first, with a close packet, for
// at most a second: a WebSocket client that does not read has its
// connection cut then, and a polling client with no GET pending has until
// then to send one and get its close packet. Other requests get 503 from
// the start. Close is idempotent.
func (s *Server) Close() error {
	deadline := time.Now().Add(shutdownFlush)
	s.mu.Lock()
	s.closing = true
	conns := make([]*Conn, 0, len(s.sessions))
	for _, c := range s.sessions {
		conns = append(conns, c)
	}
	s.stopLingeringLocked() // sessions closed earlier: not waited for
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(disconnect.ForcedServerClose, ErrServerClosed, closeFlush)
	}
	s.awaitLingering(deadline)
	s.mu.Lock()
	s.shut = true
	s.stopLingeringLocked()
	s.mu.Unlock()
	s.beats.stop()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
		// Writers still flushing to peers that do not read: cut them.
		for _, c := range conns {
			c.cutWebSocket()
		}
		<-done
	}
	s.runs.Close() // no tracked run is left to start one
	s.runs.Wait()
	s.stopPoller()
	return nil
}

// shutdownFlush bounds how long Close lets WebSocket writers flush what is
// queued for clients that do not read, before it cuts their connections.
const shutdownFlush = time.Second

// matchPath reports whether p is the configured path, with or without its trailing slash.
func (s *Server) matchPath(p string) bool {
	return p == s.cfg.Path || p == strings.TrimSuffix(s.cfg.Path, "/")
}

// engineQueryKeys are the query parameters every request is routed by.
var engineQueryKeys = [3]string{"transport", "EIO", "sid"}

// ServeHTTP routes handshakes, polling requests and WebSocket connections.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.matchPath(r.URL.Path) {
		http.NotFound(w, r)
		return
	}
	if !s.enter() {
		http.Error(w, "engine.io server closed", http.StatusServiceUnavailable)
		return
	}
	defer s.exit()

	var q [3]string
	queryValues(r.URL.RawQuery, engineQueryKeys[:], q[:])
	transport, eio, sid := q[0], q[1], q[2]
	isWS := websocket.IsWebSocketUpgrade(r)
	// The origin comes first: a refused browser request must not reach
	// AllowRequest, a session or its counters.
	if !s.checkOrigin(r, isWS && transport == TransportWebSocket) {
		s.connectionError(r, CodeForbidden)
		s.refuseOrigin(w, r, transport)
		return
	}
	s.setCORS(w, r)
	if r.Method == http.MethodOptions && s.cfg.CORS != nil {
		s.preflight(w, r)
		return
	}

	if (transport != TransportPolling && transport != TransportWebSocket) || !s.cfg.allows(transport) {
		s.reject(w, r, CodeUnknownTransport, transport)
		return
	}
	// As Node: any EIO but "4" is protocol 3, served only when allowed.
	eio3 := eio != "4"
	if eio3 && !s.cfg.AllowEIO3 {
		s.reject(w, r, CodeUnsupportedVersion, transport)
		return
	}
	if transport == TransportWebSocket && !isWS {
		s.reject(w, r, CodeBadRequest, transport)
		return
	}

	if sid == "" {
		s.handshake(w, r, transport, eio3)
		return
	}
	c, closing := s.lookupRequest(sid, transport == TransportPolling)
	if closing && (c == nil || transport != TransportPolling) {
		// Close has started: only polling sessions are still served, to
		// hand out their close packets (those not closed yet are about to
		// be).
		http.Error(w, "engine.io server closed", http.StatusServiceUnavailable)
		return
	}
	if c != nil && s.cfg.BindSessionToAddress {
		if addr := remoteHost(r); addr != c.addr {
			// Answered like an unknown id, so that the request learns
			// nothing, and without touching the session.
			s.log.Warn("engine.io request refused: session bound to another address",
				slog.String("sid", sid), slog.String("session_addr", c.addr), slog.String("remote", addr),
				slog.String("transport", transport), slog.String("method", r.Method))
			s.fail(w, r, CodeUnknownSID)
			return
		}
	}
	if c != nil && c.eio3 != eio3 {
		// A request of the other protocol revision than its session's:
		// Node answers it "Bad request" and leaves the session alone.
		s.reject(w, r, CodeBadRequest, transport)
		return
	}
	if c == nil && !closing && s.cfg.Elsewhere != nil && s.cfg.Elsewhere(w, r, sid) {
		return
	}
	if c != nil && c.expireIfDue() {
		// The session has ended (or its deadline just passed), before or
		// since it was looked up: a polling request may still be owed its
		// last answer (see lingerLocked), whether the session was found
		// lingering, just before its removal, or live.
		if transport == TransportPolling && c.lingers() {
			s.servePolling(w, r, c)
			return
		}
		c = nil
	}
	if c == nil {
		s.reject(w, r, CodeUnknownSID, transport)
		return
	}
	if transport == TransportWebSocket {
		s.serveUpgrade(w, r, c)
		return
	}
	if c.Transport() != TransportPolling {
		s.reject(w, r, CodeBadRequest, transport)
		return
	}
	s.servePolling(w, r, c)
}

// servePolling serves a long-polling GET or POST of session c.
func (s *Server) servePolling(w http.ResponseWriter, r *http.Request, c *Conn) {
	switch r.Method {
	case http.MethodGet:
		c.servePoll(w, r)
	case http.MethodPost:
		c.servePost(w, r)
	default:
		s.reject(w, r, CodeBadRequest, TransportPolling)
	}
}

// newSessionID returns the id of a new session: Config.SessionIDPrefix
// followed by NewID's.
func (s *Server) newSessionID() string {
	if p := s.cfg.SessionIDPrefix; p != "" {
		return p + NewID()
	}
	return NewID()
}

// reject logs a protocol error and writes its JSON body.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, code ErrorCode, transport string) {
	level := slog.LevelWarn
	if code == CodeUnknownSID {
		// A client's request racing the end of its session (a poll after
		// the server closed it, say) is routine: hundreds an hour on a
		// busy server with reconnecting clients.
		level = slog.LevelDebug
	}
	s.log.Log(r.Context(), level, "engine.io request rejected",
		slog.Int("code", int(code)), slog.String("message", code.Message()),
		slog.String("transport", transport), slog.String("sid", r.URL.Query().Get("sid")),
		slog.String("method", r.Method), slog.String("remote", r.RemoteAddr))
	s.fail(w, r, code)
}

// fail reports the Engine.IO error code answering r to
// Config.OnConnectionError, then writes it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code ErrorCode) {
	s.connectionError(r, code)
	writeError(w, code)
}

// connectionError reports the Engine.IO error code answering r to
// Config.OnConnectionError.
func (s *Server) connectionError(r *http.Request, code ErrorCode) {
	if f := s.cfg.OnConnectionError; f != nil {
		f(r, int(code), code.Message())
	}
}

// handshake opens a new session on the requested transport, of
// Engine.IO v3 when eio3 is set.
func (s *Server) handshake(w http.ResponseWriter, r *http.Request, transport string, eio3 bool) {
	if r.Method != http.MethodGet {
		s.reject(w, r, CodeBadHandshakeMethod, transport)
		return
	}
	if s.cfg.AllowRequest != nil {
		if err := s.cfg.AllowRequest(r); err != nil {
			s.log.Debug("engine.io handshake refused", slog.Any("err", err), slog.String("remote", r.RemoteAddr))
			s.fail(w, r, CodeForbidden)
			return
		}
	}
	if s.cfg.MaxConnections > 0 || s.cfg.MaxConnectionsPerAddress > 0 {
		sl := s.reserve(r)
		if sl == nil {
			s.log.Warn("engine.io handshake refused: connection limit reached",
				slog.String("transport", transport), slog.String("remote", r.RemoteAddr),
				slog.Int("max", s.cfg.MaxConnections), slog.Int("max_per_address", s.cfg.MaxConnectionsPerAddress))
			s.fail(w, r, CodeForbidden)
			return
		}
		defer s.unreserve(sl)
		r = r.WithContext(context.WithValue(r.Context(), slotKey{}, sl))
	}
	if transport == TransportWebSocket {
		s.handshakeWebSocket(w, r, eio3)
		return
	}
	c := newConn(s, r, nil, eio3)
	// Hold deliveries until OnOpen returned: the client may POST as soon as
	// it reads the open packet.
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	if !s.register(c) {
		http.Error(w, "engine.io server closed", http.StatusServiceUnavailable)
		return
	}
	c.startHeartbeat()
	body := s.openPacket(c.id, s.cfg.upgradesAllowed())
	if eio3 {
		body = engineio.AppendPayloadV3(nil, []engineio.Packet{{Type: engineio.Open, Data: body[1:]}})
	}
	s.addHeaders(w.Header(), r, true, c.id)
	writeBody(w, "text/plain; charset=UTF-8", body)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	c.logAt(slog.LevelDebug, "engine.io session opened", slog.String("transport", TransportPolling))
	s.open(c)
}

// open reports the session to the Handler; the caller started its
// heartbeat before writing the open packet. The caller holds c.recvMu; a
// close that happens meanwhile reaches OnClose once OnOpen has returned.
func (s *Server) open(c *Conn) {
	if o := s.observing(); o != nil {
		o.SessionOpened(c.id, c.Transport())
	}
	if s.handler != nil {
		s.handler.OnOpen(c)
	}
	c.endDelivery()
}

// openPacket returns the open packet of a session.
func (s *Server) openPacket(sid string, upgrades bool) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `0{"sid":"`...)
	b = append(b, sid...)
	if upgrades {
		b = append(b, `","upgrades":["websocket"],"pingInterval":`...)
	} else {
		b = append(b, `","upgrades":[],"pingInterval":`...)
	}
	b = strconv.AppendInt(b, s.cfg.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, s.cfg.PingTimeout.Milliseconds(), 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, s.cfg.MaxPayload, 10)
	return append(b, '}')
}

// writeBody writes a 200 response with the given content type.
func writeBody(w http.ResponseWriter, contentType string, body []byte) {
	setBodyHeaders(w, contentType, len(body))
	_, _ = w.Write(body)
}

// setBodyHeaders writes the header of a 200 response of n bytes of the
// given content type.
func setBodyHeaders(w http.ResponseWriter, contentType string, n int) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(n))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
