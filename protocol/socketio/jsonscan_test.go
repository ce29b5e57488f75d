package socketio

import "testing"

func TestReadString(t *testing.T) {
	type want struct {
		s   string
		end int
		ok  bool
	}
	tests := []struct {
		in string
		i  int
		want
	}{
		{`"abc",1`, 0, want{"abc", 5, true}},
		{`x""`, 1, want{"", 3, true}},
		{`"a\"b\u00e9\ud83d"`, 0, want{"a\"bé\ufffd", 18, true}},
		{`"a\nb"`, 0, want{"a\nb", 6, true}},
		{"\"a\tb\"", 0, want{"", 0, false}},
		{`"abc`, 0, want{"", 0, false}},
		{`"a\"`, 0, want{"", 0, false}},
		{`"a\qb"`, 0, want{"", 0, false}},
		{`abc`, 0, want{"", 0, false}},
		{`"a"`, 3, want{"", 3, false}},
		{`"a"`, -1, want{"", -1, false}},
	}
	for _, tt := range tests {
		s, end, ok := readString([]byte(tt.in), tt.i)
		if got := (want{s, end, ok}); got != tt.want {
			t.Errorf("readString(%q, %d) = %+v, want %+v", tt.in, tt.i, got, tt.want)
		}
	}
}
