package socketio

import (
	"encoding/json"
	"testing"
)

func BenchmarkDecodeEvent(b *testing.B) {
	in := []byte(`212["chat message",{"room":"general","text":"hello <world>","ts":1700000000000,"tags":["a","b"]}]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalArgs(b *testing.B) {
	payload := map[string]any{"room": "general", "text": "hello <world>", "ts": 1700000000000, "tags": []any{"a", "b"}, "score": 1.5}
	blob := make([]byte, 64)
	raw := json.RawMessage(`{"cached":true}`)
	dst := make([]byte, 0, 512)
	atts := make([][]byte, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		dst, atts, err = AppendMarshalArgs(dst[:0], atts[:0], "chat message", payload, blob, raw, 42)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseValue(b *testing.B) {
	in := []byte(`["chat message",{"room":"general","text":"hello <world>","ts":1700000000000,"tags":["a","b"]},{"_placeholder":true,"num":0}]`)
	atts := [][]byte{make([]byte, 64)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseValue(in, atts); err != nil {
			b.Fatal(err)
		}
	}
}
