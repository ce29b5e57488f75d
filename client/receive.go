package client

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/actorio/actorio/protocol/msgpack"
	"github.com/actorio/actorio/protocol/socketio"
)

// receiver decodes the Socket.IO packets of one session, reassembles
// binary packets with their attachments and routes them to the sockets.
// Its engine calls it from one goroutine at a time.
type receiver struct {
	m       *Manager
	pending *socketio.Packet // binary packet waiting for attachments
	atts    [][]byte
}

func (rc *receiver) onMessage(e *engine, p engineio.Packet) {
	if rc.m.opts.Parser == ParserMsgpack {
		if !p.Binary {
			rc.parseError(e, fmt.Errorf("%w: text message with the msgpack parser", ErrProtocol))
			return
		}
		pkt, atts, err := msgpack.Decode(p.Data)
		if err != nil {
			rc.parseError(e, err)
			return
		}
		rc.m.route(e, pkt, atts)
		return
	}
	if p.Binary {
		if rc.pending == nil {
			rc.parseError(e, fmt.Errorf("%w: binary message without a binary packet", ErrProtocol))
			return
		}
		rc.atts = append(rc.atts, p.Data)
		if len(rc.atts) < rc.pending.Attachments {
			return
		}
		pkt, atts := *rc.pending, rc.atts
		rc.pending, rc.atts = nil, nil
		rc.m.route(e, pkt, atts)
		return
	}
	if rc.pending != nil {
		rc.parseError(e, fmt.Errorf("%w: text message while %d attachments are missing", ErrProtocol, rc.pending.Attachments-len(rc.atts)))
		return
	}
	pkt, err := socketio.Decode(p.Data)
	if err != nil {
		rc.parseError(e, err)
		return
	}
	if pkt.Type.IsBinary() {
		if err := socketio.CheckPlaceholders(pkt.Data, pkt.Attachments); err != nil {
			rc.parseError(e, err)
			return
		}
		if pkt.Attachments > 0 {
			rc.pending = &pkt
			return
		}
	}
	rc.m.route(e, pkt, nil)
}

// onPing fires the Manager's ping event.
func (rc *receiver) onPing(*engine) { rc.m.post(Event{Name: EventPing}) }

func (rc *receiver) parseError(e *engine, err error) {
	rc.m.log.Warn("client: undecodable packet from the server", "err", err)
	e.fail(disconnect.ParseError, err)
}

// route hands a packet to the socket of its namespace, after the packet
// event.
func (m *Manager) route(e *engine, pkt socketio.Packet, atts [][]byte) {
	m.postPacket(pkt, atts)
	m.mu.Lock()
	s := m.sockets[pkt.Namespace]
	m.mu.Unlock()
	if s == nil {
		m.log.Debug("client: packet for an unknown namespace", "nsp", pkt.Namespace, "type", pkt.Type)
		return
	}
	switch pkt.Type {
	case socketio.Connect:
		s.onConnect(e, pkt)
	case socketio.ConnectError:
		s.onConnectError(e, pkt)
	case socketio.Disconnect:
		s.onServerDisconnect(e)
	case socketio.Event, socketio.BinaryEvent:
		s.onEvent(e, pkt, atts)
	case socketio.Ack, socketio.BinaryAck:
		s.onAck(pkt, atts)
	}
}

// onConnect handles the server's CONNECT answer: the socket is connected,
// its buffered emits and the head of its retry queue are sent, connect is
// posted, then the events received before the answer (those a recovered
// session missed) are delivered.
func (s *Socket) onConnect(e *engine, pkt socketio.Packet) {
	var body struct {
		SID string `json:"sid"`
		PID string `json:"pid"`
	}
	if pkt.Data != nil {
		_ = json.Unmarshal(pkt.Data, &body)
	}
	s.mu.Lock()
	if !s.active && !s.connected && s.eng == nil && body.SID != "" {
		// Disconnect was called while the CONNECT was on its way: leave
		// at once rather than stay connected on the server's side.
		e.send(s.encodeFrames(socketio.Packet{Type: socketio.Disconnect, Namespace: s.nsp}, nil)...)
		s.mu.Unlock()
		return
	}
	if !s.active || s.connected || s.eng != e {
		s.mu.Unlock()
		return
	}
	if body.SID == "" {
		err := fmt.Errorf("%w: CONNECT without sid (a Socket.IO v2 server?)", ErrProtocol)
		s.recvBuf = nil
		s.post(Event{Name: EventConnectError, Err: err})
		s.post(Event{Name: EventError, Err: err})
		s.mu.Unlock()
		return
	}
	s.connected, s.succeeded = true, true
	s.connectedLocked(body.SID, body.PID)
	s.session++
	n := 0
	for _, o := range s.sendBuf {
		if !e.send(o.frames...) {
			break
		}
		if pa := s.acks[o.ackID]; o.hasAck && pa != nil {
			pa.sent = true
		}
		s.sentLocked(o.data, o.atts)
		n++
	}
	clear(s.sendBuf[:n])
	s.sendBuf = s.sendBuf[n:]
	if len(s.sendBuf) == 0 {
		s.sendBuf = nil
	}
	s.drainLocked() // the retry queue's head, again if it was in flight
	s.post(Event{Name: EventConnect})
	for _, in := range s.recvBuf {
		s.deliverLocked(in)
	}
	s.recvBuf = nil
	s.mu.Unlock()
}

// onConnectError handles a refusal: connect_error and error are posted and
// the socket is not reconnected.
func (s *Socket) onConnectError(e *engine, pkt socketio.Packet) {
	ce := &ConnectError{}
	var body struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if len(pkt.Data) > 0 && pkt.Data[0] == '"' {
		_ = json.Unmarshal(pkt.Data, &ce.Message)
	} else if json.Unmarshal(pkt.Data, &body) == nil {
		ce.Message, ce.Data = body.Message, body.Data
	}
	s.mu.Lock()
	if _, ok := s.droppedByServerLocked(e); !ok {
		s.mu.Unlock()
		return
	}
	s.post(Event{Name: EventConnectError, Err: ce})
	s.post(Event{Name: EventError, Err: ce})
	s.mu.Unlock()
	s.m.maybeIdle()
}

// onServerDisconnect handles the server's DISCONNECT: disconnect is posted
// with "io server disconnect" and the socket is not reconnected.
func (s *Socket) onServerDisconnect(e *engine) {
	s.mu.Lock()
	if wasConnected, ok := s.droppedByServerLocked(e); ok {
		s.forgetSessionLocked()
		if wasConnected {
			s.post(Event{Name: EventDisconnect, Reason: disconnect.IOServerDisconnect})
		}
	}
	s.mu.Unlock()
	s.m.maybeIdle()
}

// droppedByServerLocked detaches s from engine e, which the server refused or
// disconnected it on: s is not reconnected, and if it was connected the
// acks it awaits fail. ok is false, and nothing changes, when s has moved on
// from e. s.mu must be held.
func (s *Socket) droppedByServerLocked(e *engine) (wasConnected, ok bool) {
	if s.eng != e {
		return false, false
	}
	wasConnected = s.connected
	s.active, s.connected, s.eng = false, false, nil
	s.recvBuf = nil
	if wasConnected {
		s.failAcks(ErrDisconnected, false)
	}
	return wasConnected, true
}

// onEvent queues an event of the server for the socket's handlers; one
// that comes before the CONNECT answer of its session waits for it.
func (s *Socket) onEvent(e *engine, pkt socketio.Packet, atts [][]byte) {
	name, _, err := socketio.EventName(pkt.Data)
	if err != nil {
		e.fail(disconnect.ParseError, err)
		return
	}
	args, err := socketio.NewArgs(pkt.Data, atts, 1)
	if err != nil {
		e.fail(disconnect.ParseError, err)
		return
	}
	if dropsServerEvent(name) {
		// Checked before the acknowledgement is made: none goes back.
		s.m.droppedReserved(s.nsp, name, pkt.HasID)
		return
	}
	in := inbound{name: name, args: args, id: pkt.ID, hasID: pkt.HasID}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.eng != e:
		s.m.log.Debug("client: event for a socket not connected; dropped", "nsp", s.nsp, "event", name)
	case s.connected:
		s.deliverLocked(in)
	default:
		// The CONNECT was sent on e and its answer is pending: a server
		// restoring a session sends the missed events first.
		s.recvBuf = append(s.recvBuf, in)
	}
}

// droppedReserved logs an event of the server named like a lifecycle or
// reserved event, dropped: at Warn the first time the Manager sees the
// name (the set is small, so is the memory), at Debug after that, so that
// a server repeating it cannot flood the log.
func (m *Manager) droppedReserved(nsp, name string, ackRequested bool) {
	m.mu.Lock()
	first := !m.warned[name]
	if first {
		if m.warned == nil {
			m.warned = map[string]bool{}
		}
		m.warned[name] = true
	}
	m.mu.Unlock()
	level := slog.LevelDebug
	if first {
		level = slog.LevelWarn
	}
	m.log.Log(context.Background(), level, "client: the server emitted an event named like a lifecycle or reserved event; dropped",
		"nsp", nsp, "event", name, "ack_requested", ackRequested)
}

// onAck resolves a pending EmitWithAck, or the try of the retry queue's
// head it answers.
func (s *Socket) onAck(pkt socketio.Packet, atts [][]byte) {
	args, err := socketio.NewArgs(pkt.Data, atts, 0)
	s.mu.Lock()
	pa := s.acks[pkt.ID]
	delete(s.acks, pkt.ID)
	if pa != nil && pa.q != nil {
		s.queueAckedLocked(pa.q, ackResult{args: args, err: err})
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if pa == nil {
		s.m.log.Debug("client: acknowledgement nobody waits for", "nsp", s.nsp, "id", pkt.ID)
		return
	}
	pa.ch <- ackResult{args: args, err: err}
}
