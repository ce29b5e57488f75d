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

// checkReDecode checks that pkts, encoded again as a v3 text payload and
// as a v3 binary payload, decode to the same packets.
func checkReDecode(t *testing.T, pkts []Packet) {
	t.Helper()
	if len(pkts) == 0 {
		return
	}
	for _, enc := range []struct {
		name   string
		body   []byte
		decode func([]byte) ([]Packet, error)
	}{
		{"text", AppendPayloadV3(nil, pkts), DecodePayloadV3},
		{"binary", AppendBinaryPayloadV3(nil, pkts), DecodeBinaryPayloadV3},
	} {
		again, err := enc.decode(enc.body)
		if err != nil {
			t.Fatalf("re-decode of the %s payload %q: %v", enc.name, enc.body, err)
		}
		if len(again) != len(pkts) {
			t.Fatalf("%s re-decode gave %d packets, want %d", enc.name, len(again), len(pkts))
		}
		for i := range pkts {
			if !equalPacket(again[i], pkts[i]) {
				t.Fatalf("%s packet %d: %+v != %+v", enc.name, i, again[i], pkts[i])
			}
		}
	}
}

func FuzzDecodePayloadV3(f *testing.F) {
	for _, tt := range decodePayloadV3Tests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// The packets before a fault must be sound too: a server handles
		// them before it closes the session.
		pkts, err := DecodePayloadV3(body)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		checkReDecode(t, pkts)
	})
}

func FuzzDecodeBinaryPayloadV3(f *testing.F) {
	for _, tt := range decodeBinaryPayloadV3Tests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := DecodeBinaryPayloadV3(body)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		checkReDecode(t, pkts)
	})
}

func FuzzDecodeFrameV3(f *testing.F) {
	for _, tt := range decodeFrameV3Tests {
		f.Add([]byte(tt.in), tt.binary)
	}
	f.Fuzz(func(t *testing.T, data []byte, binary bool) {
		p, err := DecodeFrameV3(data, binary)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if binary {
			if !p.Binary || p.Type != Message || !bytes.Equal(p.Data, data[1:]) {
				t.Fatalf("binary frame decoded to %+v", p)
			}
			return
		}
		again, err := DecodeFrameV3(AppendTextV3(nil, p), false)
		if err != nil || !equalPacket(again, p) {
			t.Fatalf("re-decode of %+v: %+v, %v", p, again, err)
		}
		checkReDecode(t, []Packet{p})
	})
}
