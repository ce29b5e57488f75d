package actors

import (
	"slices"
	"strings"
	"testing"

	pb "github.com/actorio/actorio/proto"
)

// recordingObserver records room reports as "+id room" and "-id room".
type recordingObserver struct{ got []string }

func (o *recordingObserver) RoomJoined(nsp, room, id string) { o.got = append(o.got, "+"+id+" "+room) }

func (o *recordingObserver) RoomLeft(nsp, room, id string) { o.got = append(o.got, "-"+id+" "+room) }

// indexWith returns an index holding connected sockets a, b, c and d,
// each in its own room, and a in r1, b in r1 and r2, c in r2, d in none.
// Socket e exists but is not connected.
func indexWith(t *testing.T) (*roomIndex, map[string]*SocketRef) {
	t.Helper()
	x := newRoomIndex("/")
	refs := map[string]*SocketRef{}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		p := newSocketRef(id, nil, nil)
		refs[id] = p
		if id == "e" {
			continue
		}
		p.connected.Store(true)
		x.enter(p, []string{id}, nil)
	}
	x.join(refs["a"], []string{"r1"}, nil)
	x.join(refs["b"], []string{"r1", "r2"}, nil)
	x.join(refs["c"], []string{"r2"}, nil)
	return &x, refs
}

func selected(x *roomIndex, t *pb.Target) string {
	var ids []string
	x.each(t, func(p *SocketRef) { ids = append(ids, p.id) })
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

func TestRoomIndexSelects(t *testing.T) {
	for _, tt := range []struct {
		name   string
		target *pb.Target
		want   string
	}{
		{"whole namespace", nil, "a,b,c,d"},
		{"empty target", &pb.Target{}, "a,b,c,d"},
		{"one room", &pb.Target{Rooms: []string{"r1"}}, "a,b"},
		{"two rooms, no duplicate", &pb.Target{Rooms: []string{"r1", "r2"}}, "a,b,c"},
		{"own room", &pb.Target{Rooms: []string{"d"}}, "d"},
		{"own rooms and a room", &pb.Target{Rooms: []string{"d", "a", "r2"}}, "a,b,c,d"},
		{"room that does not exist", &pb.Target{Rooms: []string{"nowhere"}}, ""},
		{"except a room", &pb.Target{ExceptRooms: []string{"r2"}}, "a,d"},
		{"room except a room", &pb.Target{Rooms: []string{"r1"}, ExceptRooms: []string{"r2"}}, "a"},
		{"except an own room", &pb.Target{Rooms: []string{"r1"}, ExceptRooms: []string{"a"}}, "b"},
		{"except an id", &pb.Target{Rooms: []string{"r2"}, ExceptIds: []string{"c"}}, "b"},
		{"a socket not connected is never selected", &pb.Target{Rooms: []string{"e"}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x, _ := indexWith(t)
			if got := selected(x, tt.target); got != tt.want {
				t.Errorf("selected %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRoomIndexJoinLeaveReportsRealChangesOnly(t *testing.T) {
	x, refs := indexWith(t)
	w := &recordingObserver{}
	a := refs["a"]
	x.join(a, []string{"r1", "r3", "a"}, w) // in r1 and its own room already
	x.leave(a, []string{"r2", "r3"}, w)     // not in r2
	x.leave(a, []string{"r3"}, w)           // left already
	if want := []string{"+a r3", "-a r3"}; !slices.Equal(w.got, want) {
		t.Errorf("reports %v, want %v", w.got, want)
	}
	if x.inRoom(a, "r3") || !x.inRoom(a, "r1") || !x.inRoom(a, "a") {
		t.Errorf("in r3 %v, r1 %v, own room %v", x.inRoom(a, "r3"), x.inRoom(a, "r1"), x.inRoom(a, "a"))
	}
}

func TestRoomIndexCountsAndLists(t *testing.T) {
	x, refs := indexWith(t)
	// r1, r2 and the four own rooms.
	if got := x.count(); got != 6 {
		t.Errorf("count %d, want 6", got)
	}
	if got := x.list(); len(got) != 2 || got["r1"] != 2 || got["r2"] != 2 {
		t.Errorf("list %v, want r1:2 r2:2", got)
	}
	b := refs["b"]
	x.leave(b, []string{"r1", "r2", "b"}, nil)
	x.exit(b)
	x.exit(b) // twice is harmless
	if got := x.count(); got != 5 {
		t.Errorf("count after b left %d, want 5", got)
	}
	if got := selected(x, nil); got != "a,c,d" {
		t.Errorf("after b left: %q", got)
	}
	// A room with one member left keeps it without a map.
	if set := x.rooms["r1"]; set.many != nil || set.one != refs["a"] {
		t.Errorf("r1 with one member: %+v", set)
	}
	// A socket that is no longer connected drops out of the lists.
	refs["c"].connected.Store(false)
	if got := x.list(); got["r2"] != 0 {
		t.Errorf("list counts a socket not connected: %v", got)
	}
}
