package actorio

import (
	"errors"

	"github.com/actorio/actorio/actors"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/socketio"
)

// Reason is why a socket or a connection ended, such as "transport close";
// it is disconnect.Reason, an alias of string, so a handler may declare its
// reason parameter as either.
type Reason = disconnect.Reason

// Disconnect reasons passed to OnDisconnecting and OnDisconnect handlers,
// with the strings Socket.IO v4 servers use.
const (
	// ReasonTransportClose: the client closed the connection, or it was lost.
	ReasonTransportClose = disconnect.TransportClose
	// ReasonTransportError: the connection failed (read error, oversized frame).
	ReasonTransportError = disconnect.TransportError
	// ReasonPingTimeout: the client did not answer a ping within PingTimeout.
	ReasonPingTimeout = disconnect.PingTimeout
	// ReasonParseError: the client sent a packet the server could not decode.
	ReasonParseError = disconnect.ParseError
	// ReasonForcedClose: the server closed the connection.
	ReasonForcedClose = disconnect.ForcedClose
	// ReasonForcedServerClose: the server closed the connection with Disconnect(true).
	ReasonForcedServerClose = disconnect.ForcedServerClose
	// ReasonServerNamespaceDisconnect: the server called Disconnect on the socket.
	ReasonServerNamespaceDisconnect = disconnect.ServerNamespaceDisconnect
	// ReasonClientNamespaceDisconnect: the client disconnected the socket.
	ReasonClientNamespaceDisconnect = disconnect.ClientNamespaceDisconnect
	// ReasonServerShuttingDown: Server.Close was called.
	ReasonServerShuttingDown = disconnect.ServerShuttingDown
	// ReasonHandlerPanic: one of the socket's handlers panicked.
	ReasonHandlerPanic = disconnect.HandlerPanic
	// ReasonSlowConsumer: the socket's outbound queue overflowed.
	ReasonSlowConsumer = disconnect.SlowConsumer
)

var (
	// ErrNotConnected is returned when emitting to a socket that is not connected.
	ErrNotConnected = actors.ErrNotConnected
	// ErrReservedEvent is returned when emitting an event name Socket.IO reserves.
	ErrReservedEvent = errors.New("actorio: reserved event name")
	// ErrDisconnected is returned by EmitWithAck when the socket ends before acking.
	ErrDisconnected = errors.New("actorio: socket disconnected before acknowledging")
	// ErrServerClosed is returned by operations on a closed server; it is
	// disconnect.ErrServerClosed, the same value as gateway.ErrServerClosed.
	ErrServerClosed = disconnect.ErrServerClosed
	// ErrNoArg is returned by Args accessors for an index out of range.
	ErrNoArg = socketio.ErrNoArg
	// ErrTooManyRooms is returned by Socket.TryJoin when joining would take
	// the socket past Options.MaxRoomsPerSocket.
	ErrTooManyRooms = errors.New("actorio: too many rooms for one socket")
)

// ConnectError refuses a socket from middleware: the client receives its
// Message and Data in a CONNECT_ERROR packet.
type ConnectError struct {
	Message string
	Data    any
}

// Error returns the message.
func (e *ConnectError) Error() string { return e.Message }

// reserved lists the event names a server may not emit.
var reserved = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true, "disconnecting": true,
	"newListener": true, "removeListener": true,
}
