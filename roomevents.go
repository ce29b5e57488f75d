package actorio

import (
	"github.com/actorio/actorio/actors"
	"github.com/actorio/actorio/internal/listeners"
)

// RoomEventKind says what a RoomEvent reports; its values are the names of
// Node's adapter events.
type RoomEventKind string

// The kinds of RoomEvent.
const (
	// RoomCreated: the first socket joined the room.
	RoomCreated RoomEventKind = "create-room"
	// RoomDeleted: the last socket left the room.
	RoomDeleted RoomEventKind = "delete-room"
	// RoomJoined: a socket joined the room.
	RoomJoined RoomEventKind = "join-room"
	// RoomLeft: a socket left the room.
	RoomLeft RoomEventKind = "leave-room"
)

// RoomEvent is a change of the rooms of a namespace on this node, as
// Node's adapter events ("create-room", "delete-room", "join-room",
// "leave-room") report it.
type RoomEvent struct {
	// Kind is what changed.
	Kind RoomEventKind
	// Namespace is the namespace whose room changed: a child, for the
	// hooks of a parent namespace.
	Namespace *Namespace
	// Room is the room's name.
	Room string
	// ID is the socket that joined or left; empty for RoomCreated and
	// RoomDeleted.
	ID string
}

// OnRoomEvent registers fn for every change of the namespace's rooms on
// this node, as Node's adapter events: a join reports RoomCreated when
// the room was empty, then RoomJoined; a leave RoomLeft, then RoomDeleted
// when the room is left empty. The room of a socket's own id counts, as
// in Node: a connecting socket creates and joins it after the rooms its
// middleware joined, a disconnecting one leaves every room, its own
// included (after its OnDisconnecting handlers, before its OnDisconnect
// ones; its rooms in the order of their names, where Node's follow the
// order they were joined in). A join that changes nothing (the socket is
// in the room already) reports nothing. The hooks of a parent namespace
// (OfFunc, OfRegexp) run for the rooms of each of its children, before
// the child's own. It returns the function that removes this
// registration.
//
// The room index changes under the namespace's lock, and no hook runs
// under it: the hooks run once it is released, one at a time, in the
// order of the changes, on the goroutine that made the change (the
// socket's own for the rooms it enters on connecting, before its
// connection handlers, and for those it leaves on disconnecting; the
// caller of Join, Leave, SocketsJoin or SocketsLeave), unless hooks are
// running on another goroutine at that moment, which then runs these
// next: Join may return before its hooks ran. A hook may call the server
// back (join, emit, disconnect); the hooks of the changes it makes run
// after it returns. A panic in a hook is logged and goes no further.
func (ns *Namespace) OnRoomEvent(fn func(ev RoomEvent)) (off func()) {
	s := ns.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	ns.mu.Lock()
	id := ns.roomHooks.Add(fn, false)
	ns.mu.Unlock()
	ns.relayRooms()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		ns.mu.Lock()
		removed := ns.roomHooks.Remove(id)
		ns.mu.Unlock()
		if removed {
			ns.relayRooms()
		}
	}
}

// hasRoomHooks reports whether the namespace, or its parent, has room
// hooks.
func (ns *Namespace) hasRoomHooks() bool {
	for n := ns; n != nil; n = n.parent {
		n.mu.RLock()
		k := n.roomHooks.Len()
		n.mu.RUnlock()
		if k > 0 {
			return true
		}
	}
	return false
}

// observerFor returns what the namespace's actor reports room changes to,
// with m the server's observers (nil when none): a roomRelay when there
// are room hooks, else m; nil when there is neither.
func (ns *Namespace) observerFor(m *multiObserver) actors.Observer {
	if ns.hasRoomHooks() {
		return &roomRelay{ns: ns, m: m}
	}
	if m == nil {
		return nil
	}
	return m
}

// relayRooms installs observerFor in the namespace's actor, or in those of
// its children for a parent; s.mu must be held, as setObservers holds it.
func (ns *Namespace) relayRooms() {
	m := ns.srv.obs.Load()
	if ns.match == nil {
		if ns.a != nil {
			ns.a.SetObserver(ns.observerFor(m))
		}
		return
	}
	ns.mu.RLock()
	children := make([]*Namespace, 0, len(ns.children))
	for c := range ns.children {
		children = append(children, c)
	}
	ns.mu.RUnlock()
	for _, c := range children {
		c.a.SetObserver(c.observerFor(m))
	}
}

// roomRelay is the actors.RoomEvents a namespace with room hooks installs
// in its actor: it passes RoomJoined and RoomLeft on to the server's
// observers, and queues each room event for the hooks, which run when the
// room lock is released (RoomsUnlocked).
type roomRelay struct {
	ns *Namespace
	m  *multiObserver // nil when nobody observes
}

func (r *roomRelay) RoomJoined(nsp, room, id string) {
	if r.m != nil {
		r.m.RoomJoined(nsp, room, id)
	}
}

func (r *roomRelay) RoomLeft(nsp, room, id string) {
	if r.m != nil {
		r.m.RoomLeft(nsp, room, id)
	}
}

// RoomEvent queues the hooks' call; it runs under the room lock.
func (r *roomRelay) RoomEvent(_ string, kind actors.RoomEventKind, room, id string) {
	ev := RoomEvent{Kind: roomEventKinds[kind], Namespace: r.ns, Room: room, ID: id}
	r.ns.roomQ.add(func() { r.ns.fireRoomEvent(ev) })
}

// RoomsUnlocked runs the queued hooks on this goroutine, unless another
// runs them.
func (r *roomRelay) RoomsUnlocked(string) { r.ns.roomQ.run(r.ns.srv.opts.Logger) }

var roomEventKinds = map[actors.RoomEventKind]RoomEventKind{
	actors.RoomCreated: RoomCreated,
	actors.RoomDeleted: RoomDeleted,
	actors.RoomJoined:  RoomJoined,
	actors.RoomLeft:    RoomLeft,
}

// fireRoomEvent runs the room hooks registered now: the parent's, then
// the namespace's own.
func (ns *Namespace) fireRoomEvent(ev RoomEvent) {
	var fns []func(RoomEvent)
	for _, n := range []*Namespace{ns.parent, ns} {
		if n == nil {
			continue
		}
		n.mu.RLock()
		fns = append(fns, n.roomHooks.List()...)
		n.mu.RUnlock()
	}
	log := ns.srv.opts.Logger
	for _, fn := range fns {
		runHook(log, func() { fn(ev) })
	}
}

var _ actors.RoomEvents = (*roomRelay)(nil)

// roomHookList is the type of Namespace.roomHooks.
type roomHookList = listeners.Any[func(RoomEvent)]
