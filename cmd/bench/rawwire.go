//go:build linux

package main

import (
	"encoding/binary"
	"errors"
)

// The raw framing: one binary WebSocket message per request or reply,
//
//	op (1 byte) | id (uint32, big endian) | body
//
// Client to server: 'e' echo (body echoed back), 'j' join (body is the
// room), 'b' blast (body is count uint32 | size uint32 | room). Server to
// client: 'a' ack of request id (body: the echoed bytes, or empty), 'm' a
// message of a blast (id 0, body the payload). Heartbeats are WebSocket
// ping and pong control frames.
const (
	opEcho  = 'e'
	opJoin  = 'j'
	opBlast = 'b'
	opAck   = 'a'
	opMsg   = 'm'

	rawHeader = 5
)

// rawPath is where the raw server accepts WebSockets.
const rawPath = "/raw"

var errRawShort = errors.New("raw frame too short")

// appendRaw appends one raw frame.
func appendRaw(dst []byte, op byte, id uint32, body []byte) []byte {
	dst = append(dst, op)
	dst = binary.BigEndian.AppendUint32(dst, id)
	return append(dst, body...)
}

// parseRaw splits a raw frame; body aliases b.
func parseRaw(b []byte) (op byte, id uint32, body []byte, err error) {
	if len(b) < rawHeader {
		return 0, 0, nil, errRawShort
	}
	return b[0], binary.BigEndian.Uint32(b[1:5]), b[rawHeader:], nil
}

// blastBody encodes the body of a raw blast request.
func blastBody(room string, count, size int) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(count))
	b = binary.BigEndian.AppendUint32(b, uint32(size))
	return append(b, room...)
}

// parseBlastBody decodes the body of a raw blast request.
func parseBlastBody(b []byte) (room string, count, size int, err error) {
	if len(b) < 8 {
		return "", 0, 0, errRawShort
	}
	return string(b[8:]), int(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:])), nil
}
