package client

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

// Transport names accepted in Options.Transports.
const (
	// TransportPolling is HTTP long-polling.
	TransportPolling = "polling"
	// TransportWebSocket is WebSocket.
	TransportWebSocket = "websocket"
)

// Options configures a Manager; every zero value means the default named in
// its comment, which is the JavaScript client's default.
type Options struct {
	// Path is where the server serves Socket.IO. Default "/socket.io/".
	Path string
	// Transports lists the transports in order of use: polling first
	// upgrades to WebSocket when both are listed; ["websocket"] connects
	// by WebSocket only, ["polling"] never upgrades. Default polling, websocket.
	Transports []string
	// TryAllTransports makes a connection attempt whose first transport
	// fails to open try the next ones of Transports, in order, as the
	// JavaScript client's tryAllTransports: with ["websocket", "polling"],
	// a client whose WebSocket is blocked connects by long-polling (and
	// does not try to upgrade). Off by default: the first transport only.
	TryAllTransports bool
	// Query holds parameters added to every request URL (after those of
	// the URL given to New or NewManager).
	Query url.Values
	// Header holds HTTP headers sent with every polling request and with
	// the WebSocket handshake.
	Header http.Header
	// Auth is sent with every namespace CONNECT; it must encode as a JSON
	// object. Nil sends none. A socket's WithAuth option overrides it.
	Auth any
	// AuthFunc, when set, is called before every namespace CONNECT (each
	// reconnection included) and its result replaces Auth.
	AuthFunc func() any
	// DisableReconnection turns automatic reconnection off (it is on by default).
	DisableReconnection bool
	// ReconnectionAttempts limits the reconnection attempts made in a row;
	// zero means unlimited.
	ReconnectionAttempts int
	// ReconnectionDelay is the delay before the first reconnection attempt,
	// doubled at each further attempt. Default 1s.
	ReconnectionDelay time.Duration
	// ReconnectionDelayMax caps the reconnection delay. Default 5s.
	ReconnectionDelayMax time.Duration
	// RandomizationFactor moves each delay up or down by a random fraction
	// of it, at most this factor (at most 1). Default 0.5; a negative
	// value means no randomization.
	RandomizationFactor float64
	// Timeout bounds each connection attempt, from the first request to the
	// Engine.IO handshake, and each WebSocket write. Default 20s.
	Timeout time.Duration
	// HTTPClient sends the long-polling requests. Default: a client with a
	// transport of the Manager's own, whose idle connections an upgrade to
	// WebSocket and Close close (a client given here is left as it is).
	HTTPClient *http.Client
	// Dialer opens WebSockets. Default: websocket.DefaultDialer's settings
	// with HandshakeTimeout set to Timeout. Its TLSClientConfig may be the
	// one HTTPClient's transport uses: the client offers the server
	// HTTP/1.1 alone when it opens a WebSocket, whatever NextProtos holds.
	Dialer *websocket.Dialer
	// Logger receives the client's logs: Debug for the connection
	// lifecycle, Warn for faults of the server and for emits given up
	// (see Retries). Default slog.Default().
	Logger *slog.Logger
	// AckTimeout, when positive, is the longest EmitWithAck waits for the
	// server's acknowledgement, on top of its ctx (whichever ends first);
	// it then fails with an error wrapping ErrAckTimeout. With Retries it
	// bounds each try instead (see Retries). Zero: only ctx bounds the wait.
	AckTimeout time.Duration
	// AutoConnect makes Manager.Socket, and so New, connect the socket it
	// returns unless it is connected or connecting, as the JavaScript
	// client's autoConnect. The JavaScript client has it on by default,
	// since its handlers are registered before any event can fire; off by
	// default here, where the socket connects in the background at once:
	// a handler registered after New returns may miss the first events
	// (connect, say), so a program that needs them registers its
	// handlers before calling Connect.
	AutoConnect bool
	// Retries, when positive, sends every Emit and EmitWithAck of a socket
	// (not the Volatile ones) through a queue of that socket, as the
	// JavaScript client does: one at a time, in order, each with an
	// acknowledgement request, the next once the previous is acknowledged
	// or given up. An event not acknowledged within AckTimeout is sent
	// again, up to Retries more times, then given up; the event in flight
	// when the connection ends is sent again after the next connection.
	// Without AckTimeout only that resend applies. The server's handlers
	// must acknowledge every event, plain emits included, and should
	// tolerate duplicates (see the package documentation). Zero: no queue.
	Retries int
	// Parser is how packets are encoded: ParserJSON, the default, or
	// ParserMsgpack, for a server using the npm socket.io-msgpack-parser
	// (or actorio's Options.Parser set to its ParserMsgpack).
	Parser Parser
	// PerMessageDeflate, when set, offers WebSocket compression
	// (permessage-deflate, without context takeover) to the server, as
	// the JavaScript client's perMessageDeflate option; when the server
	// accepts, the client compresses the messages it sends from
	// Threshold on, and reads compressed ones. The JavaScript client in
	// Node offers it by default; nil, the default here, does not.
	PerMessageDeflate *PerMessageDeflate
}

// PerMessageDeflate configures Options.PerMessageDeflate.
type PerMessageDeflate struct {
	// Threshold is the size in bytes of a message from which it is
	// compressed (default 1024, the JavaScript client's); a negative
	// value compresses every message.
	Threshold int
}

// Parser selects the Socket.IO packet encoding of Options.Parser.
type Parser uint8

const (
	// ParserJSON is Socket.IO's default parser: a text message per packet,
	// then one binary message per binary attachment.
	ParserJSON Parser = iota
	// ParserMsgpack is the npm package socket.io-msgpack-parser's: each
	// packet is one binary message holding a msgpack map.
	ParserMsgpack
)

// Defaults of the JavaScript client.
const (
	defaultPath                = "/socket.io/"
	defaultReconnectionDelay   = time.Second
	defaultReconnectionDelayMx = 5 * time.Second
	defaultRandomization       = 0.5
	defaultTimeout             = 20 * time.Second
)

// withDefaults returns o with every zero value replaced by its default, or
// an error for a value that cannot work.
func (o Options) withDefaults() (Options, error) {
	if o.Path == "" {
		o.Path = defaultPath
	}
	if o.Path[0] != '/' {
		o.Path = "/" + o.Path
	}
	if len(o.Transports) == 0 {
		o.Transports = []string{TransportPolling, TransportWebSocket}
	}
	for _, t := range o.Transports {
		if t != TransportPolling && t != TransportWebSocket {
			return o, fmt.Errorf("client: unknown transport %q", t)
		}
	}
	if o.ReconnectionAttempts < 0 {
		return o, fmt.Errorf("client: negative ReconnectionAttempts %d", o.ReconnectionAttempts)
	}
	if o.AckTimeout < 0 {
		return o, fmt.Errorf("client: negative AckTimeout %v", o.AckTimeout)
	}
	if o.Parser > ParserMsgpack {
		return o, fmt.Errorf("client: unknown Parser %d", o.Parser)
	}
	if o.Retries < 0 {
		return o, fmt.Errorf("client: negative Retries %d", o.Retries)
	}
	if o.ReconnectionDelay <= 0 {
		o.ReconnectionDelay = defaultReconnectionDelay
	}
	if o.ReconnectionDelayMax <= 0 {
		o.ReconnectionDelayMax = defaultReconnectionDelayMx
	}
	o.ReconnectionDelayMax = max(o.ReconnectionDelayMax, o.ReconnectionDelay)
	switch {
	case o.RandomizationFactor == 0:
		o.RandomizationFactor = defaultRandomization
	case o.RandomizationFactor < 0:
		o.RandomizationFactor = 0
	case o.RandomizationFactor > 1:
		o.RandomizationFactor = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// SocketOption configures one Socket of a Manager.
type SocketOption func(*socketConfig)

// socketConfig is what SocketOptions set.
type socketConfig struct {
	auth     any
	authFunc func() any
	hasAuth  bool
}

// WithAuth sends auth, which must encode as a JSON object, with this
// socket's CONNECT packets instead of Options.Auth.
func WithAuth(auth any) SocketOption {
	return func(c *socketConfig) { c.auth, c.authFunc, c.hasAuth = auth, nil, true }
}

// WithAuthFunc calls fn before every CONNECT of this socket and sends its
// result instead of Options.Auth.
func WithAuthFunc(fn func() any) SocketOption {
	return func(c *socketConfig) { c.auth, c.authFunc, c.hasAuth = nil, fn, true }
}
