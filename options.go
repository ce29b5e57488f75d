package actorio

import (
	"compress/flate"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/internal/clusterlink"
)

// How the fields of Options read, and those of ConnectionStateRecovery and
// gateway.Config (whose constructor cannot fail: a negative duration there
// means the default):
//
//   - zero means the default named in the field's comment; a default may
//     itself be "unlimited" (MaxQueuePackets, MaxRoomsPerSocket, ...);
//   - for a size or a count, a negative value means unlimited: no bound,
//     or the feature off (HTTPCompressionThreshold: never compress);
//   - a duration cannot be switched off, so NewServer refuses a negative
//     one, except ConnectTimeout, where negative means no timeout;
//   - a positive value is the value itself.
//
// client.Options reads zero as the default too; it refuses a negative
// count or duration with an error from client.New.

// CORS configures the origins allowed besides the server's own, on both
// transports, and the Cross-Origin Resource Sharing headers sent to them.
type CORS = gateway.CORS

// Cookie describes the session cookie of Options.Cookie; its zero value is
// Node's default, "io=<sid>; Path=/; HttpOnly; SameSite=Lax".
type Cookie = gateway.Cookie

// PerMessageDeflate configures the WebSocket compression of
// Options.PerMessageDeflate: Threshold (default 1024 bytes, Node's;
// negative compresses every message) and Level (compress/flate's,
// default flate.BestSpeed). See README, "WebSocket compression".
type PerMessageDeflate = gateway.PerMessageDeflate

// Parser selects the Socket.IO packet encoding of Options.Parser.
type Parser uint8

const (
	// ParserJSON is Socket.IO's default parser: a text message per packet,
	// then one binary message per binary attachment.
	ParserJSON Parser = iota
	// ParserMsgpack is the npm package socket.io-msgpack-parser's: each
	// packet is one binary message holding a msgpack map (see README,
	// "msgpack parser").
	ParserMsgpack
)

// DefaultMaxQueueBytes is the default Options.MaxQueueBytes.
const DefaultMaxQueueBytes = 16 << 20

// Defaults of the inbound bounds: what one connection may have read and
// not yet handled, and the attachments of one binary packet.
const (
	DefaultMaxInboundBytes    = 1 << 20
	DefaultMaxInboundPackets  = 256
	DefaultMaxAttachmentBytes = 8 << 20
)

// DefaultMaxDynamicNamespaces is the default Options.MaxDynamicNamespaces.
const DefaultMaxDynamicNamespaces = 1000

// DefaultMaxNamespacesPerConnection is the default
// Options.MaxNamespacesPerConnection.
const DefaultMaxNamespacesPerConnection = 100

// Options configures a Server; every zero value means the default named in
// its comment.
type Options struct {
	// Path is where the Socket.IO endpoint is served. Default "/socket.io/".
	Path string
	// ClientDir, when set, is the dist directory of the npm package
	// socket.io-client, whose bundles the server serves under Path
	// (socket.io.js, socket.io.min.js, socket.io.esm.min.js,
	// socket.io.msgpack.min.js and their source maps), as Node's
	// serveClient does: pages can load /socket.io/socket.io.js.
	ClientDir string
	// PingInterval is how often the server pings each client. Default 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for a pong. Default 20s.
	PingTimeout time.Duration
	// ConnectTimeout closes a connection that joined no namespace in time.
	// Default 45s; negative means no timeout.
	ConnectTimeout time.Duration
	// UpgradeTimeout bounds the polling-to-WebSocket upgrade. Default 10s.
	UpgradeTimeout time.Duration
	// MaxHTTPBufferSize is the largest message or POST body accepted, in
	// bytes. Default 1e6; negative means unlimited.
	MaxHTTPBufferSize int64
	// HTTPCompressionThreshold is the size from which a long-polling
	// response is gzip-compressed for a client that accepts gzip (browsers
	// do), as Node's httpCompression does. Default 1024 bytes; negative
	// turns compression off. A response holding only packets sent with
	// Compress(false) is not compressed.
	HTTPCompressionThreshold int
	// PerMessageDeflate, when set, compresses WebSocket messages from its
	// threshold on (default 1024 bytes) for the clients that offer
	// permessage-deflate (socket.io-client in Node does, browsers do), as
	// Node's perMessageDeflate option; each message is compressed on its
	// own (no context takeover), a broadcast once for all its receivers.
	// Compress(false) on an emit sends it uncompressed. nil, the default,
	// compresses nothing, as Node.
	PerMessageDeflate *PerMessageDeflate
	// Transports lists the allowed transports, "polling" and "websocket".
	// Default both.
	Transports []string
	// DisableUpgrades turns off the polling-to-WebSocket upgrade.
	DisableUpgrades bool
	// AllowEIO3 also serves Socket.IO v2 clients (Engine.IO v3) as Node's
	// allowEIO3 does (README, "Socket.IO v2 clients"); off, the default,
	// they get 400 {"code":5,"message":"Unsupported protocol version"}.
	AllowEIO3 bool
	// Parser is how every client of the server encodes its packets:
	// ParserJSON, the default, or ParserMsgpack, wire-compatible with the
	// npm socket.io-msgpack-parser, which the clients must then use too.
	Parser Parser
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
	// InitialHeaders, when set, may add headers to the answer to each
	// Engine.IO handshake, polling or WebSocket (Node's "initial_headers"
	// event): h is that answer's header, r the request.
	InitialHeaders func(h http.Header, r *http.Request)
	// Headers, when set, may add headers to every successful Engine.IO
	// answer (Node's "headers" event): the handshake, each polling GET and
	// POST, and the 101 of each WebSocket upgrade; not error answers.
	Headers func(h http.Header, r *http.Request)
	// Cookie, when set, makes the answer to a polling handshake set a
	// cookie holding the Engine.IO session id (Node's cookie option), for
	// a sticky load balancer say; its zero value sends Node's default,
	// "io=<sid>; Path=/; HttpOnly; SameSite=Lax". nil, the default, sets
	// no cookie.
	Cookie *Cookie
	// OnConnectionError, when set, is called for each request the server
	// answers with an Engine.IO error (Node's "connection_error" event):
	// r is the request, code (0 to 5, as gateway.ErrorCode) and message
	// those of the answer, such as 1 "Session ID unknown" or 4
	// "Forbidden". It runs before the answer is written and must not write
	// to the response.
	OnConnectionError func(r *http.Request, code int, message string)
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
	// MaxQueueBytes bounds the bytes queued for one connection and not yet
	// written to it; a connection that would exceed it is closed with reason
	// "slow consumer" (disconnect.SlowConsumer). Default 16 MiB: sixteen default
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
	// MaxInboundBytes bounds what one connection has read from its client
	// and its handlers have not handled yet: events waiting for their
	// socket's handler, in bytes (arguments and attachments). When it is
	// reached the connection reads nothing more, so TCP flow control
	// slows the sender (a polling client's POST waits for its answer),
	// and reading resumes as handlers catch up: a client sending faster
	// than its handlers run costs the server this bound, not its whole
	// backlog. One packet may take it past the bound. A handler that
	// never returns keeps its connection from reading: the client's pongs
	// go unread and the connection ends with "ping timeout" within
	// PingInterval + PingTimeout, holding no more than the bound meanwhile.
	// Default 1 MiB; negative means unlimited.
	MaxInboundBytes int64
	// MaxInboundPackets bounds the same packets by count. Default 256;
	// negative means unlimited.
	MaxInboundPackets int
	// MaxAttachmentBytes bounds the total size of the binary attachments
	// of one packet a client sends (each attachment is also bounded by
	// MaxHTTPBufferSize). A packet whose attachments exceed it closes its
	// connection with "parse error", logged at Warn. Default 8 MiB;
	// negative means unlimited.
	MaxAttachmentBytes int64
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
	// MaxDynamicNamespaces bounds the child namespaces of OfFunc and
	// OfRegexp parents alive at once; a child that was removed (see
	// KeepEmptyChildNamespaces) no longer counts. Past it, a client
	// connecting to a new name gets CONNECT_ERROR {"message":"Invalid
	// namespace"}, as Node answers a name no parent accepts. The refusals
	// are logged at Warn: the first at once, then one line every 10 s
	// with how many followed (and at Close). Default 1000, so that clients
	// cannot grow the server without bound by inventing names; negative
	// means unlimited.
	MaxDynamicNamespaces int
	// KeepEmptyChildNamespaces keeps a child namespace of OfFunc and
	// OfRegexp until Close, as Node does by default (its
	// cleanupEmptyChildNamespaces is false). By default (false) a child
	// is removed once its last socket has left, its supervisor stops,
	// and the next client to connect to the name makes it again, with
	// the parent's middleware and handlers: otherwise a server whose
	// names come and go (a namespace per game) would hold every name it
	// ever served and, with MaxDynamicNamespaces, refuse new ones once
	// that many were served. With ConnectionStateRecovery a child waits
	// until the sessions it keeps have expired. Handles of a removed
	// child (Socket.Namespace, Of) stay usable: their broadcasts reach
	// the child of that name alive at the time, if any.
	KeepEmptyChildNamespaces bool
	// MaxNamespacesPerConnection bounds the namespaces one connection
	// (one socket.io-client Manager) may be connected to at once, static
	// and dynamic alike, sockets still in middleware included. Past it the
	// CONNECT gets {"message":"Invalid namespace"}, as for a name that
	// does not exist, and is logged at Warn once per connection, then
	// with a count every 10 s while refusals go on. It keeps one
	// connection from taking the MaxDynamicNamespaces of everyone.
	// Default 100, far more than clients use (a Manager per page with a
	// few namespaces); negative means unlimited.
	MaxNamespacesPerConnection int
	// MaxRoomsPerSocket bounds the rooms one socket may be in, the room of
	// its own id not counted. A Join (or SocketsJoin, or a join in
	// middleware) that would take a socket past it joins none of the
	// rooms it names, and is logged at Warn once per socket, then with a
	// count every 10 s; Socket.TryJoin says whether it joined. Node has
	// no such bound: zero or negative, the default, means unlimited.
	MaxRoomsPerSocket int
	// EventRate and EventBurst rate-limit the events each socket receives
	// from its client with a token bucket: EventBurst events at once, then
	// EventRate events per second. An event over the limit is dropped
	// (its handlers do not run and an ack it asks for is never sent),
	// counted in Stats.DroppedEvents and logged at Debug. EventRate zero
	// or negative means unlimited (the default); EventBurst defaults to
	// max(1, EventRate).
	EventRate  float64
	EventBurst int
	// ActorSystem, when set, is the protoactor-go actor system the
	// server's actors run on: an application's own, so that its actors
	// can send the server Emit messages (Server.PID) and receive its
	// sockets' events (Namespace.Forward). The server leaves it running at
	// Close. Nil, the default, gives the server a system of its own.
	ActorSystem *actor.ActorSystem
	// ConnectionStateRecovery, when set, turns connection state recovery
	// on (see ConnectionStateRecovery). Nil, the default, turns it off.
	ConnectionStateRecovery *ConnectionStateRecovery
	// Cluster, when set, makes this server one node of several that act as
	// one Socket.IO server (see ClusterOptions). Nil, the default, keeps it
	// a single node: no cluster code runs on any path.
	Cluster *ClusterOptions
}

func (o Options) withDefaults() Options {
	orDefault(&o.ConnectTimeout, 45*time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	orDefault(&o.MaxQueueBytes, DefaultMaxQueueBytes)
	orDefault(&o.MaxDynamicNamespaces, DefaultMaxDynamicNamespaces)
	orDefault(&o.MaxNamespacesPerConnection, DefaultMaxNamespacesPerConnection)
	orDefault(&o.MaxInboundBytes, DefaultMaxInboundBytes)
	orDefault(&o.MaxInboundPackets, DefaultMaxInboundPackets)
	orDefault(&o.MaxAttachmentBytes, DefaultMaxAttachmentBytes)
	if o.EventRate > 0 && o.EventBurst <= 0 {
		o.EventBurst = max(1, int(o.EventRate))
	}
	orDefault(&o.CloseTimeout, 10*time.Second)
	return o
}

// orDefault sets *v to d when it is zero, the convention's "default".
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// validate refuses what the convention above does not allow: a negative
// duration other than ConnectTimeout.
func (o Options) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"PingInterval", o.PingInterval},
		{"PingTimeout", o.PingTimeout},
		{"UpgradeTimeout", o.UpgradeTimeout},
		{"CloseTimeout", o.CloseTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("actorio: Options.%s is negative (%v): a duration cannot be switched off; zero means its default", d.name, d.v)
		}
	}
	if d := o.PerMessageDeflate; d != nil && (d.Level < flate.HuffmanOnly || d.Level > flate.BestCompression) {
		return fmt.Errorf("actorio: PerMessageDeflate.Level %d is not a compress/flate level (-2 to 9)", d.Level)
	}
	if o.Parser > ParserMsgpack {
		return fmt.Errorf("actorio: Options.Parser %d is not a parser", o.Parser)
	}
	if c := o.ConnectionStateRecovery; c != nil && c.MaxDisconnectionDuration < 0 {
		return fmt.Errorf("actorio: ConnectionStateRecovery.MaxDisconnectionDuration is negative (%v); zero means its default", c.MaxDisconnectionDuration)
	}
	return nil
}

func (o Options) gateway() gateway.Config {
	return gateway.Config{
		Path:         o.Path,
		PingInterval: o.PingInterval,
		PingTimeout:  o.PingTimeout,
		MaxPayload:   o.MaxHTTPBufferSize, // negative: unlimited there too

		CompressionThreshold: o.HTTPCompressionThreshold,
		PerMessageDeflate:    o.PerMessageDeflate,
		UpgradeTimeout:       o.UpgradeTimeout,
		Transports:           o.Transports,
		DisableUpgrades:      o.DisableUpgrades,
		AllowEIO3:            o.AllowEIO3,
		AllowRequest:         o.AllowRequest,
		CORS:                 o.CORS,
		CheckOrigin:          o.CheckOrigin,
		InitialHeaders:       o.InitialHeaders,
		Headers:              o.Headers,
		Cookie:               o.Cookie,
		OnConnectionError:    o.OnConnectionError,
		Logger:               o.Logger,
		MaxQueueBytes:        o.MaxQueueBytes,
		MaxQueuePackets:      o.MaxQueuePackets,
		MaxInboundBytes:      o.MaxInboundBytes,
		MaxInboundPackets:    o.MaxInboundPackets,

		MaxConnections:           o.MaxConnections,
		MaxConnectionsPerAddress: o.MaxConnectionsPerAddress,
		BindSessionToAddress:     o.BindSessionToAddress,
	}
}

// ClusterOptions joins a Server to a cluster of actorio servers (nodes)
// that act as one Socket.IO server: a namespace broadcast reaches the
// sockets of every node, and ServerSideEmit the handlers of the other
// nodes. Package github.com/actorio/actorio/cluster provides the
// providers, and its documentation says what crosses nodes and what does
// not yet. Each Server needs its own ClusterOptions value.
type ClusterOptions struct {
	// Name is the cluster's name: nodes of different names ignore each
	// other. Default "actorio".
	Name string
	// Address is the host:port this node listens on for the other nodes
	// (not the HTTP port); port 0 picks a free one (see
	// Server.ClusterNodes). Default "127.0.0.1:0".
	Address string
	// AdvertisedAddress is the host:port the other nodes reach this node
	// at, when it differs from Address (a container, NAT). Default: the
	// address Address listens on.
	AdvertisedAddress string
	// HTTPAddress is ignored.
	//
	// Deprecated: a long-polling request or a WebSocket upgrade for a
	// session of another node, which a balancer sent to this one, is
	// handed over to that node through its cluster port (Address),
	// secured as the links between nodes are, whatever its HTTP endpoint
	// (see HandOverHandler); no HTTP address is needed.
	HTTPAddress string
	// HandOverHandler, when set, serves the requests other nodes hand over
	// to this one instead of the Server itself: set it to the Server
	// wrapped in HTTP middleware of yours (logging, metrics). A
	// long-polling request or a WebSocket upgrade for a session of this
	// node that a balancer sent to another node is handed over to this
	// one through the cluster port, and answered as if the client had
	// reached it: no sticky sessions are needed. The node that handed it
	// over ran its own HTTP stack on it first; this handler gets it as
	// the Server saw it there (the path Server.ServeHTTP got, the
	// client's headers but the hop-by-hop ones, the header
	// X-Actorio-Forwarded), from the address of that node, which
	// BindSessionToAddress refuses. A long-polling request comes on the
	// link between the nodes, as a request made by this node (HTTP/1.1,
	// no TLS state, from the other node's cluster address): its
	// ResponseWriter keeps the answer and sends it back once the handler
	// returns, so Flush sends nothing early and it cannot be hijacked (a
	// node of an older build sends its long-polling requests as HTTP/2 on
	// a connection of its own). A WebSocket upgrade comes on a connection
	// of its own.
	HandOverHandler http.Handler
	// TLS secures the links between nodes with mutual TLS: each node
	// presents its certificate and accepts only nodes whose certificate
	// the cluster's CA signed (host names are not checked). Required,
	// with Secret, unless Insecure.
	TLS *ClusterTLS
	// Secret is shared by the nodes of the cluster (at least 16 bytes):
	// a node presents it on every call to another and refuses the calls
	// without it, logged at Warn. Required, with TLS, unless Insecure.
	Secret string
	// Insecure allows plain links between nodes, without TLS: anyone who
	// reaches a node's cluster port can then talk to it (with Secret set,
	// only who knows the secret, which travels in clear). For one machine
	// or a private network only.
	Insecure bool
	// MaxQueueBytes bounds, in bytes, what this node holds queued for one
	// other node that has not reached it yet (broadcasts, room changes,
	// events, requests): past it, what is sent to that node is dropped,
	// logged at Warn at most every 10 s, until it catches up; a node that
	// stalled or is unreachable costs at most that much memory until it is
	// dropped. Default 64 MiB (cluster.DefaultMaxQueueBytes); negative
	// means unlimited.
	MaxQueueBytes int64
	// Provider tells the node which nodes are alive (see package cluster:
	// a static list of seeds that needs no external service, or one of
	// protoactor-go's providers such as Consul, etcd or Kubernetes).
	// Required.
	Provider ClusterProvider
}

// ClusterTLS names the PEM files of a node's TLS certificate (with the
// client and server uses: it is presented on the links the node opens and
// on those it accepts), its private key, and the cluster's CA.
type ClusterTLS struct {
	CertFile, KeyFile, CAFile string
}

// ClusterProvider starts this server's node of a cluster; package cluster
// makes them (cluster.Static, cluster.Protoactor). Its methods are the
// seam between the two packages, not meant for applications.
type ClusterProvider = clusterlink.Provider
