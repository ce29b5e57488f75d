// Package admin serves the protocol of the official Socket.IO admin UI
// (the npm package @socket.io/admin-ui) on an actorio server, so that its
// dashboard shows the server live: its stats, namespaces, sockets, rooms
// and events, and can emit to, join, leave and disconnect sockets.
//
// [Instrument] adds the admin namespace ("/admin" by default) to a server
// and returns the [Admin] that [Admin.Close] stops. The dashboard connects
// to it as a Socket.IO client; it can be the hosted one at
// https://admin.socket.io (allow that origin with the server's
// actorio.Options.CORS) or the copy in the npm package's ui/dist
// directory, served by the application itself (cmd/demo does so under
// /admin/ui/). A dashboard logs in with [Options.Auth] (a bcrypt hash;
// failed logins are throttled per address and password checks run one at
// a time), unless [Options.NoAuth] opens the namespace; [Options.ReadOnly]
// lets it only watch. In a cluster, the socket list also holds the sockets
// of the other nodes.
//
// The package uses only actorio's public API: the namespace, its
// middleware and handlers, and an actorio.Observer, whose feed reports it
// queues (at most 4096, the rest dropped and counted by [Admin.Dropped])
// for one goroutine per Admin, started by Instrument. That goroutine sends the
// reports to the dashboards in order, samples the server's counters each
// second and sends the stats every [Options.StatsInterval]. Admin.Close
// removes the observer, stops that goroutine and waits for it, then
// disconnects the dashboards; closing the server alone ends it within a
// stats interval.
package admin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/actorio/actorio"
)

// DefaultNamespace is the namespace the dashboard connects to unless told
// otherwise.
const DefaultNamespace = "/admin"

// DefaultStatsInterval is how often the dashboards get the server's stats.
const DefaultStatsInterval = 2 * time.Second

// DefaultSessionTTL is how long a dashboard can log in again with the
// session id it got, without its password.
const DefaultSessionTTL = 24 * time.Hour

// Feature names what the dashboard may offer; the server announces its
// features in the "config" event.
type Feature string

// The features of the admin UI protocol.
const (
	FeatureEmit             Feature = "EMIT"
	FeatureJoin             Feature = "JOIN"
	FeatureLeave            Feature = "LEAVE"
	FeatureDisconnect       Feature = "DISCONNECT"
	FeatureMJoin            Feature = "MJOIN"
	FeatureMLeave           Feature = "MLEAVE"
	FeatureMDisconnect      Feature = "MDISCONNECT"
	FeatureAggregatedEvents Feature = "AGGREGATED_EVENTS"
	FeatureAllEvents        Feature = "ALL_EVENTS"
)

// BasicAuth is the user name and bcrypt password hash a dashboard must log
// in with.
type BasicAuth struct {
	Username string
	// PasswordHash is a bcrypt hash of the password, such as
	// bcrypt.GenerateFromPassword or `htpasswd -nbBC 10 "" secret` makes.
	PasswordHash string
}

// Options configures Instrument.
type Options struct {
	// Namespace is the admin namespace; DefaultNamespace when empty.
	Namespace string
	// Auth is the login a dashboard must give. When nil, NoAuth must be
	// set: an open admin namespace is a choice, not a default.
	Auth *BasicAuth
	// NoAuth lets any client use the admin namespace without logging in.
	NoAuth bool
	// ReadOnly stops dashboards from emitting, joining, leaving and
	// disconnecting: they only watch.
	ReadOnly bool
	// Production sends dashboards the server stats and aggregated counts
	// only, not the feed of every socket, room change and event (the
	// admin UI's "production" mode). The feed costs a report for each
	// event sent and received.
	Production bool
	// ServerID names this server in the dashboard; the host name when
	// empty.
	ServerID string
	// StatsInterval is how often the stats go out; DefaultStatsInterval
	// when zero.
	StatsInterval time.Duration
	// SessionTTL is how long a login's session id stays valid;
	// DefaultSessionTTL when zero.
	SessionTTL time.Duration
	// LoginPenalty throttles failed logins by remote address: an address
	// (IPv4, or IPv6 /64) may fail LoginBurst logins in a row, then gets
	// one password check per LoginPenalty; its other attempts are refused
	// at once, with the error of a wrong password and no check.
	// DefaultLoginPenalty when zero; a negative value turns the throttle
	// off. Logins with a session id are never throttled.
	LoginPenalty time.Duration
	// Logger receives the admin namespace's logs; slog.Default() when nil.
	Logger *slog.Logger
}

// feedSize bounds the reports waiting for the feed goroutine; beyond it
// they are dropped (Admin.Dropped), never waited for.
const feedSize = 4096

// Admin is the admin namespace of one server.
type Admin struct {
	srv       *actorio.Server
	ns        *actorio.Namespace
	opts      Options
	features  []Feature
	serverID  string
	hostname  string
	startedAt time.Time

	feed    chan func()
	stop    chan struct{}
	done    chan struct{}
	closed  atomic.Bool
	dropped atomic.Int64

	// throttle limits the password checks per address; checks holds the
	// one password check that may run at a time, queued counts the logins
	// running or waiting for it, throttled the logins refused unchecked.
	throttle  *loginThrottle
	checks    chan struct{}
	queued    atomic.Int32
	throttled atomic.Int64
	// watchers counts the dashboards connected to this node; clustered
	// says whether others may watch from other nodes.
	watchers  atomic.Int32
	clustered bool
	observe   func() // removes the observer

	mu       sync.Mutex
	sessions map[string]time.Time // login session id -> expiry
	issued   map[string]issued    // socket id -> session id to send it
	events   *eventBuffer
	// refsMu guards bySession, the sockets of each Engine.IO session, for
	// the transport updates.
	refsMu    sync.Mutex
	bySession map[string][]socketRef
}

// issued is a session id a login created, for its socket's greeting.
type issued struct {
	session string
	at      time.Time
}

// processStart approximates the process start for the "uptime" stat.
var processStart = time.Now()

// Instrument adds the admin namespace to srv and starts reporting to it;
// Close stops that.
func Instrument(srv *actorio.Server, opts Options) (*Admin, error) {
	if opts.Auth == nil && !opts.NoAuth {
		return nil, errors.New("admin: set Options.Auth, or Options.NoAuth to open the admin namespace to anyone")
	}
	if opts.Auth != nil {
		if _, err := bcrypt.Cost([]byte(opts.Auth.PasswordHash)); err != nil {
			return nil, fmt.Errorf("admin: Auth.PasswordHash is not a bcrypt hash: %w", err)
		}
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = DefaultStatsInterval
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.LoginPenalty == 0 {
		opts.LoginPenalty = DefaultLoginPenalty
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	hostname, _ := os.Hostname()
	a := &Admin{
		srv: srv, opts: opts, hostname: hostname, serverID: opts.ServerID, startedAt: processStart,
		feed: make(chan func(), feedSize), stop: make(chan struct{}), done: make(chan struct{}),
		sessions: map[string]time.Time{}, issued: map[string]issued{}, events: newEventBuffer(),
		bySession: map[string][]socketRef{},
		throttle:  newLoginThrottle(opts.LoginPenalty), checks: make(chan struct{}, 1),
	}
	a.clustered = srv.ClusterNodes() != nil
	if a.serverID == "" {
		a.serverID = hostname
	}
	if !opts.ReadOnly {
		a.features = []Feature{FeatureEmit, FeatureJoin, FeatureLeave, FeatureDisconnect,
			FeatureMJoin, FeatureMLeave, FeatureMDisconnect}
	}
	a.features = append(a.features, FeatureAggregatedEvents)
	if !opts.Production {
		a.features = append(a.features, FeatureAllEvents)
	}
	a.ns = srv.Of(opts.Namespace)
	if opts.Auth != nil {
		a.ns.Use(a.authenticate)
	}
	a.ns.OnConnection(a.onConnection)
	stop := srv.Observe(observer{a})
	var once sync.Once
	a.observe = func() { once.Do(stop) }
	go a.run()
	return a, nil
}

// Namespace returns the admin namespace.
func (a *Admin) Namespace() *actorio.Namespace { return a.ns }

// Throttled returns how many logins were refused without a password
// check: their address had failed too often (see Options.LoginPenalty), or
// too many logins were waiting for the password checker.
func (a *Admin) Throttled() int64 { return a.throttled.Load() }

// Dropped returns how many reports the feed dropped because dashboards
// could not keep up.
func (a *Admin) Dropped() int64 { return a.dropped.Load() }

// Close stops reporting and disconnects the dashboards; later dashboards
// are refused. Close is idempotent. Closing the server stops the admin's
// goroutine too, within a stats interval.
func (a *Admin) Close() {
	if !a.closed.CompareAndSwap(false, true) {
		return
	}
	a.observe()
	close(a.stop)
	<-a.done
	a.ns.DisconnectSockets(true)
}

// authenticate is the admin namespace's middleware: a dashboard logs in
// with its user name and password, or with the session id a login gave it.
// It runs on the socket's own actor; the password checks of all logins
// run one at a time (see checkPassword), so that they take at most one
// core from the server's other sockets, and an address that failed too
// often gets none (see Options.LoginPenalty).
func (a *Admin) authenticate(s *actorio.Socket) error {
	var auth struct {
		Username  string `json:"username"`
		Password  string `json:"password"`
		SessionID string `json:"sessionId"`
	}
	if raw := s.Handshake().Auth; len(raw) > 0 {
		_ = json.Unmarshal(raw, &auth) // a malformed payload is no login
	}
	if auth.SessionID != "" && a.validSession(auth.SessionID) {
		return nil
	}
	address := s.Handshake().Address
	key := throttleKey(address)
	if !a.throttle.take(key, time.Now()) {
		a.throttled.Add(1)
		a.opts.Logger.Debug("actorio admin: login throttled", slog.String("nsp", a.opts.Namespace),
			slog.String("address", address))
		return errInvalidCredentials()
	}
	want := a.opts.Auth
	ok := subtle.ConstantTimeCompare([]byte(auth.Username), []byte(want.Username)) == 1
	if ok {
		var checked bool
		ok, checked = a.checkPassword(auth.Password)
		if !checked {
			a.throttle.refund(key, time.Now())
			a.throttled.Add(1)
			a.opts.Logger.Debug("actorio admin: login refused unchecked, too many logins waiting", slog.String("nsp", a.opts.Namespace),
				slog.String("address", address))
			return errInvalidCredentials()
		}
	}
	if ok {
		a.throttle.forget(key)
		id := randomID()
		a.mu.Lock()
		a.sessions[id] = time.Now().Add(a.opts.SessionTTL)
		now := time.Now()
		for k, v := range a.issued { // a socket that never connected
			if now.Sub(v.at) > time.Minute {
				delete(a.issued, k)
			}
		}
		a.issued[s.ID()] = issued{session: id, at: now}
		a.mu.Unlock()
		return nil
	}
	a.opts.Logger.Warn("actorio admin: login refused", slog.String("nsp", a.opts.Namespace),
		slog.String("address", address), slog.String("username", auth.Username))
	return errInvalidCredentials()
}

// errInvalidCredentials is the refusal of a login, the one the dashboard
// answers with its login form.
func errInvalidCredentials() error {
	return &actorio.ConnectError{Message: "invalid credentials"}
}

// checkPassword compares password with the bcrypt hash, one comparison
// at a time for the whole namespace: a login waits for the ones before
// it. checked is false when it did not compare: more than maxQueuedChecks
// logins were running or waiting already, or the admin is closed.
func (a *Admin) checkPassword(password string) (ok, checked bool) {
	if a.queued.Add(1) > maxQueuedChecks {
		a.queued.Add(-1)
		return false, false
	}
	defer a.queued.Add(-1)
	select {
	case a.checks <- struct{}{}:
	case <-a.stop:
		return false, false
	}
	defer func() { <-a.checks }()
	return bcrypt.CompareHashAndPassword([]byte(a.opts.Auth.PasswordHash), []byte(password)) == nil, true
}

// validSession reports whether id is a live session, forgetting expired ones.
func (a *Admin) validSession(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	for k, exp := range a.sessions {
		if now.After(exp) {
			delete(a.sessions, k)
		}
	}
	_, ok := a.sessions[id]
	return ok
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// onConnection greets a dashboard: its session id after a login, the
// features, and the sockets of every namespace.
func (a *Admin) onConnection(s *actorio.Socket) {
	if a.closed.Load() {
		s.Disconnect(true)
		return
	}
	a.mu.Lock()
	login, ok := a.issued[s.ID()]
	delete(a.issued, s.ID())
	a.mu.Unlock()
	if ok {
		_ = s.Emit("session", login.session)
	}
	a.watchers.Add(1)
	s.OnDisconnect(func(*actorio.Socket, string) { a.watchers.Add(-1) })
	_ = s.Emit("config", map[string]any{"supportedFeatures": a.features})
	if !a.opts.ReadOnly {
		s.On("emit", a.onEmit)
		s.On("join", func(_ *actorio.Socket, args actorio.Args, _ actorio.AckFunc) { a.onRooms(args, false) })
		s.On("leave", func(_ *actorio.Socket, args actorio.Args, _ actorio.AckFunc) { a.onRooms(args, true) })
		s.On("_disconnect", a.onDisconnect)
	}
	if !a.opts.Production {
		// From the admin's goroutine, after the reports already queued:
		// a room change it reports was then either broadcast before the
		// list (which replaces the dashboard's) or made after it was read.
		// A full queue drops it, as any report.
		observer{a}.post(func() { _ = s.Emit("all_sockets", a.allSockets()) })
	}
}

// namespace returns the namespace called name if the server has it: the
// dashboard's commands never create one.
func (a *Admin) namespace(name string) *actorio.Namespace {
	// Server.Namespace creates nothing: a dynamic child removed since the
	// dashboard listed it must not come back as a namespace of its own.
	ns, _ := a.srv.Namespace(name)
	return ns
}

// selection is the sockets of nsp, or those in room filter when set.
type selection interface {
	Emit(event string, args ...any) error
	SocketsJoin(rooms ...string)
	SocketsLeave(rooms ...string)
	DisconnectSockets(close bool)
}

func (a *Admin) selection(nsp, filter string) selection {
	ns := a.namespace(nsp)
	switch {
	case ns == nil:
		return nil
	case filter != "":
		return ns.In(filter)
	default:
		return ns
	}
}

// onEmit handles "emit" (nsp, filter, event, ...args).
func (a *Admin) onEmit(_ *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
	event := args.String(2)
	sel := a.selection(args.String(0), args.String(1))
	if sel == nil || event == "" {
		return
	}
	if err := sel.Emit(event, args.From(3).Values()...); err != nil {
		a.opts.Logger.Warn("actorio admin: emit failed", slog.String("nsp", args.String(0)),
			slog.String("event", event), slog.Any("err", err))
	}
}

// onRooms handles "join" and "leave" (nsp, room, filter).
func (a *Admin) onRooms(args actorio.Args, leave bool) {
	room := args.String(1)
	sel := a.selection(args.String(0), args.String(2))
	if sel == nil || room == "" {
		return
	}
	if leave {
		sel.SocketsLeave(room)
	} else {
		sel.SocketsJoin(room)
	}
}

// onDisconnect handles "_disconnect" (nsp, close, filter).
func (a *Admin) onDisconnect(_ *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
	var closeConn bool
	_ = args.Decode(1, &closeConn)
	if sel := a.selection(args.String(0), args.String(2)); sel != nil {
		sel.DisconnectSockets(closeConn)
	}
}

// allSockets describes the sockets of every namespace of this node and,
// in a cluster, those of the same namespaces on the other nodes, whose
// description holds what a fetch returns: id, rooms and Data.
func (a *Admin) allSockets() []socketInfo {
	out := []socketInfo{}
	for name := range a.srv.Stats().Namespaces {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if !a.clustered {
			socks, err := a.srv.Of(name).FetchSockets(ctx)
			cancel()
			if err == nil {
				for _, s := range socks {
					out = append(out, describe(s))
				}
			}
			continue
		}
		// Replies missing at the deadline are left out: what came is listed.
		socks, _ := a.srv.Of(name).FetchRemoteSockets(ctx)
		cancel()
		for _, rs := range socks {
			if s, ok := rs.(*actorio.Socket); ok {
				out = append(out, describe(s))
				continue
			}
			out = append(out, socketInfo{ID: rs.ID(), Nsp: name, Data: dataJSON(rs.Data()), Rooms: rs.Rooms(),
				Handshake: handshakeInfo{Headers: map[string]string{}, Query: map[string]string{}}})
		}
	}
	return out
}
