package socketio

import (
	"errors"
	"strings"
	"testing"
)

// splitArrayTests are the SplitArray cases; they also seed FuzzSplitArray.
var splitArrayTests = []struct {
	in   string
	want []string
	err  error
}{
	{`[]`, nil, nil},
	{` [ ] `, nil, nil},
	{`["a"]`, []string{`"a"`}, nil},
	{`["a",1,true,null,{"x":[1,2]},[[]],"]\"",-1.5e3]`, []string{`"a"`, `1`, `true`, `null`, `{"x":[1,2]}`, `[[]]`, `"]\""`, `-1.5e3`}, nil},
	{"[ 1 ,\n2\t, {\"a\" : 1} ]", []string{`1`, `2`, `{"a" : 1}`}, nil},
	{`["a,b","c]"]`, []string{`"a,b"`, `"c]"`}, nil},
	{`{}`, nil, ErrNotArray},
	{`"a"`, nil, ErrNotArray},
	{`1`, nil, ErrNotArray},
	{``, nil, ErrInvalidJSON},
	{`[`, nil, ErrInvalidJSON},
	{`[1,]`, nil, ErrInvalidJSON},
	{`[1] [2]`, nil, ErrInvalidJSON},
	{"[\"\xff\"]", nil, ErrInvalidJSON},
}

func TestSplitArray(t *testing.T) {
	for _, tt := range splitArrayTests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := SplitArray([]byte(tt.in))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("SplitArray(%q) error = %v, want %v", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("SplitArray(%q) error: %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("SplitArray(%q) = %q, want %q", tt.in, got, tt.want)
			}
			for i := range got {
				if string(got[i]) != tt.want[i] {
					t.Errorf("element %d = %q, want %q", i, got[i], tt.want[i])
				}
				if cap(got[i]) != len(got[i]) {
					t.Errorf("element %d not clipped", i)
				}
			}
		})
	}
}

func TestSplitArrayDeep(t *testing.T) {
	in := "[" + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + ",1]"
	got, err := SplitArray([]byte(in))
	if err != nil || len(got) != 2 || string(got[1]) != "1" {
		t.Fatalf("SplitArray(deep) = %d elements, %v", len(got), err)
	}
}

// eventNameTests are the EventName cases; they also seed FuzzEventName.
var eventNameTests = []struct {
	in   string
	name string
	args []string
	ok   bool
}{
	{`["hello"]`, "hello", nil, true},
	{`["hello",1,{"a":2}]`, "hello", []string{`1`, `{"a":2}`}, true},
	{`[ "h\u00e9\"llo" , [1] ]`, "hé\"llo", []string{`[1]`}, true},
	{`["\ud83d\ude00"]`, "\U0001F600", nil, true},
	{`["\ud83d"]`, "\uFFFD", nil, true},
	{`[]`, "", nil, false},
	{`[1,"a"]`, "1", []string{`"a"`}, true},
	{`[-2.50]`, "-2.5", nil, true},
	{`[1e3]`, "1000", nil, true},
	{`[1e1000]`, "Infinity", nil, true},
	{`[-1e1000]`, "-Infinity", nil, true},
	{`[1e-1000]`, "0", nil, true},
	{`[-0]`, "0", nil, true},
	{`[1e21]`, "1e+21", nil, true},
	{`[0.0000015]`, "0.0000015", nil, true},
	{`[0.00000015]`, "1.5e-7", nil, true},
	{`[true]`, "", nil, false},
	{`{"a":1}`, "", nil, false},
	{`["a"`, "", nil, false},
	{`0[""]`, "", nil, false},
}

func TestEventName(t *testing.T) {
	for _, tt := range eventNameTests {
		t.Run(tt.in, func(t *testing.T) {
			name, args, err := EventName([]byte(tt.in))
			if !tt.ok {
				if err == nil || !errors.Is(err, ErrMalformed) {
					t.Fatalf("EventName(%q) error = %v, want ErrMalformed", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("EventName(%q) error: %v", tt.in, err)
			}
			if name != tt.name {
				t.Errorf("name = %q, want %q", name, tt.name)
			}
			if len(args) != len(tt.args) {
				t.Fatalf("args = %q, want %q", args, tt.args)
			}
			for i := range args {
				if string(args[i]) != tt.args[i] {
					t.Errorf("arg %d = %q, want %q", i, args[i], tt.args[i])
				}
			}
		})
	}
}

func TestHasReservedName(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{`["disconnect"]`, true},
		{`[ "connect" , 1]`, true},
		{`["newListener",{"a":1}]`, true},
		{`["\u0063onnect_error"]`, true},
		{`["disconnected"]`, false},
		{`["connect\u0000"]`, false},
		{`["message"]`, false},
		{`[1,"disconnect"]`, false},
		{`[]`, false},
	} {
		if got := HasReservedName([]byte(tt.in)); got != tt.want {
			t.Errorf("HasReservedName(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
