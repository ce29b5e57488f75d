package engineio

import (
	"bytes"
	"testing"
)

func BenchmarkAppendPayload(b *testing.B) {
	pkts := []Packet{
		{Type: Message, Data: bytes.Repeat([]byte("x"), 64)},
		{Type: Message, Data: bytes.Repeat([]byte{1}, 64), Binary: true},
		{Type: Ping},
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPayload(buf[:0], pkts)
	}
}

func BenchmarkDecodePayload(b *testing.B) {
	body := AppendPayload(nil, []Packet{
		{Type: Message, Data: bytes.Repeat([]byte("x"), 64)},
		{Type: Message, Data: bytes.Repeat([]byte{1}, 64), Binary: true},
		{Type: Pong},
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodePayload(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	frame := append([]byte("4"), bytes.Repeat([]byte("x"), 128)...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFrame(frame, false); err != nil {
			b.Fatal(err)
		}
	}
}
