package listeners

import (
	"slices"
	"testing"
)

func TestList(t *testing.T) {
	type step struct {
		op    string // "on", "once", "off", "take"
		event string
		id    int
		want  []int // for take
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"on runs every time, in order", []step{
			{op: "on", event: "a", id: 1}, {op: "on", event: "b", id: 2}, {op: "on", event: "a", id: 3},
			{op: "take", event: "a", want: []int{1, 3}}, {op: "take", event: "a", want: []int{1, 3}},
			{op: "take", event: "b", want: []int{2}}, {op: "take", event: "c"},
		}},
		{"once runs once, beside on", []step{
			{op: "once", event: "a", id: 1}, {op: "on", event: "a", id: 2}, {op: "once", event: "b", id: 3},
			{op: "take", event: "a", want: []int{1, 2}}, {op: "take", event: "a", want: []int{2}},
			{op: "take", event: "b", want: []int{3}}, {op: "take", event: "b"},
		}},
		{"off removes one event's handlers", []step{
			{op: "on", event: "a", id: 1}, {op: "once", event: "a", id: 2}, {op: "on", event: "b", id: 3},
			{op: "off", event: "a"}, {op: "take", event: "a"}, {op: "take", event: "b", want: []int{3}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l List[int]
			for i, s := range tc.steps {
				switch s.op {
				case "on", "once":
					l.Add(s.event, s.id, s.op == "once")
				case "off":
					l.Remove(s.event)
				case "take":
					if n := l.Len(s.event); n != len(s.want) {
						t.Errorf("step %d: Len(%q) = %d, want %d", i, s.event, n, len(s.want))
					}
					if got := l.Take(s.event, nil); !slices.Equal(got, s.want) {
						t.Errorf("step %d: Take(%q) = %v, want %v", i, s.event, got, s.want)
					}
				}
			}
		})
	}
}
