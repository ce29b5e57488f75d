package actors

import (
	"log/slog"
	"strings"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/protocol/socketio"
	"github.com/asynkron/protoactor-go/actor"
)

// spawnSocket asks a namespace supervisor for a socket on connection conn;
// the supervisor calls reply with its answer, once (NamespaceRef.spawn).
// In-process messages are plain Go values carrying what the receiver
// talks to; protobuf is for what crosses nodes.
type spawnSocket struct {
	conn  *connActor
	id    string
	auth  []byte
	reply func(spawnReply)
	// remote, once set, is the restore of a session of another node (an
	// empty one: none), so that the request is not claimed twice.
	remote *restore
}

// spawnReply answers spawnSocket: the id of the socket made, empty when
// none was (the client has its answer), or why it failed.
type spawnReply struct{ id, err string }

// namespaceActor is the supervisor of one namespace: it owns the socket
// actors, their spawning and their end, and the sessions kept for
// connection state recovery. The rooms are the data plane's (rooms.go).
type namespaceActor struct {
	ns *NamespaceRef
	// The sockets it spawned are ns.refs, which it alone changes (under
	// ns.refsMu) and reads without the lock.
	drains   []*actor.PID
	draining string
	// log is ns.log: its entries are read and trimmed under ns.mu.
	log *packetLog
	// removed is set once OnEmpty removed the namespace: it is stopping.
	removed bool
}

func (a *namespaceActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.log = a.ns.log
		a.armSweep(ctx)
	case *spawnSocket:
		a.ns.pending.Add(-1)
		if !a.deferSpawn(ctx, m) && !a.claimRemote(ctx, m) {
			a.spawn(ctx, m)
		}
		a.publish()
		a.maybeEmpty(ctx)
	case claimTimeout:
		if w, ok := a.log.waiting[m.pid]; ok && w == m.req {
			delete(a.log.waiting, m.pid)
			a.spawn(ctx, w)
		}
		a.publish()
		a.maybeEmpty(ctx)
	case claimAnswer:
		a.claimed(ctx, m)
		a.publish()
		a.maybeEmpty(ctx)
	case giveUp:
		a.giveUp(m)
	case socketReady:
		// The socket is in its rooms already (Namespace.ready); one that
		// became ready while the namespace drains ends at once.
		if p, ok := a.ns.refs[m.id]; ok && a.draining != "" {
			p.Disconnect(a.draining, false, false)
		}
	case recoverySweep:
		a.ns.mu.Lock()
		var alive func(string) bool
		if r := a.ns.opts.Replication; r != nil {
			alive = r.Alive
		}
		a.log.expire(time.Now(), alive)
		a.ns.mu.Unlock()
		a.armSweep(ctx)
		a.maybeEmpty(ctx)
	case drain:
		a.draining = m.reason
		for _, p := range a.ns.refs {
			p.Disconnect(m.reason, false, false)
		}
		a.drains = append(a.drains, ctx.Sender())
		a.maybeDrained(ctx)
	case *actor.Terminated:
		a.remove(ctx, m.Who)
		a.publish()
		a.maybeEmpty(ctx)
	case *actor.Stopped:
		if a.log != nil && a.log.sweep != nil {
			a.log.sweep.Stop()
		}
		close(a.ns.stopped)
		if a.removed && a.ns.opts.OnRemoved != nil {
			a.ns.opts.OnRemoved()
		}
	}
}

// maybeEmpty offers a removable namespace that holds nothing any more to
// its directory (NamespaceOptions.OnEmpty), and stops once removed. A
// SpawnSocket that the directory handed out before the removal is
// reserved, so the namespace is not empty until it is handled here: a
// CONNECT either lands in this namespace or finds a new one.
func (a *namespaceActor) maybeEmpty(ctx actor.Context) {
	if a.ns.opts.OnEmpty == nil || a.removed || a.draining != "" || len(a.ns.refs) > 0 || a.ns.pending.Load() > 0 {
		return
	}
	if a.log != nil && (len(a.log.sessions) > 0 || len(a.log.waiting) > 0 || len(a.log.giving) > 0) {
		return // kept for recovery until they expire (RecoverySweep)
	}
	if !a.ns.opts.OnEmpty() {
		return
	}
	a.removed = true
	ctx.Stop(ctx.Self())
}

// armSweep schedules the next drop of expired sessions and log entries.
func (a *namespaceActor) armSweep(ctx actor.Context) {
	if a.log == nil {
		return
	}
	self, root := ctx.Self(), a.ns.rt.system.Root
	a.log.sweep = time.AfterFunc(a.log.sweepEvery(), func() { root.Send(self, recoverySweep{}) })
}

// publish makes the supervisor's count visible to Namespace.Sockets.
func (a *namespaceActor) publish() {
	a.ns.sockets.Store(int64(len(a.ns.refs)))
}

// deferSpawn puts off a request to restore the session of a socket that
// has not ended: the client, reconnecting with that session's private id,
// has left it behind (its transport died and the server has not noticed
// yet). That socket is ended, which keeps its session, and the request
// runs then, or after claimWait with a new socket. A second request for
// the session while one waits takes its place: the client gave the first
// up (its connection died, or its connect timed out), and the first gets a
// new socket at once.
func (a *namespaceActor) deferSpawn(ctx actor.Context, m *spawnSocket) bool {
	if a.log == nil || a.draining != "" {
		return false
	}
	req, ok := parseClaim(m.auth)
	if !ok {
		return false
	}
	old, live := a.log.live[*req.PID]
	if !live {
		return false
	}
	if a.log.cfg.BindAddress {
		if m.conn.conn.RemoteIP() != old.conn.RemoteIP() {
			return false
		}
	}
	earlier := a.log.waiting[*req.PID]
	a.log.waiting[*req.PID] = m
	self, root, pid := ctx.Self(), a.ns.rt.system.Root, *req.PID
	time.AfterFunc(claimWait, func() { root.Send(self, claimTimeout{pid: pid, req: m}) })
	a.ns.rt.log.Debug("actorio: a reconnecting client left its socket behind", slog.String("nsp", a.ns.name),
		slog.String("sid", old.id), slog.String("conn", old.conn.ID()))
	if earlier != nil {
		// Its socket was told to end already.
		a.spawn(ctx, earlier)
		return true
	}
	old.Disconnect(disconnect.TransportClose, false, false)
	return true
}

// spawn creates the socket a SpawnSocket asks for and replies.
// A namespace left empty by a refusal is removed before the reply, so
// that the connection's next CONNECT finds it gone.
func (a *namespaceActor) spawn(ctx actor.Context, m *spawnSocket) {
	respond := func(r spawnReply) {
		if r.id == "" {
			a.maybeEmpty(ctx)
		}
		if m.reply != nil {
			m.reply(r)
		}
	}
	if m.conn.gone.Load() || a.draining != "" {
		respond(spawnReply{err: "connection gone"})
		return
	}
	if a.overConnBound(m.conn) {
		// The client has its answer; a reply naming no socket tells the
		// inbound route there is nothing to route.
		respond(spawnReply{})
		return
	}
	id := m.id
	if _, taken := a.ns.refs[id]; taken {
		// A Socket.IO v2 client's socket id is made of its session's
		// (eio3.go): one that joins a namespace again before its old
		// socket there has ended gets a random one.
		id = gateway.NewID()
	}
	p := newSocketRef(id, a.ns, m.conn.conn)
	p.owner = m.conn
	if a.log != nil {
		p.rec = &socketRecovery{privateID: gateway.NewID(), version: generation(1)}
		r := m.remote
		if r == nil {
			a.ns.mu.Lock()
			r = a.log.claim(time.Now(), m.auth, p.conn.RemoteIP())
			a.ns.mu.Unlock()
		}
		if r != nil && r.sid != "" {
			p.id, p.rec.privateID, p.rec.recovered = r.sid, r.pid, true
			p.rec.restore = r
			p.rec.version = generation(r.version>>32 + 1)
		}
	}
	h := a.ns.behavior(p, m.auth)
	p.handler = h
	rt := a.ns.rt
	pid, err := rt.spawn(&socketActor{ref: p, h: h}, func() (*actor.PID, error) { return ctx.SpawnNamed(rt.socketProps, p.id) })
	if err != nil {
		respond(spawnReply{err: err.Error()})
		return
	}
	// The socket actor runs already: a connection handler may have handed
	// the socket to a goroutine that ended it before its pid was known.
	p.mu.Lock()
	p.pid = pid
	asked := p.asked
	p.mu.Unlock()
	if asked != nil {
		ctx.Send(pid, asked)
	}
	a.ns.refsMu.Lock()
	a.ns.refs[p.id] = p
	a.ns.refsMu.Unlock()
	if a.log != nil {
		a.log.live[p.rec.privateID] = p
	}
	respond(spawnReply{id: p.id})
}

// overConnBound refuses, as Node refuses a namespace that does not exist,
// a socket whose connection already has NamespaceOptions.MaxNamespacesPerConn
// sockets: one connection cannot hold more namespaces than that, nor use
// up the dynamic ones. The connection actor waits for this request, so
// its routing table is the sockets it joined before this one (and
// perhaps a socket that ended and it has not heard of yet).
func (a *namespaceActor) overConnBound(c *connActor) bool {
	limit := a.ns.opts.MaxNamespacesPerConn
	if limit <= 0 || len(c.sockets()) < limit {
		return false
	}
	frame := socketio.AppendEncode(nil, socketio.Packet{Type: socketio.ConnectError, Namespace: a.ns.name,
		Data: []byte(`{"message":"Invalid namespace"}`)})
	_ = a.ns.rt.send(c.conn, false, frame, nil)
	if r := a.ns.opts.Refusals; r != nil {
		r.Refuse(c.conn.ID(), "actorio: namespace refused: MaxNamespacesPerConnection reached",
			slog.String("conn", c.conn.ID()), slog.String("nsp", a.ns.name), slog.Int("max", limit))
	}
	return true
}

func (a *namespaceActor) remove(ctx actor.Context, who *actor.PID) {
	// The child's name is its socket id, which may hold '/' (eio3.go).
	id := strings.TrimPrefix(who.Id, ctx.Self().Id+"/")
	p, ok := a.ns.refs[id]
	if !ok {
		return
	}
	a.ns.refsMu.Lock()
	delete(a.ns.refs, id)
	a.ns.refsMu.Unlock()
	// finish took it out of its rooms, unless it stopped without one (a
	// panic in middleware, a supervisor stopping).
	a.ns.leaveAll(p)
	if a.log != nil {
		if a.log.live[p.rec.privateID] == p {
			delete(a.log.live, p.rec.privateID)
		}
		s := p.takeSession()
		if s != nil {
			a.log.sessions[s.pid] = s
		}
		if _, ok := a.log.giving[p.rec.privateID]; ok {
			a.gave(p.rec.privateID, s)
		}
		if w, ok := a.log.waiting[p.rec.privateID]; ok {
			delete(a.log.waiting, p.rec.privateID)
			a.spawn(ctx, w)
		}
	}
	a.maybeDrained(ctx)
}

func (a *namespaceActor) maybeDrained(ctx actor.Context) {
	if len(a.ns.refs) > 0 || len(a.drains) == 0 {
		return
	}
	for _, d := range a.drains {
		ctx.Send(d, drained{})
	}
	a.drains = nil
}
