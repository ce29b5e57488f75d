package libcompare

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/actorio/actorio/protocol/msgpack"
	"github.com/actorio/actorio/protocol/socketio"
)

// frames are what a server sends: an echo ack, a chat event, an event with
// a 4 KiB binary, a list of 20 messages.
func frames(tb testing.TB) map[string]struct {
	frame []byte
	atts  [][]byte
} {
	msg := socketio.Object{{Key: "id", Value: 12345}, {Key: "user", Value: "alice"}, {Key: "text", Value: strings.Repeat("hello ", 10)},
		{Key: "ts", Value: 1712345678901}, {Key: "tags", Value: []string{"a", "b"}}, {Key: "score", Value: 0.75}}
	list := make([]any, 20)
	for i := range list {
		list[i] = msg
	}
	out := map[string]struct {
		frame []byte
		atts  [][]byte
	}{}
	for name, args := range map[string][]any{
		"ack":    {strings.Repeat("x", 64)},
		"event":  {"chat", msg},
		"binary": {"file", socketio.Object{{Key: "name", Value: "a.bin"}}, bytes.Repeat([]byte{7}, 4096)},
		"list":   {"history", list},
	} {
		data, atts, err := socketio.MarshalArgs(args...)
		if err != nil {
			tb.Fatal(err)
		}
		t := socketio.Event
		if len(atts) > 0 {
			t = socketio.BinaryEvent
		}
		frame := socketio.AppendEncode(nil, socketio.Packet{Type: t, Namespace: "/", Data: data, Attachments: len(atts)})
		out[name] = struct {
			frame []byte
			atts  [][]byte
		}{frame, atts}
	}
	return out
}

// The three ways give the same packet (map key order aside).
func TestSame(t *testing.T) {
	for name, f := range frames(t) {
		own, err := msgpack.AppendFrame(nil, f.frame, f.atts)
		if err != nil {
			t.Fatal(err)
		}
		for lib, enc := range map[string]func([]byte, [][]byte) ([]byte, error){"vmihailenco": vmEncode, "tinylib": tlEncode} {
			b, err := enc(f.frame, f.atts)
			if err != nil {
				t.Fatalf("%s %s: %v", lib, name, err)
			}
			p1, a1, err1 := msgpack.Decode(own)
			p2, a2, err2 := msgpack.Decode(b)
			if err1 != nil || err2 != nil || !sameJSON(p1.Data, p2.Data) || !reflect.DeepEqual(a1, a2) {
				t.Fatalf("%s %s: %v %v\n%s\n%s", lib, name, err1, err2, p1.Data, p2.Data)
			}
		}
		for lib, dec := range map[string]func([]byte) (socketio.Packet, [][]byte, error){"vmihailenco": vmDecode, "tinylib": tlDecode} {
			p, atts, err := dec(own)
			want, watts, _ := msgpack.Decode(own)
			if err != nil || !sameJSON(p.Data, want.Data) || len(atts) != len(watts) {
				t.Fatalf("%s %s: %v\n%s\n%s", lib, name, err, p.Data, want.Data)
			}
		}
	}
}

func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func BenchmarkEncode(b *testing.B) {
	for name, f := range frames(b) {
		for lib, enc := range map[string]func([]byte, [][]byte) ([]byte, error){
			"handwritten": func(fr []byte, at [][]byte) ([]byte, error) {
				return msgpack.AppendFrame(make([]byte, 0, msgpack.FrameSize(fr, at)), fr, at)
			},
			"vmihailenco": vmEncode, "tinylib": tlEncode,
		} {
			b.Run(name+"/"+lib, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(f.frame)))
				for b.Loop() {
					if _, err := enc(f.frame, f.atts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for name, f := range frames(b) {
		in, err := msgpack.AppendFrame(nil, f.frame, f.atts)
		if err != nil {
			b.Fatal(err)
		}
		for lib, dec := range map[string]func([]byte) (socketio.Packet, [][]byte, error){
			"handwritten": msgpack.Decode, "vmihailenco": vmDecode, "tinylib": tlDecode,
		} {
			b.Run(name+"/"+lib, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(in)))
				for b.Loop() {
					if _, _, err := dec(in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
