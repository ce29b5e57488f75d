// Package disconnect names why a connection ended: the [Reason] strings
// Socket.IO v4 reports with its disconnect events, and [ErrServerClosed].
//
// It is the one definition the server packages (actorio, gateway, actors)
// and the client package share, and the one name of each reason: a
// program compares a reason with disconnect.PingTimeout and so on,
// whether a server's OnDisconnect or the client's disconnect event gave
// it. (ErrServerClosed is also exported, as the same value, by actorio
// and gateway, whose methods return it.) It imports nothing of the
// module, so any package can depend on it without a cycle.
//
// The strings are those of the Node reference implementation (socket.io
// and socket.io-client 4.x) where it has one, and actorio's own otherwise
// ([SlowConsumer], [HandlerPanic]). None of them goes on the wire: a
// Socket.IO DISCONNECT packet and an Engine.IO close packet carry no
// reason, so each side names the reason it observes itself.
package disconnect

import "errors"

// Reason is why a session or a socket ended, such as "transport close".
//
// It is an alias of string, not a defined type, so that handlers written as
// func(s *actorio.Socket, reason string), comparisons of a string with the
// constants below, and implementations of interfaces taking a reason string
// keep compiling unchanged.
type Reason = string

// Reasons a server reports (to OnDisconnecting and OnDisconnect handlers,
// and, for the Engine.IO session, to gateway.Receiver.OnClose).
const (
	// TransportClose: the peer closed the session or its connection, or the connection was lost.
	TransportClose Reason = "transport close"
	// TransportError: the connection failed, or the peer broke the transport rules.
	TransportError Reason = "transport error"
	// PingTimeout: the heartbeat was not answered in time.
	PingTimeout Reason = "ping timeout"
	// ParseError: the peer sent a packet that could not be decoded.
	ParseError Reason = "parse error"
	// ForcedClose: this side closed the connection on purpose.
	ForcedClose Reason = "forced close"
	// ForcedServerClose: the server closed the connection, with Disconnect(true) or its own Close.
	ForcedServerClose Reason = "forced server close"
	// ServerNamespaceDisconnect: the server disconnected the socket from its namespace.
	ServerNamespaceDisconnect Reason = "server namespace disconnect"
	// ClientNamespaceDisconnect: the client disconnected the socket from its namespace.
	ClientNamespaceDisconnect Reason = "client namespace disconnect"
	// ServerShuttingDown: the server is being closed.
	ServerShuttingDown Reason = "server shutting down"
	// HandlerPanic: one of the socket's handlers panicked (actorio's own reason).
	HandlerPanic Reason = "handler panic"
	// SlowConsumer: the outbound queue went past its limit (actorio's own reason).
	SlowConsumer Reason = "slow consumer"
)

// Reasons only a client reports (with its disconnect event), besides
// TransportClose, TransportError, PingTimeout and ParseError.
const (
	// IOServerDisconnect: the server disconnected the socket; the client does not reconnect it.
	IOServerDisconnect Reason = "io server disconnect"
	// IOClientDisconnect: the client disconnected the socket itself; no reconnection.
	IOClientDisconnect Reason = "io client disconnect"
)

// ErrServerClosed is returned by operations on a closed actorio server, and
// passed to gateway.Receiver.OnClose (with ForcedServerClose) for the
// sessions a gateway server ends when it shuts down.
var ErrServerClosed = errors.New("actorio: server closed")
