package gateway

import (
	"sync"
	"time"

	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// Without context takeover (the only permessage-deflate gorilla/websocket
// speaks), a message compresses to the same bytes on every connection
// that uses the same level. So the packets of a broadcast
// (SendOptions.Shared) are compressed once: the first connection to write
// one compresses it into a websocket.PreparedMessage, which the others
// find here and copy. A packet is known by the address and length of its
// Data, which every receiver's queue shares; an entry keeps that Data
// alive, so no other packet can take its address while the entry exists.

// Bounds of the shared frames: what a broadcast keeps for the connections
// that have not written it yet. Past them (a receiver far behind the
// others), a connection compresses the packet again, which is correct,
// only slower.
const (
	sharedMaxBytes = 8 << 20
	sharedMaxAge   = 10 * time.Second
)

// sharedFrames is a server's cache of the compressed messages of shared
// packets, oldest first.
type sharedFrames struct {
	mu      sync.Mutex
	entries map[sharedKey]*sharedFrame
	order   []sharedKey // order[head:] are the keys of entries, oldest first
	head    int
	bytes   int
}

// sharedKey is a packet as a connection of a frame mode writes it.
type sharedKey struct {
	data   *byte
	n      int
	binary bool
	typ    engineio.PacketType
	frames frameMode
}

// sharedFrame is one cached message.
type sharedFrame struct {
	src  []byte // the packet's Data: keeps the key's address taken
	pm   *websocket.PreparedMessage
	size int // bytes held, counted against sharedMaxBytes
	at   time.Time
}

// get returns the prepared message of p as written in mode frames, making
// it if needed; nil when p has no Data.
func (s *sharedFrames) get(p engineio.Packet, frames frameMode) *websocket.PreparedMessage {
	if len(p.Data) == 0 {
		return nil
	}
	k := sharedKey{data: &p.Data[0], n: len(p.Data), binary: p.Binary, typ: p.Type, frames: frames}
	s.mu.Lock()
	e := s.entries[k]
	s.mu.Unlock()
	if e != nil {
		return e.pm
	}
	mt, payload := messagePayload(p, frames)
	pm, err := websocket.NewPreparedMessage(mt, payload)
	if err != nil {
		return nil // not a frame gorilla/websocket can make: writeFrame will say why
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[k]; e != nil {
		return e.pm // another connection made it meanwhile
	}
	if s.entries == nil {
		s.entries = make(map[sharedKey]*sharedFrame)
	}
	// The PreparedMessage holds an uncompressed frame and, once a
	// connection wrote it, the compressed one: about twice the payload.
	e = &sharedFrame{src: p.Data, pm: pm, size: 2*len(payload) + len(p.Data), at: now}
	s.entries[k] = e
	s.order = append(s.order, k)
	s.bytes += e.size
	s.evictLocked(now)
	return pm
}

// evictLocked drops the oldest entries while over sharedMaxBytes or older
// than sharedMaxAge; s.mu must be held.
func (s *sharedFrames) evictLocked(now time.Time) {
	for s.head < len(s.order)-1 {
		k := s.order[s.head]
		e := s.entries[k]
		if s.bytes <= sharedMaxBytes && now.Sub(e.at) < sharedMaxAge {
			break
		}
		delete(s.entries, k)
		s.bytes -= e.size
		s.order[s.head] = sharedKey{}
		s.head++
	}
	if s.head > len(s.order)/2 {
		s.order = append(s.order[:0], s.order[s.head:]...)
		s.head = 0
	}
}

// messagePayload returns the WebSocket message type and payload writeFrame
// writes for p in mode frames, in one slice.
func messagePayload(p engineio.Packet, frames frameMode) (int, []byte) {
	if p.Binary && p.Type == engineio.Message {
		switch frames {
		case framesV3Base64:
			return websocket.TextMessage, engineio.AppendTextV3(nil, p)
		case framesV3:
			return websocket.BinaryMessage, append(append(make([]byte, 0, 1+len(p.Data)), v3BinaryPrefix...), p.Data...)
		default:
			return websocket.BinaryMessage, p.Data
		}
	}
	return websocket.TextMessage, append(append(make([]byte, 0, 1+len(p.Data)), typeChars[p.Type]...), p.Data...)
}
