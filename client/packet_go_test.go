package client

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/protocol/socketio"
)

// TestGoManagerPacketEvent checks the Manager's packet event against our
// server, on both transports and with both parsers: every packet the
// Manager decodes, of every namespace (CONNECT, EVENT, BINARY_EVENT with
// its attachment, ACK, BINARY_ACK, DISCONNECT), in the order received,
// with what On handlers get as the JavaScript client's packet object; and
// none once the handler is removed.
func TestGoManagerPacketEvent(t *testing.T) {
	for _, tc := range []struct {
		name       string
		transports []string
		parser     Parser
	}{
		{"websocket", []string{TransportWebSocket}, ParserJSON},
		{"polling", []string{TransportPolling}, ParserJSON},
		{"msgpack", []string{TransportWebSocket}, ParserMsgpack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := actorio.Options{}
			if tc.parser == ParserMsgpack {
				opts.Parser = actorio.ParserMsgpack
			}
			g := startGo(t, opts, func(srv *actorio.Server) {
				srv.OnConnection(func(s *actorio.Socket) {
					s.On("hi", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
						_ = ack("plain")
						_ = s.Emit("news", "text", []byte{1, 2, 3})
					})
					s.On("bin", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) { _ = ack([]byte{9}) })
					s.On("bye", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) { s.Disconnect(false) })
				})
				srv.Of("/admin").OnConnection(func(s *actorio.Socket) { _ = s.Emit("welcome") })
			})
			m, err := NewManager(g.URL, fast(Options{Transports: tc.transports, Parser: tc.parser, DisableReconnection: true}))
			must(t, err)
			t.Cleanup(func() { _ = m.Close() })
			typed := make(chan Packet, 32)
			args := make(chan map[string]any, 32)
			m.OnEvent(func(e Event) {
				if e.Name == EventPacket {
					typed <- *e.Packet
				}
			})
			m.On(EventPacket, func(a Args, _ AckFunc) {
				var v map[string]any
				if err := a.Decode(0, &v); err != nil {
					t.Errorf("decode the packet: %v", err)
				}
				args <- v
			})
			s := m.Socket("/")
			admin := m.Socket("/admin")
			got := make(chan string, 4)
			s.On("news", func(Args, AckFunc) { got <- "news" })
			admin.On("welcome", func(Args, AckFunc) { got <- "welcome" })
			must(t, s.Connect())
			must(t, admin.Connect())
			recvPacket := func(what string, typ socketio.PacketType, nsp string) (Packet, map[string]any) {
				t.Helper()
				select {
				case p := <-typed:
					v := <-args
					if p.Type != typ || p.Namespace != nsp {
						t.Fatalf("%s: packet %d %q %s, want type %d in %q", what, p.Type, p.Namespace, p.Data, typ, nsp)
					}
					if v["type"] != float64(typ) || v["nsp"] != nsp {
						t.Errorf("%s: On handler got %v", what, v)
					}
					return p, v
				case <-time.After(waitTimeout):
					t.Fatalf("no packet event for %s", what)
					return Packet{}, nil
				}
			}
			// The two CONNECT answers and /admin's welcome after its own,
			// the namespaces in whatever order the server answered them.
			var seen []string
			for range 3 {
				select {
				case p := <-typed:
					v := <-args
					seen = append(seen, fmt.Sprintf("%d %s", p.Type, p.Namespace))
					if v["type"] != float64(p.Type) || v["nsp"] != p.Namespace {
						t.Errorf("On handler got %v for %+v", v, p)
					}
					if p.Type == socketio.Event && !sameJSON(v["data"], []any{"welcome"}) {
						t.Errorf("welcome data %v", v["data"])
					}
				case <-time.After(waitTimeout):
					t.Fatalf("packet events %v, want 3", seen)
				}
			}
			if i, j := slices.Index(seen, "0 /admin"), slices.Index(seen, "2 /admin"); !slices.Contains(seen, "0 /") || i < 0 || j < i {
				t.Errorf("packets %v", seen)
			}
			if recv(t, got) != "welcome" {
				t.Fatal("no welcome")
			}

			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if _, err := s.EmitWithAck(ctx, "hi"); err != nil {
				t.Fatal(err)
			}
			p, v := recvPacket("the ack", socketio.Ack, "/")
			if !p.HasID || v["id"] != float64(p.ID) || !sameJSON(v["data"], []any{"plain"}) {
				t.Errorf("ack %+v, On handler got %v", p, v)
			}
			// With the msgpack parser too: a packet with binary values is in
			// the JSON parser's form.
			p, v = recvPacket("news", socketio.BinaryEvent, "/")
			if len(p.Attachments) != 1 || !bytes.Equal(p.Attachments[0], []byte{1, 2, 3}) {
				t.Errorf("news attachments %v", p.Attachments)
			}
			if d, _ := v["data"].([]any); len(d) != 3 || d[0] != "news" || d[1] != "text" {
				t.Errorf("news data %v", v["data"])
			}
			if recv(t, got) != "news" {
				t.Fatal("no news")
			}
			// Binary values in place for the On handler, as in JavaScript.
			m.Off(EventPacket)
			values := make(chan any, 1)
			m.On(EventPacket, func(a Args, _ AckFunc) {
				v, err := a.Value(0)
				if err != nil {
					t.Error(err)
				}
				values <- v
			})
			if _, err := s.EmitWithAck(ctx, "bin"); err != nil {
				t.Fatal(err)
			}
			binAck := socketio.BinaryAck
			select {
			case p := <-typed:
				v := <-values
				o, _ := v.(Object)
				var data []any
				for _, mem := range o {
					if mem.Key == "data" {
						data, _ = mem.Value.([]any)
					}
				}
				if p.Type != binAck || len(p.Attachments) != 1 || len(data) != 1 || !bytes.Equal(asBytes(data[0]), []byte{9}) {
					t.Errorf("binary ack %+v, On handler got %v", p, v)
				}
			case <-time.After(waitTimeout):
				t.Fatal("no packet event for the binary ack")
			}

			// The server's DISCONNECT.
			m.Off(EventPacket)
			done := make(chan Packet, 1)
			m.Once(EventPacket, func(a Args, _ AckFunc) {
				val, err := a.Value(0)
				if err != nil {
					t.Error(err)
				}
				if o, ok := val.(Object); !ok || len(o) != 2 {
					t.Errorf("DISCONNECT as %v", val)
				}
			})
			m.OnEvent(func(e Event) {
				if e.Name == EventPacket && e.Packet.Type == socketio.Disconnect {
					done <- *e.Packet
				}
			})
			must(t, s.Emit("bye"))
			select {
			case p := <-done:
				if p.Namespace != "/" || p.Data != nil {
					t.Errorf("DISCONNECT %+v", p)
				}
			case <-time.After(waitTimeout):
				t.Fatal("no packet event for the DISCONNECT")
			}
			// The Once handler is gone: no more packet events.
			time.Sleep(50 * time.Millisecond)
			if m.packets.Load() {
				t.Error("packet events still made without a handler")
			}
		})
	}
}

// asBytes returns v as []byte, nil if it is not.
func asBytes(v any) []byte {
	b, _ := v.([]byte)
	return b
}

// sameJSON compares a decoded JSON value with want.
func sameJSON(got any, want []any) bool {
	g, ok := got.([]any)
	if !ok || len(g) != len(want) {
		return false
	}
	for i := range g {
		if g[i] != want[i] {
			return false
		}
	}
	return true
}
