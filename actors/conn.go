package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorio/actorio/gateway"
	pb "github.com/actorio/actorio/proto"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/actorio/actorio/protocol/socketio"
)

// Directory resolves namespace names for connection actors.
type Directory interface {
	// Lookup returns the namespace called name, creating a dynamic one when
	// a parent namespace accepts it, or nil when there is none.
	Lookup(name string, auth []byte) *Namespace
}

// ConnOptions tunes connection actors.
type ConnOptions struct {
	// ConnectTimeout closes a connection that joined no namespace in time.
	ConnectTimeout time.Duration
	// EventRate and EventBurst rate-limit the events each socket receives
	// with a token bucket (see tokenBucket); EventRate <= 0 means no limit.
	EventRate  float64
	EventBurst int
	// MaxAttachmentBytes bounds the total size of one packet's binary
	// attachments; past it the connection closes with "parse error". Zero
	// means unlimited.
	MaxAttachmentBytes int64
}

// Open spawns the connection actor of c and makes it c's receiver. It must
// be called from the gateway's OnOpen.
func (rt *Runtime) Open(c *gateway.Conn, dir Directory, opts ConnOptions) error {
	a := &connActor{rt: rt, conn: c, dir: dir, opts: opts}
	a.routes.Store(&[]route{})
	rt.live.Add(1)
	rt.liveConns.Add(1)
	pid, err := rt.spawn(a, func() (*actor.PID, error) { return rt.system.Root.SpawnNamed(rt.connProps, rt.Name("conn/"+c.ID())) })
	if err != nil {
		rt.liveConns.Add(-1)
		rt.live.Done()
		return fmt.Errorf("spawn connection actor %s: %w", c.ID(), err)
	}
	a.pid = pid
	rt.conns.Store(c.ID(), a)
	c.SetReceiver(&receiver{a: a})
	return nil
}

// receiver is the data-plane side of a connection: it runs on the
// gateway's goroutine (one OnPacket call at a time, OnClose after the last
// one), decodes the Socket.IO packets, assembles binary ones and delivers
// each EVENT straight to its socket actor, or each ACK to the socket's ack
// table, when nothing it handed to the connection actor is still waiting
// there: the routing table is then current and a direct send cannot
// overtake an earlier packet. Everything else (CONNECT, DISCONNECT, and
// events while the connection actor is busy) goes through the connection
// actor, in order.
type receiver struct {
	a *connActor

	// A binary packet waiting for its attachments, and their size so far.
	pending     *socketio.Packet
	attachments [][]byte
	attBytes    int64
	// forwarded counts the packets handed to the connection actor, which
	// counts those it has handled in a.handled.
	forwarded uint64
	broken    bool // a malformed packet closed the connection
}

func (r *receiver) OnPacket(_ *gateway.Conn, p engineio.Packet) {
	if r.broken {
		return
	}
	pkt, atts, complete, err := r.assemble(p)
	if err == nil && complete {
		err = r.route(pkt, atts)
	}
	if err != nil {
		r.broken = true
		a := r.a
		a.rt.log.Warn("actorio: closing connection on a malformed packet", slog.String("conn", a.conn.ID()),
			slog.String("reason", ReasonParseError), slog.Any("err", err))
		a.conn.Close(ReasonParseError)
	}
}

func (r *receiver) OnClose(_ *gateway.Conn, reason string, err error) {
	m := &pb.TransportClosed{Reason: reason}
	if err != nil {
		m.Error = err.Error()
	}
	r.a.rt.system.Root.Send(r.a.pid, m)
}

var (
	errUnexpectedBinary = errors.New("binary frame without a pending binary packet")
	errReservedEvent    = errors.New("event with a reserved name")
)

// assemble decodes one Engine.IO message; complete is false while a binary
// packet waits for attachments.
func (r *receiver) assemble(m engineio.Packet) (pkt socketio.Packet, atts [][]byte, complete bool, err error) {
	if r.pending != nil {
		if !m.Binary {
			return pkt, nil, false, fmt.Errorf("text frame while %d attachments are missing", r.pending.Attachments-len(r.attachments))
		}
		r.attBytes += int64(len(m.Data))
		if max := r.a.opts.MaxAttachmentBytes; max > 0 && r.attBytes > max {
			return pkt, nil, false, fmt.Errorf("binary attachments over %d bytes", max)
		}
		r.attachments = append(r.attachments, m.Data)
		if len(r.attachments) < r.pending.Attachments {
			return pkt, nil, false, nil
		}
		pkt, atts = *r.pending, r.attachments
		r.pending, r.attachments, r.attBytes = nil, nil, 0
		return pkt, atts, true, nil
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
		r.pending = &pkt
		return pkt, nil, false, nil
	}
	return pkt, nil, true, nil
}

// route delivers one complete packet: directly when it can (see receiver),
// through the connection actor otherwise.
func (r *receiver) route(pkt socketio.Packet, atts [][]byte) error {
	a := r.a
	switch pkt.Type {
	case socketio.Connect, socketio.Disconnect:
	case socketio.Event, socketio.BinaryEvent:
		if socketio.HasReservedName(pkt.Data) {
			// The official parser refuses these names as malformed.
			return errReservedEvent
		}
		// The rate limit is the receiver's: every event passes here once.
		if a.opts.EventRate > 0 {
			if p, ok := a.route(pkt.Namespace); ok && !p.bucket.take(time.Now(), a.opts.EventRate, a.opts.EventBurst) {
				a.rt.dropped.Add(1)
				a.rt.log.Debug("actorio: event dropped by the rate limit", slog.String("conn", a.conn.ID()),
					slog.String("nsp", pkt.Namespace), slog.String("sid", p.id))
				return nil
			}
		}
		if a.handled.Load() == r.forwarded {
			p, ok := a.route(pkt.Namespace)
			if !ok {
				a.notJoined(pkt.Namespace)
				return nil
			}
			if p.admit(packetCost(pkt.Data, atts), false) {
				a.rt.system.Root.Send(p.pid, &pb.InboundPacket{Type: uint32(pkt.Type), Data: pkt.Data, Attachments: atts, Id: pkt.ID, HasId: pkt.HasID})
			}
			return nil
		}
	case socketio.Ack, socketio.BinaryAck:
		if a.handled.Load() == r.forwarded {
			if p, ok := a.route(pkt.Namespace); ok {
				if fn := p.takeAck(pkt.ID); fn != nil {
					fn(pkt.Data, atts)
				}
			}
			return nil
		}
	default:
		return fmt.Errorf("packet type %s is not sent by clients", pkt.Type)
	}
	r.forwarded++
	a.conn.Hold(packetCost(pkt.Data, atts))
	a.rt.system.Root.Send(a.pid, &pb.InboundPacket{Type: uint32(pkt.Type), Data: pkt.Data, Attachments: atts,
		Id: pkt.ID, HasId: pkt.HasID, Namespace: pkt.Namespace})
	return nil
}

// connActor owns one Engine.IO session's control plane: it joins and
// leaves namespaces, keeps the routing table its receiver reads, and routes
// the packets the receiver could not deliver directly.
type connActor struct {
	rt   *Runtime
	conn *gateway.Conn
	pid  *actor.PID
	dir  Directory
	opts ConnOptions

	// routes is the routing table, namespace name to socket: a slice (a
	// connection joins few namespaces) that only the actor changes, each
	// time by storing a new one, and that the receiver reads.
	routes atomic.Pointer[[]route]
	// handled counts the InboundPackets from the receiver handled so far.
	handled atomic.Uint64
	timer   *time.Timer
	closed  bool
}

// route is one entry of the receiver's routing table.
type route struct {
	nsp string
	p   *Peer
}

// setRoute makes p the socket of namespace nsp, or removes nsp's when p
// is nil.
func (a *connActor) setRoute(nsp string, p *Peer) {
	old := *a.routes.Load()
	rs := make([]route, 0, len(old)+1)
	for _, r := range old {
		if r.nsp != nsp {
			rs = append(rs, r)
		}
	}
	if p != nil {
		rs = append(rs, route{nsp, p})
	}
	a.routes.Store(&rs)
}

// sockets returns the routing table (not to be modified).
func (a *connActor) sockets() []route { return *a.routes.Load() }

// route returns the socket of namespace nsp.
func (a *connActor) route(nsp string) (*Peer, bool) {
	for _, r := range *a.routes.Load() {
		if r.nsp == nsp {
			return r.p, true
		}
	}
	return nil, false
}

func (a *connActor) notJoined(nsp string) {
	a.rt.log.Debug("actorio: event for a namespace not joined", slog.String("conn", a.conn.ID()), slog.String("nsp", nsp))
}

func (a *connActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if a.opts.ConnectTimeout > 0 {
			self := ctx.Self()
			a.timer = time.AfterFunc(a.opts.ConnectTimeout, func() { a.rt.system.Root.Send(self, &pb.ConnectTimeout{}) })
		}
	case *pb.InboundPacket:
		if a.closed || !a.dispatch(ctx, m) {
			a.conn.Release(packetCost(m.Data, m.Attachments), 1)
		}
		a.handled.Add(1)
	case *pb.SocketGone:
		if p, ok := a.route(m.Namespace); ok && p.id == m.SocketId {
			a.setRoute(m.Namespace, nil)
		}
	case *pb.ConnectTimeout:
		a.timer = nil
		if len(a.sockets()) == 0 && !a.closed {
			a.rt.log.Debug("actorio: no namespace joined in time", slog.String("conn", a.conn.ID()))
			a.conn.Close(ReasonForcedClose)
		}
	case *pb.TransportClosed:
		a.close(ctx, m.Reason)
	case *pb.Disconnect:
		a.closeByServer(m)
	case *actor.Stopping:
		// A panic stops this actor (see Runtime.connProps): end the
		// connection with it.
		if !a.closed {
			a.rt.log.Error("actorio: connection actor stopped", slog.String("conn", a.conn.ID()))
			a.close(ctx, ReasonForcedClose)
			a.conn.Close(ReasonForcedClose)
		}
	case *actor.Stopped:
		if a.timer != nil {
			a.timer.Stop()
		}
		a.rt.conns.Delete(a.conn.ID())
		a.rt.liveConns.Add(-1)
		a.rt.live.Done()
	}
}

func (a *connActor) close(ctx actor.Context, reason string) {
	if a.closed {
		return
	}
	a.closed = true
	for _, r := range a.sockets() {
		r.p.Disconnect(reason, false, false)
	}
	a.routes.Store(&[]route{})
	ctx.Stop(ctx.Self())
}

// closeByServer closes the connection at a socket's request
// (Socket.Disconnect(true)): every other socket of it ends with m.Reason
// ("server namespace disconnect", as with the reference server) and
// its client gets a DISCONNECT packet, queued before the transport's close
// packet. As with the reference server, the client then reconnects none of
// them; told only "transport close", it would reconnect them all.
func (a *connActor) closeByServer(m *pb.Disconnect) {
	if a.closed {
		return
	}
	for _, r := range a.sockets() {
		if m.NotifyClient && r.p.Connected() {
			_ = r.p.writePacket(socketio.Disconnect, nil)
		}
		r.p.Disconnect(m.Reason, false, false)
	}
	a.routes.Store(&[]route{})
	a.conn.Close(ReasonForcedServerClose)
}

// dispatch handles a packet the receiver handed over, and reports whether
// the connection's hold on it went with it to a socket actor (admit gives
// the hold back itself when that actor has stopped).
func (a *connActor) dispatch(ctx actor.Context, m *pb.InboundPacket) bool {
	switch socketio.PacketType(m.Type) {
	case socketio.Connect:
		a.connect(m.Namespace, m.Data)
	case socketio.Disconnect:
		if p, ok := a.route(m.Namespace); ok {
			a.setRoute(m.Namespace, nil)
			p.Disconnect(ReasonClientNamespaceDisconnect, false, false)
		}
	case socketio.Event, socketio.BinaryEvent:
		p, ok := a.route(m.Namespace)
		if !ok {
			a.notJoined(m.Namespace)
			return false
		}
		m.Namespace = ""
		if p.admit(packetCost(m.Data, m.Attachments), true) {
			ctx.Send(p.pid, m)
		}
		return true
	case socketio.Ack, socketio.BinaryAck:
		if p, ok := a.route(m.Namespace); ok {
			if fn := p.takeAck(m.Id); fn != nil {
				fn(m.Data, m.Attachments)
			}
		}
	}
	return false
}

func (a *connActor) connect(nsp string, auth []byte) {
	if _, dup := a.route(nsp); dup {
		// As the reference server does: a client that connects a
		// namespace it is connected to is out of step with the server.
		a.rt.log.Warn("actorio: closing connection on a second CONNECT", slog.String("conn", a.conn.ID()),
			slog.String("nsp", nsp), slog.String("reason", ReasonParseError))
		a.conn.Close(ReasonParseError)
		return
	}
	refuse := func(msg string) {
		frame := socketio.AppendEncode(nil, socketio.Packet{Type: socketio.ConnectError, Namespace: nsp,
			Data: fmt.Appendf(nil, `{"message":%q}`, msg)})
		_ = a.conn.Send(engineio.Packet{Type: engineio.Message, Data: frame})
	}
	ns := a.dir.Lookup(nsp, auth)
	if ns == nil {
		a.rt.log.Debug("actorio: invalid namespace", slog.String("conn", a.conn.ID()), slog.String("nsp", nsp))
		refuse("Invalid namespace")
		return
	}
	res, err := ns.request(context.Background(), &pb.SpawnSocket{ConnId: a.conn.ID(), SocketId: gateway.NewID(), Auth: auth})
	if err != nil {
		a.rt.log.Warn("actorio: namespace did not spawn a socket", slog.String("conn", a.conn.ID()),
			slog.String("nsp", nsp), slog.Any("err", err))
		refuse("server error")
		return
	}
	reply := res.(*pb.SpawnSocketReply)
	if reply.Error != "" {
		refuse("server error")
		return
	}
	p, ok := ns.Peer(reply.SocketId)
	if !ok {
		// The socket actor started and already ended (its middleware
		// refused it, say): it answered the client itself.
		return
	}
	a.setRoute(nsp, p)
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
}

// tokenBucket is a socket's event rate limit, refilled from the clock when
// an event arrives (no timer or goroutine). Only the connection's receiver
// uses it.
type tokenBucket struct {
	tokens float64
	last   time.Time // zero until the first event: the bucket starts full
}

// take reports whether an event arriving at now fits the limit of rate
// events per second with bursts of burst, and spends its token if so.
func (b *tokenBucket) take(now time.Time, rate float64, burst int) bool {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(burst), b.tokens+d.Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
