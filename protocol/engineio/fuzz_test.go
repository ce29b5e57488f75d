package engineio

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzDecodeFrame(f *testing.F) {
	seeds := []struct {
		data   string
		binary bool
	}{
		{"4hello", false}, {"2probe", false}, {"5", false}, {"", false},
		{"abc", false}, {"4\xff", false}, {"\x00\x01", true},
	}
	for _, s := range seeds {
		f.Add([]byte(s.data), s.binary)
	}
	f.Fuzz(func(t *testing.T, data []byte, binary bool) {
		p, err := DecodeFrame(data, binary)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if binary {
			if !bytes.Equal(p.Data, data) || !p.Binary || p.Type != Message {
				t.Fatalf("binary frame decoded to %+v", p)
			}
			return
		}
		if enc := AppendText(nil, p); !bytes.Equal(enc, data) {
			t.Fatalf("re-encoded %q, want %q", enc, data)
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{
		"4hello", "4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA==", "3\x1e1",
		"", "abc", "4a\x1e", "b!!", "bAQ", "6",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := DecodePayload(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// Re-encoding and decoding again must be stable.
		enc := AppendPayload(nil, pkts)
		again, err := DecodePayload(enc)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", enc, err)
		}
		if len(again) != len(pkts) {
			t.Fatalf("re-decode gave %d packets, want %d", len(again), len(pkts))
		}
		for i := range pkts {
			if !equalPacket(again[i], pkts[i]) {
				t.Fatalf("packet %d: %+v != %+v", i, again[i], pkts[i])
			}
		}
	})
}
