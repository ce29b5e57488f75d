package engineio

import (
	"errors"
	"strconv"
)

// ErrMalformed is wrapped by every decoding error of this package.
var ErrMalformed = errors.New("engineio: malformed packet")

// PacketType is the type of an Engine.IO packet, written on the wire as one
// ASCII digit from '0' to '6'.
type PacketType byte

// The Engine.IO v4 packet types.
const (
	// Open is sent by the server with the handshake data.
	Open PacketType = iota
	// Close asks the peer to close the session.
	Close
	// Ping is the heartbeat request (sent by the server in v4, and as "probe" by the client during an upgrade).
	Ping
	// Pong answers a Ping.
	Pong
	// Message carries application data.
	Message
	// Upgrade completes a transport upgrade.
	Upgrade
	// Noop does nothing; it ends a pending long-polling request.
	Noop
)

// numTypes is the number of valid packet types.
const numTypes = 7

var typeNames = [numTypes]string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}

// String returns the lower-case protocol name of the type, such as "message".
func (t PacketType) String() string {
	if t < numTypes {
		return typeNames[t]
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the seven Engine.IO packet types.
func (t PacketType) Valid() bool { return t < numTypes }

// Char returns the wire character of the type ('0' to '6').
func (t PacketType) Char() byte { return '0' + byte(t) }

// typeFromChar converts a wire character to a PacketType.
func typeFromChar(c byte) (PacketType, bool) {
	if c < '0' || c >= '0'+numTypes {
		return 0, false
	}
	return PacketType(c - '0'), true
}

// Packet is one Engine.IO packet.
//
// Binary is only meaningful for Message packets and marks Data as raw bytes
// rather than UTF-8 text.
//
// Data comes first so that Type and Binary share one word: 32 bytes a
// packet, not 40. A server's outgoing queues hold one Packet per packet
// per receiver (a broadcast's receivers share its Data), so under a
// fan-out the packets' size is most of the memory those queues write.
type Packet struct {
	Data   []byte
	Type   PacketType
	Binary bool
}
