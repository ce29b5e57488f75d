package socketio

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

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

// TestPlainRun holds plainRun to its byte-by-byte definition: every byte
// value at every offset of the first two eight-byte words and past them,
// among ASCII and among UTF-8 continuation-like bytes, and random inputs.
func TestPlainRun(t *testing.T) {
	naive := func(b []byte, i int) int {
		for ; i < len(b); i++ {
			if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
				return i
			}
		}
		return i
	}
	check := func(b []byte, from int) {
		t.Helper()
		if got, want := plainRun(b, from), naive(b, from); got != want {
			t.Fatalf("plainRun(%q, %d) = %d, want %d", b, from, got, want)
		}
	}
	for _, fill := range []byte{'a', 0xc3, 0x80, 0xff, 0x20, 0x7f, '#', ']'} {
		for c := range 256 {
			for at := range 19 {
				b := bytes.Repeat([]byte{fill}, 19)
				b[at] = byte(c)
				for from := range 3 {
					check(b, from)
				}
				check(b[:at+1], 0)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'a', 'z', ' ', '"', '\\', 0x00, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xc3, 0xff}
	for range 20000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			if r.IntN(8) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = byte('a' + r.IntN(26))
			}
		}
		check(b, r.IntN(len(b)+1))
	}
}
