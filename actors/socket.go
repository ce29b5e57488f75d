package actors

import (
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/socketio"
)

// socketActor runs the user code of one namespace socket. It is a child of
// its namespace supervisor, which stops it when a handler panics.
type socketActor struct {
	ref  *SocketRef
	h    SocketHandler
	done bool
	// inUser is set while middleware, a connection handler or an event
	// handler runs; it stays set when one of them panics.
	inUser bool
}

func (a *socketActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *InboundEvent:
		// Given back after the handlers ran: a handler that panics stops
		// the actor, whose Stopped gives it back.
		n := packetCost(m.Data, m.Attachments)
		if !a.done && a.ref.Connected() {
			a.ref.ns.eventsIn.Add(1)
			a.user(func() { a.h.Event(m) })
		}
		a.ref.handled(n)
	case *actor.Stopped:
		a.ref.closeInflow()
	case *endSocket:
		a.disconnect(ctx, m)
		ctx.Stop(ctx.Self())
	case *actor.Stopping:
		if a.done {
			break
		}
		if a.inUser {
			// Supervision stopped this actor after a panic in user code.
			a.fail(ctx)
			break
		}
		// The supervisor stopped, taking this actor with it, before the
		// actor could process the endSocket it was sent: Server.Close gave
		// up waiting for a handler that kept running. End the socket as
		// that endSocket asked.
		if m := a.ref.requested(); m != nil {
			a.disconnect(ctx, m)
		} else {
			a.finish(ctx, disconnect.ForcedClose, true)
		}
	}
}

// user runs user code, leaving inUser set if it panics; the panic is
// logged with its stack (protoactor logs only its value) and goes on to
// the supervisor.
func (a *socketActor) user(f func()) {
	a.inUser = true
	defer func() {
		if !a.inUser {
			return
		}
		if r := recover(); r != nil {
			p := a.ref
			p.ns.rt.panics.Add(1)
			p.ns.rt.log.Error("actorio: handler panic", slog.String("nsp", p.ns.name), slog.String("sid", p.id),
				slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			panic(r)
		}
	}()
	f()
	a.inUser = false
}

// disconnect ends the socket as m asks.
func (a *socketActor) disconnect(ctx actor.Context, m *endSocket) {
	if m.err != nil && !a.done {
		p := a.ref
		p.mu.Lock()
		p.desc = m.err
		p.mu.Unlock()
	}
	a.finish(ctx, m.reason, m.notify)
	if m.closeTransport {
		a.closeConn(ctx)
	}
}

func (a *socketActor) start(ctx actor.Context) {
	p := a.ref
	var r *Refusal
	if !p.Recovered() || !p.ns.recovery.SkipMiddlewares {
		a.user(func() { r = a.h.Authorize() })
	}
	if r != nil {
		a.done = true
		// As in finish: stop the routing before the client can answer.
		a.gone()
		payload := r.Payload
		if p.conn.Protocol() == 3 {
			payload = v2ErrorPayload(payload)
		}
		_ = p.writePacket(socketio.ConnectError, payload)
		ctx.Stop(ctx.Self())
		return
	}
	var sid []byte // a Socket.IO v2 client gets a bare CONNECT (eio3.go)
	if p.conn.Protocol() != 3 {
		reply := socketio.Object{{Key: "sid", Value: p.id}}
		if p.rec != nil {
			reply = append(reply, socketio.Member{Key: "pid", Value: p.rec.privateID})
		}
		sid, _ = reply.MarshalJSON()
	}
	frame := socketio.AppendEncode(nil, socketio.Packet{Type: socketio.Connect, Namespace: p.ns.name, Data: sid})
	if err := p.ns.ready(p, frame); err != nil {
		p.keepRestore() // its transport is gone
		a.done = true
		a.gone()
		ctx.Stop(ctx.Self())
		return
	}
	ctx.Send(p.ns.pid, socketReady{id: p.id})
	p.ns.rt.log.Debug("actorio: socket connected", slog.String("nsp", p.ns.name),
		slog.String("sid", p.id), slog.String("conn", p.conn.ID()))
	a.user(a.h.Welcome)
}

// finish ends the socket once: disconnecting handlers, leave every room,
// disconnect handlers.
func (a *socketActor) finish(ctx actor.Context, reason string, notify bool) {
	if a.done {
		return
	}
	a.done = true
	p := a.ref
	if !p.connected.Load() {
		if p.ns.recovery != nil && recoverable[reason] {
			p.keepRestore()
		}
		a.gone()
		return
	}
	a.h.Disconnecting(reason)
	p.connected.Store(false)
	// Out of the routing table before the client can answer the
	// DISCONNECT packet with a new CONNECT.
	a.gone()
	if notify {
		a.notifyDisconnect()
	}
	if p.ns.recovery != nil && recoverable[reason] {
		p.keepSession()
		p.ns.replicate(p, time.Now(), false)
	} else {
		p.ns.replicate(p, time.Time{}, true)
	}
	p.ns.leaveAll(p)
	p.failAcks()
	p.ns.rt.log.Debug("actorio: socket disconnected", slog.String("nsp", p.ns.name),
		slog.String("sid", p.id), slog.String("conn", p.conn.ID()), slog.String("reason", reason))
	a.h.Disconnected(reason)
}

// notifyDisconnect sends the client a DISCONNECT packet, behind what the
// socket wrote before.
func (a *socketActor) notifyDisconnect() {
	_ = a.ref.writePacket(socketio.Disconnect, nil)
}

// fail ends a socket whose handler panicked: a connected socket gets a
// DISCONNECT packet, a socket still in middleware a CONNECT_ERROR.
func (a *socketActor) fail(ctx actor.Context) {
	p := a.ref
	p.ns.rt.log.Warn("actorio: socket stopped after a handler panic", slog.String("nsp", p.ns.name),
		slog.String("sid", p.id), slog.String("conn", p.conn.ID()), slog.String("reason", disconnect.HandlerPanic))
	if !p.connected.Load() {
		a.done = true
		a.gone()
		payload := []byte(`{"message":"server error"}`)
		if p.conn.Protocol() == 3 {
			payload = v2ErrorPayload(payload)
		}
		_ = p.writePacket(socketio.ConnectError, payload)
		return
	}
	defer func() {
		// A second panic, in a disconnect handler, must not escape the
		// stopping actor.
		if r := recover(); r != nil {
			p.ns.rt.log.Error("actorio: panic in disconnect handler", slog.String("sid", p.id), slog.Any("panic", r))
		}
	}()
	a.finish(ctx, disconnect.HandlerPanic, true)
}

// closeConn closes the socket's whole connection (Socket.Disconnect(true)).
// The connection actor does it, once finish took this socket out of the
// routing table, so that the sockets of its other namespaces get a
// DISCONNECT packet first: a client told nothing but "transport close"
// would reconnect them.
func (a *socketActor) closeConn(ctx actor.Context) {
	if c := a.ref.owner; c != nil {
		ctx.Send(c.pid, &endSocket{reason: disconnect.ServerNamespaceDisconnect, notify: true, closeTransport: true})
		return
	}
	a.ref.conn.Close(disconnect.ForcedServerClose)
}

// gone takes the socket out of its connection's routing table, before
// the client is told of its end (a CONNECT_ERROR or a DISCONNECT): the
// client may answer with a new CONNECT for the namespace at once, which
// must not find this socket there.
func (a *socketActor) gone() {
	p := a.ref
	// Before the removal: the inbound route, adding this socket to the
	// table as this runs, then sees it and takes it out again.
	p.unrouted.Store(true)
	if p.owner != nil {
		p.owner.routeGone(p.ns.name, p.id)
	}
}
