package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/node"
	"github.com/actorio/actorio/protocol/msgpack"
	"github.com/actorio/actorio/protocol/socketio"
	"github.com/gorilla/websocket"
)

// Options.Parser = ParserMsgpack against the official socket.io-client 4.8
// with the npm socket.io-msgpack-parser, on both transports.

// msgpackDriver is driverScript with every socket on the msgpack parser,
// and the op "emitU8", an emit whose Buffers go as Uint8Arrays (which
// Node's notepack.io writes as ext type 0, not bin).
var msgpackDriver = func() string {
	s := driverScript
	for _, r := range [][2]string{
		{"io(URL + (nsp || '/'), opts || {})", "io(URL + (nsp || '/'), { ...(opts || {}), parser: msgpackParser })"},
		{"    case 'disconnect':", `    case 'emitU8':
      s.emit(c.ev, ...(c.args || []).map((a) => (Buffer.isBuffer(a) ? new Uint8Array(a) : a)), (...r) => out('ack', c.name, c.tag, ...r));
      break;
    case 'disconnect':`},
	} {
		if !strings.Contains(s, r[0]) {
			panic("msgpackDriver: driverScript has no " + r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	return "import msgpackParser from 'socket.io-msgpack-parser';\n" + s
}()

var msgpackTransports = []struct {
	name string
	opts map[string]any
}{
	{"websocket", wsOnly},
	{"polling", pollingOnly},
	{"upgrade", map[string]any{}},
}

// TestMsgpackEmitAckBinary is TestBinary with the msgpack parser, plus
// Uint8Arrays and an ack requested by the server: what handlers see
// through Args, and what the client gets, are the same as with JSON.
func TestMsgpackEmitAckBinary(t *testing.T) {
	for _, tc := range msgpackTransports {
		t.Run(tc.name, func(t *testing.T) {
			checks := make(chan error, 4)
			acks := make(chan string, 1)
			ts := startServer(t, actorio.Options{Parser: actorio.ParserMsgpack}, func(srv *actorio.Server) {
				srv.OnConnection(func(s *actorio.Socket) {
					s.On("bin", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
						checks <- checkReceivedBinary(args)
						_ = ack([]byte{9, 8}, map[string]any{"n": 1, "deep": []any{[]byte{7}, map[string]any{"b": []byte{6, 5}}}})
					})
					s.On("u8", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
						_ = ack(args.Bytes(0), args.Bytes(1) == nil)
					})
					s.On("ask", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
						go func() {
							a, err := s.EmitWithAck(ctxStep(t, step), "question", "why", []byte{4, 2})
							if err != nil {
								acks <- err.Error()
								return
							}
							acks <- a.String(0) + " " + a.String(1) + " " + string(a.Bytes(2))
						}()
					})
					s.On("echo", echoHandler)
				})
			})
			c := runScript(t, ts.URL, msgpackDriver, nil)
			c.connect("a", "/", tc.opts)

			// Client to server, then the ack's Buffers back.
			l := c.emitAck("a", "bin",
				node.Bin{1, 2, 3},
				map[string]any{"name": "x", "data": node.Bin{4, 5}, "list": []any{node.Bin{6}, 7, map[string]any{"deep": node.Bin{8}}}})
			if err := recv(t, checks, step, "the bin handler"); err != nil {
				t.Error(err)
			}
			if got, want := l.Values()[2:], []any{
				[]byte{9, 8},
				map[string]any{"n": float64(1), "deep": []any{[]byte{7}, map[string]any{"b": []byte{6, 5}}}},
			}; !reflect.DeepEqual(got, want) {
				t.Errorf("binary ack = %#v\nwant %#v", got, want)
			}

			// A Uint8Array (ext type 0) is binary too.
			c.send(map[string]any{"op": "emitU8", "name": "a", "ev": "u8", "tag": "u8", "args": []any{node.Bin{5, 6, 7}, "s"}})
			l = c.waitFor("the u8 ack", func(l nodeLine) bool { return l.Ev == "ack" && l.Arg(1) == "u8" })
			if got := l.Values()[2:]; !reflect.DeepEqual(got, []any{[]byte{5, 6, 7}, true}) {
				t.Errorf("u8 ack = %#v", got)
			}

			// The server asks; the client's ack ("a", then the arguments) comes back.
			c.emit("a", "ask")
			ev := c.expectEvent("a", "question")
			if ev.Arg(2) != true || !reflect.DeepEqual(ev.Values()[3:], []any{"why", []byte{4, 2}}) {
				t.Errorf("question = %s", ev.Raw)
			}
			if got := recv(t, acks, step, "the client's ack"); got != "a why \x04\x02" {
				t.Errorf("ack seen by the server: %q", got)
			}

			// Echo: the exact JSON comes back, key order and Buffers kept.
			args := []json.RawMessage{
				json.RawMessage(`"s"`),
				json.RawMessage("{\"z\":1,\"a\":[{\"$bin\":\"AQI=\"},{\"y\":2,\"b\":3}],\"m\":\"é\u2028😀\",\"n\":1.5,\"e\":[],\"o\":{},\"t\":true,\"u\":null}"),
				json.RawMessage(`{"$bin":"AAEC/w=="}`),
				json.RawMessage(`[[{"$bin":""}],{"k":{"$bin":"aGk="}}]`),
				json.RawMessage(`-0.25`),
				json.RawMessage(`9007199254740991`),
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
				if got := string(l.Args[i+2]); got != string(want) {
					t.Errorf("echo arg %d = %s, want %s", i, got, want)
				}
			}
		})
	}
}

// TestMsgpackRoomBroadcast: a broadcast to a room reaches its members, on
// either transport, and nobody else.
func TestMsgpackRoomBroadcast(t *testing.T) {
	ts := startServer(t, actorio.Options{Parser: actorio.ParserMsgpack}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				s.Join(args.String(0))
				_ = ack()
			})
			s.On("shout", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				_ = srv.To(args.String(0)).Emit("news", args.String(1), []byte{1, 2})
				_ = ack()
			})
		})
	})
	c := runScript(t, ts.URL, msgpackDriver, nil)
	c.connect("a", "/", with(wsOnly, "forceNew", true))
	c.connect("b", "/", with(pollingOnly, "forceNew", true))
	c.connect("c", "/", with(wsOnly, "forceNew", true))
	c.emitAck("a", "join", "room")
	c.emitAck("b", "join", "room")
	c.emitAck("c", "shout", "room", "hello")
	for _, name := range []string{"a", "b"} {
		if ev := c.expectEvent(name, "news"); !reflect.DeepEqual(ev.Values()[3:], []any{"hello", []byte{1, 2}}) {
			t.Errorf("%s got %s", name, ev.Raw)
		}
	}
	c.quiet("news for c", 200*time.Millisecond, func(l nodeLine) bool { return l.Ev == "event" && l.Arg(0) == "c" })
}

// TestMsgpackRefusals: a namespace that does not exist and a middleware's
// refusal reach the client as CONNECT_ERROR, message and data.
func TestMsgpackRefusals(t *testing.T) {
	ts := startServer(t, actorio.Options{Parser: actorio.ParserMsgpack}, func(srv *actorio.Server) {
		srv.Of("/private").Use(func(s *actorio.Socket) error {
			return &actorio.ConnectError{Message: "not authorized", Data: map[string]any{"code": 42}}
		})
	})
	c := runScript(t, ts.URL, msgpackDriver, nil)
	for _, tc := range msgpackTransports {
		c.open("nope-"+tc.name, "/nope", with(tc.opts, "forceNew", true, "reconnection", false))
		if l := c.expect("connect_error", "nope-"+tc.name); string(l.Args[1]) != `{"name":"Error","message":"Invalid namespace","data":null}` {
			t.Errorf("%s: /nope: %s", tc.name, l.Raw)
		}
		c.open("private-"+tc.name, "/private", with(tc.opts, "forceNew", true, "reconnection", false))
		if l := c.expect("connect_error", "private-"+tc.name); string(l.Args[1]) != `{"name":"Error","message":"not authorized","data":{"code":42}}` {
			t.Errorf("%s: /private: %s", tc.name, l.Raw)
		}
	}
}

// TestMsgpackRecovery: with connection state recovery, a client whose
// transport dies mid-stream comes back restored and gets what it missed,
// every event with its offset as last argument (a msgpack str): a room
// broadcast, a broadcast to its id with binary, and Socket.Emit.
func TestMsgpackRecovery(t *testing.T) {
	const n = 200
	const dropAt = 80
	script := strings.Replace(recoveryScript, "JSON.parse(process.env.OPTS)",
		"{ ...JSON.parse(process.env.OPTS), parser: require('socket.io-msgpack-parser') }", 1)
	if script == recoveryScript {
		t.Fatal("recoveryScript has no JSON.parse(process.env.OPTS)")
	}
	for _, tc := range msgpackTransports[:2] {
		t.Run(tc.name, func(t *testing.T) {
			connected := make(chan *actorio.Socket, 4)
			ts := startServer(t, actorio.Options{Parser: actorio.ParserMsgpack, ConnectionStateRecovery: &actorio.ConnectionStateRecovery{}},
				func(srv *actorio.Server) {
					srv.OnConnection(func(s *actorio.Socket) {
						if !s.Recovered() {
							s.Join("r")
						}
						connected <- s
					})
				})
			b, _ := json.Marshal(with(tc.opts, "reconnectionDelay", 100, "reconnectionDelayMax", 100, "randomizationFactor", 0))
			c := runScript(t, ts.URL, script, map[string]string{"OPTS": string(b)})
			first := c.waitFor("the first connect", func(l nodeLine) bool { return l.Ev == "connect" })
			sid := first.Arg(0).(string)
			s1 := recv(t, connected, step, "the first connection")

			srv := ts.Srv
			reached := make(chan struct{})
			produced := make(chan error, 1)
			stop := make(chan struct{})
			stopped := make(chan struct{})
			var once sync.Once
			t.Cleanup(func() { once.Do(func() { close(stop) }); <-stopped })
			go func() {
				defer close(stopped)
				cur := s1
				for i := 1; i <= n; i++ {
					if i == dropAt {
						close(reached)
					}
					if err := srv.To("r").Emit("a", i); err != nil {
						produced <- err
						return
					}
					if err := srv.To(sid).Emit("bin", i, []byte{byte(i)}); err != nil {
						produced <- err
						return
					}
					for {
						err := cur.Emit("c", i)
						if err == nil {
							break
						}
						if !errors.Is(err, actorio.ErrNotConnected) {
							produced <- err
							return
						}
						select {
						case cur = <-connected:
						case <-stop:
							produced <- errors.New("stopped")
							return
						case <-time.After(step):
							produced <- errors.New("no socket to emit c to")
							return
						}
					}
					select {
					case <-stop:
						produced <- errors.New("stopped")
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
				produced <- srv.To(sid).Emit("done")
			}()

			recv(t, reached, step, "the producer's drop point")
			for attempt := 0; ; attempt++ {
				if ts.DropConnections() == 0 {
					t.Fatal("no connection to drop")
				}
				_, err := c.waitForTimeout("the client's disconnect", 500*time.Millisecond, func(l nodeLine) bool { return l.Ev == "disconnect" })
				if err == nil {
					break
				}
				if attempt == 5 {
					t.Fatal(err)
				}
			}
			second := c.waitFor("the reconnect", func(l nodeLine) bool { return l.Ev == "connect" })
			if second.Arg(0) != sid || second.Arg(1) != true {
				t.Fatalf("reconnect %s: want id %s recovered", second.Raw, sid)
			}
			if err := recv(t, produced, 2*step, "the producer's end"); err != nil {
				t.Fatalf("producer: %v", err)
			}
			got := c.waitFor("the events", func(l nodeLine) bool { return l.Ev == "got" })
			var streams map[string][]int
			if err := json.Unmarshal(got.Args[0], &streams); err != nil {
				t.Fatalf("decode %s: %v", got.Raw, err)
			}
			for _, ev := range []string{"a", "c", "bin"} {
				if want := seq(1, n, 1); !slices.Equal(streams[ev], want) {
					t.Errorf("stream %s: got %d events %v, want 1..%d once each in order", ev, len(streams[ev]), streams[ev], n)
				}
			}
			c.none("an event without offset or with a bad attachment", func(l nodeLine) bool {
				return l.Ev == "no-offset" || l.Ev == "bad-bin"
			})
		})
	}
}

// msgpackRefServer is Node's socket.io 4.8 with the npm msgpack parser,
// serving the app of msgpackApp.
const msgpackRefServer = `
const http = require('node:http');
const { Server } = require('socket.io');
const httpServer = http.createServer();
const io = new Server(httpServer, { parser: require('socket.io-msgpack-parser') });
io.on('connection', (s) => {
  s.on('echo', (...args) => { const ack = args.pop(); ack(...args); });
  s.on('gimme', () => s.emit('blob', Buffer.from([255, 0]), { n: { b: Buffer.from([7]) } }, 'plain', 1.5, -3, 70000, 'é'));
  s.on('ask', () => s.emit('question', 'why', () => {}));
  s.on('bye', () => s.disconnect());
});
io.of('/private').use((s, next) => { const e = new Error('not authorized'); e.data = { code: 42 }; next(e); });
httpServer.listen(0, '127.0.0.1', () => out('listening', httpServer.address().port));
await new Promise(() => {});
`

// msgpackApp is msgpackRefServer's app on actorio.
func msgpackApp(srv *actorio.Server) {
	srv.OnConnection(func(s *actorio.Socket) {
		s.On("echo", echoHandler)
		s.On("gimme", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
			_ = s.Emit("blob", []byte{255, 0}, map[string]any{"n": map[string]any{"b": []byte{7}}}, "plain", 1.5, -3, 70000, "é")
		})
		s.On("ask", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
			go func() { _, _ = s.EmitWithAck(context.Background(), "question", "why") }()
		})
		s.On("bye", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) { s.Disconnect(false) })
	})
	srv.Of("/private").Use(func(*actorio.Socket) error {
		return &actorio.ConnectError{Message: "not authorized", Data: map[string]any{"code": 42}}
	})
}

// TestMsgpackBytesAsNode sends the same msgpack packets, over a raw
// WebSocket, to Node's socket.io with the msgpack parser and to actorio
// with ParserMsgpack, and compares the bytes of every answer, socket ids
// put aside. Two answers differ in their bytes only, kept on purpose:
// Node's CONNECT reply carries "pid" as notepack's undefined when
// recovery is off (actorio leaves the key out, which the client reads the
// same), and Node's "Invalid namespace" CONNECT_ERROR has its "nsp" key
// before "data". Node numbers the acks a socket asks for from 0, actorio
// from 1 (with either parser): that answer is compared with Node's id.
func TestMsgpackBytesAsNode(t *testing.T) {
	node.RequirePackage(t, "socket.io")
	p := node.Run(t, nil, msgpackRefServer, nil)
	l, err := p.Next(step)
	if err != nil || l.Ev != "listening" {
		t.Fatalf("node server: %v %s", err, l.Raw)
	}
	nodeURL := fmt.Sprintf("ws://127.0.0.1:%v/socket.io/?EIO=4&transport=websocket", l.Arg(0))
	ts := startServer(t, actorio.Options{Parser: actorio.ParserMsgpack}, msgpackApp)
	ours := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"

	pkt := func(p socketio.Packet, atts ...[]byte) []byte {
		b, err := msgpack.AppendPacket(nil, p, atts)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	steps := []struct {
		name    string
		send    []byte
		answers int
		decoded bool // compare decoded packets, not bytes
		ownID   bool // an ack id the server chose
	}{
		{"connect", pkt(socketio.Packet{Type: socketio.Connect, Namespace: "/"}), 1, true, false},
		{"echo with binary", pkt(socketio.Packet{Type: socketio.Event, Namespace: "/", ID: 5, HasID: true,
			Data: []byte(`["echo","x",{"_placeholder":true,"num":0},{"a":[1,1.5,-70000,null,true],"é":"😀"}]`)}, []byte{1, 2}), 1, false, false},
		{"server emit with binary", pkt(socketio.Packet{Type: socketio.Event, Namespace: "/", Data: []byte(`["gimme"]`)}), 1, false, false},
		{"server asks an ack", pkt(socketio.Packet{Type: socketio.Event, Namespace: "/", Data: []byte(`["ask"]`)}), 1, false, true},
		{"middleware refusal", pkt(socketio.Packet{Type: socketio.Connect, Namespace: "/private"}), 1, false, false},
		{"unknown namespace", pkt(socketio.Packet{Type: socketio.Connect, Namespace: "/nope"}), 1, true, false},
		{"server disconnect", pkt(socketio.Packet{Type: socketio.Event, Namespace: "/", Data: []byte(`["bye"]`)}), 1, false, false},
	}
	run := func(url string) [][]byte {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		_ = ws.SetReadDeadline(time.Now().Add(step))
		if _, open, err := ws.ReadMessage(); err != nil || open[0] != '0' {
			t.Fatalf("%s: open %q %v", url, open, err)
		}
		var got [][]byte
		for _, s := range steps {
			if err := ws.WriteMessage(websocket.BinaryMessage, s.send); err != nil {
				t.Fatal(err)
			}
			for range s.answers {
				kind, b, err := ws.ReadMessage()
				if err != nil || kind != websocket.BinaryMessage {
					t.Fatalf("%s: %s: %v %q", url, s.name, err, b)
				}
				got = append(got, b)
			}
		}
		return got
	}
	want, have := run(nodeURL), run(ours)
	decode := func(b []byte) (socketio.Packet, [][]byte) {
		p, atts, err := msgpack.Decode(b)
		if err != nil {
			t.Fatalf("%x: %v", b, err)
		}
		var v struct{ SID string }
		if p.Type == socketio.Connect && json.Unmarshal(p.Data, &v) == nil && v.SID != "" {
			p.Data = bytes.ReplaceAll(p.Data, []byte(v.SID), []byte("<sid>"))
		}
		return p, atts
	}
	for i, s := range steps {
		w, h := want[i], have[i]
		pw, aw := decode(w)
		ph, ah := decode(h)
		if s.ownID {
			// Node numbers a socket's acks from 0, actorio from 1.
			ph.ID = pw.ID
			var err error
			if h, err = msgpack.AppendPacket(nil, ph, ah); err != nil {
				t.Fatal(err)
			}
		}
		if !s.decoded {
			if !bytes.Equal(w, h) {
				t.Errorf("%s: Node %x\nactorio %x", s.name, w, h)
			}
			continue
		}
		if pw.Type != ph.Type || pw.Namespace != ph.Namespace || !bytes.Equal(pw.Data, ph.Data) || len(aw) != len(ah) {
			t.Errorf("%s: Node %x (%s)\nactorio %x (%s)", s.name, w, pw.Data, h, ph.Data)
		}
		if bytes.Equal(w, h) {
			t.Errorf("%s: the bytes are the same now: compare them", s.name)
		}
	}
}
