package actors

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/actorio/actorio/protocol/socketio"
)

// inbound is a connection's one inbound route. It runs on the gateway's
// goroutine that reads the connection (one OnPacket call at a time,
// OnClose after the last one): it decodes each Socket.IO packet, holds a
// binary one until its attachments are in, and handles it before the next
// is read:
//
//   - CONNECT: looks the namespace up, asks its supervisor for a socket and
//     waits for the answer, then adds the socket to the routing table (the
//     wait suspends the delivery where the transport allows it, see
//     gateway.Conn.Suspend, so that it holds no goroutine);
//   - DISCONNECT: takes the namespace's socket out of the table and ends it;
//   - EVENT: posts it to its namespace's socket actor (the one hop), whose
//     mailbox, when idle, then runs on this goroutine (see post);
//   - ACK: hands it to the waiting ack handler, on the spot.
//
// Ordering rule: packets of one connection take effect in the order the
// client sent them. CONNECT and DISCONNECT change the routing table
// before the next packet is read, so an EVENT reaches the socket its
// namespace had when the client sent it, and a socket actor's mailbox
// gets its events in the order sent. A CONNECT holds the reads only while
// the supervisor spawns the socket (microseconds; up to 3 s when a
// recovering client left its old socket behind, see deferSpawn): the
// socket's middleware runs later, on its own actor, with the events sent
// meanwhile waiting in its mailbox.
//
// A socket that ends takes itself out of the table (socketActor.gone)
// before its client is told; the connection actor (conn.go) ends the
// sockets left when the transport closes.
type inbound struct {
	a *connActor
	// bin is the binary packet waiting for its attachments, nil between
	// such packets: most connections never send one, and an idle one
	// carries 8 bytes for it rather than 40.
	bin    *pendingBinary
	broken bool // a malformed packet closed the connection
}

// pendingBinary is a binary packet waiting for its attachments, and their
// size so far.
type pendingBinary struct {
	pkt         socketio.Packet
	attachments [][]byte
	bytes       int64
}

var (
	errUnexpectedBinary = errors.New("binary frame without a pending binary packet")
	errReservedEvent    = errors.New("event with a reserved name")
	errDuplicateConnect = errors.New("CONNECT for a namespace already joined")
)

// OnPacket handles one Engine.IO message.
func (r *inbound) OnPacket(_ *gateway.Conn, p engineio.Packet) {
	if r.broken {
		return
	}
	var (
		pkt      socketio.Packet
		atts     [][]byte
		complete = true
		err      error
	)
	if r.a.rt.parser == ParserMsgpack {
		pkt, atts, err = r.decodeMsgpack(p)
	} else {
		pkt, atts, complete, err = r.assemble(p)
	}
	if err == nil && complete {
		err = r.handle(pkt, atts)
	}
	if err != nil {
		r.broken = true
		a := r.a
		a.rt.log.Warn("actorio: closing connection on a malformed packet", slog.String("conn", a.conn.ID()),
			slog.String("reason", disconnect.ParseError), slog.Any("err", err))
		a.conn.Close(disconnect.ParseError)
	}
}

// OnClose tells the connection actor that the transport ended, with the
// error it ended with (the gateway logged it), for the sockets' handlers
// (SocketRef.Description).
func (r *inbound) OnClose(_ *gateway.Conn, reason string, err error) {
	r.a.rt.system.Root.Send(r.a.pid, transportClosed{reason: reason, err: err})
}

// assemble decodes one Engine.IO message; complete is false while a binary
// packet waits for attachments.
func (r *inbound) assemble(m engineio.Packet) (pkt socketio.Packet, atts [][]byte, complete bool, err error) {
	if b := r.bin; b != nil {
		if !m.Binary {
			return pkt, nil, false, fmt.Errorf("text frame while %d attachments are missing", b.pkt.Attachments-len(b.attachments))
		}
		b.bytes += int64(len(m.Data))
		if max := r.a.opts.MaxAttachmentBytes; max > 0 && b.bytes > max {
			return pkt, nil, false, fmt.Errorf("binary attachments over %d bytes", max)
		}
		b.attachments = append(b.attachments, m.Data)
		if len(b.attachments) < b.pkt.Attachments {
			return pkt, nil, false, nil
		}
		r.bin = nil
		return b.pkt, b.attachments, true, nil
	}
	if m.Binary {
		return pkt, nil, false, errUnexpectedBinary
	}
	pkt, err = socketio.Decode(m.Data)
	if err != nil {
		return pkt, nil, false, fmt.Errorf("decode packet: %w", err)
	}
	if pkt.Attachments > 0 {
		if err := socketio.CheckPlaceholders(pkt.Data, pkt.Attachments); err != nil {
			return pkt, nil, false, fmt.Errorf("binary packet: %w", err)
		}
		r.bin = &pendingBinary{pkt: pkt} // pkt itself stays off the heap for every other packet
		return pkt, nil, false, nil
	}
	return pkt, nil, true, nil
}

// handle applies one complete packet; an error closes the connection.
func (r *inbound) handle(pkt socketio.Packet, atts [][]byte) error {
	a := r.a
	switch pkt.Type {
	case socketio.Connect:
		if a.conn.Protocol() == 3 {
			// A Socket.IO v2 client: the namespace's query is the auth.
			return r.connect(v2Connect(pkt.Namespace))
		}
		return r.connect(pkt.Namespace, pkt.Data)
	case socketio.Disconnect:
		if p, ok := a.route(pkt.Namespace); ok {
			a.routeGone(pkt.Namespace, p.id)
			p.Disconnect(disconnect.ClientNamespaceDisconnect, false, false)
		}
	case socketio.Event, socketio.BinaryEvent:
		if socketio.HasReservedName(pkt.Data) {
			// The official parser refuses these names as malformed.
			return errReservedEvent
		}
		p, ok := a.route(pkt.Namespace)
		if !ok {
			a.rt.log.Debug("actorio: event for a namespace not joined", slog.String("conn", a.conn.ID()),
				slog.String("nsp", pkt.Namespace))
			return nil
		}
		// The rate limit is the route's: every event passes here once.
		if a.opts.EventRate > 0 && !p.takeToken(a.opts.EventRate, a.opts.EventBurst) {
			a.rt.dropped.Add(1)
			a.rt.log.Debug("actorio: event dropped by the rate limit", slog.String("conn", a.conn.ID()),
				slog.String("nsp", pkt.Namespace), slog.String("sid", p.id))
			return nil
		}
		if p.admit(packetCost(pkt.Data, atts)) {
			r.post(p, &InboundEvent{Data: pkt.Data, Attachments: atts, ID: pkt.ID, HasID: pkt.HasID})
		}
	case socketio.Ack, socketio.BinaryAck:
		if p, ok := a.route(pkt.Namespace); ok {
			if fn := p.takeAck(pkt.ID); fn != nil {
				fn(pkt.Data, atts)
			}
		}
	default:
		return fmt.Errorf("packet type %s is not sent by clients", pkt.Type)
	}
	return nil
}

// post hands ev to p's socket actor. Its mailbox, when idle, runs on this
// goroutine once the packet's delivery ends (gateway.Conn.RunAfter), where
// the transport allows it: the event's handler then runs without waking
// another goroutine, the common case of a client that waits for its ack.
// The mailbox keeps the actor's rules (one message at a time, in order);
// a handler that blocks has the reading handed over to another goroutine
// (gateway.InlineGrace).
func (r *inbound) post(p *SocketRef, ev *InboundEvent) {
	m := p.mbox
	if m == nil {
		r.a.rt.system.Root.Send(p.pid, ev)
		return
	}
	if m.postClaimed(ev) && !r.a.conn.RunAfter(m) {
		m.schedule()
	}
}

// connect joins namespace nsp: the socket its supervisor spawns is in the
// routing table before the connection's next packet is handled (when
// connect returns, or when its suspended delivery ends). A CONNECT for a namespace the
// connection is connected to closes the connection, as the reference
// server does: the client is out of step with the server.
func (r *inbound) connect(nsp string, auth []byte) error {
	a := r.a
	if _, dup := a.route(nsp); dup {
		return errDuplicateConnect
	}
	refuse := func(msg string) {
		frame := socketio.AppendEncode(nil, socketio.Packet{Type: socketio.ConnectError, Namespace: nsp,
			Data: fmt.Appendf(nil, `{"message":%q}`, msg)})
		_ = a.rt.send(a.conn, false, frame, nil)
	}
	ns := a.opts.Directory(nsp, auth)
	if ns == nil {
		a.rt.log.Debug("actorio: invalid namespace", slog.String("conn", a.conn.ID()), slog.String("nsp", nsp))
		refuse("Invalid namespace")
		return nil
	}
	id := gateway.NewID()
	if a.conn.Protocol() == 3 {
		id = v2SocketID(nsp, a.conn.ID())
	}
	m := &spawnSocket{conn: a, id: id, auth: auth}
	joined := func(reply spawnReply, err error) {
		if err != nil {
			a.rt.log.Warn("actorio: namespace did not spawn a socket", slog.String("conn", a.conn.ID()),
				slog.String("nsp", nsp), slog.Any("err", err))
			refuse("server error")
			return
		}
		if reply.err != "" {
			refuse("server error")
			return
		}
		a.routeSpawned(ns, nsp, reply.id)
	}
	// Suspended, the wait holds no goroutine (nor read buffer): in a
	// storm of connections, thousands wait for their supervisor at once.
	if resume, ok := a.conn.Suspend(); ok {
		ns.spawn(m, func(reply spawnReply, err error) {
			resume(func() { joined(reply, err) })
		})
		return nil
	}
	type answer struct {
		reply spawnReply
		err   error
	}
	ch := make(chan answer, 1)
	ns.spawn(m, func(reply spawnReply, err error) { ch <- answer{reply, err} })
	ans := <-ch
	joined(ans.reply, ans.err)
	return nil
}

// routeSpawned routes namespace nsp to the socket with id sid that its
// supervisor spawned for this connection.
func (a *connActor) routeSpawned(ns *NamespaceRef, nsp, sid string) {
	p, ok := ns.Socket(sid)
	if !ok {
		// The socket actor started and already ended (its middleware
		// refused it, say): it answered the client itself.
		return
	}
	a.setRoute(nsp, p)
	if p.unrouted.Load() {
		// It ended (its middleware refused it, say) while it was being
		// routed: its own removal (socketActor.gone) may have come first.
		a.routeGone(nsp, p.id)
		return
	}
	if !a.joined.Swap(true) {
		a.stopConnectTimer()
	}
}
