package admin

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestDataJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, `{}`},
		{"map", map[string]any{"nick": "bob"}, `{"nick":"bob"}`},
		{"struct", struct {
			Score int `json:"score"`
		}{3}, `{"score":3}`},
		{"string", "alice", `"alice"`},
		{"nil map", map[string]any(nil), `{}`},
		{"not encodable", func() {}, `{}`},
		{"channel in a map", map[string]any{"c": make(chan int)}, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(dataJSON(tc.in)); got != tc.want {
				t.Fatalf("dataJSON(%v) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestEventBuffer(t *testing.T) {
	b := newEventBuffer()
	base := time.Unix(1_800_000_000, 0)
	for _, add := range []struct {
		at      time.Duration
		typ     string
		subType string
		n       int64
	}{
		{0, "rawConnection", "", 1},
		{300 * time.Millisecond, "rawConnection", "", 2},
		{999 * time.Millisecond, "rawDisconnection", "ping timeout", 1},
		{999 * time.Millisecond, "rawDisconnection", "transport close", 1},
		{time.Second, "rawConnection", "", 1},
		{time.Second, "bytesIn", "", 0}, // nothing happened: not counted
		{time.Second, "bytesIn", "", -5},
	} {
		b.add(base.Add(add.at), add.typ, add.subType, add.n)
	}
	got := b.take()
	slices.SortFunc(got, func(x, y countedEvent) int {
		if x.Timestamp != y.Timestamp {
			return int(x.Timestamp - y.Timestamp)
		}
		if x.Type+x.SubType < y.Type+y.SubType {
			return -1
		}
		return 1
	})
	raw, _ := json.Marshal(got)
	want := `[{"timestamp":1800000000000,"type":"rawConnection","count":3},` +
		`{"timestamp":1800000000000,"type":"rawDisconnection","subType":"ping timeout","count":1},` +
		`{"timestamp":1800000000000,"type":"rawDisconnection","subType":"transport close","count":1},` +
		`{"timestamp":1800000001000,"type":"rawConnection","count":1}]`
	if string(raw) != want {
		t.Fatalf("take() = %s\nwant     %s", raw, want)
	}
	if again := b.take(); len(again) != 0 {
		t.Fatalf("second take() = %v, want nothing", again)
	}
}
