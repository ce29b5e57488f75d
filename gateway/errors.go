package gateway

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/actorio/actorio/disconnect"
)

// Sentinel errors returned by Conn methods or passed to Receiver.OnClose.
var (
	// ErrClosed is returned by Send on a closed Conn.
	ErrClosed = errors.New("gateway: connection closed")
	// ErrSlowConsumer is returned by Send when the queue exceeds Config.MaxQueueBytes.
	ErrSlowConsumer = errors.New("gateway: send queue limit exceeded")
	// ErrNotMessage is returned by Send for a packet whose type is not Message.
	ErrNotMessage = errors.New("gateway: only message packets may be sent")
	// ErrPayloadTooLarge is passed to OnClose when a WebSocket message exceeds MaxPayload.
	ErrPayloadTooLarge = errors.New("gateway: payload too large")
	// ErrPingTimeout is passed to OnClose when no pong arrived in time.
	ErrPingTimeout = errors.New("gateway: ping timeout")
	// ErrPollOverlap is passed to OnClose when two polling requests of the same kind overlap.
	ErrPollOverlap = errors.New("gateway: overlapping polling requests")
	// ErrPollAborted is passed to OnClose when the client abandons a pending polling request.
	ErrPollAborted = errors.New("gateway: polling request aborted by the client")
	// ErrHeartbeatDirection is passed to OnClose (with disconnect.TransportError)
	// when the client sends a ping, which Engine.IO v4 reserves to the
	// server, or a probe outside an upgrade; or when an Engine.IO v3
	// client, which pings, sends a pong.
	ErrHeartbeatDirection = errors.New("gateway: invalid heartbeat direction")
	// ErrServerClosed is passed to OnClose when the Server shuts down; it
	// is disconnect.ErrServerClosed, the same value as actorio.ErrServerClosed.
	ErrServerClosed = disconnect.ErrServerClosed
)

// ErrorCode is an Engine.IO HTTP error code, sent as {"code":N,"message":"…"}.
type ErrorCode int

// Engine.IO HTTP error codes.
const (
	// CodeUnknownTransport: missing, unknown or disabled transport.
	CodeUnknownTransport ErrorCode = 0
	// CodeUnknownSID: no live session has this id.
	CodeUnknownSID ErrorCode = 1
	// CodeBadHandshakeMethod: a handshake that is not a GET.
	CodeBadHandshakeMethod ErrorCode = 2
	// CodeBadRequest: a request that does not fit the session's state.
	CodeBadRequest ErrorCode = 3
	// CodeForbidden: refused by the origin policy (Config.CORS,
	// Config.CheckOrigin), Config.AllowRequest or a connection limit
	// (MaxConnections, MaxConnectionsPerAddress).
	CodeForbidden ErrorCode = 4
	// CodeUnsupportedVersion: EIO is missing or not 4, and
	// Config.AllowEIO3 is off.
	CodeUnsupportedVersion ErrorCode = 5
)

// Message returns the protocol message of the code, such as "Session ID unknown".
func (c ErrorCode) Message() string {
	switch c {
	case CodeUnknownTransport:
		return "Transport unknown"
	case CodeUnknownSID:
		return "Session ID unknown"
	case CodeBadHandshakeMethod:
		return "Bad handshake method"
	case CodeBadRequest:
		return "Bad request"
	case CodeForbidden:
		return "Forbidden"
	case CodeUnsupportedVersion:
		return "Unsupported protocol version"
	}
	return "Unknown error"
}

// Status returns the HTTP status sent with the code.
func (c ErrorCode) Status() int {
	if c == CodeForbidden {
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// Error implements error.
func (c ErrorCode) Error() string {
	return "engine.io error " + strconv.Itoa(int(c)) + ": " + c.Message()
}

// Answer writes the code's JSON error body with its HTTP status, as the
// Server answers a request it refuses.
func (c ErrorCode) Answer(w http.ResponseWriter) { writeError(w, c) }

// writeError writes the JSON error body of code with its HTTP status.
func writeError(w http.ResponseWriter, code ErrorCode) {
	body := `{"code":` + strconv.Itoa(int(code)) + `,"message":"` + code.Message() + `"}`
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code.Status())
	_, _ = w.Write([]byte(body))
}
