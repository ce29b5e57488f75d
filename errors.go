package actorio

import (
	"errors"

	"github.com/actorio/actorio/actors"
	"github.com/actorio/actorio/protocol/socketio"
)

// Disconnect reasons passed to OnDisconnecting and OnDisconnect handlers,
// with the strings Socket.IO v4 servers use.
const (
	// ReasonTransportClose: the client closed the connection, or it was lost.
	ReasonTransportClose = actors.ReasonTransportClose
	// ReasonTransportError: the connection failed (read error, oversized frame).
	ReasonTransportError = actors.ReasonTransportError
	// ReasonPingTimeout: the client did not answer a ping within PingTimeout.
	ReasonPingTimeout = actors.ReasonPingTimeout
	// ReasonParseError: the client sent a packet the server could not decode.
	ReasonParseError = actors.ReasonParseError
	// ReasonForcedClose: the server closed the connection.
	ReasonForcedClose = actors.ReasonForcedClose
	// ReasonForcedServerClose: the server closed the connection with Disconnect(true).
	ReasonForcedServerClose = actors.ReasonForcedServerClose
	// ReasonServerNamespaceDisconnect: the server called Disconnect on the socket.
	ReasonServerNamespaceDisconnect = actors.ReasonServerNamespaceDisconnect
	// ReasonClientNamespaceDisconnect: the client disconnected the socket.
	ReasonClientNamespaceDisconnect = actors.ReasonClientNamespaceDisconnect
	// ReasonServerShuttingDown: Server.Close was called.
	ReasonServerShuttingDown = actors.ReasonServerShuttingDown
	// ReasonHandlerPanic: one of the socket's handlers panicked.
	ReasonHandlerPanic = actors.ReasonHandlerPanic
	// ReasonSlowConsumer: the socket's outbound queue overflowed.
	ReasonSlowConsumer = actors.ReasonSlowConsumer
)

var (
	// ErrNotConnected is returned when emitting to a socket that is not connected.
	ErrNotConnected = actors.ErrNotConnected
	// ErrReservedEvent is returned when emitting an event name Socket.IO reserves.
	ErrReservedEvent = errors.New("actorio: reserved event name")
	// ErrDisconnected is returned by EmitWithAck when the socket ends before acking.
	ErrDisconnected = errors.New("actorio: socket disconnected before acknowledging")
	// ErrServerClosed is returned by operations on a closed server.
	ErrServerClosed = errors.New("actorio: server closed")
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
