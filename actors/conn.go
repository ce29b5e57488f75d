package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
}

// Open spawns the connection actor of c and makes it c's receiver. It must
// be called from the gateway's OnOpen.
func (rt *Runtime) Open(c *gateway.Conn, dir Directory, opts ConnOptions) error {
	a := &connActor{rt: rt, conn: c, dir: dir, opts: opts, sockets: map[string]*Peer{}}
	rt.live.Add(1)
	rt.liveConns.Add(1)
	props := rt.props(func() actor.Actor { return a })
	pid, err := rt.system.Root.SpawnNamed(props, "conn/"+c.ID())
	if err != nil {
		rt.liveConns.Add(-1)
		rt.live.Done()
		return fmt.Errorf("spawn connection actor %s: %w", c.ID(), err)
	}
	a.pid = pid
	rt.conns.Store(c.ID(), a)
	c.SetReceiver(receiver{rt: rt, pid: pid})
	return nil
}

// receiver forwards the gateway's callbacks to a connection actor: the one
// hop every inbound frame takes.
type receiver struct {
	rt  *Runtime
	pid *actor.PID
}

func (r receiver) OnPacket(_ *gateway.Conn, p engineio.Packet) {
	r.rt.system.Root.Send(r.pid, &pb.TransportFrame{Data: p.Data, Binary: p.Binary})
}

func (r receiver) OnClose(_ *gateway.Conn, reason string, err error) {
	m := &pb.TransportClosed{Reason: reason}
	if err != nil {
		m.Error = err.Error()
	}
	r.rt.system.Root.Send(r.pid, m)
}

// connActor owns one Engine.IO session: it decodes Socket.IO packets and
// routes them to the socket actors of their namespaces.
type connActor struct {
	rt   *Runtime
	conn *gateway.Conn
	pid  *actor.PID
	dir  Directory
	opts ConnOptions

	sockets map[string]*Peer // by namespace name
	timer   *time.Timer
	closed  bool

	// A binary packet waiting for its attachments.
	pending     *socketio.Packet
	attachments [][]byte
}

var errUnexpectedBinary = errors.New("binary frame without a pending binary packet")

func (a *connActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if a.opts.ConnectTimeout > 0 {
			self := ctx.Self()
			a.timer = time.AfterFunc(a.opts.ConnectTimeout, func() { a.rt.system.Root.Send(self, &pb.ConnectTimeout{}) })
		}
	case *pb.TransportFrame:
		if a.closed {
			return
		}
		if err := a.frame(ctx, m); err != nil {
			a.rt.log.Warn("actorio: closing connection on a malformed packet", slog.String("conn", a.conn.ID()),
				slog.String("reason", ReasonParseError), slog.Any("err", err))
			a.conn.Close(ReasonParseError)
		}
	case *pb.SocketGone:
		if p, ok := a.sockets[m.Namespace]; ok && p.id == m.SocketId {
			delete(a.sockets, m.Namespace)
		}
	case *pb.ConnectTimeout:
		if len(a.sockets) == 0 && !a.closed {
			a.rt.log.Debug("actorio: no namespace joined in time", slog.String("conn", a.conn.ID()))
			a.conn.Close(ReasonForcedClose)
		}
	case *pb.TransportClosed:
		a.close(ctx, m.Reason)
	case *pb.Disconnect:
		a.closeByServer(m)
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
	for nsp, p := range a.sockets {
		p.Disconnect(reason, false, false)
		delete(a.sockets, nsp)
	}
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
	for nsp, p := range a.sockets {
		if m.NotifyClient && p.Connected() {
			_ = p.writePacket(socketio.Disconnect, nil)
		}
		p.Disconnect(m.Reason, false, false)
		delete(a.sockets, nsp)
	}
	a.conn.Close(ReasonForcedServerClose)
}

func (a *connActor) frame(ctx actor.Context, m *pb.TransportFrame) error {
	if a.pending != nil {
		if !m.Binary {
			return fmt.Errorf("text frame while %d attachments are missing", a.pending.Attachments-len(a.attachments))
		}
		a.attachments = append(a.attachments, m.Data)
		if len(a.attachments) < a.pending.Attachments {
			return nil
		}
		pkt, atts := *a.pending, a.attachments
		a.pending, a.attachments = nil, nil
		return a.dispatch(ctx, pkt, atts)
	}
	if m.Binary {
		return errUnexpectedBinary
	}
	pkt, err := socketio.Decode(m.Data)
	if err != nil {
		return fmt.Errorf("decode packet: %w", err)
	}
	if pkt.Attachments > 0 {
		if err := socketio.CheckPlaceholders(pkt.Data, pkt.Attachments); err != nil {
			return fmt.Errorf("binary packet: %w", err)
		}
		a.pending = &pkt
		return nil
	}
	return a.dispatch(ctx, pkt, nil)
}

func (a *connActor) dispatch(ctx actor.Context, pkt socketio.Packet, atts [][]byte) error {
	switch pkt.Type {
	case socketio.Connect:
		a.connect(pkt)
	case socketio.Disconnect:
		if p, ok := a.sockets[pkt.Namespace]; ok {
			delete(a.sockets, pkt.Namespace)
			p.Disconnect(ReasonClientNamespaceDisconnect, false, false)
		}
	case socketio.Event, socketio.BinaryEvent:
		p, ok := a.sockets[pkt.Namespace]
		if !ok {
			a.rt.log.Debug("actorio: event for a namespace not joined", slog.String("conn", a.conn.ID()),
				slog.String("nsp", pkt.Namespace))
			return nil
		}
		if a.opts.EventRate > 0 && !p.bucket.take(time.Now(), a.opts.EventRate, a.opts.EventBurst) {
			a.rt.dropped.Add(1)
			a.rt.log.Debug("actorio: event dropped by the rate limit", slog.String("conn", a.conn.ID()),
				slog.String("nsp", pkt.Namespace), slog.String("sid", p.id))
			return nil
		}
		ctx.Send(p.pid, &pb.InboundPacket{Type: uint32(pkt.Type), Data: pkt.Data, Attachments: atts, Id: pkt.ID, HasId: pkt.HasID})
	case socketio.Ack, socketio.BinaryAck:
		if p, ok := a.sockets[pkt.Namespace]; ok {
			if fn := p.takeAck(pkt.ID); fn != nil {
				fn(pkt.Data, atts)
			}
		}
	default:
		return fmt.Errorf("packet type %s is not sent by clients", pkt.Type)
	}
	return nil
}

func (a *connActor) connect(pkt socketio.Packet) {
	if _, dup := a.sockets[pkt.Namespace]; dup {
		a.rt.log.Debug("actorio: namespace joined twice", slog.String("conn", a.conn.ID()), slog.String("nsp", pkt.Namespace))
		return
	}
	refuse := func(msg string) {
		frame := socketio.AppendEncode(nil, socketio.Packet{Type: socketio.ConnectError, Namespace: pkt.Namespace,
			Data: fmt.Appendf(nil, `{"message":%q}`, msg)})
		_ = a.conn.Send(engineio.Packet{Type: engineio.Message, Data: frame})
	}
	ns := a.dir.Lookup(pkt.Namespace, pkt.Data)
	if ns == nil {
		a.rt.log.Debug("actorio: invalid namespace", slog.String("conn", a.conn.ID()), slog.String("nsp", pkt.Namespace))
		refuse("Invalid namespace")
		return
	}
	res, err := ns.request(context.Background(), &pb.SpawnSocket{ConnId: a.conn.ID(), SocketId: gateway.NewID(), Auth: pkt.Data})
	if err != nil {
		a.rt.log.Warn("actorio: namespace did not spawn a socket", slog.String("conn", a.conn.ID()),
			slog.String("nsp", pkt.Namespace), slog.Any("err", err))
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
	a.sockets[pkt.Namespace] = p
	if a.timer != nil {
		a.timer.Stop()
	}
}

// tokenBucket is a socket's event rate limit, refilled from the clock when
// an event arrives (no timer or goroutine). Only the connection actor uses it.
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
