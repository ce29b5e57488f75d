package actors

import pb "github.com/actorio/actorio/proto"

// roomIndex is a namespace's rooms and its connected sockets: who is in
// which room, and which sockets a broadcast's target selects. It does no
// I/O and takes no lock: NamespaceRef.mu guards it (rooms.go). A socket's own
// room is not in the room map: the socket's inOwnRoom flag stands for it.
//
// Memory: a room of one socket (a user's own room, say) is held without a
// map of its own, and a map that has shrunk to a quarter of its peak (the
// rooms, one room's members, the connected sockets) is rebuilt at its
// size, since Go maps keep their largest size. A rebuild copies the
// entries left, after at least three times as many were deleted, so it
// costs O(1) per delete over time, and a join/leave loop at a steady size
// never rebuilds.
type roomIndex struct {
	// nsp is the namespace's name, given with each room report.
	nsp   string
	rooms map[string]roomSet
	// connected holds the connected sockets by id, from their CONNECT
	// reply until they leave their rooms.
	connected map[string]*SocketRef
	// roomsPeak and connectedPeak are the largest sizes of rooms and
	// connected since each map was made.
	roomsPeak, connectedPeak int
	// ownRooms counts the sockets in the room of their own id.
	ownRooms int
}

// RoomEvents is an Observer that is also told of every change of the
// namespace's rooms as Node's in-memory adapter emits them: a room
// created (its first member joined), joined, left, deleted (its last
// member left), the room of a socket's own id included. RoomEvent runs
// with the namespace's room lock held, as RoomJoined does; RoomsUnlocked
// follows each change of rooms once that lock is released, for the
// observer to act on what it was told (run user hooks, say) on the
// goroutine that made the change.
type RoomEvents interface {
	Observer
	// RoomEvent reports one change of a room of the namespace nsp: id is
	// the socket that joined or left, empty for RoomCreated and RoomDeleted.
	RoomEvent(nsp string, kind RoomEventKind, room, id string)
	// RoomsUnlocked tells that the room lock of the namespace nsp was
	// released after a change of rooms (reported or not).
	RoomsUnlocked(nsp string)
}

// RoomEventKind is what RoomEvents.RoomEvent reports, named after Node's
// adapter events.
type RoomEventKind uint8

// The kinds of RoomEvents.RoomEvent. For one room, a join reports
// RoomCreated (when it is the first member) then RoomJoined, a leave
// RoomLeft then RoomDeleted (when it was the last), as Node's adapter.
const (
	// RoomCreated is Node's "create-room".
	RoomCreated RoomEventKind = iota + 1
	// RoomDeleted is Node's "delete-room".
	RoomDeleted
	// RoomJoined is Node's "join-room".
	RoomJoined
	// RoomLeft is Node's "leave-room".
	RoomLeft
)

func newRoomIndex(nsp string) roomIndex {
	return roomIndex{nsp: nsp, rooms: map[string]roomSet{}, connected: map[string]*SocketRef{}}
}

// enter makes p one of the connected sockets and puts it in rooms,
// telling o (when not nil) of each room it joins.
func (x *roomIndex) enter(p *SocketRef, rooms []string, o Observer) {
	p.indexed = true
	x.connected[p.id] = p
	x.connectedPeak = max(x.connectedPeak, len(x.connected))
	x.join(p, rooms, o)
}

// exit takes p out of the connected sockets (its rooms are left with
// leave); it may run more than once.
func (x *roomIndex) exit(p *SocketRef) {
	if !p.indexed {
		return
	}
	p.indexed = false
	delete(x.connected, p.id)
	if n := len(x.connected); x.connectedPeak >= shrinkMin && n <= x.connectedPeak/4 {
		x.connected, x.connectedPeak = rebuilt(x.connected), n
	}
}

// join puts p in rooms, telling o of each room it was not in.
func (x *roomIndex) join(p *SocketRef, rooms []string, o Observer) {
	ev, _ := o.(RoomEvents)
	for _, r := range rooms {
		if r == p.id {
			if !p.inOwnRoom {
				p.inOwnRoom = true
				x.ownRooms++
				if ev != nil {
					x.joined(ev, r, p.id, x.rooms[r].size() == 0)
				}
			}
			continue
		}
		set := x.rooms[r]
		if !set.add(p) {
			continue
		}
		x.rooms[r] = set
		if ev != nil {
			x.joined(ev, r, p.id, set.size() == 1 && !x.ownRoomIn(r))
		}
		if o != nil {
			o.RoomJoined(x.nsp, r, p.id)
		}
	}
	x.roomsPeak = max(x.roomsPeak, len(x.rooms))
	p.setRooms(rooms, false)
}

// leave takes p out of rooms, telling o of each room it was in.
func (x *roomIndex) leave(p *SocketRef, rooms []string, o Observer) {
	ev, _ := o.(RoomEvents)
	for _, r := range rooms {
		if r == p.id {
			if p.inOwnRoom {
				p.inOwnRoom = false
				x.ownRooms--
				if ev != nil {
					x.left(ev, r, p.id, x.rooms[r].size() == 0)
				}
			}
			continue
		}
		set, ok := x.rooms[r]
		if !ok || !set.remove(p) {
			continue
		}
		if ev != nil {
			x.left(ev, r, p.id, set.size() == 0 && !x.ownRoomIn(r))
		}
		if o != nil {
			o.RoomLeft(x.nsp, r, p.id)
		}
		if set.size() == 0 {
			delete(x.rooms, r)
		} else {
			x.rooms[r] = set
		}
	}
	if n := len(x.rooms); x.roomsPeak >= shrinkMin && n <= x.roomsPeak/4 {
		x.rooms, x.roomsPeak = rebuilt(x.rooms), n
	}
}

// joined reports to ev that socket id joined room r, created by that join
// when created.
func (x *roomIndex) joined(ev RoomEvents, r, id string, created bool) {
	if created {
		ev.RoomEvent(x.nsp, RoomCreated, r, "")
	}
	ev.RoomEvent(x.nsp, RoomJoined, r, id)
}

// left reports to ev that socket id left room r, deleted by that leave
// when emptied.
func (x *roomIndex) left(ev RoomEvents, r, id string, emptied bool) {
	ev.RoomEvent(x.nsp, RoomLeft, r, id)
	if emptied {
		ev.RoomEvent(x.nsp, RoomDeleted, r, "")
	}
}

// ownRoomIn reports whether room r holds the connected socket whose id r
// is: a room named after a socket is one room in Node, whether that socket
// or another joined it.
func (x *roomIndex) ownRoomIn(r string) bool {
	q, ok := x.connected[r]
	return ok && q.inOwnRoom
}

// count returns the number of non-empty rooms, the rooms of the sockets'
// own ids included.
func (x *roomIndex) count() int { return len(x.rooms) + x.ownRooms }

// list returns the connected sockets of each non-empty room, the rooms of
// the sockets' own ids left out.
func (x *roomIndex) list() map[string]int {
	out := make(map[string]int, len(x.rooms))
	for r, set := range x.rooms {
		n := 0
		set.each(func(p *SocketRef) {
			if p.Connected() {
				n++
			}
		})
		if n > 0 {
			out[r] = n
		}
	}
	return out
}

// each calls fn once for every connected socket that t selects: those in
// any of t's rooms (every connected socket when it names none), less
// those in one of its excepted rooms or with one of its excepted ids.
func (x *roomIndex) each(t *pb.Target, fn func(p *SocketRef)) {
	var rooms, exceptRooms, exceptIDs []string
	if t != nil {
		rooms, exceptRooms, exceptIDs = t.Rooms, t.ExceptRooms, t.ExceptIds
	}
	excluded := func(p *SocketRef) bool {
		if !p.Connected() {
			return true
		}
		for _, id := range exceptIDs {
			if p.id == id {
				return true
			}
		}
		for _, r := range exceptRooms {
			if x.inRoom(p, r) {
				return true
			}
		}
		return false
	}
	if len(rooms) == 0 {
		for _, p := range x.connected {
			if !excluded(p) {
				fn(p)
			}
		}
		return
	}
	if len(rooms) == 1 {
		x.members(rooms[0], func(p *SocketRef) {
			if !excluded(p) {
				fn(p)
			}
		})
		return
	}
	seen := map[*SocketRef]struct{}{}
	for _, r := range rooms {
		x.members(r, func(p *SocketRef) {
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

// members calls fn for every socket in room r: those of its room set, and
// the socket whose own id r is.
func (x *roomIndex) members(r string, fn func(p *SocketRef)) {
	x.rooms[r].each(fn)
	if p, ok := x.connected[r]; ok && p.inOwnRoom {
		fn(p)
	}
}

// inRoom reports whether p is in room r.
func (x *roomIndex) inRoom(p *SocketRef, r string) bool {
	if r == p.id {
		return p.inOwnRoom
	}
	return x.rooms[r].has(p)
}

// shrinkMin is the peak below which a map is never rebuilt: a small map
// costs little, and rebuilding it would only churn.
const shrinkMin = 64

// roomSet is the members of one room: the one socket in one, or, from a
// second member on, every member in many. The zero roomSet is empty.
type roomSet struct {
	one  *SocketRef
	many map[*SocketRef]struct{}
	peak int // the largest len(many) since many was made
}

func (s roomSet) size() int {
	if s.many != nil {
		return len(s.many)
	}
	if s.one != nil {
		return 1
	}
	return 0
}

func (s roomSet) has(p *SocketRef) bool {
	if s.many != nil {
		_, ok := s.many[p]
		return ok
	}
	return s.one == p && p != nil
}

// add puts p in s and reports whether it was not there.
func (s *roomSet) add(p *SocketRef) bool {
	switch {
	case s.many != nil:
		if _, in := s.many[p]; in {
			return false
		}
		s.many[p] = struct{}{}
		s.peak = max(s.peak, len(s.many))
	case s.one == nil:
		s.one = p
	case s.one == p:
		return false
	default:
		s.many = map[*SocketRef]struct{}{s.one: {}, p: {}}
		s.one, s.peak = nil, 2
	}
	return true
}

// remove takes p out of s and reports whether it was there. A set left
// with one member drops its map; one far below its peak is rebuilt.
func (s *roomSet) remove(p *SocketRef) bool {
	if s.many == nil {
		if s.one != p || p == nil {
			return false
		}
		s.one = nil
		return true
	}
	if _, in := s.many[p]; !in {
		return false
	}
	delete(s.many, p)
	switch n := len(s.many); {
	case n == 1:
		for q := range s.many {
			s.one = q
		}
		s.many, s.peak = nil, 0
	case s.peak >= shrinkMin && n <= s.peak/4:
		s.many, s.peak = rebuilt(s.many), n
	}
	return true
}

// each calls fn for every member of s.
func (s roomSet) each(fn func(p *SocketRef)) {
	if s.many == nil {
		if s.one != nil {
			fn(s.one)
		}
		return
	}
	for p := range s.many {
		fn(p)
	}
}

// rebuilt returns a copy of m sized for its entries.
func rebuilt[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
