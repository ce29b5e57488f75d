package actors

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/actorio/actorio/protocol/socketio"
)

// requestTimeout bounds every control-plane request to a namespace.
const requestTimeout = 10 * time.Second

// Behavior creates the user code that a new socket's actor runs: the
// user-facing state of the socket p, which sent auth with its CONNECT.
type Behavior func(p *SocketRef, auth []byte) SocketHandler

// SocketHandler is the user code of one socket, called from its socket actor
// one call at a time.
type SocketHandler interface {
	// Authorize runs the namespace middleware; a non-nil error refuses the
	// socket with the CONNECT_ERROR payload it encodes.
	Authorize() *Refusal
	// Welcome runs the connection handlers.
	Welcome()
	// Event handles one EVENT or BINARY_EVENT packet.
	Event(pkt *InboundEvent)
	// Disconnecting runs before the socket leaves its rooms.
	Disconnecting(reason string)
	// Disconnected runs once the socket has left its rooms.
	Disconnected(reason string)
	// Data returns the application data kept with a session for
	// connection state recovery.
	Data() any
}

// Refusal is the payload of a CONNECT_ERROR packet: a JSON object with
// "message" and, optionally, "data".
type Refusal struct {
	Payload []byte
}

// NamespaceOptions configures a namespace supervisor.
type NamespaceOptions struct {
	// Recovery, when not nil, turns connection state recovery on.
	Recovery *Recovery
	// OnEmpty, when set, makes the namespace removable: the supervisor
	// calls it, on its own goroutine, each time it finds itself empty (no
	// socket, no socket being spawned, no session kept for recovery, no
	// SpawnSocket reserved by Reserve and not handled yet). When it
	// returns true the namespace was removed from its directory, so no
	// new Reserve can reach it: the supervisor stops, then calls
	// OnRemoved.
	OnEmpty   func() bool
	OnRemoved func()
	// Incarnation, when not zero, tells apart the supervisors of one name
	// made one after the other: their actor names are "ns:<name>#<n>", so
	// that a name made again does not wait for its previous supervisor's
	// name to be free.
	Incarnation uint64
	// MaxNamespacesPerConn refuses a socket, with CONNECT_ERROR "Invalid
	// namespace", to a connection that already has that many sockets in
	// any namespace; zero means no bound.
	MaxNamespacesPerConn int
	// MaxRoomsPerSocket bounds the rooms a socket is in besides the room
	// of its own id; zero means no bound (see SocketRef.TryJoin).
	MaxRoomsPerSocket int
	// Refusals logs the refusals of both bounds; nil logs nothing.
	Refusals *RefusalLog
}

// NamespaceRef is the handle of one namespace supervisor. Safe for concurrent
// use.
type NamespaceRef struct {
	name     string
	rt       *Runtime
	pid      *actor.PID
	behavior Behavior
	recovery *Recovery // nil: no connection state recovery
	opts     NamespaceOptions

	// pending counts the SpawnSocket requests announced by Reserve and
	// not handled yet: a removable namespace with one pending is not
	// empty.
	pending atomic.Int64

	ackIDs atomic.Uint64
	refs   sync.Map // socket id -> *SocketRef, every socket the supervisor spawned

	// mu guards the data plane of rooms.go: the room index, each SocketRef's
	// inOwnRoom and indexed, and the entries of log.
	mu  sync.RWMutex
	idx roomIndex
	// roomRefusals lists the sockets whose joins the room bound refused
	// while the lock was held, for logging once it is released.
	roomRefusals []*SocketRef
	// log is the packet log and the disconnected sessions of connection
	// state recovery; nil when it is off. Its sessions, live and waiting
	// maps belong to the supervisor alone.
	log *packetLog

	// Event counters: received from clients and handed to socket actors,
	// sent to clients (a broadcast counts once per receiver), and
	// volatile packets skipped for a connection not ready for them.
	eventsIn, eventsOut, droppedVolatile atomic.Int64
	acks                                 latency

	// Counts published after each change, for Sockets and Rooms.
	sockets   atomic.Int64
	roomCount atomic.Int64
	// stopped is closed when the supervisor has stopped.
	stopped chan struct{}
	// observer, when set, is told of room changes (SetObserver).
	observer atomic.Pointer[Observer]
}

// Observer is told of the rooms sockets join and leave. It is the part of
// actorio.Observer that this package reports, with the same methods, so
// the server installs its one observer here as it is. Its methods run on
// the goroutine that joins or leaves, with the namespace's room lock held,
// so they must return quickly and must neither wait on the namespace nor
// call it. A socket's own room is not reported.
type Observer interface {
	// RoomJoined reports that socket id of the namespace nsp joined room.
	RoomJoined(nsp, room, id string)
	// RoomLeft reports that socket id of the namespace nsp left room.
	RoomLeft(nsp, room, id string)
}

// SetObserver installs o, replacing the previous one; nil removes it.
func (ns *NamespaceRef) SetObserver(o Observer) {
	if o == nil {
		ns.observer.Store(nil)
		return
	}
	ns.observer.Store(&o)
}

// observing returns the installed Observer, or nil.
func (ns *NamespaceRef) observing() Observer {
	if o := ns.observer.Load(); o != nil {
		return *o
	}
	return nil
}

// SpawnNamespace starts the supervisor of the namespace called name.
func (rt *Runtime) SpawnNamespace(name string, b Behavior, o NamespaceOptions) (*NamespaceRef, error) {
	ns := newNamespace(name, rt, b, o)
	if o.Recovery != nil {
		ns.log = newPacketLog(*o.Recovery)
	}
	stopChild := actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.StopDirective })
	props := rt.props(func() actor.Actor {
		return &namespaceActor{ns: ns, children: map[string]*SocketRef{}}
	}, actor.WithSupervisor(stopChild))
	actorName := "ns:" + name
	if o.Incarnation != 0 {
		actorName += "#" + strconv.FormatUint(o.Incarnation, 10)
	}
	pid, err := rt.system.Root.SpawnNamed(props, rt.Name(actorName))
	if err != nil {
		return nil, fmt.Errorf("spawn namespace %q: %w", name, err)
	}
	ns.pid = pid
	return ns, nil
}

func newNamespace(name string, rt *Runtime, b Behavior, o NamespaceOptions) *NamespaceRef {
	return &NamespaceRef{name: name, rt: rt, behavior: b, recovery: o.Recovery, opts: o, stopped: make(chan struct{}),
		idx: newRoomIndex(name)}
}

// DetachedNamespace returns a namespace called name without a supervisor
// or sockets, whose broadcasts reach no socket of this node: the stand-in
// for a dynamic namespace that does not exist here now.
func (rt *Runtime) DetachedNamespace(name string) *NamespaceRef {
	ns := newNamespace(name, rt, nil, NamespaceOptions{})
	close(ns.stopped)
	return ns
}

// Reserve announces a SpawnSocket request about to be sent to the
// namespace: until the supervisor has handled it, the namespace is not
// empty and OnEmpty is not called. The directory that hands the namespace
// out calls it under the lock its OnEmpty takes.
func (ns *NamespaceRef) Reserve() { ns.pending.Add(1) }

// Pending returns the number of SpawnSocket requests reserved and not
// handled yet.
func (ns *NamespaceRef) Pending() int64 { return ns.pending.Load() }

// Name returns the namespace name.
func (ns *NamespaceRef) Name() string { return ns.name }

// Sockets returns the number of socket actors of the namespace that have not
// stopped: connected, in middleware or ending. The count follows the
// supervisor, which learns of a socket's end just after its actor stops.
func (ns *NamespaceRef) Sockets() int { return int(ns.sockets.Load()) }

// Rooms returns the number of non-empty rooms of the namespace, the room of
// each socket's own id included.
func (ns *NamespaceRef) Rooms() int { return int(ns.roomCount.Load()) }

// EventsIn returns the number of events its sockets received so far.
func (ns *NamespaceRef) EventsIn() int64 { return ns.eventsIn.Load() }

// EventsOut returns the number of events sent to its sockets so far, one
// per receiver.
func (ns *NamespaceRef) EventsOut() int64 { return ns.eventsOut.Load() }

// DroppedVolatile returns the number of volatile packets skipped so far for
// connections that could not take them at once.
func (ns *NamespaceRef) DroppedVolatile() int64 { return ns.droppedVolatile.Load() }

// NextAckID returns a fresh ack id, unique within the namespace.
func (ns *NamespaceRef) NextAckID() uint64 { return ns.ackIDs.Add(1) }

// Socket returns the socket with the given id, if this supervisor spawned it
// and it has not ended.
func (ns *NamespaceRef) Socket(id string) (*SocketRef, bool) {
	v, ok := ns.refs.Load(id)
	if !ok {
		return nil, false
	}
	return v.(*SocketRef), true
}

func (ns *NamespaceRef) request(ctx context.Context, msg any) (any, error) {
	if ns.pid == nil {
		return nil, fmt.Errorf("namespace %s: detached", ns.name)
	}
	timeout := requestTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
		if timeout <= 0 {
			return nil, fmt.Errorf("namespace %s: %w", ns.name, context.DeadlineExceeded)
		}
	}
	res, err := ns.rt.system.Root.RequestFuture(ns.pid, msg, timeout).Result()
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", ns.name, err)
	}
	return res, nil
}

// Drain disconnects every socket with reason and waits until none is left.
func (ns *NamespaceRef) Drain(ctx context.Context, reason string) error {
	_, err := ns.request(ctx, drain{reason: reason})
	return err
}

// Stop stops the supervisor and its sockets, and waits until it stopped or
// ctx ends. A socket actor busy in a handler stops only once the handler
// returns, and the supervisor only after its last socket.
func (ns *NamespaceRef) Stop(ctx context.Context) error {
	if ns.pid == nil {
		return nil
	}
	ns.rt.system.Root.Stop(ns.pid)
	select {
	case <-ns.stopped:
		return nil
	case <-ctx.Done():
		select {
		case <-ns.stopped:
			return nil
		default:
			return fmt.Errorf("stop namespace %s: %w", ns.name, ctx.Err())
		}
	}
}

// spawnSocket asks a namespace supervisor for a socket on connection conn
// (a request: the answer is a spawnReply). In-process messages are plain
// Go values carrying what the receiver talks to; protobuf is for what
// crosses nodes.
type spawnSocket struct {
	conn *connActor
	id   string
	auth []byte
}

// spawnReply answers spawnSocket: the id of the socket made, empty when
// none was (the client has its answer), or why it failed.
type spawnReply struct{ id, err string }

// namespaceActor is the supervisor of one namespace: it owns the socket
// actors, their spawning and their end, and the sessions kept for
// connection state recovery. The rooms are the data plane's (rooms.go).
type namespaceActor struct {
	ns       *NamespaceRef
	children map[string]*SocketRef // every spawned socket by id, ready or not
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
		if !a.deferSpawn(ctx, m) {
			a.spawn(ctx, m, ctx.Sender())
		}
		a.publish()
		a.maybeEmpty(ctx)
	case claimTimeout:
		if w, ok := a.log.waiting[m.pid]; ok {
			delete(a.log.waiting, m.pid)
			a.spawn(ctx, w.m, w.sender)
		}
		a.publish()
		a.maybeEmpty(ctx)
	case socketReady:
		// The socket is in its rooms already (Namespace.ready); one that
		// became ready while the namespace drains ends at once.
		if p, ok := a.children[m.id]; ok && a.draining != "" {
			p.Disconnect(a.draining, false, false)
		}
	case recoverySweep:
		a.ns.mu.Lock()
		a.log.expire(time.Now())
		a.ns.mu.Unlock()
		a.armSweep(ctx)
		a.maybeEmpty(ctx)
	case drain:
		a.draining = m.reason
		for _, p := range a.children {
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
	if a.ns.opts.OnEmpty == nil || a.removed || a.draining != "" || len(a.children) > 0 || a.ns.pending.Load() > 0 {
		return
	}
	if a.log != nil && (len(a.log.sessions) > 0 || len(a.log.waiting) > 0) {
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
	a.ns.sockets.Store(int64(len(a.children)))
}

// deferSpawn puts off a request to restore the session of a socket that
// has not ended: the client, reconnecting with that session's private id,
// has left it behind (its transport died and the server has not noticed
// yet). That socket is ended, which keeps its session, and the request
// runs then, or after claimWait with a new socket.
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
	if _, dup := a.log.waiting[*req.PID]; dup {
		return false
	}
	if a.log.cfg.BindAddress {
		if m.conn.conn.RemoteIP() != old.conn.RemoteIP() {
			return false
		}
	}
	a.log.waiting[*req.PID] = waitingSpawn{m: m, sender: ctx.Sender()}
	self, root, pid := ctx.Self(), a.ns.rt.system.Root, *req.PID
	time.AfterFunc(claimWait, func() { root.Send(self, claimTimeout{pid: pid}) })
	a.ns.rt.log.Debug("actorio: a reconnecting client left its socket behind", slog.String("nsp", a.ns.name),
		slog.String("sid", old.id), slog.String("conn", old.conn.ID()))
	old.Disconnect(disconnect.TransportClose, false, false)
	return true
}

// spawn creates the socket a SpawnSocket asks for and replies to sender.
// A namespace left empty by a refusal is removed before the reply, so
// that the connection's next CONNECT finds it gone.
func (a *namespaceActor) spawn(ctx actor.Context, m *spawnSocket, sender *actor.PID) {
	respond := func(r spawnReply) {
		if r.id == "" {
			a.maybeEmpty(ctx)
		}
		if sender != nil {
			ctx.Send(sender, r)
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
	p := newSocketRef(m.id, a.ns, m.conn.conn)
	p.owner = m.conn
	if a.log != nil {
		p.privateID = gateway.NewID()
		a.ns.mu.Lock()
		s := a.log.claim(time.Now(), m.auth, p.conn.RemoteIP())
		a.ns.mu.Unlock()
		if s != nil {
			p.id, p.privateID, p.recovered = s.sid, s.pid, true
			p.restore = &restore{rooms: s.rooms, data: s.data, last: s.last}
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
	p.pid = pid
	a.children[p.id] = p
	a.ns.refs.Store(p.id, p)
	if a.log != nil {
		a.log.live[p.privateID] = p
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
	_ = c.conn.Send(engineio.Packet{Type: engineio.Message, Data: frame})
	if r := a.ns.opts.Refusals; r != nil {
		r.Refuse(c.conn.ID(), "actorio: namespace refused: MaxNamespacesPerConnection reached",
			slog.String("conn", c.conn.ID()), slog.String("nsp", a.ns.name), slog.Int("max", limit))
	}
	return true
}

func (a *namespaceActor) remove(ctx actor.Context, who *actor.PID) {
	id := who.Id[strings.LastIndexByte(who.Id, '/')+1:]
	p, ok := a.children[id]
	if !ok {
		return
	}
	delete(a.children, id)
	a.ns.refs.Delete(id)
	// finish took it out of its rooms, unless it stopped without one (a
	// panic in middleware, a supervisor stopping).
	a.ns.leaveAll(p)
	if a.log != nil {
		if a.log.live[p.privateID] == p {
			delete(a.log.live, p.privateID)
		}
		if s := p.takeSession(); s != nil {
			s.endedAt = time.Now()
			a.log.sessions[s.pid] = s
		}
		if w, ok := a.log.waiting[p.privateID]; ok {
			delete(a.log.waiting, p.privateID)
			a.spawn(ctx, w.m, w.sender)
		}
	}
	a.maybeDrained(ctx)
}

func (a *namespaceActor) maybeDrained(ctx actor.Context) {
	if len(a.children) > 0 || len(a.drains) == 0 {
		return
	}
	for _, d := range a.drains {
		ctx.Send(d, drained{})
	}
	a.drains = nil
}
