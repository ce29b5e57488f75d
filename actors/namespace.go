package actors

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorio/actorio/gateway"
	pb "github.com/actorio/actorio/proto"
)

// requestTimeout bounds every control-plane request to a namespace.
const requestTimeout = 10 * time.Second

// Behavior supplies the user code that socket actors run.
type Behavior interface {
	// NewSocket creates the user-facing state of a new socket.
	NewSocket(p *Peer, auth []byte) SocketHandler
}

// SocketHandler is the user code of one socket, called from its socket actor
// one call at a time.
type SocketHandler interface {
	// Authorize runs the namespace middleware; a non-nil error refuses the
	// socket with the CONNECT_ERROR payload it encodes.
	Authorize() *Refusal
	// Welcome runs the connection handlers.
	Welcome()
	// Event handles one EVENT or BINARY_EVENT packet.
	Event(pkt *pb.InboundPacket)
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

// Namespace is the handle of one namespace supervisor. Safe for concurrent
// use.
type Namespace struct {
	name     string
	rt       *Runtime
	pid      *actor.PID
	behavior Behavior
	recovery *Recovery // nil: no connection state recovery

	ackIDs     atomic.Uint64
	peers      sync.Map // socket id -> *Peer, every socket the supervisor spawned
	collectors sync.Map // broadcast ack id -> *ackCollector, while its broadcast is routed

	// Event counters: received from clients and handed to socket actors,
	// sent to clients (a broadcast counts once per receiver), and
	// volatile packets skipped for a connection not ready for them.
	eventsIn, eventsOut, droppedVolatile atomic.Int64
	acks                                 latency

	// Counts the supervisor publishes after each change, for Sockets and Rooms.
	sockets atomic.Int64
	rooms   atomic.Int64
	// stopped is closed when the supervisor has stopped.
	stopped chan struct{}
	// watcher, when set, is told of room changes and sent events.
	watcher atomic.Pointer[Watcher]
}

// Watcher is told of a namespace's room changes and sent events. Its
// methods run on the namespace's supervisor or on the goroutine that sent
// an event, so they must return quickly and must not wait on the
// namespace.
type Watcher interface {
	// RoomChanged reports that socket id joined room, or left it; a
	// socket's own room is not reported.
	RoomChanged(id, room string, leave bool)
	// EventSent reports an EVENT packet (frame and attachments, not to be
	// modified) written to the sockets ids.
	EventSent(frame []byte, attachments [][]byte, ids []string)
}

// SetWatcher installs w, replacing the previous one; nil removes it.
func (ns *Namespace) SetWatcher(w Watcher) {
	if w == nil {
		ns.watcher.Store(nil)
		return
	}
	ns.watcher.Store(&w)
}

func (ns *Namespace) watching() Watcher {
	if w := ns.watcher.Load(); w != nil {
		return *w
	}
	return nil
}

// SpawnNamespace starts the supervisor of the namespace called name; rec,
// when not nil, turns connection state recovery on.
func (rt *Runtime) SpawnNamespace(name string, b Behavior, rec *Recovery) (*Namespace, error) {
	ns := &Namespace{name: name, rt: rt, behavior: b, recovery: rec, stopped: make(chan struct{})}
	stopChild := actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.StopDirective })
	props := rt.props(func() actor.Actor {
		a := &namespaceActor{ns: ns, rooms: map[string]map[*Peer]struct{}{}, children: map[string]*Peer{}}
		if rec != nil {
			a.log = newPacketLog(*rec)
		}
		return a
	}, actor.WithSupervisor(stopChild))
	pid, err := rt.system.Root.SpawnNamed(props, rt.Name("ns:"+name))
	if err != nil {
		return nil, fmt.Errorf("spawn namespace %q: %w", name, err)
	}
	ns.pid = pid
	return ns, nil
}

// Name returns the namespace name.
func (ns *Namespace) Name() string { return ns.name }

// Sockets returns the number of socket actors of the namespace that have not
// stopped: connected, in middleware or ending. The count follows the
// supervisor, which learns of a socket's end just after its actor stops.
func (ns *Namespace) Sockets() int { return int(ns.sockets.Load()) }

// Rooms returns the number of non-empty rooms of the namespace, the room of
// each socket's own id included.
func (ns *Namespace) Rooms() int { return int(ns.rooms.Load()) }

// EventsIn returns the number of events its sockets received so far.
func (ns *Namespace) EventsIn() int64 { return ns.eventsIn.Load() }

// EventsOut returns the number of events sent to its sockets so far, one
// per receiver.
func (ns *Namespace) EventsOut() int64 { return ns.eventsOut.Load() }

// DroppedVolatile returns the number of volatile packets skipped so far for
// connections that could not take them at once.
func (ns *Namespace) DroppedVolatile() int64 { return ns.droppedVolatile.Load() }

// NextAckID returns a fresh ack id, unique within the namespace.
func (ns *Namespace) NextAckID() uint64 { return ns.ackIDs.Add(1) }

// Peer returns the socket with the given id, if this supervisor spawned it
// and it has not ended.
func (ns *Namespace) Peer(id string) (*Peer, bool) {
	v, ok := ns.peers.Load(id)
	if !ok {
		return nil, false
	}
	return v.(*Peer), true
}

func (ns *Namespace) send(msg any) { ns.rt.system.Root.Send(ns.pid, msg) }

func (ns *Namespace) request(ctx context.Context, msg any) (any, error) {
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

// Broadcast hands an encoded packet to the selected sockets without waiting.
func (ns *Namespace) Broadcast(b *pb.Broadcast) { ns.send(b) }

// BroadcastWithAck sends a packet whose ack id is b.AckId, registers fn on
// every receiver and returns the receivers.
func (ns *Namespace) BroadcastWithAck(ctx context.Context, b *pb.Broadcast, fn func(p *Peer) AckFunc) ([]*Peer, error) {
	c := &ackCollector{fn: fn}
	ns.collectors.Store(b.AckId, c)
	defer ns.collectors.Delete(b.AckId)
	if _, err := ns.request(ctx, b); err != nil {
		return nil, err
	}
	return c.peers, nil
}

// Select returns the connected sockets that t selects.
func (ns *Namespace) Select(ctx context.Context, t *pb.Target) ([]*Peer, error) {
	res, err := ns.request(ctx, &pb.SelectSockets{Target: t})
	if err != nil {
		return nil, err
	}
	ids := res.(*pb.SelectSocketsReply).SocketIds
	out := make([]*Peer, 0, len(ids))
	for _, id := range ids {
		if p, ok := ns.Peer(id); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// ListRooms returns the connected sockets of each non-empty room, the
// rooms of the sockets' own ids left out.
func (ns *Namespace) ListRooms(ctx context.Context) (map[string]int, error) {
	res, err := ns.request(ctx, &pb.ListRooms{})
	if err != nil {
		return nil, err
	}
	rooms := res.(*pb.ListRoomsReply).Rooms
	out := make(map[string]int, len(rooms))
	for r, n := range rooms {
		out[r] = int(n)
	}
	return out, nil
}

// ChangeRooms makes the selected sockets join or leave rooms.
func (ns *Namespace) ChangeRooms(t *pb.Target, rooms []string, leave bool) {
	ns.send(&pb.TargetRoomChange{Target: t, Rooms: rooms, Leave: leave})
}

// DisconnectSockets disconnects the selected sockets.
func (ns *Namespace) DisconnectSockets(t *pb.Target, closeTransport bool) {
	ns.send(&pb.TargetDisconnect{Target: t, Reason: ReasonServerNamespaceDisconnect, CloseTransport: closeTransport})
}

// Drain disconnects every socket with reason and waits until none is left.
func (ns *Namespace) Drain(ctx context.Context, reason string) error {
	_, err := ns.request(ctx, &pb.Drain{Reason: reason})
	return err
}

// Stop stops the supervisor and its sockets, and waits until it stopped or
// ctx ends. A socket actor busy in a handler stops only once the handler
// returns, and the supervisor only after its last socket.
func (ns *Namespace) Stop(ctx context.Context) error {
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

// ackCollector registers a broadcast's ack handler on each receiver; only
// the namespace actor appends to peers, before it replies.
type ackCollector struct {
	fn    func(p *Peer) AckFunc
	peers []*Peer
}

// namespaceActor is the supervisor of one namespace: it owns the rooms and
// the socket actors.
type namespaceActor struct {
	ns       *Namespace
	rooms    map[string]map[*Peer]struct{}
	children map[string]*Peer // every spawned socket by id, ready or not
	drains   []*actor.PID
	draining string
	// ownRooms counts the sockets in the room of their own id, which have
	// no entry in rooms.
	ownRooms int
	// log is the packet log and the disconnected sessions of connection
	// state recovery; nil when it is off.
	log *packetLog
}

func (a *namespaceActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.armSweep(ctx)
	case *pb.SpawnSocket:
		if !a.deferSpawn(ctx, m) {
			a.spawn(ctx, m, ctx.Sender())
		}
		a.publish()
	case *pb.ClaimTimeout:
		if w, ok := a.log.waiting[m.Pid]; ok {
			delete(a.log.waiting, m.Pid)
			a.spawn(ctx, w.m, w.sender)
		}
		a.publish()
	case *pb.SocketReady:
		if p, ok := a.children[m.SocketId]; ok {
			a.ready(p)
			if a.draining != "" {
				p.Disconnect(a.draining, false, false)
			}
		}
		a.publish()
	case *pb.SocketEnded:
		// It may come after the socket's Terminated, which has already
		// taken it out of its rooms.
		if p, ok := a.children[m.SocketId]; ok {
			a.change(p, nil, true)
		}
		a.publish()
	case *pb.DirectWrite:
		a.direct(m)
	case *pb.RecoverySweep:
		a.log.expire(time.Now())
		a.armSweep(ctx)
		a.publish()
	case *pb.RoomChange:
		for _, id := range m.SocketIds {
			if p, ok := a.children[id]; ok {
				a.change(p, m.Rooms, m.Leave)
			}
		}
		a.publish()
	case *pb.Broadcast:
		n := a.broadcast(m)
		if ctx.Sender() != nil {
			ctx.Respond(&pb.BroadcastReply{Receivers: uint32(n)})
		}
	case *pb.SelectSockets:
		reply := &pb.SelectSocketsReply{}
		a.each(m.Target, func(p *Peer) { reply.SocketIds = append(reply.SocketIds, p.id) })
		ctx.Respond(reply)
	case *pb.ListRooms:
		reply := &pb.ListRoomsReply{Rooms: make(map[string]int32, len(a.rooms))}
		for r, set := range a.rooms {
			n := int32(0)
			for p := range set {
				if p.Connected() {
					n++
				}
			}
			if n > 0 {
				reply.Rooms[r] = n
			}
		}
		ctx.Respond(reply)
	case *pb.TargetRoomChange:
		var sel []*Peer
		a.each(m.Target, func(p *Peer) { sel = append(sel, p) })
		for _, p := range sel {
			a.change(p, m.Rooms, m.Leave)
		}
		a.publish()
	case *pb.TargetDisconnect:
		a.each(m.Target, func(p *Peer) {
			p.Disconnect(m.Reason, true, m.CloseTransport)
		})
	case *pb.Drain:
		a.draining = m.Reason
		for _, p := range a.children {
			p.Disconnect(m.Reason, false, false)
		}
		a.drains = append(a.drains, ctx.Sender())
		a.maybeDrained(ctx)
	case *actor.Terminated:
		a.remove(ctx, m.Who)
		a.publish()
	case *actor.Stopped:
		if a.log != nil && a.log.sweep != nil {
			a.log.sweep.Stop()
		}
		close(a.ns.stopped)
	}
}

// armSweep schedules the next drop of expired sessions and log entries.
func (a *namespaceActor) armSweep(ctx actor.Context) {
	if a.log == nil {
		return
	}
	self, root := ctx.Self(), a.ns.rt.system.Root
	a.log.sweep = time.AfterFunc(a.log.sweepEvery(), func() { root.Send(self, &pb.RecoverySweep{}) })
}

// ready puts a socket that passed its middleware in its rooms. A restored
// socket first gets the logged packets it missed, in order, before any new
// packet can reach it.
func (a *namespaceActor) ready(p *Peer) {
	// The rooms its middleware joined: a RoomChange that arrived before
	// the socket was connected only recorded them in p.
	p.mu.Lock()
	rooms := append(p.roomsLocked(), p.id)
	p.mu.Unlock()
	if a.log != nil {
		p.first.Store(a.log.next - 1)
	}
	if r := p.restore; r != nil {
		p.restore = nil
		p.first.Store(r.last)
		rooms = append(slices.Clone(r.rooms), rooms...)
		a.log.missed(r.last, p.id, r.rooms, func(e *logEntry) bool {
			return p.conn.Send(framePackets(e.frame, e.atts)...) == nil
		})
	}
	a.join(p, rooms)
}

// direct sends a socket's own packet, logging it first when asked.
func (a *namespaceActor) direct(m *pb.DirectWrite) {
	frame := m.Frame
	if m.Log && a.log != nil {
		frame = a.log.append(time.Now(), &pb.Target{Rooms: []string{m.SocketId}}, frame, m.Attachments)
	}
	// The socket was connected when it wrote this. It may have ended
	// since, and its Terminated (a system message) may even have overtaken
	// this write and removed it: what it wrote before its end still goes
	// out, ahead of its DISCONNECT notice, on the connection it was
	// written for.
	if c, ok := a.ns.rt.conns.Load(m.ConnId); ok {
		_ = c.(*connActor).conn.Send(framePackets(frame, m.Attachments)...)
	}
}

// publish makes the supervisor's counts visible to Namespace.Sockets and
// Namespace.Rooms.
func (a *namespaceActor) publish() {
	a.ns.sockets.Store(int64(len(a.children)))
	a.ns.rooms.Store(int64(len(a.rooms) + a.ownRooms))
}

// deferSpawn puts off a request to restore the session of a socket that
// has not ended: the client, reconnecting with that session's private id,
// has left it behind (its transport died and the server has not noticed
// yet). That socket is ended, which keeps its session, and the request
// runs then, or after claimWait with a new socket.
func (a *namespaceActor) deferSpawn(ctx actor.Context, m *pb.SpawnSocket) bool {
	if a.log == nil || a.draining != "" {
		return false
	}
	req, ok := parseClaim(m.Auth)
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
		if c, ok := a.ns.rt.conns.Load(m.ConnId); !ok || c.(*connActor).conn.RemoteIP() != old.conn.RemoteIP() {
			return false
		}
	}
	a.log.waiting[*req.PID] = waitingSpawn{m: m, sender: ctx.Sender()}
	self, root, pid := ctx.Self(), a.ns.rt.system.Root, *req.PID
	time.AfterFunc(claimWait, func() { root.Send(self, &pb.ClaimTimeout{Pid: pid}) })
	a.ns.rt.log.Debug("actorio: a reconnecting client left its socket behind", slog.String("nsp", a.ns.name),
		slog.String("sid", old.id), slog.String("conn", old.conn.ID()))
	old.Disconnect(ReasonTransportClose, false, false)
	return true
}

// spawn creates the socket a SpawnSocket asks for and replies to sender.
func (a *namespaceActor) spawn(ctx actor.Context, m *pb.SpawnSocket, sender *actor.PID) {
	respond := func(r *pb.SpawnSocketReply) {
		if sender != nil {
			ctx.Send(sender, r)
		}
	}
	conn, ok := a.ns.rt.conns.Load(m.ConnId)
	if !ok || a.draining != "" {
		respond(&pb.SpawnSocketReply{Error: "connection gone"})
		return
	}
	p := newPeer(m.SocketId, a.ns, conn.(*connActor).conn)
	if a.log != nil {
		p.privateID = gateway.NewID()
		if s := a.log.claim(time.Now(), m.Auth, p.conn.RemoteIP()); s != nil {
			p.id, p.privateID, p.recovered = s.sid, s.pid, true
			p.restore = &restore{rooms: s.rooms, data: s.data, last: s.last}
		}
	}
	h := a.ns.behavior.NewSocket(p, m.Auth)
	p.handler = h
	rt := a.ns.rt
	pid, err := rt.spawn(&socketActor{peer: p, h: h}, func() (*actor.PID, error) { return ctx.SpawnNamed(rt.socketProps, p.id) })
	if err != nil {
		respond(&pb.SpawnSocketReply{Error: err.Error()})
		return
	}
	p.pid = pid
	a.children[p.id] = p
	a.ns.peers.Store(p.id, p)
	if a.log != nil {
		a.log.live[p.privateID] = p
	}
	respond(&pb.SpawnSocketReply{SocketId: p.id})
}

func (a *namespaceActor) remove(ctx actor.Context, who *actor.PID) {
	id := who.Id[strings.LastIndexByte(who.Id, '/')+1:]
	p, ok := a.children[id]
	if !ok {
		return
	}
	delete(a.children, id)
	a.ns.peers.Delete(id)
	a.change(p, nil, true)
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
		ctx.Send(d, &pb.DrainReply{})
	}
	a.drains = nil
}

// change moves p in or out of rooms; leaving with no rooms leaves them all.
func (a *namespaceActor) change(p *Peer, rooms []string, leave bool) {
	if leave && len(rooms) == 0 {
		rooms = p.Rooms()
		p.mu.Lock()
		p.rooms, p.ownRoom = nil, false
		p.mu.Unlock()
		if p.inOwnRoom && !slices.Contains(rooms, p.id) {
			rooms = append(rooms, p.id)
		}
	} else {
		p.setRooms(rooms, leave)
	}
	w := a.ns.watching()
	if leave {
		for _, r := range rooms {
			if r == p.id {
				if p.inOwnRoom {
					p.inOwnRoom = false
					a.ownRooms--
				}
				continue
			}
			if set, ok := a.rooms[r]; ok {
				if _, in := set[p]; in {
					delete(set, p)
					if w != nil {
						w.RoomChanged(p.id, r, true)
					}
				}
				if len(set) == 0 {
					delete(a.rooms, r)
				}
			}
		}
		return
	}
	if !p.Connected() {
		return
	}
	a.join(p, rooms)
}

func (a *namespaceActor) join(p *Peer, rooms []string) {
	w := a.ns.watching()
	for _, r := range rooms {
		if r == p.id {
			if !p.inOwnRoom {
				p.inOwnRoom = true
				a.ownRooms++
			}
			continue
		}
		set, ok := a.rooms[r]
		if !ok {
			set = map[*Peer]struct{}{}
			a.rooms[r] = set
		}
		if _, in := set[p]; !in {
			set[p] = struct{}{}
			if w != nil {
				w.RoomChanged(p.id, r, false)
			}
		}
	}
	p.setRooms(rooms, false)
}

// each calls fn once for every connected socket that t selects.
func (a *namespaceActor) each(t *pb.Target, fn func(p *Peer)) {
	var rooms, exceptRooms, exceptIDs []string
	if t != nil {
		rooms, exceptRooms, exceptIDs = t.Rooms, t.ExceptRooms, t.ExceptIds
	}
	excluded := func(p *Peer) bool {
		if !p.Connected() {
			return true
		}
		for _, id := range exceptIDs {
			if p.id == id {
				return true
			}
		}
		for _, r := range exceptRooms {
			if a.inRoom(p, r) {
				return true
			}
		}
		return false
	}
	if len(rooms) == 0 {
		for _, p := range a.children {
			if !excluded(p) {
				fn(p)
			}
		}
		return
	}
	if len(rooms) == 1 {
		a.members(rooms[0], func(p *Peer) {
			if !excluded(p) {
				fn(p)
			}
		})
		return
	}
	seen := map[*Peer]struct{}{}
	for _, r := range rooms {
		a.members(r, func(p *Peer) {
			if _, dup := seen[p]; dup {
				return
			}
			seen[p] = struct{}{}
			if !excluded(p) {
				fn(p)
			}
		})
	}
}

// members calls fn for every socket in room r: those of its room map, and
// the socket whose own id r is.
func (a *namespaceActor) members(r string, fn func(p *Peer)) {
	for p := range a.rooms[r] {
		fn(p)
	}
	if p, ok := a.children[r]; ok && p.inOwnRoom {
		fn(p)
	}
}

// inRoom reports whether p is in room r.
func (a *namespaceActor) inRoom(p *Peer, r string) bool {
	if r == p.id {
		return p.inOwnRoom
	}
	_, ok := a.rooms[r][p]
	return ok
}

func (a *namespaceActor) broadcast(m *pb.Broadcast) int {
	frame := m.Frame
	if a.log != nil && m.AckId == 0 && !m.Volatile {
		frame = a.log.append(time.Now(), m.Target, frame, m.Attachments)
	}
	pkts := framePackets(frame, m.Attachments)
	var c *ackCollector
	if m.AckId != 0 {
		if v, ok := a.ns.collectors.Load(m.AckId); ok {
			c = v.(*ackCollector)
		}
	}
	n, skipped := 0, 0
	w := a.ns.watching()
	var ids []string
	a.each(m.Target, func(p *Peer) {
		if m.Volatile && !p.conn.Writable() {
			skipped++
			return
		}
		if c != nil {
			p.RegisterAck(m.AckId, c.fn(p))
		}
		if err := p.conn.Send(pkts...); err != nil {
			if c != nil {
				p.RemoveAck(m.AckId)
			}
			return
		}
		if c != nil {
			c.peers = append(c.peers, p)
		}
		if w != nil {
			ids = append(ids, p.id)
		}
		n++
	})
	if w != nil && n > 0 {
		w.EventSent(m.Frame, m.Attachments, ids)
	}
	a.ns.eventsOut.Add(int64(n))
	if skipped > 0 {
		a.ns.droppedVolatile.Add(int64(skipped))
	}
	return n
}
