package client

import (
	"encoding/json"
	"fmt"

	"github.com/actorio/actorio/protocol/socketio"
)

// Connection state recovery (Socket.IO v4.6+), as the JavaScript client
// does it. A server with recovery on answers CONNECT with a private session
// id (pid) beside the socket id, and appends an offset to the arguments of
// the events it emits. The socket remembers the pid and the last offset and
// sends both with its next CONNECT; the server then restores the session
// (same id, same rooms) and sends the events missed meanwhile, before its
// CONNECT answer.

// inbound is an event received on a session before that session's CONNECT
// answer; it is held until the answer.
type inbound struct {
	name  string
	args  Args
	id    uint64
	hasID bool
}

// Recovered reports whether the last connection restored the socket's
// previous session: the same id, the same rooms, and the events missed
// while disconnected, which the handlers receive right after connect. It
// is false after a first connection, and whenever the server does not have
// connection state recovery on or could not restore the session. It keeps
// its value until the next connection.
func (s *Socket) Recovered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recovered
}

// deliverLocked queues in for the handlers and, when the socket has a
// session id, remembers the event's offset: its last argument, when that is
// a JSON string and the event carries no acknowledgement request (the
// server appends no offset to those). The caller holds s.mu.
func (s *Socket) deliverLocked(in inbound) {
	if s.pid != "" && !in.hasID {
		if off, ok := lastString(in.args); ok {
			s.offset, s.hasOffset = off, true
		}
	}
	var ack AckFunc
	if in.hasID {
		ack = s.ackFunc(s.session, in.id)
	}
	name, args := in.name, in.args
	s.d.push(func() { s.fireEvent(name, args, ack) })
}

// connectedLocked records the server's CONNECT answer: socket id sid and
// session id pid ("" when recovery is off). The caller holds s.mu.
func (s *Socket) connectedLocked(sid, pid string) {
	s.id = sid
	s.recovered = s.pid != "" && pid == s.pid
	s.pid = pid
}

// forgetSessionLocked drops the session id and offset: the next CONNECT
// starts a new session. The caller holds s.mu.
func (s *Socket) forgetSessionLocked() {
	s.pid, s.offset, s.hasOffset = "", "", false
}

// connectPayloadLocked returns the CONNECT payload for auth (a JSON object
// or nil): with a session id to restore, {"pid":…,"offset":…} merged with
// auth, whose keys win; the offset is left out when none was received. The
// caller holds s.mu.
func (s *Socket) connectPayloadLocked(auth []byte) ([]byte, error) {
	if s.pid == "" {
		return auth, nil
	}
	return withSession(auth, s.pid, s.offset, s.hasOffset)
}

// withSession returns auth with pid and offset merged in the way
// JavaScript's Object.assign({pid, offset}, auth) orders keys: pid, offset,
// then auth's own keys; a key of auth replaces pid or offset in place.
func withSession(auth []byte, pid, offset string, hasOffset bool) ([]byte, error) {
	o := Object{{Key: "pid", Value: pid}, {Key: "offset", Value: offset}}
	offsetSet := hasOffset
	if auth != nil {
		v, err := socketio.ParseValue(auth, nil)
		if err != nil {
			return nil, fmt.Errorf("client: auth: %w", err)
		}
		user, ok := v.(Object)
		if !ok {
			return nil, fmt.Errorf("client: auth %s is not a JSON object", auth)
		}
		for _, m := range user {
			if m.Key == "offset" {
				offsetSet = true
			}
			if i := memberIndex(o, m.Key); i >= 0 {
				o[i].Value = m.Value
			} else {
				o = append(o, m)
			}
		}
	}
	if !offsetSet {
		o = append(o[:1], o[2:]...)
	}
	data, err := o.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("client: auth: %w", err)
	}
	return data, nil
}

// memberIndex returns the index of the member named key, or -1.
func memberIndex(o Object, key string) int {
	for i, m := range o {
		if m.Key == key {
			return i
		}
	}
	return -1
}

// lastString returns the last argument of a when it is a JSON string.
func lastString(a Args) (string, bool) {
	raw := a.Raw(a.Len() - 1)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var str string
	if json.Unmarshal(raw, &str) != nil {
		return "", false
	}
	return str, true
}
