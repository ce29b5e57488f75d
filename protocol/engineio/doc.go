// Package engineio is a codec for the Engine.IO version 4 wire format, and
// for version 3, which Socket.IO v2 clients speak.
//
// It encodes and decodes single packets carried in WebSocket frames
// ([DecodeFrame], [AppendText]) and the payloads of the HTTP long-polling
// transport, where packets are joined by the record separator 0x1e and
// binary messages are written as 'b' followed by standard base64
// ([AppendPayload], [PayloadLen], [DecodePayload]).
//
// Version 3 has the same packet types; its WebSocket frames
// ([DecodeFrameV3], [AppendTextV3]) and its long-polling payloads, text
// ([AppendPayloadV3], [DecodePayloadV3]) or binary
// ([AppendBinaryPayloadV3], [DecodeBinaryPayloadV3]), are written
// differently: see v3.go.
//
// It knows nothing of transports, sessions or heartbeats: those belong to
// package gateway (the server) and package client, which both use it. It
// imports no other package of this module.
//
// The package performs no I/O and starts no goroutines; every function is
// safe for concurrent use. Decoded packets may alias the input slice (see
// each function); encoders never modify or retain the packets they are given,
// so one packet's Data may be shared by many writers. Malformed input yields
// an error wrapping [ErrMalformed].
package engineio
