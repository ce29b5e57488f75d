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

func TestPacketLogAppendAddsOffset(t *testing.T) {
	l := testLog(Recovery{})
	now := time.Now()
	for _, tc := range []struct {
		frame string
		want  string // with OFF for the offset
	}{
		{`2["ev",1]`, `2["ev",1,"OFF"]`},
		{`2/chat,["ev"]`, `2/chat,["ev","OFF"]`},
		{`51-["ev",{"_placeholder":true,"num":0}]`, `51-["ev",{"_placeholder":true,"num":0},"OFF"]`},
	} {
		seq := l.next
		got := string(l.append(now, nil, []byte(tc.frame), nil))
		if want := strings.Replace(tc.want, "OFF", l.offset(seq), 1); got != want {
			t.Errorf("append(%s) = %s, want %s", tc.frame, got, want)
		}
	}
	// A frame that is not a JSON array packet is not logged.
	if got := string(l.append(now, nil, []byte(`1`), nil)); got != `1` || l.next != 4 {
		t.Errorf("append(1) = %s, next %d", got, l.next)
	}
}

func TestPacketLogParseOffset(t *testing.T) {
	l := testLog(Recovery{})
	other := testLog(Recovery{})
	for range 3 {
		l.append(time.Now(), nil, []byte(`2["e"]`), nil)
	}
	for _, tc := range []struct {
		in   string
		seq  uint64
		want bool
	}{
		{l.offset(1), 1, true},
		{l.offset(3), 3, true},
		{l.offset(4), 0, false}, // not logged yet
		{l.offset(0), 0, false},
		{other.offset(1), 0, false},
		{l.tag + "-", 0, false},
		{l.tag + "-zzzzzzzzzzzzzzzzzzzzzz", 0, false},
		{"", 0, false},
		{"1", 0, false},
	} {
		seq, ok := l.parseOffset(tc.in)
		if ok != tc.want || seq != tc.seq {
			t.Errorf("parseOffset(%q) = %d, %v; want %d, %v", tc.in, seq, ok, tc.seq, tc.want)
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
				l.append(start.Add(time.Duration(i)*tc.step), nil, []byte(`2["e"]`), [][]byte{})
			}
			if got := l.first(); got != tc.wantFirst {
				t.Errorf("first = %d, want %d", got, tc.wantFirst)
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
	newLog := func() *packetLog {
		l := testLog(Recovery{MaxDisconnectionDuration: time.Minute, MaxPackets: 5})
		l.append(now, nil, []byte(`2["e"]`), nil)
		l.append(now, nil, []byte(`2["e"]`), nil)
		l.sessions["p1"] = &session{sid: "s1", pid: "p1", rooms: []string{"s1"}, addr: "10.0.0.1", last: 1, endedAt: now}
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
		{"offset", fmt.Sprintf(`{"pid":"p1","offset":%q}`, ref.offset(2)), 0, 0, false, "", 2, true},
		{"no offset: from the start", `{"pid":"p1","token":"x"}`, 0, 0, false, "", 1, true},
		{"unknown pid", `{"pid":"p2"}`, 0, 0, false, "", 0, false},
		{"no pid", `{"offset":"x"}`, 0, 0, false, "", 0, false},
		{"pid not a string", `{"pid":1}`, 0, 0, false, "", 0, false},
		{"not an object", `[1]`, 0, 0, false, "", 0, false},
		{"foreign offset", `{"pid":"p1","offset":"abc-1"}`, 0, 0, false, "", 0, false},
		{"expired", `{"pid":"p1"}`, 2 * time.Minute, 0, false, "", 0, false},
		{"missed packets dropped", `{"pid":"p1"}`, 0, 10, false, "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLog()
			l.tag = ref.tag
			l.cfg.BindAddress = tc.bind
			for range tc.pad {
				l.append(now, nil, []byte(`2["e"]`), nil)
			}
			s := l.claim(now.Add(tc.at), []byte(tc.auth), tc.addr)
			if (s != nil) != tc.want {
				t.Fatalf("claim(%s) = %v, want restored %v", tc.auth, s, tc.want)
			}
			if s != nil && s.last != tc.wantLast {
				t.Errorf("last = %d, want %d", s.last, tc.wantLast)
			}
		})
	}
}

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

func FuzzParseOffset(f *testing.F) {
	l := testLog(Recovery{})
	for range 40 {
		l.append(time.Now(), nil, []byte(`2["e"]`), nil)
	}
	l.tag = "TAGTAGTA"
	f.Add("TAGTAGTA-1")
	f.Add("TAGTAGTA-14")
	f.Add("TAGTAGTA--1")
	f.Add("x")
	f.Fuzz(func(t *testing.T, s string) {
		seq, ok := l.parseOffset(s)
		if !ok {
			return
		}
		if seq == 0 || seq >= l.next {
			t.Fatalf("parseOffset(%q) = %d outside the log [1, %d)", s, seq, l.next)
		}
		if got, ok2 := l.parseOffset(l.offset(seq)); !ok2 || got != seq {
			t.Fatalf("offset %d does not round-trip", seq)
		}
	})
}
