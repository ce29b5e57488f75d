package socketio

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// reference is what validJSON must agree with: utf8.Valid and json.Valid.
func reference(b []byte) bool { return utf8.Valid(b) && json.Valid(b) }

func TestValidJSON(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deepObj := func(n int) string { return strings.Repeat(`{"a":`, n-1) + "{}" + strings.Repeat("}", n-1) }
	cases := []struct {
		in   string
		want bool
	}{
		{`["echo","hi"]`, true},
		{` {"a" : [1, -2.5e+3, 0, true, false, null, "x\u00e9\n\"\\\/"] } `, true},
		{`{}`, true}, {`[]`, true}, {`""`, true}, {`0`, true}, {`-0.0e0`, true},
		{`"é ☃ 😀"`, true},
		{deep(maxJSONDepth), true},
		{deep(maxJSONDepth + 1), false},
		{deepObj(maxJSONDepth), true},
		{deepObj(maxJSONDepth + 1), false},
		{``, false}, {` `, false},
		{`[1,]`, false}, {`[,1]`, false}, {`{"a":1,}`, false}, {`{"a"}`, false}, {`{1:2}`, false},
		{`{"a":1 "b":2}`, false}, {`[1 2]`, false}, {`[1}`, false}, {`{"a":1]`, false}, {`[`, false}, {`]`, false},
		{`01`, false}, {`-`, false}, {`1.`, false}, {`.5`, false}, {`1e`, false}, {`1e+`, false}, {`+1`, false},
		{`tru`, false}, {`nul`, false}, {`True`, false}, {`truex`, false},
		{`"a`, false}, {"\"a\x01\"", false}, {`"\x"`, false}, {`"\u12"`, false}, {`"\u12G4"`, false}, {`"\`, false},
		{"\"\xff\"", false}, // not UTF-8
		{`1 2`, false}, {`{} {}`, false},
	}
	for _, c := range cases {
		name := c.in
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		if got := validJSON([]byte(c.in)); got != c.want {
			t.Errorf("validJSON(%q) = %v, want %v", name, got, c.want)
		}
		if ref := reference([]byte(c.in)); ref != c.want {
			t.Errorf("the reference says %v for %q: the case is wrong", ref, name)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`["echo","hi",{"a":[1,2.5e-3,null]}]`, `{"_placeholder":true,"num":0}`, `"\u00e9\ud83d\ude00"`, `[[[]]]`, `-0.1E+2`, `{"a":}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), reference(b); got != want {
			t.Fatalf("validJSON(%q) = %v, utf8.Valid && json.Valid = %v", b, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	for _, in := range []struct{ name, json string }{
		{"event", `["echo","` + strings.Repeat("x", 64) + `",{"n":12345,"ok":true,"list":[1,2,3]}]`},
		{"1KiB-text", `["chat","` + strings.Repeat("lorem ipsum ", 85) + `"]`},
	} {
		data := []byte(in.json)
		b.Run(in.name+"/validJSON", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				validJSON(data)
			}
		})
		b.Run(in.name+"/utf8+json.Valid", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				reference(data)
			}
		})
	}
}
