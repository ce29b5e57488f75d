package gateway

import (
	"compress/flate"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Transport names accepted in the "transport" query parameter.
const (
	// TransportPolling is the HTTP long-polling transport.
	TransportPolling = "polling"
	// TransportWebSocket is the WebSocket transport.
	TransportWebSocket = "websocket"
)

// Default values used for zero Config fields.
const (
	// DefaultPath is the default Config.Path.
	DefaultPath = "/socket.io/"
	// DefaultPingInterval is the default Config.PingInterval.
	DefaultPingInterval = 25 * time.Second
	// DefaultPingTimeout is the default Config.PingTimeout.
	DefaultPingTimeout = 20 * time.Second
	// DefaultMaxPayload is the default Config.MaxPayload in bytes.
	DefaultMaxPayload = 1_000_000
	// DefaultCompressionThreshold is the default Config.CompressionThreshold.
	DefaultCompressionThreshold = 1024
	// DefaultUpgradeTimeout is the default Config.UpgradeTimeout.
	DefaultUpgradeTimeout = 10 * time.Second
	// DefaultWriteTimeout is the default Config.WriteTimeout.
	DefaultWriteTimeout = 10 * time.Second
)

// Config configures a Server. Its fields read as actorio.Options does: zero
// means the documented default (which may itself be "unlimited"); for a
// size or a count, a negative value means unlimited; a duration cannot be
// switched off, and zero or negative means its default.
type Config struct {
	// Path is the URL path served, with or without its trailing slash
	// (default "/socket.io/"). Other paths get 404.
	Path string
	// PingInterval is the delay between server pings (default 25s).
	PingInterval time.Duration
	// PingTimeout is how long the server waits for a pong after a ping is
	// due before closing the session with "ping timeout" (default 20s): a
	// session without a pong is dead PingInterval + PingTimeout after the
	// handshake or the last pong, and requests check that deadline too.
	PingTimeout time.Duration
	// MaxPayload is the largest accepted POST body or WebSocket message in
	// bytes (default 1_000_000; negative means unlimited, and the
	// handshake then announces 2^53-1, the largest integer a JavaScript
	// client reads exactly). A larger POST gets HTTP 413 with no body and
	// is dropped unread, and the session goes on, as with Node; a larger
	// WebSocket message closes the connection (close code 1009) with
	// reason "transport error".
	MaxPayload int64
	// CompressionThreshold is the size from which a polling response is
	// gzip-compressed for a client that accepts it (Accept-Encoding);
	// 0 means DefaultCompressionThreshold and a negative value never
	// compresses. A response whose packets were all sent with
	// SendOptions.Uncompressed is not compressed. WebSocket messages are
	// compressed only with PerMessageDeflate.
	CompressionThreshold int
	// PerMessageDeflate, when set, offers WebSocket compression
	// (permessage-deflate, RFC 7692) to the clients that ask for it, as
	// Node's perMessageDeflate option does; nil, the default, leaves
	// WebSocket messages uncompressed, as Node's default does.
	PerMessageDeflate *PerMessageDeflate
	// UpgradeTimeout bounds the time between the WebSocket upgrade request
	// and the client's upgrade packet (default 10s). On expiry the WebSocket
	// is closed and the session keeps polling.
	UpgradeTimeout time.Duration
	// WriteTimeout bounds each WebSocket write (default 10s); a write that
	// times out closes the session with "transport error". A session that
	// ends with "ping timeout" or "slow consumer" does not wait for it: its
	// network connection is closed at once, without a close frame.
	WriteTimeout time.Duration
	// Transports lists the allowed transports, among "polling" and
	// "websocket" (default both).
	Transports []string
	// DisableUpgrades forbids the polling to WebSocket upgrade.
	DisableUpgrades bool
	// MaxQueueBytes bounds the bytes of Data queued on one Conn and not yet
	// written; when exceeded, Send fails and the Conn closes with reason
	// "slow consumer". Zero or negative means unlimited (the default).
	MaxQueueBytes int64
	// MaxQueuePackets bounds the number of packets queued on one Conn the
	// same way, with the same reason. Zero or negative means unlimited
	// (the default).
	MaxQueuePackets int
	// MaxInboundBytes bounds the bytes of inbound packets a session's
	// receiver took (Conn.Hold) and that are not handled yet
	// (Conn.Release): once reached, the transport reads nothing more
	// until handlers catch up, so TCP flow control holds the sender back
	// (a polling POST waits for its answer). One packet may take it past
	// the bound. Zero or negative means unlimited (the default).
	MaxInboundBytes int64
	// MaxInboundPackets bounds the number of such packets the same way.
	// Zero or negative means unlimited (the default).
	MaxInboundPackets int
	// AllowRequest vets handshake requests, polling and WebSocket, before
	// any session exists; nil allows all. An error makes the server answer
	// 403 {"code":4,"message":"Forbidden"}.
	AllowRequest func(r *http.Request) error
	// CORS is the origin policy of every request (see the package
	// documentation, "Origins"): a request without an Origin header (a
	// client that is not a browser) and a same-origin request (its
	// Origin's host equals the request's Host) are always accepted; a
	// cross-origin one is accepted only when its origin is listed in
	// CORS.Origins, or CORS.Origins holds "*". An accepted cross-origin
	// request gets the CORS headers and an OPTIONS preflight is answered;
	// a refused one, preflight included, gets 403
	// {"code":4,"message":"Forbidden"} and no CORS header. nil means same
	// origin only: no cross-origin request is accepted, no CORS header is
	// sent and OPTIONS is treated like any other method.
	CORS *CORS
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// CheckOrigin, when set, replaces the origin policy of CORS for
	// WebSocket requests (handshakes and upgrades): it accepts or refuses
	// a request whatever its Origin, and a refusal gets 403
	// {"code":4,"message":"Forbidden"}. nil applies the CORS policy to
	// WebSocket requests too. Polling requests always follow CORS.
	CheckOrigin func(r *http.Request) bool
	// BindSessionToAddress binds each session to the remote IP address of
	// its handshake (the host of the request's RemoteAddr, without the
	// port; X-Forwarded-For is not trusted): a polling GET or POST or a
	// WebSocket upgrade carrying the session's id from another address is
	// answered 400 {"code":1,"message":"Session ID unknown"}, as for an id
	// that does not exist, and logged at Warn, while the session goes on
	// unharmed. Off by default: a client behind a proxy pool, a NAT pool
	// or a mobile network may change address during a session, which this
	// would break.
	BindSessionToAddress bool
	// MaxConnections bounds the sessions open at once, handshakes in
	// progress included. A handshake over it, polling or WebSocket, is
	// refused before any session exists with HTTP 403
	// {"code":4,"message":"Forbidden"}, as AllowRequest refuses, and logged
	// at Warn. Zero or negative means unlimited (the default).
	MaxConnections int
	// MaxConnectionsPerAddress bounds the sessions open at once from one
	// remote IP address (the host of the request's RemoteAddr, without the
	// port; X-Forwarded-For is not trusted), refused the same way. Zero or
	// negative means unlimited (the default): behind a proxy or a NAT every
	// client may share one address.
	MaxConnectionsPerAddress int
	// SessionIDPrefix, when set, starts the id of every session this
	// server opens (the rest is NewID's), so that a cluster tells the node
	// of a session by its id (see Elsewhere).
	SessionIDPrefix string
	// Elsewhere, when set, is handed each request (a polling GET or POST,
	// or a WebSocket upgrade) that names a session this server does not
	// hold, before it would be refused with "Session ID unknown": when it
	// returns true it has answered the request, typically by handing it to
	// the node that holds the session; false lets the refusal go out.
	Elsewhere func(w http.ResponseWriter, r *http.Request, sid string) bool
	// InitialHeaders, when set, may add headers to the answer to a
	// handshake, polling or WebSocket, as Node's "initial_headers" event
	// does: h is that answer's header, r the request. It runs after the
	// Cookie is set and before Headers.
	InitialHeaders func(h http.Header, r *http.Request)
	// Headers, when set, may add headers to every successful Engine.IO
	// answer, as Node's "headers" event does: the handshake, each polling
	// GET and POST, and the 101 of each WebSocket upgrade. Error answers
	// ({"code":N,...}) and CORS preflights do not get them.
	Headers func(h http.Header, r *http.Request)
	// Cookie, when set, makes the answer to a polling handshake set a
	// cookie holding the session id, as Node's cookie option does (for a
	// sticky load balancer, say). A WebSocket handshake, whose 101 goes
	// out before Node knows the id, does not set it, as with Node.
	Cookie *Cookie
	// AllowEIO3 also serves Engine.IO v3 clients (Socket.IO v2), as Node's
	// allowEIO3 option does: a request whose EIO query parameter is not
	// "4" opens a v3 session, with v3's payload and binary framing and
	// its heartbeat (the client pings, the server answers). Off by
	// default: such a request gets 400 {"code":5,"message":"Unsupported
	// protocol version"}.
	AllowEIO3 bool
	// OnConnectionError, when set, is called for each request the server
	// answers with an Engine.IO error ({"code":N,"message":"…"}, codes 0
	// to 5, see ErrorCode), as Node's "connection_error" event: r is the
	// request, code and message those of the answer. It runs on the
	// request's goroutine before the answer is written, and must not write
	// to the response.
	OnConnectionError func(r *http.Request, code int, message string)
}

// PerMessageDeflate configures the WebSocket compression of
// Config.PerMessageDeflate. A session whose client offered
// permessage-deflate in its handshake (or upgrade) has it; the answer is
// "permessage-deflate; server_no_context_takeover;
// client_no_context_takeover": each message is compressed on its own, by
// the connection's writer when it writes the message (once for all the
// connections of a SendOptions.Shared packet), and the client does the
// same. A client that did not offer it gets uncompressed
// messages. Compressed messages from the client are read whatever their
// size, and Config.MaxPayload bounds their decompressed size.
type PerMessageDeflate struct {
	// Threshold is the size in bytes of a WebSocket message (as it goes
	// on the wire, before compression) from which it is compressed
	// (default 1024, Node's); a negative value compresses every message.
	// A packet sent with SendOptions.Uncompressed never is.
	Threshold int
	// Level is the compress/flate level, from flate.HuffmanOnly (-2) to
	// flate.BestCompression (9); 0, or a level out of that range, means
	// flate.BestSpeed (1), gorilla/websocket's default. Node's ws uses
	// zlib's default level, 6.
	Level int
}

// DefaultDeflateThreshold is the default PerMessageDeflate.Threshold.
const DefaultDeflateThreshold = 1024

// withDefaults returns a copy of d with its zero fields set to their
// defaults.
func (d PerMessageDeflate) withDefaults() *PerMessageDeflate {
	if d.Threshold == 0 {
		d.Threshold = DefaultDeflateThreshold
	}
	if d.Level == 0 || d.Level < flate.HuffmanOnly || d.Level > flate.BestCompression {
		d.Level = flate.BestSpeed
	}
	return &d
}

// compresses reports whether a message of n bytes on the wire is
// compressed.
func (d *PerMessageDeflate) compresses(n int, uncompressed bool) bool {
	return !uncompressed && (d.Threshold < 0 || n >= d.Threshold)
}

// Cookie describes the session cookie of Config.Cookie; its zero value is
// Node's default: "io=<sid>; Path=/; HttpOnly; SameSite=Lax".
type Cookie struct {
	// Name is the cookie's name (default "io").
	Name string
	// Path is the cookie's Path attribute (default "/").
	Path string
	// Domain is the cookie's Domain attribute (default none).
	Domain string
	// MaxAge, when positive, sets the Max-Age attribute (in whole seconds):
	// by default the cookie lasts the browser's session.
	MaxAge time.Duration
	// Secure sets the Secure attribute.
	Secure bool
	// NoHTTPOnly leaves out the HttpOnly attribute, which is set by
	// default, so that scripts may read the cookie.
	NoHTTPOnly bool
	// SameSite is the SameSite attribute: zero means http.SameSiteLaxMode,
	// http.SameSiteDefaultMode leaves the attribute out.
	SameSite http.SameSite
}

// CORS configures the origins allowed besides the server's own, and the
// Cross-Origin Resource Sharing headers sent to them.
type CORS struct {
	// Origins lists the allowed origins, such as "https://app.example"
	// (scheme, host and port, as browsers send them in the Origin header,
	// compared exactly); "*" allows any origin (the request's origin is
	// echoed when Credentials is set). Requests without an Origin header
	// and same-origin requests are allowed whatever the list holds.
	Origins []string
	// Credentials sets Access-Control-Allow-Credentials: true.
	Credentials bool
	// Methods lists the methods announced to preflight requests (default
	// GET,HEAD,PUT,PATCH,POST,DELETE, as Node's socket.io announces).
	Methods []string
	// AllowedHeaders lists the headers allowed in requests; empty echoes the
	// preflight's Access-Control-Request-Headers.
	AllowedHeaders []string
	// MaxAge is how long browsers may cache a preflight answer; zero omits the header.
	MaxAge time.Duration
}

// withDefaults returns a copy of c with the zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if !strings.HasPrefix(c.Path, "/") {
		c.Path = "/" + c.Path
	}
	if !strings.HasSuffix(c.Path, "/") {
		c.Path += "/"
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	switch {
	case c.MaxPayload == 0:
		c.MaxPayload = DefaultMaxPayload
	case c.MaxPayload < 0:
		c.MaxPayload = unlimitedPayload
	}
	if c.CompressionThreshold == 0 {
		c.CompressionThreshold = DefaultCompressionThreshold
	}
	if c.PerMessageDeflate != nil {
		c.PerMessageDeflate = c.PerMessageDeflate.withDefaults()
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = DefaultUpgradeTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{TransportPolling, TransportWebSocket}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// unlimitedPayload stands for a MaxPayload without bound: 2^53-1, the
// largest integer a JavaScript client reads exactly from the handshake.
const unlimitedPayload = 1<<53 - 1

// allows reports whether the transport is enabled.
func (c *Config) allows(transport string) bool {
	for _, t := range c.Transports {
		if t == transport {
			return true
		}
	}
	return false
}

// upgradesAllowed reports whether polling sessions may upgrade to WebSocket.
func (c *Config) upgradesAllowed() bool {
	return !c.DisableUpgrades && c.allows(TransportWebSocket)
}
