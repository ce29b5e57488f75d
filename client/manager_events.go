package client

import (
	"encoding/json"

	"github.com/actorio/actorio/protocol/socketio"
)

// The Manager's own events, as the JavaScript client's Manager emits them
// (socket.io.on(...)): open, close, ping, packet, error, reconnect_attempt,
// reconnect, reconnect_error and reconnect_failed. They are delivered one
// at a time, in order, on a goroutine of the Manager, as a Socket's events
// on its own; the two orders are not related.

// On registers fn for a Manager event (EventOpen, EventClose, EventPing,
// EventPacket, EventError, EventReconnectAttempt, EventReconnect,
// EventReconnectError, EventReconnectFailed), which receives the event's
// payload as Event.Args gives it; ack is always nil.
//
// open fires when a connection opened, the first and every later one,
// before the sockets send their CONNECT; reconnect follows it after a
// reconnection, with the number of attempts it took. close fires when the
// connection closed: with the Engine.IO reason and a Description when it
// was lost ("transport close", "transport error", "ping timeout", "parse
// error"), or with "forced close" when the Manager stopped it because no
// socket wants it any more (the last one disconnected, or was refused)
// or was closed. error fires for every failed connection attempt, the
// first one included, and before the close of a "transport error";
// reconnect_attempt before each reconnection attempt (from 1), and
// reconnect_error after each that failed. When ReconnectionAttempts run
// out, reconnect_failed comes before the last reconnect_error, as in the
// JavaScript client. ping fires for every ping of the server. packet fires
// for every Socket.IO packet the Manager decodes, whatever its namespace,
// once its binary attachments are in (see Packet); it is only made while
// a handler of it is registered with On or Once (the OnEvent hooks then
// see it too), so that a Manager without one spends nothing on it. Like
// every Manager event it has no order relative to the sockets' events: a
// socket may handle the packet before or after the packet event runs.
func (m *Manager) On(event string, fn EventHandler) { m.addListener(event, fn, false) }

// Once registers fn for the next Manager event of that name only.
func (m *Manager) Once(event string, fn EventHandler) { m.addListener(event, fn, true) }

func (m *Manager) addListener(event string, fn EventHandler, once bool) {
	m.hmu.Lock()
	m.handlers.Add(event, fn, once)
	m.packets.Store(m.handlers.Len(EventPacket) > 0)
	m.hmu.Unlock()
}

// Off removes every handler registered with On or Once for a Manager event.
func (m *Manager) Off(event string) {
	m.hmu.Lock()
	m.handlers.Remove(event)
	m.packets.Store(m.handlers.Len(EventPacket) > 0)
	m.hmu.Unlock()
}

// OnEvent registers fn for every Manager event, with its typed payload; it
// runs before the On handlers of the same event.
func (m *Manager) OnEvent(fn func(Event)) {
	m.hmu.Lock()
	m.eventHooks = append(m.eventHooks, fn)
	m.hmu.Unlock()
}

// post queues a Manager event for delivery.
func (m *Manager) post(ev Event) { m.d.push(func() { m.fire(ev) }) }

func (m *Manager) fire(ev Event) {
	fireEvent(&m.hmu, &m.eventHooks, &m.handlers, ev)
	if ev.Name == EventPacket {
		m.hmu.Lock() // a Once handler may have gone
		m.packets.Store(m.handlers.Len(EventPacket) > 0)
		m.hmu.Unlock()
	}
}

// postPacket fires the packet event for a decoded packet, when a handler
// wants it.
func (m *Manager) postPacket(pkt socketio.Packet, atts [][]byte) {
	if !m.packets.Load() {
		return
	}
	m.post(Event{Name: EventPacket, Packet: &Packet{Type: pkt.Type, Namespace: pkt.Namespace, ID: pkt.ID, HasID: pkt.HasID,
		Data: json.RawMessage(pkt.Data), Attachments: atts}})
}
