package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/node"
	"github.com/actorio/actorio/protocol/socketio"
)

// TestBinary sends Buffers both ways, at the top level and nested in
// objects and arrays, over each transport, and checks that an echo returns
// its arguments unchanged: binary, key order and all.
func TestBinary(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts map[string]any
	}{
		{"websocket", wsOnly},
		{"polling", pollingOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checks := make(chan error, 4)
			ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
				srv.OnConnection(func(s *actorio.Socket) {
					s.On("bin", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
						checks <- checkReceivedBinary(args)
						_ = ack([]byte{9, 8}, map[string]any{"n": 1, "deep": []any{[]byte{7}, map[string]any{"b": []byte{6, 5}}}})
					})
					s.On("gimme", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
						checks <- s.Emit("blob",
							[]byte{0xff, 0, 1},
							map[string]any{"a": []any{1, []byte{1, 2}}, "empty": []byte{}},
							socketio.Object{{Key: "z", Value: []byte("z")}, {Key: "a", Value: "text"}},
							"plain")
					})
					s.On("echo", echoHandler)
				})
			})
			c := startClients(t, ts)
			c.connect("a", "/", tc.opts)

			// Client to server: the handler checks what it got.
			l := c.emitAck("a", "bin",
				node.Bin{1, 2, 3},
				map[string]any{"name": "x", "data": node.Bin{4, 5}, "list": []any{node.Bin{6}, 7, map[string]any{"deep": node.Bin{8}}}})
			if err := recv(t, checks, step, "the bin handler"); err != nil {
				t.Error(err)
			}
			// The ack brings Buffers back, nested ones included.
			if got, want := l.Values()[2:], []any{
				[]byte{9, 8},
				map[string]any{"n": float64(1), "deep": []any{[]byte{7}, map[string]any{"b": []byte{6, 5}}}},
			}; !reflect.DeepEqual(got, want) {
				t.Errorf("binary ack = %#v\nwant %#v", got, want)
			}

			// Server to client.
			c.emit("a", "gimme")
			if err := recv(t, checks, step, "the gimme handler"); err != nil {
				t.Fatalf("Emit: %v", err)
			}
			ev := c.expectEvent("a", "blob")
			if got, want := ev.Values()[3:], []any{
				[]byte{0xff, 0, 1},
				map[string]any{"a": []any{float64(1), []byte{1, 2}}, "empty": []byte{}},
				map[string]any{"z": []byte("z"), "a": "text"},
				"plain",
			}; !reflect.DeepEqual(got, want) {
				t.Errorf("blob event = %#v\nwant %#v", got, want)
			}
			if got := string(ev.Args[5]); got != `{"z":{"$bin":"eg=="},"a":"text"}` {
				t.Errorf("Object key order lost: %s", got)
			}

			// Echo: the exact JSON comes back, Buffers as Buffers.
			args := []json.RawMessage{
				json.RawMessage(`"s"`),
				json.RawMessage("{\"z\":1,\"a\":[{\"$bin\":\"AQI=\"},{\"y\":2,\"b\":3}],\"m\":\"é\u2028😀\",\"n\":1.5,\"e\":[],\"o\":{},\"t\":true,\"u\":null}"),
				json.RawMessage(`{"$bin":"AAEC/w=="}`),
				json.RawMessage(`[[{"$bin":""}],{"k":{"$bin":"aGk="}}]`),
				json.RawMessage(`-0.25`),
			}
			anyArgs := make([]any, len(args))
			for i, a := range args {
				anyArgs[i] = a
			}
			l = c.emitAck("a", "echo", anyArgs...)
			if len(l.Args)-2 != len(args) {
				t.Fatalf("echo acked %d args, want %d: %s", len(l.Args)-2, len(args), l.Raw)
			}
			for i, want := range args {
				// out() is JSON.stringify: compact, keys in order.
				if got := string(l.Args[i+2]); got != string(want) {
					t.Errorf("echo arg %d = %s, want %s", i, got, want)
				}
			}
		})
	}
}

// checkReceivedBinary checks the arguments of the "bin" event through each
// Args accessor.
func checkReceivedBinary(args actorio.Args) error {
	if args.Len() != 2 {
		return fmt.Errorf("%d args, want 2", args.Len())
	}
	if b := args.Bytes(0); !bytes.Equal(b, []byte{1, 2, 3}) {
		return fmt.Errorf("Bytes(0) = %v", b)
	}
	var top []byte
	if err := args.Decode(0, &top); err != nil || !bytes.Equal(top, []byte{1, 2, 3}) {
		return fmt.Errorf("Decode(0) = %v, %v", top, err)
	}
	if b := args.Bytes(1); b != nil {
		return fmt.Errorf("Bytes(1) of an object = %v, want nil", b)
	}
	var obj struct {
		Name string `json:"name"`
		Data []byte `json:"data"`
		List []any  `json:"list"`
	}
	if err := args.Decode(1, &obj); err != nil {
		return fmt.Errorf("Decode(1): %w", err)
	}
	if obj.Name != "x" || !bytes.Equal(obj.Data, []byte{4, 5}) || len(obj.List) != 3 {
		return fmt.Errorf("Decode(1) = %+v", obj)
	}
	v, err := args.Value(1)
	if err != nil {
		return fmt.Errorf("Value(1): %w", err)
	}
	o, ok := v.(socketio.Object)
	if !ok {
		return fmt.Errorf("Value(1) is %T", v)
	}
	data, _ := o.Get("data")
	list, _ := o.Get("list")
	want := []any{[]byte{6}, json.Number("7"), socketio.Object{{Key: "deep", Value: []byte{8}}}}
	if !bytes.Equal(data.([]byte), []byte{4, 5}) || !reflect.DeepEqual(list, want) {
		return fmt.Errorf("Value(1) = %#v", o)
	}
	if raw := string(args.Raw(0)); raw != `{"_placeholder":true,"num":0}` {
		return fmt.Errorf("Raw(0) = %s", raw)
	}
	return nil
}
