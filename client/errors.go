package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by the methods of a closed Manager and its sockets.
	ErrClosed = errors.New("client: closed")
	// ErrReservedEvent is returned when emitting an event name Socket.IO reserves.
	ErrReservedEvent = errors.New("client: reserved event name")
	// ErrNotConnected is returned by an AckFunc whose socket connection has ended.
	ErrNotConnected = errors.New("client: socket not connected")
	// ErrDisconnected is returned by EmitWithAck when the connection ends after the event was sent and before its acknowledgement.
	ErrDisconnected = errors.New("client: disconnected before the acknowledgement")
	// ErrTimeout is wrapped by the error of a connection attempt that took longer than Options.Timeout.
	ErrTimeout = errors.New("client: connection attempt timed out")
	// ErrHandshake is wrapped by the error of a connection attempt whose Engine.IO handshake is not valid.
	ErrHandshake = errors.New("client: bad handshake")
	// ErrProtocol is wrapped by errors reporting server input that breaks the protocol.
	ErrProtocol = errors.New("client: protocol error")
)

// ConnectError is a refusal of a namespace by the server (a CONNECT_ERROR
// packet), typically from its middleware; it comes with connect_error and
// error events.
type ConnectError struct {
	// Message is the refusal's message.
	Message string
	// Data is the refusal's optional data, as raw JSON (nil when absent).
	Data json.RawMessage
}

// Error returns the message.
func (e *ConnectError) Error() string { return e.Message }

// HTTPError is a polling request, or a WebSocket handshake, answered with
// an HTTP status other than 200 or 101.
type HTTPError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code and Message are the Engine.IO error of the body, when it has one.
	Code    int
	Message string
}

// Error describes the status and the Engine.IO error.
func (e *HTTPError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("client: HTTP %d: %s (code %d)", e.StatusCode, e.Message, e.Code)
	}
	return fmt.Sprintf("client: HTTP %d", e.StatusCode)
}

// newHTTPError builds an HTTPError from a status and a response body.
func newHTTPError(status int, body []byte) *HTTPError {
	e := &HTTPError{StatusCode: status}
	var eio struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &eio) == nil {
		e.Code, e.Message = eio.Code, eio.Message
	}
	return e
}

// ErrAckTimeout is wrapped by the error of an EmitWithAck that got no
// acknowledgement within Options.AckTimeout (with Options.Retries: within
// the AckTimeout of each of its tries). It wraps context.DeadlineExceeded,
// so that errors.Is(err, context.DeadlineExceeded) holds as for a deadline
// of ctx, and errors.Is(err, ErrAckTimeout) tells the two apart.
var ErrAckTimeout error = ackTimeoutError{}

type ackTimeoutError struct{}

func (ackTimeoutError) Error() string { return "client: acknowledgement timed out" }
func (ackTimeoutError) Unwrap() error { return context.DeadlineExceeded }
func (ackTimeoutError) Timeout() bool { return true }
