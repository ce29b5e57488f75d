package listeners

import (
	"slices"
	"sync"
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

func TestAny(t *testing.T) {
	type step struct {
		op   string // "on", "prepend", "off" (the id of the i-th registration), "clear"
		fn   int    // the handler, for on and prepend
		reg  int    // the registration number, for off
		want []int  // the list after the step
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"on appends, prepend goes first", []step{
			{op: "on", fn: 1, want: []int{1}},
			{op: "on", fn: 2, want: []int{1, 2}},
			{op: "prepend", fn: 3, want: []int{3, 1, 2}},
			{op: "prepend", fn: 4, want: []int{4, 3, 1, 2}},
		}},
		{"off removes that registration only, even of an equal handler", []step{
			{op: "on", fn: 1, want: []int{1}},
			{op: "prepend", fn: 2, want: []int{2, 1}},
			{op: "on", fn: 1, want: []int{2, 1, 1}},
			{op: "off", reg: 2, want: []int{2, 1}},
			{op: "off", reg: 2, want: []int{2, 1}},
			{op: "off", reg: 0, want: []int{2}},
			{op: "off", reg: 1},
		}},
		{"clear removes all, and ids stay unique after it", []step{
			{op: "on", fn: 1, want: []int{1}},
			{op: "on", fn: 2, want: []int{1, 2}},
			{op: "clear"},
			{op: "off", reg: 0},
			{op: "on", fn: 3, want: []int{3}},
			{op: "off", reg: 1, want: []int{3}},
			{op: "off", reg: 2},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Any[int]
			var ids []uint64
			for i, s := range tc.steps {
				switch s.op {
				case "on", "prepend":
					ids = append(ids, a.Add(s.fn, s.op == "prepend"))
				case "off":
					a.Remove(ids[s.reg])
				case "clear":
					a.Clear()
				}
				if got := a.List(); !slices.Equal(got, s.want) || a.Len() != len(s.want) {
					t.Errorf("step %d (%s): List = %v, Len = %d; want %v", i, s.op, got, a.Len(), s.want)
				}
			}
		})
	}
}

func TestAnyOffFuncAndListCopy(t *testing.T) {
	var mu sync.Mutex
	var a Any[int]
	off := Off(&mu, &a, a.Add(1, false))
	a.Add(2, false)
	l := a.List()
	l[0] = 9
	if got := a.List(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("List after changing a copy = %v", got)
	}
	off()
	off()
	if got := a.List(); !slices.Equal(got, []int{2}) {
		t.Fatalf("List after off = %v", got)
	}
}

// TestListSizedToItsHandlers: a list of a few handlers holds no room for
// more (it lives as long as its socket); a long one grows as append does.
func TestListSizedToItsHandlers(t *testing.T) {
	for _, n := range []int{1, 2, 5, exactUpTo} {
		var l List[func()]
		for i := 0; i < n; i++ {
			l.Add("e", func() {}, false)
		}
		if got := cap(l.entries); got != n {
			t.Errorf("%d handlers: room for %d", n, got)
		}
	}
	var l List[func()]
	allocs := testing.AllocsPerRun(1, func() {
		l = List[func()]{}
		for i := 0; i < 1000; i++ {
			l.Add("e", nil, false)
		}
	})
	if allocs > exactUpTo+12 {
		t.Errorf("1000 handlers took %v allocations: not growing by doubling", allocs)
	}
}
