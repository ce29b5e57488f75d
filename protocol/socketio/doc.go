// Package socketio implements the packet codec of the Socket.IO protocol,
// revision 5 (socket.io 3.x and later).
//
// It converts between the text part of a Socket.IO packet, as carried inside
// an Engine.IO message packet, and the [Packet] structure ([Decode],
// [AppendEncode]); it splits and inspects raw JSON payloads ([SplitArray],
// [EventName], [ParseValue], [IsReserved], [HasReservedName]) and checks
// binary placeholders ([CheckPlaceholders]); it wraps received arguments
// as [Args]; and it encodes Go values into event/ack payloads, moving every
// []byte into a binary attachment referenced by a
// {"_placeholder":true,"num":N} object ([MarshalArgs]), with [Object] for
// JSON objects that keep their key order.
//
// The text wire format is
//
//	<type digit>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
//
// where the namespace is omitted when it is "/", and the attachment count is
// present only for BINARY_EVENT and BINARY_ACK packets, whose binary
// attachments travel as separate Engine.IO frames.
//
// The package is a pure codec and imports no other package of this module:
// it performs no I/O, starts no goroutines and keeps no state between calls
// (the slice [ReservedEvents] is shared and must not be modified),
// so every function is safe for concurrent use. Decoders never panic,
// whatever their input; malformed input yields an error wrapping one of the
// sentinel errors declared in errors.go.
package socketio
