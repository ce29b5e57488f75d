package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/node"
	"github.com/actorio/actorio/protocol/engineio"
)

// Socket.IO v2 clients (Engine.IO v3) under Options.AllowEIO3, driven by
// the official socket.io-client 2.x (npm alias socket.io-client-v2).

// v2ClientLib is the v2 counterpart of clientLib: open(name, nsp, opts)
// opens a socket (forceNew: a Manager of its own) and join(name, of, nsp,
// opts) one more namespace on the Manager of socket of; each reports
//
//	connect       name, socket.id, engine id, transport name
//	error         name, error payload     (an ERROR packet: a refusal)
//	connect_error name, error message     (the Engine.IO connection failed)
//	disconnect    name, reason
//	reconnect     name, attempt
//	upgrade       name, transport name
//	event         name, event, hasAck, ...args
//
// An event the server sent with an ack id is acked with (name, ...args).
const v2ClientLib = `
const io = require('socket.io-client-v2');
const URL = process.env.SERVER_URL;
const sockets = {};
function watch(name, s) {
  sockets[name] = s;
  s.on('connect', () => out('connect', name, s.id, s.io.engine.id, s.io.engine.transport.name));
  s.on('error', (err) => out('error', name, err));
  s.on('connect_error', (err) => out('connect_error', name, String(err && err.message || err)));
  s.on('disconnect', (reason) => out('disconnect', name, reason));
  s.on('reconnect', (n) => out('reconnect', name, n));
  s.onevent = function (packet) {
    const args = packet.data || [];
    const hasAck = packet.id != null;
    out('event', name, args[0], hasAck, ...args.slice(1));
    if (hasAck) this.ack(packet.id)(name, ...args.slice(1));
  };
  return s;
}
function open(name, nsp, opts) {
  const s = watch(name, io(URL + (nsp || '/'), Object.assign({ forceNew: true }, opts || {})));
  s.io.engine.on('upgrade', (t) => out('upgrade', name, t.name));
  return s;
}
function join(name, of, nsp, opts) {
  return watch(name, sockets[of].io.socket(nsp, opts || {}));
}
`

// v2DriverScript runs the commands of a v2Clients.
const v2DriverScript = v2ClientLib + `
for await (const c of input()) {
  const s = sockets[c.name];
  switch (c.op) {
    case 'open':
      open(c.name, c.nsp, c.opts);
      break;
    case 'join':
      join(c.name, c.of, c.nsp, c.opts);
      break;
    case 'emit':
      if (c.tag) s.emit(c.ev, ...(c.args || []), (...r) => out('ack', c.name, c.tag, ...r));
      else s.emit(c.ev, ...(c.args || []));
      break;
    case 'disconnect':
      s.disconnect();
      break;
    case 'connect':
      s.connect();
      break;
  }
}
`

// v2Clients drives socket.io-client 2.x sockets; the lines are those of
// nodeClients.
type v2Clients struct{ *nodeClients }

// startV2Clients runs the v2 driver against ts, with the extra
// environment env.
func startV2Clients(t testing.TB, ts *testServer, env ...string) v2Clients {
	t.Helper()
	node.RequirePackage(t, "socket.io-client-v2")
	e := map[string]string{}
	for i := 0; i+1 < len(env); i += 2 {
		e[env[i]] = env[i+1]
	}
	return v2Clients{runScript(t, ts.URL, v2DriverScript, e)}
}

// join opens namespace nsp as socket name on the Manager of socket of.
func (c v2Clients) join(name, of, nsp string, opts map[string]any) {
	c.t.Helper()
	c.send(map[string]any{"op": "join", "name": name, "of": of, "nsp": nsp, "opts": opts})
}

// v2Echo is the server the tests share: an "echo" that acks its
// arguments, "ask" that questions the client and emits its answer back,
// and "gimme" that emits binary.
func v2Echo(srv *actorio.Server) {
	srv.OnConnection(func(s *actorio.Socket) {
		s.On("echo", echoHandler)
		s.On("ask", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
			ctx, cancel := context.WithTimeout(context.Background(), step)
			defer cancel()
			r, err := s.EmitWithAck(ctx, "question", args.Values()...)
			if err != nil {
				_ = s.Emit("answer", "error: "+err.Error())
				return
			}
			_ = s.Emit("answer", r.Values()...)
		})
		s.On("gimme", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
			_ = s.Emit("blob", []byte{0xff, 0, 1}, map[string]any{"nested": []byte{7}}, "plain")
		})
	})
}

// v2Transports are the client options of the three ways a v2 client
// connects.
var v2Transports = []struct {
	name string
	opts map[string]any
	// final is the transport the session ends up on.
	final string
}{
	{"polling", pollingOnly, "polling"},
	{"websocket", wsOnly, "websocket"},
	{"upgrade", map[string]any{}, "websocket"},
	// forceBase64: binary as base64 text, on polling and WebSocket.
	{"upgrade base64", map[string]any{"forceBase64": true}, "websocket"},
}

// TestEIO3Transports connects a v2 client over each transport: it is in
// "/" without asking, with the socket id Node gives it (its Engine.IO
// session id, which it computes itself), and emits with acks and binary
// arguments work both ways.
func TestEIO3Transports(t *testing.T) {
	for _, tc := range v2Transports {
		t.Run(tc.name, func(t *testing.T) {
			ids := make(chan string, 4)
			ts := startServer(t, actorio.Options{AllowEIO3: true}, func(srv *actorio.Server) {
				v2Echo(srv)
				srv.OnConnection(func(s *actorio.Socket) {
					ids <- s.ID()
					s.On("bin", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
						if err := checkReceivedBinary(args); err != nil {
							t.Errorf("bin: %v", err)
						}
						_ = ack([]byte{9, 8}, map[string]any{"deep": []any{[]byte{7}}})
					})
				})
			})
			c := startV2Clients(t, ts)
			c.open("a", "/", tc.opts)
			l := c.expect("connect", "a")
			id, engineID := l.Arg(1), l.Arg(2)
			if id != engineID {
				t.Errorf("client socket id %v, engine id %v", id, engineID)
			}
			if got := recv(t, ids, step, "the server's socket"); got != id {
				t.Errorf("server socket id %s, client's %v", got, id)
			}
			if tc.final == "websocket" && l.Arg(3) == "polling" {
				c.expect("upgrade", "a")
			}

			// Client to server, with an ack.
			if l := c.emitAck("a", "echo", "hi", 1, map[string]any{"k": []any{true, nil}}); !reflect.DeepEqual(l.Values()[2:], []any{"hi", float64(1), map[string]any{"k": []any{true, nil}}}) {
				t.Errorf("echo ack: %s", l.Raw)
			}
			// Server to client, with an ack.
			c.emit("a", "ask", "meaning", 41)
			if ev := c.expectEvent("a", "question"); !reflect.DeepEqual(ev.Values()[2:], []any{true, "meaning", float64(41)}) {
				t.Errorf("question: %s", ev.Raw)
			}
			if ev := c.expectEvent("a", "answer"); !reflect.DeepEqual(ev.Values()[3:], []any{"a", "meaning", float64(41)}) {
				t.Errorf("answer: %s", ev.Raw)
			}
			// Binary, client to server and back in the ack.
			l = c.emitAck("a", "bin", node.Bin{1, 2, 3},
				map[string]any{"name": "x", "data": node.Bin{4, 5}, "list": []any{node.Bin{6}, 7, map[string]any{"deep": node.Bin{8}}}})
			if got, want := l.Values()[2:], []any{[]byte{9, 8}, map[string]any{"deep": []any{[]byte{7}}}}; !reflect.DeepEqual(got, want) {
				t.Errorf("binary ack = %#v, want %#v", got, want)
			}
			// Binary, server to client.
			c.emit("a", "gimme")
			if ev, want := c.expectEvent("a", "blob"), []any{[]byte{0xff, 0, 1}, map[string]any{"nested": []byte{7}}, "plain"}; !reflect.DeepEqual(ev.Values()[3:], want) {
				t.Errorf("blob = %#v, want %#v", ev.Values()[3:], want)
			}
			c.none("disconnect", func(l node.Line) bool { return l.Ev == "disconnect" })
		})
	}
}

// TestEIO3Namespaces joins namespaces the way a v2 client does: the query
// of a namespace's CONNECT is the socket's auth (and, being in the
// Manager's query too, in the handshake's query), a socket's id is
// "<namespace>#<engine id>", a refusing middleware's message (or data)
// reaches the client's error event, an unknown namespace gets Node's
// "Invalid namespace".
func TestEIO3Namespaces(t *testing.T) {
	type seen struct {
		id, auth, query string
	}
	seenCh := make(chan seen, 4)
	ts := startServer(t, actorio.Options{AllowEIO3: true}, func(srv *actorio.Server) {
		v2Echo(srv)
		admin := srv.Of("/admin")
		admin.OnConnection(func(s *actorio.Socket) {
			h := s.Handshake()
			seenCh <- seen{s.ID(), string(h.Auth), h.Query.Get("token")}
			s.On("echo", echoHandler)
		})
		srv.Of("/private").Use(func(s *actorio.Socket) error { return fmt.Errorf("not allowed") })
		srv.Of("/vip").Use(func(s *actorio.Socket) error {
			return &actorio.ConnectError{Message: "no", Data: map[string]any{"code": 42}}
		})
	})
	c := startV2Clients(t, ts)
	for _, tc := range v2Transports[:2] {
		t.Run(tc.name, func(t *testing.T) {
			c := v2Clients{c.on(t)}
			name := "admin-" + tc.name
			c.open(name, "/admin", with(tc.opts, "query", map[string]any{"token": "x y", "n": "1"}))
			l := c.expect("connect", name)
			want := "/admin#" + l.Arg(2).(string)
			if l.Arg(1) != want {
				t.Errorf("client socket id %v, want %s", l.Arg(1), want)
			}
			got := recv(t, seenCh, step, "the /admin socket")
			if got.id != want || !jsonEq(t, got.auth, `{"token":"x y","n":"1"}`) || got.query != "x y" {
				t.Errorf("server saw %+v, want id %s and auth {token, n}", got, want)
			}
			if l := c.emitAck(name, "echo", "in admin"); l.Arg(2) != "in admin" {
				t.Errorf("echo in /admin: %s", l.Raw)
			}

			// More namespaces on the same connection.
			c.join(name+"-private", name, "/private", nil)
			if l := c.expect("error", name+"-private"); l.Arg(1) != "not allowed" {
				t.Errorf("refusal: %s", l.Raw)
			}
			c.join(name+"-vip", name, "/vip", nil)
			if l := c.expect("error", name+"-vip"); !reflect.DeepEqual(l.Arg(1), map[string]any{"code": float64(42)}) {
				t.Errorf("refusal with data: %s", l.Raw)
			}
			c.join(name+"-nope", name, "/nope", nil)
			if l := c.expect("error", name+"-nope"); !reflect.DeepEqual(l.Arg(1), map[string]any{"message": "Invalid namespace"}) {
				t.Errorf("unknown namespace: %s", l.Raw)
			}
			// The connection and its /admin socket are unharmed.
			if l := c.emitAck(name, "echo", "still"); l.Arg(2) != "still" {
				t.Errorf("echo after the refusals: %s", l.Raw)
			}
		})
	}
}

// TestEIO3Reconnect closes a v2 client's transport from the server: the
// client reconnects by itself, with a new session and so a new id.
func TestEIO3Reconnect(t *testing.T) {
	for _, tc := range v2Transports[:2] {
		t.Run(tc.name, func(t *testing.T) {
			dl := newDisconnectLog()
			ts := startServer(t, actorio.Options{AllowEIO3: true}, func(srv *actorio.Server) {
				v2Echo(srv)
				srv.OnConnection(func(s *actorio.Socket) {
					dl.watch(s)
					s.On("drop", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) { s.CloseConn() })
				})
			})
			c := startV2Clients(t, ts)
			c.open("a", "/", with(tc.opts, "reconnectionDelay", 100, "reconnectionDelayMax", 200))
			id1 := c.expect("connect", "a").Arg(1).(string)
			c.emit("a", "drop")
			if l := c.expect("disconnect", "a"); l.Arg(1) != "transport close" {
				t.Errorf("client disconnect: %s", l.Raw)
			}
			c.expect("reconnect", "a")
			id2 := c.expect("connect", "a").Arg(1).(string)
			if id2 == id1 {
				t.Errorf("reconnected with the same id %s", id1)
			}
			if l := c.emitAck("a", "echo", "after"); l.Arg(2) != "after" {
				t.Errorf("echo after reconnecting: %s", l.Raw)
			}
			dl.expectOnce(t, id1, disconnect.ForcedClose)
		})
	}
}

// TestEIO3Refused checks that without AllowEIO3 a v2 client is refused as
// Node refuses it, on both transports: 400 {"code":5,"message":
// "Unsupported protocol version"}, and the client never connects.
func TestEIO3Refused(t *testing.T) {
	ts := startServer(t, actorio.Options{}, v2Echo)
	for _, q := range []string{"EIO=3&transport=polling", "EIO=3&transport=polling&b64=1"} {
		res, err := http.Get(ts.URL + "/socket.io/?" + q)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || body.String() != `{"code":5,"message":"Unsupported protocol version"}` {
			t.Errorf("%s: %d %q", q, res.StatusCode, body.String())
		}
	}
	c := startV2Clients(t, ts)
	for _, tc := range v2Transports[:2] {
		c.open(tc.name, "/", with(tc.opts, "reconnection", false))
		l := c.expect("connect_error", tc.name)
		if msg, _ := l.Arg(1).(string); !strings.Contains(msg, "error") {
			t.Errorf("%s: connect_error %s", tc.name, l.Raw)
		}
	}
	c.none("connect", func(l node.Line) bool { return l.Ev == "connect" })
	if n := ts.Srv.Stats().Connections; n != 0 {
		t.Errorf("%d connections open", n)
	}
}

// eio3NodeJS is Node's socket.io set up as v2EchoLikeNode, twice: with
// allowEIO3 and without; it prints both ports.
const eio3NodeJS = `
import http from 'node:http';
import { Server } from 'socket.io';

function setup(io) {
  io.on('connection', (s) => {
    s.on('echo', (...args) => { const ack = args.pop(); ack(...args); });
    s.on('gimme', () => s.emit('blob', Buffer.from([0xff, 0, 1]), 'plain'));
  });
  io.of('/admin').on('connection', (s) => s.emit('auth', s.handshake.auth));
  io.of('/private').use((s, next) => next(new Error('not allowed')));
  io.of('/vip').use((s, next) => { const e = new Error('no'); e.data = { code: 42 }; next(e); });
}
const ports = [];
for (const allowEIO3 of [true, false]) {
  const httpServer = http.createServer();
  setup(new Server(httpServer, { allowEIO3 }));
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  ports.push(httpServer.address().port);
}
out('listening', ...ports);
`

// v2EchoLikeNode sets srv up as eio3NodeJS sets Node's servers up.
func v2EchoLikeNode(srv *actorio.Server) {
	srv.OnConnection(func(s *actorio.Socket) {
		s.On("echo", echoHandler)
		s.On("gimme", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
			_ = s.Emit("blob", []byte{0xff, 0, 1}, "plain")
		})
	})
	srv.Of("/admin").OnConnection(func(s *actorio.Socket) {
		auth := s.Handshake().Auth
		if auth == nil {
			auth = json.RawMessage(`{}`)
		}
		_ = s.Emit("auth", auth)
	})
	srv.Of("/private").Use(func(s *actorio.Socket) error { return fmt.Errorf("not allowed") })
	srv.Of("/vip").Use(func(s *actorio.Socket) error {
		return &actorio.ConnectError{Message: "no", Data: map[string]any{"code": 42}}
	})
}

// eio3Transcript drives one server with raw Engine.IO v3 requests and
// records what it answers, session ids replaced by <sid>. Each answer is
// read once the server has had time to queue everything it will send, so
// that two servers batch alike.
type eio3Transcript struct {
	t     *testing.T
	base  string // http://host:port/socket.io/
	lines []string
	sid   string
}

// settle is how long the transcript lets a server queue its answers.
const settle = 150 * time.Millisecond

func (x *eio3Transcript) record(what string, status int, contentType string, body []byte) {
	s := string(body)
	if x.sid != "" {
		s = strings.ReplaceAll(s, x.sid, "<sid>")
	}
	x.lines = append(x.lines, fmt.Sprintf("%s → %d %s %q", what, status, contentType, s))
}

func (x *eio3Transcript) do(method, query, contentType string, body []byte) (int, string, []byte) {
	x.t.Helper()
	req, err := http.NewRequest(method, x.base+"?"+query, bytes.NewReader(body))
	if err != nil {
		x.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		x.t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	return res.StatusCode, res.Header.Get("Content-Type"), b.Bytes()
}

// handshake opens a polling session with the extra query.
func (x *eio3Transcript) handshake(extra string) {
	x.t.Helper()
	status, ct, body := x.do(http.MethodGet, "EIO=3&transport=polling"+extra, "", nil)
	m := regexp.MustCompile(`"sid":"([^"]+)"`).FindSubmatch(body)
	if m == nil {
		x.t.Fatalf("handshake: %d %q", status, body)
	}
	x.sid = string(m[1])
	x.record("handshake"+extra, status, ct, body)
}

// get polls the session once its answer is queued.
func (x *eio3Transcript) get(what string) {
	x.t.Helper()
	time.Sleep(settle)
	status, ct, body := x.do(http.MethodGet, "EIO=3&transport=polling&sid="+x.sid, "", nil)
	x.record("GET after "+what, status, ct, body)
}

// post sends packets in a text payload and records the answer.
func (x *eio3Transcript) post(pkts ...engineio.Packet) {
	x.t.Helper()
	body := engineio.AppendPayloadV3(nil, pkts)
	status, ct, b := x.do(http.MethodPost, "EIO=3&transport=polling&sid="+x.sid, "text/plain;charset=UTF-8", body)
	x.record(fmt.Sprintf("POST %q", body), status, ct, b)
}

// postBinary sends packets in a binary payload and records the answer.
func (x *eio3Transcript) postBinary(pkts ...engineio.Packet) {
	x.t.Helper()
	body := engineio.AppendBinaryPayloadV3(nil, pkts)
	status, ct, b := x.do(http.MethodPost, "EIO=3&transport=polling&sid="+x.sid, "application/octet-stream", body)
	x.record(fmt.Sprintf("POST binary %q", body), status, ct, b)
}

// eio3Msg builds a text message packet.
func eio3Msg(s string) engineio.Packet {
	return engineio.Packet{Type: engineio.Message, Data: []byte(s)}
}

// runPolling is the polling part of the side-by-side scenario.
func (x *eio3Transcript) runPolling() {
	x.t.Helper()
	// b64: what Node's v2 client asks; binary comes as base64 text.
	x.handshake("&b64=1")
	x.get("the handshake")
	x.post(engineio.Packet{Type: engineio.Ping})
	x.get("a ping")
	for _, nsp := range []string{"/admin?token=x&n=1", "/admin2", "/private", "/vip", "/nope"} {
		x.post(eio3Msg("0" + nsp + ","))
		x.get("CONNECT " + nsp)
	}
	x.post(eio3Msg(`21["echo","hi",{"a":1,"z":[true,null]}]`))
	x.get("an event with an ack")
	x.post(eio3Msg(`2["gimme"]`))
	x.get("gimme")
	x.post(eio3Msg(`51-7["echo",{"_placeholder":true,"num":0},"x"]`), engineio.Packet{Type: engineio.Message, Data: []byte{1, 2, 3}, Binary: true})
	x.get("a binary event with an ack")
	// Nothing answers a DISCONNECT: the GET after it has the noop of the
	// client's close.
	x.post(eio3Msg(`1/admin,`))
	x.post(engineio.Packet{Type: engineio.Close})
	x.get("the client's close")

	// A client that reads binary (XHR2) gets binary payloads and may send
	// them.
	x.handshake("")
	x.get("the handshake")
	x.post(eio3Msg(`2["gimme"]`))
	x.get("gimme")
	x.postBinary(eio3Msg(`51-3["echo",{"_placeholder":true,"num":0}]`), engineio.Packet{Type: engineio.Message, Data: []byte{4, 5}, Binary: true})
	x.get("a binary event in a binary payload")
	// A request of the other protocol revision for the session.
	status, ct, body := x.do(http.MethodGet, "EIO=4&transport=polling&sid="+x.sid, "", nil)
	x.record("EIO=4 GET of the v3 session", status, ct, body)
	x.post(engineio.Packet{Type: engineio.Close})
}

// runWebSocket is the WebSocket part: a session opened on a WebSocket,
// and one upgraded from polling.
func (x *eio3Transcript) runWebSocket() {
	x.t.Helper()
	wsBase := "ws" + strings.TrimPrefix(x.base, "http")
	frames := func(ws *websocket.Conn, what string, n int) {
		for i := 0; i < n; i++ {
			_ = ws.SetReadDeadline(time.Now().Add(step))
			mt, data, err := ws.ReadMessage()
			if err != nil {
				x.t.Fatalf("%s: frame %d: %v", what, i, err)
			}
			if m := regexp.MustCompile(`"sid":"([^"]+)"`).FindSubmatch(data); m != nil {
				x.sid = string(m[1])
			}
			x.record(fmt.Sprintf("%s, frame %d", what, i), mt, "ws", data)
		}
	}
	send := func(ws *websocket.Conn, mt int, data string) {
		if err := ws.WriteMessage(mt, []byte(data)); err != nil {
			x.t.Fatal(err)
		}
	}
	ws, _, err := websocket.DefaultDialer.Dial(wsBase+"?EIO=3&transport=websocket", nil)
	if err != nil {
		x.t.Fatal(err)
	}
	defer ws.Close()
	frames(ws, "websocket handshake", 2) // open, CONNECT
	send(ws, websocket.TextMessage, "2")
	frames(ws, "ping", 1)
	send(ws, websocket.TextMessage, `42["gimme"]`)
	frames(ws, "gimme", 2)
	send(ws, websocket.TextMessage, `451-9["echo",{"_placeholder":true,"num":0}]`)
	send(ws, websocket.BinaryMessage, "\x04\x0a\x0b")
	frames(ws, "a binary event", 2)
	send(ws, websocket.TextMessage, `451-10["echo",{"_placeholder":true,"num":0}]`)
	send(ws, websocket.TextMessage, "b4DA0=")
	frames(ws, "a binary event in base64", 2)

	x.handshake("&b64=1")
	x.get("the handshake")
	up, _, err := websocket.DefaultDialer.Dial(wsBase+"?EIO=3&transport=websocket&sid="+x.sid, nil)
	if err != nil {
		x.t.Fatal(err)
	}
	defer up.Close()
	send(up, websocket.TextMessage, "2probe")
	frames(up, "probe", 1)
	x.get("the probe")
	send(up, websocket.TextMessage, "5")
	send(up, websocket.TextMessage, `42["gimme"]`)
	frames(up, "gimme after the upgrade", 2)
}

// TestEIO3LikeNode runs the same raw Engine.IO v3 exchanges against Node's
// socket.io 4.8 with allowEIO3 and against actorio with AllowEIO3, and
// compares the answers: handshake, the automatic CONNECT to "/", pings,
// CONNECT with a query, refusals, acks, binary as base64 and as v3 binary
// payloads and frames, the upgrade, the client's close, a request of the
// wrong revision; and, with the option off, the refusal of a v3 client.
func TestEIO3LikeNode(t *testing.T) {
	node.RequirePackage(t, "socket.io")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ref := node.Run(t, ctx, eio3NodeJS, nil)
	l := ref.Expect(t, "listening", 20*time.Second)
	var nodeOn, nodeOff int
	if err := errors.Join(l.Decode(0, &nodeOn), l.Decode(1, &nodeOff)); err != nil {
		t.Fatal(err)
	}
	on := startServer(t, actorio.Options{AllowEIO3: true}, v2EchoLikeNode)
	off := startServer(t, actorio.Options{}, v2EchoLikeNode)

	transcript := func(t *testing.T, base string, run func(x *eio3Transcript)) []string {
		x := &eio3Transcript{t: t, base: base + "/socket.io/"}
		run(x)
		return x.lines
	}
	for _, part := range []struct {
		name string
		run  func(x *eio3Transcript)
	}{
		{"polling", (*eio3Transcript).runPolling},
		{"websocket", (*eio3Transcript).runWebSocket},
	} {
		t.Run(part.name, func(t *testing.T) {
			want := transcript(t, fmt.Sprintf("http://127.0.0.1:%d", nodeOn), part.run)
			got := transcript(t, on.URL, part.run)
			compareTranscripts(t, got, want)
		})
	}
	t.Run("refused", func(t *testing.T) {
		run := func(x *eio3Transcript) {
			for _, q := range []string{"EIO=3&transport=polling", "EIO=3&transport=polling&b64=1", "transport=polling"} {
				status, ct, body := x.do(http.MethodGet, q, "", nil)
				x.record(q, status, ct, body)
			}
		}
		compareTranscripts(t, transcript(t, off.URL, run), transcript(t, fmt.Sprintf("http://127.0.0.1:%d", nodeOff), run))
	})
}

// compareTranscripts fails t where got and want differ.
func compareTranscripts(t *testing.T, got, want []string) {
	t.Helper()
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("step %d:\n  actorio %s\n  node    %s", i, g, w)
		}
	}
}
