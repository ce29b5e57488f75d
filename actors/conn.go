package actors

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/protocol/socketio"
)

// Directory resolves namespace names for connection actors: it returns the
// namespace called name, creating a dynamic one when a parent namespace
// accepts it, or nil when there is none.
type Directory func(name string, auth []byte) *NamespaceRef

// ConnOptions tunes connection actors. One value serves every connection
// of a server: Open keeps a pointer to it, so it must not change once
// passed (each connection carrying its own copy cost 48 bytes).
type ConnOptions struct {
	// Directory finds the namespaces the connections' CONNECTs name.
	Directory Directory
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
func (rt *Runtime) Open(c *gateway.Conn, opts *ConnOptions) error {
	a := &connActor{rt: rt, conn: c, opts: opts}
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
	in := &inbound{a: a}
	c.SetReceiver(in)
	if c.Protocol() == 3 {
		// A Socket.IO v2 client is in the main namespace from the start,
		// as Node joins it (eio3.go). OnOpen holds the connection's
		// packets until this returns, so none is routed before.
		_ = in.connect("/", nil)
	}
	return nil
}

// connActor owns one Engine.IO session's lifecycle: the connect timeout,
// and the end of its sockets when the transport closes or a socket closes
// it. It also holds the session's routing table, which its inbound route
// (inbound.go) changes on CONNECT and DISCONNECT and each socket changes
// when it ends (socketActor.gone).
type connActor struct {
	rt   *Runtime
	conn *gateway.Conn
	pid  *actor.PID
	opts *ConnOptions // shared by the server's connections

	// routes is the routing table, namespace name to socket: a slice (a
	// connection joins few namespaces), replaced whole under routeMu by
	// the inbound route (CONNECT, DISCONNECT), a socket that ends and the
	// actor (the connection's end), read without a lock.
	routes  atomic.Pointer[[]route]
	routeMu sync.Mutex
	// joined is set once a namespace was joined: the connect timeout no
	// longer applies, as in Node.
	joined atomic.Bool
	// gone is set once the actor stopped: a supervisor asked for a socket
	// of this connection then makes none.
	gone atomic.Bool
	// timer is the connect timeout's, until it fires or a namespace is
	// joined (stopped and dropped then: an idle connection keeps no timer
	// of its own).
	timer  atomic.Pointer[time.Timer]
	closed bool
}

// route is one entry of the receiver's routing table.
type route struct {
	nsp string
	p   *SocketRef
}

// setRoute makes p the socket of namespace nsp, or removes nsp's when p
// is nil.
func (a *connActor) setRoute(nsp string, p *SocketRef) {
	a.routeMu.Lock()
	defer a.routeMu.Unlock()
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

// routeGone removes the route of namespace nsp if it still leads to the
// socket with id sid (one that ended; the client may have joined nsp
// again since).
func (a *connActor) routeGone(nsp, sid string) {
	a.routeMu.Lock()
	defer a.routeMu.Unlock()
	old := *a.routes.Load()
	rs := make([]route, 0, len(old))
	for _, r := range old {
		if r.nsp != nsp || r.p.id != sid {
			rs = append(rs, r)
		}
	}
	a.routes.Store(&rs)
}

// clearRoutes empties the routing table and returns what it held.
func (a *connActor) clearRoutes() []route {
	a.routeMu.Lock()
	defer a.routeMu.Unlock()
	old := *a.routes.Load()
	a.routes.Store(&[]route{})
	return old
}

// sockets returns the routing table (not to be modified).
func (a *connActor) sockets() []route { return *a.routes.Load() }

// route returns the socket of namespace nsp.
func (a *connActor) route(nsp string) (*SocketRef, bool) {
	for _, r := range *a.routes.Load() {
		if r.nsp == nsp {
			return r.p, true
		}
	}
	return nil, false
}

func (a *connActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if a.opts.ConnectTimeout > 0 {
			self := ctx.Self()
			a.timer.Store(time.AfterFunc(a.opts.ConnectTimeout, func() { a.rt.system.Root.Send(self, connectTimeout{}) }))
			if a.joined.Load() {
				a.stopConnectTimer() // joined before this actor started
			}
		}
	case connectTimeout:
		a.timer.Store(nil)
		if !a.joined.Load() && len(a.sockets()) == 0 && !a.closed {
			a.rt.log.Debug("actorio: no namespace joined in time", slog.String("conn", a.conn.ID()))
			a.conn.Close(disconnect.ForcedClose)
		}
	case transportClosed:
		a.close(ctx, m.reason, m.err)
	case *endSocket:
		a.closeByServer(m)
	case *actor.Stopping:
		// A panic stops this actor (see Runtime.connProps): end the
		// connection with it.
		if !a.closed {
			a.rt.log.Error("actorio: connection actor stopped", slog.String("conn", a.conn.ID()))
			a.close(ctx, disconnect.ForcedClose, nil)
			a.conn.Close(disconnect.ForcedClose)
		}
	case *actor.Stopped:
		a.stopConnectTimer()
		a.gone.Store(true)
		a.rt.liveConns.Add(-1)
		a.rt.live.Done()
	}
}

// stopConnectTimer stops and drops the connect timeout's timer, if any.
func (a *connActor) stopConnectTimer() {
	if t := a.timer.Swap(nil); t != nil {
		t.Stop()
	}
}

func (a *connActor) close(ctx actor.Context, reason string, err error) {
	if a.closed {
		return
	}
	a.closed = true
	for _, r := range a.clearRoutes() {
		r.p.end(&endSocket{reason: reason, err: err})
	}
	ctx.Stop(ctx.Self())
}

// closeByServer closes the connection at a socket's request
// (Socket.Disconnect(true)): every other socket of it ends with m.reason
// ("server namespace disconnect", as with the reference server) and
// its client gets a DISCONNECT packet, queued before the transport's close
// packet. As with the reference server, the client then reconnects none of
// them; told only "transport close", it would reconnect them all.
func (a *connActor) closeByServer(m *endSocket) {
	if a.closed {
		return
	}
	for _, r := range a.clearRoutes() {
		if m.notify && r.p.Connected() {
			_ = r.p.writePacket(socketio.Disconnect, nil)
		}
		r.p.Disconnect(m.reason, false, false)
	}
	a.conn.Close(disconnect.ForcedServerClose)
}

// tokenBucket is a socket's event rate limit, refilled from the clock when
// an event arrives (no timer or goroutine). Only the connection's receiver
// uses it.
type tokenBucket struct {
	tokens float64
	last   time.Time // zero until the first event: the bucket starts full
}

// takeToken reports whether an event arriving now fits the socket's
// limit of rate events per second with bursts of burst, and spends its
// token if so; only the connection's receiver calls it.
func (p *SocketRef) takeToken(rate float64, burst int) bool {
	if p.bucket == nil {
		p.bucket = new(tokenBucket)
	}
	return p.bucket.take(time.Now(), rate, burst)
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
