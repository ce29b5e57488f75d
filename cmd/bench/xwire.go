//go:build linux

package main

import (
	"strconv"
	"time"

	"github.com/actorio/actorio/protocol/socketio"
)

// The requests of the cross-node scenarios, which every bench server but
// raw offers:
//
//   - xblast {room, count, size}: emits "msg" count times to the room,
//     each a size-byte string that starts with the emit's timestamp
//     (stampLen bytes: wall-clock microseconds, 16 digits, then '|'),
//     then acks with count;
//   - xack {room, rounds, size, timeoutMs}: rounds times, one after the
//     other, emits "x" with a size-byte string to the room with an ack
//     under timeoutMs and waits for every ack, then acks with xAckReply.

// xRequest is the argument of xblast and xack.
type xRequest struct {
	Room      string `json:"room"`
	Count     int    `json:"count,omitempty"`
	Size      int    `json:"size"`
	Rounds    int    `json:"rounds,omitempty"`
	TimeoutMs int64  `json:"timeoutMs,omitempty"`
}

// xAckReply is the ack of xack: each round's duration (ns, emit until
// the last ack or the timeout) and number of acks, the rounds that ended
// in an error (a timeout) and the first error.
type xAckReply struct {
	Durs       []int64 `json:"durs"`
	Counts     []int   `json:"counts"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"firstError,omitempty"`
}

const (
	// stampLen is the length of the timestamp that starts a message of
	// xblast: 16 digits of wall-clock microseconds and '|'.
	stampLen = 17
	// minXSize is the smallest -xsize.
	minXSize = 24
)

// appendStamp appends t as xblast's timestamp. Every process on the
// machine reads the same wall clock, with microseconds.
func appendStamp(dst []byte, t time.Time) []byte {
	dst = strconv.AppendInt(dst, t.UnixMicro(), 10)
	return append(dst, '|')
}

// parseStamp reads the timestamp at the start of s, in microseconds.
func parseStamp(s []byte) (int64, bool) {
	if len(s) < stampLen || s[stampLen-1] != '|' {
		return 0, false
	}
	var v int64
	for _, c := range s[:stampLen-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

func xBlastRequest(room string, count, size int) request {
	data, _, _ := socketio.MarshalArgs("xblast", xRequest{Room: room, Count: count, Size: size})
	return request{sio: data}
}

func xAckRequest(room string, rounds, size int, timeout time.Duration) request {
	data, _, _ := socketio.MarshalArgs("xack", xRequest{Room: room, Rounds: rounds, Size: size, TimeoutMs: timeout.Milliseconds()})
	return request{sio: data}
}

// xAckAnswer is what a receiver acks "x" with.
var xAckAnswer = []byte(`["ok"]`)
