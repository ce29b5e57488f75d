package actorio

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/actorio/actorio/gateway"
)

// CORS configures the origins allowed besides the server's own, on both
// transports, and the Cross-Origin Resource Sharing headers sent to them.
type CORS = gateway.CORS

// DefaultMaxQueueBytes is the default Options.MaxQueueBytes.
const DefaultMaxQueueBytes = 16 << 20

// DefaultMaxDynamicNamespaces is the default Options.MaxDynamicNamespaces.
const DefaultMaxDynamicNamespaces = 1000

// Options configures a Server; every zero value means the default named in
// its comment.
type Options struct {
	// Path is where the Socket.IO endpoint is served. Default "/socket.io/".
	Path string
	// PingInterval is how often the server pings each client. Default 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for a pong. Default 20s.
	PingTimeout time.Duration
	// ConnectTimeout closes a connection that joined no namespace in time.
	// Default 45s.
	ConnectTimeout time.Duration
	// UpgradeTimeout bounds the polling-to-WebSocket upgrade. Default 10s.
	UpgradeTimeout time.Duration
	// MaxHTTPBufferSize is the largest message or POST body accepted, in
	// bytes. Default 1e6.
	MaxHTTPBufferSize int64
	// Transports lists the allowed transports, "polling" and "websocket".
	// Default both.
	Transports []string
	// DisableUpgrades turns off the polling-to-WebSocket upgrade.
	DisableUpgrades bool
	// CORS is the origin policy. Requests without an Origin header (clients
	// that are not browsers) and same-origin requests are always accepted;
	// a cross-origin one only when CORS.Origins lists its origin or holds
	// "*", and then it gets the CORS headers. A refused request gets 403
	// {"code":4,"message":"Forbidden"}. nil, the default, means same
	// origin only.
	CORS *CORS
	// AllowRequest, when set, may refuse a handshake before any session
	// exists by returning an error (HTTP 403).
	AllowRequest func(r *http.Request) error
	// CheckOrigin, when set, replaces the CORS origin policy for WebSocket
	// requests only; nil applies the CORS policy to them too.
	CheckOrigin func(r *http.Request) bool
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
	// MaxQueueBytes bounds the bytes queued for one connection and not yet
	// written to it; a connection that would exceed it is closed with reason
	// "slow consumer" (ReasonSlowConsumer). Default 16 MiB: sixteen default
	// MaxHTTPBufferSize messages, or seconds of backlog for a healthy client
	// on a slow link, yet a bound on what a client that stopped reading can
	// pin. A broadcast's bytes are shared by its receivers, so N stalled
	// receivers of the same broadcasts hold far less than N times the bound.
	// Negative means unlimited.
	MaxQueueBytes int64
	// MaxQueuePackets bounds the number of packets queued for one
	// connection the same way (a binary event counts one packet per
	// attachment, plus one). Zero or negative means unlimited (the default).
	MaxQueuePackets int
	// CloseTimeout bounds how long Close waits for the sockets' handlers to
	// return and their disconnect handlers to run (see Server.Close).
	// Default 10s.
	CloseTimeout time.Duration
	// MaxConnections bounds the Engine.IO sessions open at once. A
	// handshake over it, polling or WebSocket, is refused before any
	// session exists with HTTP 403 {"code":4,"message":"Forbidden"} (as
	// AllowRequest refuses) and logged at Warn. Zero or negative means
	// unlimited (the default).
	MaxConnections int
	// MaxConnectionsPerAddress bounds the sessions open at once from one
	// remote IP address (the request's RemoteAddr without its port;
	// X-Forwarded-For is not trusted), refused the same way. Zero or
	// negative means unlimited (the default): behind a reverse proxy or a
	// NAT many clients share one address, so no default fits everyone.
	MaxConnectionsPerAddress int
	// BindSessionToAddress binds each Engine.IO session to the remote IP
	// address of its handshake (the request's RemoteAddr without its port;
	// X-Forwarded-For is not trusted): a polling request or a WebSocket
	// upgrade carrying the session's id from another address gets HTTP
	// 400 {"code":1,"message":"Session ID unknown"}, as for an unknown id,
	// and is logged at Warn, while the session goes on unharmed. Off by
	// default: clients behind proxy or NAT pools, or on mobile networks,
	// may change address during a session, which this would break.
	BindSessionToAddress bool
	// MaxDynamicNamespaces bounds the namespaces OfFunc and OfRegexp
	// create (they live until Close). Past it, a client connecting to a new
	// name gets CONNECT_ERROR {"message":"Invalid namespace"} and the
	// server logs at Warn. Default 1000, so that clients cannot grow the
	// server without bound by inventing names; negative means unlimited.
	MaxDynamicNamespaces int
	// EventRate and EventBurst rate-limit the events each socket receives
	// from its client with a token bucket: EventBurst events at once, then
	// EventRate events per second. An event over the limit is dropped
	// (its handlers do not run and an ack it asks for is never sent),
	// counted in Stats.DroppedEvents and logged at Debug. EventRate zero
	// or negative means unlimited (the default); EventBurst defaults to
	// max(1, EventRate).
	EventRate  float64
	EventBurst int
	// ConnectionStateRecovery, when set, turns connection state recovery
	// on (see ConnectionStateRecovery). Nil, the default, turns it off.
	ConnectionStateRecovery *ConnectionStateRecovery
}

func (o Options) withDefaults() Options {
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 45 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxQueueBytes == 0 {
		o.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if o.MaxDynamicNamespaces == 0 {
		o.MaxDynamicNamespaces = DefaultMaxDynamicNamespaces
	}
	if o.EventRate > 0 && o.EventBurst <= 0 {
		o.EventBurst = max(1, int(o.EventRate))
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 10 * time.Second
	}
	return o
}

func (o Options) gateway() gateway.Config {
	return gateway.Config{
		Path:            o.Path,
		PingInterval:    o.PingInterval,
		PingTimeout:     o.PingTimeout,
		MaxPayload:      o.MaxHTTPBufferSize,
		UpgradeTimeout:  o.UpgradeTimeout,
		Transports:      o.Transports,
		DisableUpgrades: o.DisableUpgrades,
		AllowRequest:    o.AllowRequest,
		CORS:            o.CORS,
		CheckOrigin:     o.CheckOrigin,
		Logger:          o.Logger,
		MaxQueueBytes:   max(o.MaxQueueBytes, 0),
		MaxQueuePackets: max(o.MaxQueuePackets, 0),

		MaxConnections:           max(o.MaxConnections, 0),
		MaxConnectionsPerAddress: max(o.MaxConnectionsPerAddress, 0),
		BindSessionToAddress:     o.BindSessionToAddress,
	}
}
