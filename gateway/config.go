package gateway

import (
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
	// DefaultUpgradeTimeout is the default Config.UpgradeTimeout.
	DefaultUpgradeTimeout = 10 * time.Second
	// DefaultWriteTimeout is the default Config.WriteTimeout.
	DefaultWriteTimeout = 10 * time.Second
)

// Config configures a Server; zero values mean the documented defaults.
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
	// bytes (default 1_000_000). A larger POST gets HTTP 413 and closes the
	// session; a larger WebSocket message closes the connection (close code
	// 1009). Both close with reason "transport error".
	MaxPayload int64
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
	// "slow consumer". Zero means unlimited.
	MaxQueueBytes int64
	// MaxQueuePackets bounds the number of packets queued on one Conn the
	// same way, with the same reason. Zero means unlimited.
	MaxQueuePackets int
	// AllowRequest vets handshake requests; nil allows all. An error makes
	// the server answer 403 {"code":4,"message":"Forbidden"}.
	AllowRequest func(r *http.Request) error
	// CORS sets the CORS headers and answers preflight requests; nil sends
	// no CORS header and treats OPTIONS like any other method.
	CORS *CORS
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// CheckOrigin vets the Origin of WebSocket requests; nil allows every
	// origin (unlike gorilla's default same-origin check), so restrict it
	// with CORS-like rules when browsers carry credentials.
	CheckOrigin func(r *http.Request) bool
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
}

// CORS configures Cross-Origin Resource Sharing headers.
type CORS struct {
	// Origins lists the allowed origins; "*" allows any origin (the request's
	// origin is echoed when Credentials is set).
	Origins []string
	// Credentials sets Access-Control-Allow-Credentials: true.
	Credentials bool
	// Methods lists the methods announced to preflight requests (default GET, POST).
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
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
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
	if c.CheckOrigin == nil {
		c.CheckOrigin = func(*http.Request) bool { return true }
	}
	return c
}

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
