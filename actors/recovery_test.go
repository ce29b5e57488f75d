package actors

import (
	"fmt"
	"strings"
	"testing"
	"time"

	pb "github.com/actorio/actorio/proto"
)

func testLog(cfg Recovery) *packetLog {
	if cfg.MaxDisconnectionDuration == 0 {
		cfg.MaxDisconnectionDuration = time.Minute
	}
	return newPacketLog(cfg)
}

// own returns the offset of this log's own packet seq, alone.
func own(l *packetLog, seq uint64) string { return vector{{tag: l.tag, seq: seq}}.String() }

func TestPacketLogAppendAddsOffset(t *testing.T) {
	l := testLog(Recovery{})
	now := time.Now()
	for i, tc := range []struct {
		frame string
		want  string // with OFF for the offset
	}{
		{`2["ev",1]`, `2["ev",1,"OFF"]`},
		{`2/chat,["ev"]`, `2/chat,["ev","OFF"]`},
		{`51-["ev",{"_placeholder":true,"num":0}]`, `51-["ev",{"_placeholder":true,"num":0},"OFF"]`},
	} {
		got, seq := l.append(now, nil, []byte(tc.frame), nil, false)
		if seq != uint64(i+1) {
			t.Errorf("append(%s): seq %d, want %d", tc.frame, seq, i+1)
		}
		if want := strings.Replace(tc.want, "OFF", own(l, seq), 1); string(got) != want {
			t.Errorf("append(%s) = %s, want %s", tc.frame, got, want)
		}
	}
	// A frame that is not a JSON array packet is not logged.
	if got, seq := l.append(now, nil, []byte(`1`), nil, false); string(got) != `1` || seq != 0 || l.next != 4 {
		t.Errorf("append(1) = %s, %d, next %d", got, seq, l.next)
	}
}

// Packets of other nodes are logged under their origin's numbers, and
// the offset lists the last packet of each origin.
func TestPacketLogVector(t *testing.T) {
	l := testLog(Recovery{})
	now := time.Now()
	l.append(now, nil, []byte(`2["a"]`), nil, false)
	got := l.appendFrom(now, "BBBBBBBB", 7, nil, []byte(`2["b"]`), nil, false)
	want := `2["b","` + l.tag + `-1.BBBBBBBB-7"]`
	if string(got) != want {
		t.Errorf("appendFrom = %s, want %s", got, want)
	}
	l.append(now, nil, []byte(`2["a"]`), nil, false)
	if v := l.vector(now).String(); v != l.tag+"-2.BBBBBBBB-7" {
		t.Errorf("vector = %s", v)
	}
	// Its own tag from another node, or a frame that takes no offset,
	// is not logged.
	if got := l.appendFrom(now, l.tag, 9, nil, []byte(`2["x"]`), nil, false); string(got) != `2["x"]` {
		t.Errorf("appendFrom of its own tag = %s", got)
	}
	if n := len(l.entries); n != 3 {
		t.Errorf("%d entries, want 3", n)
	}
	// An origin quiet for longer than MaxDisconnectionDuration, with no
	// entry left, leaves the offset.
	later := now.Add(2 * time.Minute)
	l.trim(later)
	if v := l.vector(later).String(); v != "" {
		t.Errorf("vector after every origin went quiet = %q", v)
	}
}

func TestParseVector(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want vector
		ok   bool
	}{
		{"AAAAAAAA-1", vector{{"AAAAAAAA", 1}}, true},
		{"AAAAAAAA-z.B-B_B-BB-10", vector{{"AAAAAAAA", 35}, {"B-B_B-BB", 36}}, true},
		{"AAAAAAAA-0", nil, false},
		{"AAAAAAAA-", nil, false},
		{"AAAAAAAA-1.AAAAAAAA-2", nil, false}, // one origin twice
		{"AAAAAAAA-1.", nil, false},
		{"AAAAAAA-1", nil, false},
		{"AAAAAAAA-zzzzzzzzzzzzzzzzzzzzzz", nil, false},
		{"abc-1", nil, false},
		{"", nil, false},
		{"1", nil, false},
	} {
		v, ok := parseVector(tc.in)
		if ok != tc.ok || v.String() != tc.want.String() {
			t.Errorf("parseVector(%q) = %v, %v; want %v, %v", tc.in, v, ok, tc.want, tc.ok)
		}
		if ok && v.String() != tc.in {
			t.Errorf("parseVector(%q) does not round-trip: %q", tc.in, v.String())
		}
	}
}

func TestPacketLogTrim(t *testing.T) {
	start := time.Now()
	for _, tc := range []struct {
		name      string
		cfg       Recovery
		n         int
		step      time.Duration
		wantFirst uint64
	}{
		{"count", Recovery{MaxPackets: 10}, 100, 0, 91},
		{"bytes", Recovery{MaxBytes: 10 * 20}, 100, 0, 91}, // entries 91..100 are 20 bytes each with their offset
		{"age", Recovery{MaxDisconnectionDuration: 10 * time.Second}, 100, time.Second, 90},
		{"none", Recovery{}, 100, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := testLog(tc.cfg)
			for i := range tc.n {
				l.append(start.Add(time.Duration(i)*tc.step), nil, []byte(`2["e"]`), [][]byte{}, false)
			}
			if got := l.entries[l.head].seq; got != tc.wantFirst {
				t.Errorf("first = %d, want %d", got, tc.wantFirst)
			}
			if l.own.floor != tc.wantFirst-1 {
				t.Errorf("floor = %d, want %d", l.own.floor, tc.wantFirst-1)
			}
			var sum int64
			for _, e := range l.entries[l.head:] {
				sum += int64(e.size)
			}
			if l.bytes != sum {
				t.Errorf("bytes = %d, want %d", l.bytes, sum)
			}
			if tc.cfg.MaxBytes > 0 && l.bytes > tc.cfg.MaxBytes {
				t.Errorf("bytes = %d over MaxBytes %d", l.bytes, tc.cfg.MaxBytes)
			}
			if live := len(l.entries) - l.head; live > 2*(tc.n-int(tc.wantFirst)+1)+64 {
				t.Errorf("%d slots for %d live entries: dropped ones are not released", len(l.entries), live)
			}
		})
	}
}

func TestPacketLogClaim(t *testing.T) {
	now := time.Now()
	var tag string
	newLog := func() *packetLog {
		l := testLog(Recovery{MaxDisconnectionDuration: time.Minute, MaxPackets: 5})
		if tag != "" {
			l.tag, l.own.tag = tag, tag
		}
		tag = l.tag
		l.append(now, nil, []byte(`2["e"]`), nil, false)
		l.append(now, nil, []byte(`2["e"]`), nil, false)
		l.sessions["p1"] = &session{sid: "s1", pid: "p1", rooms: []string{"s1"}, addr: "10.0.0.1",
			first: vector{{l.tag, 1}}, origin: l.tag, connectedAt: now, endedAt: now}
		return l
	}
	ref := newLog()
	for _, tc := range []struct {
		name     string
		auth     string
		at       time.Duration
		pad      int // entries appended before the claim
		bind     bool
		addr     string
		wantLast uint64
		want     bool
	}{
		{"same address, bound", `{"pid":"p1"}`, 0, 0, true, "10.0.0.1", 1, true},
		{"other address, bound", `{"pid":"p1"}`, 0, 0, true, "10.0.0.2", 0, false},
		{"other address, not bound", `{"pid":"p1"}`, 0, 0, false, "10.0.0.2", 1, true},
		{"offset", fmt.Sprintf(`{"pid":"p1","offset":%q}`, own(ref, 2)), 0, 0, false, "", 2, true},
		{"offset not logged yet", fmt.Sprintf(`{"pid":"p1","offset":%q}`, own(ref, 3)), 0, 0, false, "", 0, false},
		{"no offset: from the start", `{"pid":"p1","token":"x"}`, 0, 0, false, "", 1, true},
		{"unknown pid", `{"pid":"p2"}`, 0, 0, false, "", 0, false},
		{"no pid", `{"offset":"x"}`, 0, 0, false, "", 0, false},
		{"pid not a string", `{"pid":1}`, 0, 0, false, "", 0, false},
		{"not an object", `[1]`, 0, 0, false, "", 0, false},
		{"foreign offset", `{"pid":"p1","offset":"abc-1"}`, 0, 0, false, "", 0, false},
		{"offset of another log", `{"pid":"p1","offset":"AAAAAAAA-1"}`, 0, 0, false, "", 0, false},
		{"expired", `{"pid":"p1"}`, 2 * time.Minute, 0, false, "", 0, false},
		{"missed packets dropped", `{"pid":"p1"}`, 0, 10, false, "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLog()
			l.cfg.BindAddress = tc.bind
			for range tc.pad {
				l.append(now, nil, []byte(`2["e"]`), nil, false)
			}
			r := l.claim(now.Add(tc.at), []byte(tc.auth), tc.addr)
			if (r != nil) != tc.want {
				t.Fatalf("claim(%s) = %v, want restored %v", tc.auth, r, tc.want)
			}
			if r == nil {
				return
			}
			if got, _ := r.last.get(l.tag); got != tc.wantLast {
				t.Errorf("last = %d, want %d", got, tc.wantLast)
			}
		})
	}
}

// A session of another node restores here only when every packet it
// missed is here: the numbers of each origin tell.
func TestPacketLogRestoreAcrossNodes(t *testing.T) {
	now := time.Now()
	const b, c = "BBBBBBBB", "CCCCCCCC"
	// The client was on node B: it got B's 1..3 and C's 1, connected at now.
	s := &session{sid: "s1", pid: "p1", rooms: []string{"s1", "r"}, origin: b, connectedAt: now, endedAt: now.Add(time.Second)}
	got := func(l *packetLog, r *restore) []string {
		var out []string
		l.missed(r, "s1", r.rooms, func(e *logEntry) bool {
			out = append(out, fmt.Sprintf("%s%d", e.from.tag[:1], e.seq))
			return true
		})
		return out
	}
	offset := func(v string) claimRequest { return claimRequest{PID: new("p1"), Offset: &v} }
	room := &pb.Target{Rooms: []string{"r"}}
	other := &pb.Target{Rooms: []string{"x"}}
	for _, tc := range []struct {
		name    string
		log     func(l *packetLog)
		offset  string
		replica bool
		want    []string // replayed; nil: refused
		refused bool
	}{
		{"missed packets of every origin, in this log's order", func(l *packetLog) {
			for i := uint64(1); i <= 5; i++ {
				l.appendFrom(now, b, i, room, []byte(`2["b"]`), nil, false)
				if i <= 2 {
					l.appendFrom(now, c, i, room, []byte(`2["c"]`), nil, false)
				}
			}
			l.append(now.Add(2*time.Second), room, []byte(`2["own"]`), nil, false)
		}, b + "-3." + c + "-1", false, []string{"C2", "B4", "B5", l0(1)}, false},
		{"a packet of another room is not replayed", func(l *packetLog) {
			l.appendFrom(now, b, 1, room, []byte(`2["b"]`), nil, false)
			l.appendFrom(now, b, 2, other, []byte(`2["b"]`), nil, false)
			l.appendFrom(now, b, 3, room, []byte(`2["b"]`), nil, false)
		}, b + "-1", false, []string{"B3"}, false},
		{"a hole in an origin's numbers refuses", func(l *packetLog) {
			l.appendFrom(now, b, 1, room, []byte(`2["b"]`), nil, false)
			l.appendFrom(now, b, 3, room, []byte(`2["b"]`), nil, false) // 2 was lost on the way
		}, b + "-1", false, nil, true},
		{"a hole the client does not need is fine", func(l *packetLog) {
			l.appendFrom(now, b, 1, room, []byte(`2["b"]`), nil, false)
			l.appendFrom(now, b, 3, room, []byte(`2["b"]`), nil, false)
			l.appendFrom(now, b, 4, room, []byte(`2["b"]`), nil, false)
		}, b + "-3", false, []string{"B4"}, false},
		{"packets it got that are not here yet refuse", func(l *packetLog) {
			l.appendFrom(now, b, 1, room, []byte(`2["b"]`), nil, false)
		}, b + "-2", false, nil, true},
		{"unless their node died", func(l *packetLog) {
			l.appendFrom(now, b, 1, room, []byte(`2["b"]`), nil, false)
		}, b + "-2", true, []string{}, false},
		{"an origin it had not heard of: what came after it connected", func(l *packetLog) {
			l.appendFrom(now.Add(-time.Second), c, 1, room, []byte(`2["c"]`), nil, false)
			l.appendFrom(now, b, 1, room, []byte(`2["b"]`), nil, false)
			l.appendFrom(now.Add(time.Second), c, 2, room, []byte(`2["c"]`), nil, false)
		}, b + "-1", false, []string{"C2"}, false},
		{"an origin it had not heard of, first heard of here after it connected, at its 2nd packet", func(l *packetLog) {
			l.appendFrom(now, b, 1, room, []byte(`2["b"]`), nil, false)
			l.appendFrom(now.Add(time.Second), c, 2, room, []byte(`2["c"]`), nil, false)
		}, b + "-1", false, nil, true},
		{"a packet only the sockets of its node got", func(l *packetLog) {
			l.appendFrom(now, b, 1, room, []byte(`2["b"]`), nil, false)
			l.appendFrom(now, b, 2, room, []byte(`2["b"]`), nil, true)
			l.appendFrom(now, c, 1, room, []byte(`2["c"]`), nil, false)
			l.appendFrom(now, c, 2, room, []byte(`2["c"]`), nil, true)
		}, b + "-1." + c + "-1", false, []string{"B2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := testLog(Recovery{})
			tc.log(l)
			r := l.restorable(now.Add(2*time.Second), offset(tc.offset), s, tc.replica)
			if (r == nil) != tc.refused {
				t.Fatalf("restorable = %v, want refused %v", r, tc.refused)
			}
			if r == nil {
				return
			}
			want := tc.want
			for i, w := range want {
				if w == l0(1) {
					want[i] = l.tag[:1] + "1"
				}
			}
			if g := got(l, r); strings.Join(g, " ") != strings.Join(want, " ") {
				t.Errorf("replayed %v, want %v", g, want)
			}
		})
	}
}

// l0 stands, in TestPacketLogRestoreAcrossNodes, for the log's own packet n.
func l0(n int) string { return fmt.Sprintf("own%d", n) }

func TestSelects(t *testing.T) {
	rooms := map[string]struct{}{"s1": {}, "a": {}}
	for _, tc := range []struct {
		name string
		t    *pb.Target
		want bool
	}{
		{"everyone", nil, true},
		{"everyone, empty target", &pb.Target{}, true},
		{"its room", &pb.Target{Rooms: []string{"b", "a"}}, true},
		{"its own id", &pb.Target{Rooms: []string{"s1"}}, true},
		{"other rooms", &pb.Target{Rooms: []string{"b"}}, false},
		{"except its room", &pb.Target{Rooms: []string{"a"}, ExceptRooms: []string{"a"}}, false},
		{"except its id", &pb.Target{ExceptIds: []string{"s1"}}, false},
		{"except another id", &pb.Target{ExceptIds: []string{"s2"}}, true},
	} {
		if got := selects(tc.t, "s1", rooms); got != tc.want {
			t.Errorf("%s: selects = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func FuzzParseVector(f *testing.F) {
	f.Add("TAGTAGTA-1")
	f.Add("TAGTAGTA-14.ABCDEFGH-z")
	f.Add("TAGTAGTA--1")
	f.Add("x")
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseVector(s)
		if !ok {
			return
		}
		if len(v) == 0 || len(v) > maxOrigins {
			t.Fatalf("parseVector(%q): %d marks", s, len(v))
		}
		for _, m := range v {
			if m.seq == 0 || len(m.tag) != tagLen {
				t.Fatalf("parseVector(%q): mark %+v", s, m)
			}
		}
		if got, ok2 := parseVector(v.String()); !ok2 || got.String() != v.String() {
			t.Fatalf("%q does not round-trip", s)
		}
	})
}

// A replayed packet's offset never goes back behind what the client had.
func TestReplayFrameRaisesOffset(t *testing.T) {
	l := testLog(Recovery{})
	now := time.Now()
	l.appendFrom(now, "BBBBBBBB", 6, nil, []byte(`2["b"]`), nil, false)
	l.appendFrom(now, "AAAAAAAA", 10, nil, []byte(`2["a"]`), nil, false)
	e := &l.entries[0]
	for _, tc := range []struct {
		v    vector
		want string
	}{
		{vector{{"AAAAAAAA", 10}, {"BBBBBBBB", 5}}, `2["b","BBBBBBBB-6.AAAAAAAA-a"]`},
		{vector{{"BBBBBBBB", 5}}, `2["b","BBBBBBBB-6"]`},
		{vector{{"BBBBBBBB", 7}, {"CCCCCCCC", 1}}, `2["b","BBBBBBBB-7.CCCCCCCC-1"]`},
	} {
		if got := string(e.replayFrame(tc.v)); got != tc.want {
			t.Errorf("replayFrame(%s) = %s, want %s", tc.v, got, tc.want)
		}
	}
}
