package socketio

import "errors"

// ErrMalformed is wrapped by every error reporting a malformed Socket.IO packet.
var ErrMalformed = errors.New("socketio: malformed packet")

// ErrInvalidJSON is wrapped by errors reporting raw JSON that is not a single well-formed, valid UTF-8 JSON value.
var ErrInvalidJSON = errors.New("socketio: invalid JSON")

// ErrNotArray is wrapped by errors reporting a JSON value that should be an array but is not.
var ErrNotArray = errors.New("socketio: JSON value is not an array")

// ErrTooDeep is wrapped by errors reporting JSON or Go values nested deeper than MaxDepth.
var ErrTooDeep = errors.New("socketio: value nested too deeply")

// ErrBadPlaceholder is wrapped by errors reporting an invalid, out-of-range, duplicated or missing binary placeholder.
var ErrBadPlaceholder = errors.New("socketio: bad binary placeholder")

// ErrMarshal is wrapped by errors reporting a Go value that cannot be encoded as a JSON argument.
var ErrMarshal = errors.New("socketio: cannot encode argument")

// ErrNoArg is returned by Args accessors for an index out of range.
var ErrNoArg = errors.New("socketio: no such argument")
