// Package msgpack is the msgpack form of Socket.IO v5 packets, wire
// compatible with the npm package socket.io-msgpack-parser (v3, which
// encodes with notepack.io).
//
// With that parser every Socket.IO packet is one binary Engine.IO message:
// a msgpack map with the keys "type" (0 CONNECT to 4 CONNECT_ERROR: an
// event or ack with binary data keeps type 2 or 3), "nsp" (always
// present), "data" (absent when the packet has none) and "id" (only when
// the packet carries an ack id). Binary values are msgpack bin inside the
// data; there are no attachments and no placeholders. Other keys, such as
// the "options" the JavaScript client adds, are ignored.
//
// This package translates between that form and the form the rest of the
// module works with: a [socketio.Packet] whose Data is JSON in which binary
// values are {"_placeholder":true,"num":N} objects pointing into a list of
// attachments ([AppendPacket], [AppendFrame], [Decode]). It needs no
// msgpack library: each way is one pass over the input (see encode.go and
// decode.go), which measured faster than building a tree with a library.
//
// What notepack.io writes and reads maps to JSON as JavaScript's
// JSON.stringify would write the decoded value, so that a handler sees
// the same arguments as from a client using the JSON parser: numbers that
// are integers are written as msgpack integers (int64/uint64 exactly, where
// JavaScript would round past 2^53), others as float64; msgpack bin, and
// ext type 0 of ext 8/16/32 (notepack's ArrayBuffer and typed arrays),
// become binary attachments; notepack's undefined (fixext 1, type 0) is
// null in an array and leaves its key out of a map; its Date (fixext 8,
// type 0) becomes the ISO 8601 string Date.toJSON writes; any other ext is
// [type, <binary>], as notepack decodes it; NaN and infinities are null;
// map keys that are numbers, booleans or nil become their JavaScript
// string, other key types are refused.
//
// The package performs no I/O, starts no goroutines and keeps no state
// between calls: every function is safe for concurrent use. Decoders never
// panic, whatever their input; malformed input yields an error wrapping
// [socketio.ErrMalformed].
package msgpack
