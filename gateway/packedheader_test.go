package gateway

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestPackedHeaderRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		h    http.Header
	}{
		{"none", http.Header{}},
		{"one", http.Header{"User-Agent": {"Go-http-client/1.1"}}},
		{"several values", http.Header{"Cookie": {"a=1", "b=2", ""}, "Accept": {"*/*"}}},
		{"empty value", http.Header{"X-Empty": {""}}},
		{"key without values", http.Header{"X-None": {}}},
		{"long value (multi-byte lengths)", http.Header{"Cookie": {strings.Repeat("c", 70000)}, "X": {strings.Repeat("x", 200)}}},
		{"any bytes", http.Header{"X-Bin": {"\x00\x80\xff\n", "é"}}},
		{"websocket handshake", http.Header{
			"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
			"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Origin": {"http://127.0.0.1:3000"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := packHeader(c.h).header()
			if !reflect.DeepEqual(got, c.h) {
				t.Fatalf("unpacked %q, packed %q", got, c.h)
			}
			// Each call returns a map of its own.
			got["X-Changed"] = []string{"1"}
			if again := packHeader(c.h).header(); again.Get("X-Changed") != "" {
				t.Fatal("a change to one unpacked map reached another")
			}
		})
	}
}

func FuzzPackedHeader(f *testing.F) {
	f.Add("User-Agent", "Go-http-client/1.1", "Cookie", "a=1; b=2")
	f.Add("", "", "X", strings.Repeat("v", 300))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		h := http.Header{k1: {v1, v2}}
		if k2 != k1 {
			h[k2] = []string{v2}
		}
		if got := packHeader(h).header(); !reflect.DeepEqual(got, h) {
			t.Fatalf("unpacked %q, packed %q", got, h)
		}
	})
}

func TestPackHeaderAllocatesOnce(t *testing.T) {
	h := http.Header{
		"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Origin": {"http://127.0.0.1:3000"},
		"Cookie": {strings.Repeat("c", 300)},
	}
	var p packedHeader
	if n := testing.AllocsPerRun(100, func() { p = packHeader(h) }); n != 1 {
		t.Fatalf("packHeader made %v allocations, want 1", n)
	}
	if got := p.header(); !reflect.DeepEqual(got, h) {
		t.Fatalf("unpacked %q, packed %q", got, h)
	}
}
