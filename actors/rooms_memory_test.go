package actors

import (
	"fmt"
	"runtime"
	"testing"
)

// roomsTestNamespace returns a namespace with its room index and no
// supervisor, and n connected sockets in it without connections: enough
// for joins, leaves and broadcasts' selection, which never write.
func roomsTestNamespace(n int, o NamespaceOptions) (*NamespaceRef, []*SocketRef) {
	ns := newNamespace("/", nil, nil, o)
	refs := make([]*SocketRef, n)
	for i := range refs {
		p := newSocketRef(fmt.Sprintf("sock-%07d", i), ns, nil)
		p.connected.Store(true)
		ns.mu.Lock()
		ns.idx.enter(p, nil, nil)
		ns.mu.Unlock()
		refs[i] = p
	}
	return ns, refs
}

// heapAlloc returns the bytes of live heap objects after a full collection.
func heapAlloc() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// roomShapes are the two ends of room use: a room per socket (a user's
// own room) and one room for all.
var roomShapes = []struct {
	name string
	room func(i int) string
}{
	{"room-per-socket", func(i int) string { return fmt.Sprintf("room-%07d", i) }},
	{"one-room", func(int) string { return "lobby" }},
}

// roomsJoinLeave makes every socket join its room then leave it, and
// returns the heap the memberships took and the heap still held once all
// of them ended, the sockets themselves staying connected.
func roomsJoinLeave(n int, room func(int) string) (joined, held int64) {
	ns, refs := roomsTestNamespace(n, NamespaceOptions{})
	names := make([][]string, n)
	for i := range names {
		names[i] = []string{room(i)}
	}
	before := heapAlloc()
	for i, p := range refs {
		ns.changeRooms(p, names[i], false)
	}
	joined = heapAlloc() - before
	for i, p := range refs {
		ns.changeRooms(p, names[i], true)
	}
	held = heapAlloc() - before
	runtime.KeepAlive(ns)
	runtime.KeepAlive(refs)
	runtime.KeepAlive(names)
	return joined, held
}

// TestRoomsMemoryReleasedAfterMassLeave checks that the room index gives
// its memory back once 200 000 memberships have ended while their sockets
// stay connected: Go maps never shrink, so the index must rebuild them.
func TestRoomsMemoryReleasedAfterMassLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates about 100 MB")
	}
	const n = 200_000
	for _, tc := range roomShapes {
		t.Run(tc.name, func(t *testing.T) {
			joined, held := roomsJoinLeave(n, tc.room)
			t.Logf("%d memberships: %.0f B each, %d KB held after all ended", n, float64(joined)/n, held>>10)
			// Generous: a fixed remainder (the sockets' map, GC noise) is
			// allowed, nothing proportional to the memberships.
			if held > joined/10 {
				t.Errorf("%d KB still held after every membership ended, of %d KB they took", held>>10, joined>>10)
			}
		})
	}
}

// TestRoomsSetShrinks checks a room's own member map: a room that held
// many sockets and keeps a few is rebuilt at their size, and one left with
// a single member holds it without a map.
func TestRoomsSetShrinks(t *testing.T) {
	ns, refs := roomsTestNamespace(1000, NamespaceOptions{})
	for _, p := range refs {
		ns.changeRooms(p, []string{"big"}, false)
	}
	for _, p := range refs[10:] {
		ns.changeRooms(p, []string{"big"}, true)
	}
	set := ns.idx.rooms["big"]
	if set.size() != 10 || set.peak > max(4*10, shrinkMin) {
		t.Fatalf("after 990 of 1000 left: size %d, peak %d: the map was not rebuilt", set.size(), set.peak)
	}
	for _, p := range refs[1:10] {
		ns.changeRooms(p, []string{"big"}, true)
	}
	if set := ns.idx.rooms["big"]; set.many != nil || set.one != refs[0] {
		t.Fatalf("a room of one socket still has a map of %d", len(set.many))
	}
	var got []*SocketRef
	ns.idx.members("big", func(p *SocketRef) { got = append(got, p) })
	if len(got) != 1 || got[0] != refs[0] {
		t.Fatalf("members of big: %v", got)
	}
}

// TestRoomsJoinLeaveLoopDoesNotRebuild checks that the shrinking is
// amortised: sockets joining and leaving at a steady count never rebuild
// the room map.
func TestRoomsJoinLeaveLoopDoesNotRebuild(t *testing.T) {
	ns, refs := roomsTestNamespace(1000, NamespaceOptions{})
	for i, p := range refs {
		ns.changeRooms(p, []string{fmt.Sprint("r", i)}, false)
	}
	rooms := ns.idx.rooms
	for round := range 20 {
		for i, p := range refs[:900] {
			ns.changeRooms(p, []string{fmt.Sprint("r", i)}, true)
			ns.changeRooms(p, []string{fmt.Sprint("r", i, "-", round)}, false)
			ns.changeRooms(p, []string{fmt.Sprint("r", i, "-", round)}, true)
			ns.changeRooms(p, []string{fmt.Sprint("r", i)}, false)
		}
	}
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	if fmt.Sprintf("%p", ns.idx.rooms) != fmt.Sprintf("%p", rooms) {
		t.Fatal("the room map was rebuilt under a join/leave loop at a steady size")
	}
	if len(ns.idx.rooms) != 1000 {
		t.Fatalf("%d rooms, want 1000", len(ns.idx.rooms))
	}
}

// TestRoomsPerSocketBound checks NamespaceOptions.MaxRoomsPerSocket: a
// join past it joins none of its rooms, rooms already joined and the
// socket's own id do not count twice, and leaving makes room again.
func TestRoomsPerSocketBound(t *testing.T) {
	ns, refs := roomsTestNamespace(2, NamespaceOptions{MaxRoomsPerSocket: 3})
	p := refs[0]
	for _, tc := range []struct {
		rooms []string
		leave bool
		ok    bool
		want  int // rooms besides its own id's, after
	}{
		{rooms: []string{"a", "b"}, ok: true, want: 2},
		{rooms: []string{"c", "d"}, ok: false, want: 2},
		{rooms: []string{"a", p.id, "c", "c"}, ok: true, want: 3},
		{rooms: []string{"a", "b"}, ok: true, want: 3},
		{rooms: []string{"d"}, ok: false, want: 3},
		{rooms: []string{"a"}, leave: true, ok: true, want: 2},
		{rooms: []string{"d"}, ok: true, want: 3},
	} {
		ok := ns.changeRooms(p, tc.rooms, tc.leave)
		p.mu.Lock()
		n := len(p.rooms)
		p.mu.Unlock()
		if ok != tc.ok || n != tc.want {
			t.Fatalf("leave=%v %v: ok %v with %d rooms, want %v with %d", tc.leave, tc.rooms, ok, n, tc.ok, tc.want)
		}
	}
	if ns.idx.inRoom(p, "c") != true || ns.idx.rooms["zz"].size() != 0 {
		t.Fatal("room index out of step with the socket's rooms")
	}
	// SocketsJoin past the bound: the socket at its bound joins nothing,
	// the other joins.
	ns.ChangeRooms(nil, []string{"e"}, false)
	if ns.idx.inRoom(p, "e") || !ns.idx.inRoom(refs[1], "e") {
		t.Fatalf("SocketsJoin past the bound: in e: %v, %v", ns.idx.inRoom(p, "e"), ns.idx.inRoom(refs[1], "e"))
	}
}

// BenchmarkRoomsMembership reports the heap one membership takes
// (B/membership) and what is left once all ended (held-B/membership).
func BenchmarkRoomsMembership(b *testing.B) {
	for _, tc := range roomShapes {
		b.Run(tc.name, func(b *testing.B) {
			const n = 50_000
			var joined, held int64
			for range b.N {
				j, h := roomsJoinLeave(n, tc.room)
				joined += j
				held += h
			}
			b.ReportMetric(float64(joined)/float64(b.N*n), "B/membership")
			b.ReportMetric(float64(held)/float64(b.N*n), "held-B/membership")
		})
	}
}
