package actorio

import (
	"errors"

	"github.com/actorio/actorio/actors"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/socketio"
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
