package msgpack

import (
	"strings"
	"testing"

	"github.com/actorio/actorio/protocol/socketio"
)

// The translation of an echo's ack and of a chat event, each way. The
// comparison with msgpack libraries is in internal/libcompare.
func BenchmarkTranslate(b *testing.B) {
	msg := socketio.Object{{Key: "user", Value: "alice"}, {Key: "text", Value: strings.Repeat("hello ", 10)}, {Key: "ts", Value: 1712345678901}}
	for _, c := range []struct {
		name string
		t    socketio.PacketType
		args []any
	}{
		{"ack", socketio.Ack, []any{strings.Repeat("x", 64)}},
		{"event", socketio.Event, []any{"chat", msg}},
	} {
		data, _, err := socketio.MarshalArgs(c.args...)
		if err != nil {
			b.Fatal(err)
		}
		frame := socketio.AppendEncode(nil, socketio.Packet{Type: c.t, ID: 1, HasID: c.t == socketio.Ack, Data: data})
		wire, err := AppendFrame(nil, frame, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/to-msgpack", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, err := AppendFrame(make([]byte, 0, FrameSize(frame, nil)), frame, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/from-msgpack", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(wire)))
			for b.Loop() {
				if _, _, err := Decode(wire); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
