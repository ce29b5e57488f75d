package client

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/actorio/actorio/protocol/socketio"
)

// Args are the arguments of a received event or acknowledgement: raw JSON
// values plus the binary attachments their placeholders point to.
type Args = socketio.Args

// Object is a JSON object that keeps its key order, for arguments.
type Object = socketio.Object

// EventHandler handles one event; ack is nil unless the server asked for
// an acknowledgement (always nil for lifecycle events).
type EventHandler func(args Args, ack AckFunc)

// AnyHandler handles every event the server emits, before the event's own
// handlers; lifecycle events do not reach it.
type AnyHandler func(event string, args Args, ack AckFunc)

// OutgoingHandler handles every event the socket sends to the server (see
// Socket.OnAnyOutgoing).
type OutgoingHandler func(event string, args Args)

// AckFunc sends an acknowledgement back to the server; only the first call
// sends anything.
type AckFunc func(args ...any) error

// Event names: the classic Socket.IO set, then the v4 names delivered too.
const (
	// EventConnecting fires when an attempt to connect starts.
	EventConnecting = "connecting"
	// EventConnect fires when the namespace is connected.
	EventConnect = "connect"
	// EventDisconnect fires when a connected socket is disconnected, with a Reason… constant.
	EventDisconnect = "disconnect"
	// EventConnectFailed fires when the first connection cannot be made and no reconnection is allowed or left.
	EventConnectFailed = "connect_failed"
	// EventError fires for an error no other event covers, such as a refusal (*ConnectError).
	EventError = "error"
	// EventMessage is the event the server's send emits.
	EventMessage = "message"
	// EventReconnecting fires before each reconnection attempt, with its number.
	EventReconnecting = "reconnecting"
	// EventReconnect fires when a reconnection succeeded, with the number of attempts it took.
	EventReconnect = "reconnect"
	// EventReconnectFailed fires when the reconnection attempts ran out.
	EventReconnectFailed = "reconnect_failed"
	// EventConnectError fires (v4 name) for every failed connection attempt and every refusal.
	EventConnectError = "connect_error"
	// EventReconnectAttempt fires (v4 name) with reconnecting, with the attempt number.
	EventReconnectAttempt = "reconnect_attempt"
	// EventReconnectError fires (v4 name) for every failed reconnection attempt.
	EventReconnectError = "reconnect_error"
)

// Events of a Manager (Manager.On) that its sockets do not have; the
// Manager also fires error, reconnect_attempt, reconnect, reconnect_error
// and reconnect_failed, as the JavaScript client's Manager.
const (
	// EventOpen fires when the Manager's connection opened, the first time
	// and after each reconnection.
	EventOpen = "open"
	// EventClose fires when the Manager's connection closed, with its
	// reason and, for "transport close" and "transport error", a
	// Description.
	EventClose = "close"
	// EventPing fires for each ping of the server.
	EventPing = "ping"
	// EventPacket fires for each Socket.IO packet the Manager decodes,
	// with the packet (Event.Packet), while a handler of it is registered.
	EventPacket = "packet"
)

// lifecycleEvents holds the names of the events the client fires itself:
// every Event… constant but EventMessage. A server event with one of these
// names is dropped (see dropsServerEvent): only the client tells its
// handlers that it connected, failed or reconnected.
var lifecycleEvents = map[string]bool{
	EventConnecting:       true,
	EventConnect:          true,
	EventDisconnect:       true,
	EventConnectFailed:    true,
	EventError:            true,
	EventReconnecting:     true,
	EventReconnect:        true,
	EventReconnectFailed:  true,
	EventConnectError:     true,
	EventReconnectAttempt: true,
	EventReconnectError:   true,
}

// managerEvents holds the names of the events only a Manager fires (see
// Manager.On): no socket fires them, so a server event of such a name is
// an ordinary event for the socket, as in the JavaScript client.
var managerEvents = map[string]bool{EventOpen: true, EventClose: true, EventPing: true, EventPacket: true}

// reservedEmit holds the event names a client may not emit: those the
// JavaScript client refuses (its own lifecycle names on the socket, and
// the names Node's EventEmitter uses itself).
var reservedEmit = map[string]bool{
	EventConnect: true, EventConnectError: true, EventDisconnect: true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// dropsServerEvent reports whether an EVENT the server sends under name is
// dropped instead of delivered: a lifecycle name, or one JavaScript
// reserves. "message" (the server's send) is delivered.
func dropsServerEvent(name string) bool {
	return lifecycleEvents[name] || reservedEmit[name]
}

// Event is a lifecycle event with its typed payload, as OnEvent handlers
// receive it.
type Event struct {
	// Name is one of the Event… constants other than EventMessage.
	Name string
	// Reason is the reason of disconnect and of the Manager's close.
	Reason string
	// Description says more of a disconnect or close for "transport
	// close" and "transport error", as the JavaScript client's second
	// argument; nil otherwise.
	Description *Description
	// Attempt is the attempt number (reconnecting, reconnect_attempt) or
	// the number of attempts made (reconnect).
	Attempt int
	// Err is the error of error, connect_error, reconnect_error and
	// connect_failed (a *ConnectError for a refusal by the server), and
	// what ended the connection for disconnect, when known.
	Err error
	// Packet is the packet of the Manager's packet event.
	Packet *Packet
}

// Packet is a Socket.IO packet as the Manager decoded it, for its packet
// event (the JavaScript Manager's packet event gives the same packet
// object).
type Packet struct {
	// Type is the packet type, from socketio.Connect (0) to
	// socketio.BinaryAck (6).
	Type socketio.PacketType
	// Namespace is the packet's namespace, "/" when the packet named none.
	Namespace string
	// ID is the ack id of an EVENT that asks for an acknowledgement, and
	// of an ACK, when HasID is set.
	ID    uint64
	HasID bool
	// Data is the payload as received, nil when there is none (a
	// DISCONNECT): an EVENT's name and arguments, an ACK's arguments, a
	// CONNECT's or CONNECT_ERROR's object. Binary values are placeholders
	// ({"_placeholder":true,"num":i}) for Attachments[i].
	Data json.RawMessage
	// Attachments are the binary attachments of a BINARY_EVENT or
	// BINARY_ACK. With ParserMsgpack, a packet carrying binary values is
	// given in this form too (where JavaScript's packet object has type
	// EVENT or ACK and the Buffers in its data).
	Attachments [][]byte
}

// Args returns the event's payload the way On handlers receive it: the
// reason for disconnect and close, then, when there is one, the
// description as an object {"description", "code"} ("code" when not
// zero); the attempt number for reconnecting, reconnect_attempt and
// reconnect; an object {"message", "data"} for the error events; for
// packet, the packet as the JavaScript client's object {"type", "nsp",
// "data", "id"} ("data" and "id" when the packet has them), its binary
// values in place; nothing otherwise.
func (e Event) Args() Args {
	var vals []any
	switch e.Name {
	case EventPacket:
		if e.Packet != nil {
			return e.Packet.args()
		}
	case EventDisconnect, EventClose:
		vals = []any{e.Reason}
		if d := e.Description; d != nil {
			o := Object{{Key: "description", Value: d.Description}}
			if d.Code != 0 {
				o = append(o, socketio.Member{Key: "code", Value: d.Code})
			}
			vals = append(vals, o)
		}
	case EventReconnecting, EventReconnectAttempt, EventReconnect:
		vals = []any{e.Attempt}
	case EventError, EventConnectError, EventReconnectError, EventConnectFailed:
		if e.Err != nil {
			vals = []any{errorObject(e.Err)}
		}
	}
	data, atts, err := socketio.MarshalArgs(vals...)
	if err != nil {
		data, atts = []byte("[]"), nil
	}
	a, _ := socketio.NewArgs(data, atts, 0)
	return a
}

// args returns the packet as one argument, the object the JavaScript
// client's packet event gives: {"type", "nsp", "data", "id"}. Its
// placeholders keep their numbers: the attachments are the packet's own.
func (p *Packet) args() Args {
	b := fmt.Appendf(nil, `[{"type":%d,"nsp":`, p.Type)
	b, _ = appendJSONString(b, p.Namespace)
	if p.Data != nil {
		b = append(append(b, `,"data":`...), p.Data...)
	}
	if p.HasID {
		b = fmt.Appendf(b, `,"id":%d`, p.ID)
	}
	a, err := socketio.NewArgs(append(b, "}]"...), p.Attachments, 0)
	if err != nil {
		a, _ = socketio.NewArgs([]byte("[]"), nil, 0)
	}
	return a
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) ([]byte, error) {
	q, err := json.Marshal(s)
	return append(b, q...), err
}

// Description says more of why a connection ended, as the second argument
// of the JavaScript client's disconnect event (and of its Manager's
// close): only "transport close" and "transport error" have one.
type Description struct {
	// Description is what happened, in the JavaScript client's words:
	// "websocket connection closed" or "transport closed by the server"
	// (polling) for a transport close; "websocket error", "xhr poll
	// error" or "xhr post error" for a transport error.
	Description string
	// Code is the close code of a WebSocket closed by a close frame
	// (1006 when it ended without one, as in the browser's CloseEvent),
	// or the HTTP status of a polling request the server answered with
	// an error; zero when there is none.
	Code int
}

// errorObject is err as JavaScript code sees an Error: message, and data
// for a refusal that carries some.
func errorObject(err error) Object {
	msg := err.Error()
	var data json.RawMessage
	var ce *ConnectError
	if errors.As(err, &ce) {
		msg, data = ce.Message, ce.Data
	}
	o := Object{{Key: "message", Value: msg}}
	if data != nil {
		o = append(o, socketio.Member{Key: "data", Value: data})
	}
	return o
}
