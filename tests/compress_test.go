package tests

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/internal/node"
)

// The compression tests run one exchange with the official
// socket.io-client over WebSocket, through a wsTap that reads the frames
// on the wire, against actorio with Options.PerMessageDeflate and against
// Node's socket.io 4.8 with perMessageDeflate. Each side sends strings
// and Buffers under and over the threshold, with and without
// compress(false), and checks what it receives, byte for byte.

// compressClientJS connects to SERVER_URL with TRANSPORTS, sends
// echoes with acks (small, large, large with compress(false), a large
// Buffer), then asks the server for its emits and checks each: the
// payloads are made alike on both sides by fill().
const compressClientJS = `
import { io } from 'socket.io-client';
const fill = (c, n) => c.repeat(n);
const transports = process.env.TRANSPORTS.split(',');
const s = io(process.env.SERVER_URL, { transports, reconnection: false });
const expect = {
  small: fill('s', 100), large: fill('l', 3000), plain: fill('p', 3000),
  all: fill('a', 3000), allplain: fill('q', 3000),
};
const got = [];
for (const ev of Object.keys(expect)) {
  s.on(ev, (v) => got.push(ev + ':' + (v === expect[ev])));
}
s.on('bin', (b) => got.push('bin:' + (Buffer.isBuffer(b) && b.equals(Buffer.alloc(3000, 7)))));
s.on('connect_error', (e) => out('connect_error', e.message));
await new Promise((resolve) => s.once('connect', resolve));
if (transports.length > 1) { // wait for the upgrade
  await new Promise((resolve) => s.io.engine.transport.name === 'websocket' ? resolve() : s.io.engine.once('upgrade', resolve));
}
const echo = async (sock, ...args) => sock.timeout(5000).emitWithAck('echo', ...args);
const checks = [];
checks.push((await echo(s, fill('e', 100))) === fill('e', 100));
checks.push((await echo(s, fill('E', 3000))) === fill('E', 3000));
checks.push((await echo(s.compress(false), fill('P', 3000))) === fill('P', 3000));
const b = await echo(s, Buffer.alloc(3000, 9));
checks.push(Buffer.isBuffer(b) && b.equals(Buffer.alloc(3000, 9)));
await new Promise((resolve) => { s.once('done', resolve); s.emit('gimme'); });
out('result', checks, got);
s.disconnect();
exit(0);
`

// compressNodeServerJS is Node's socket.io with perMessageDeflate (the
// threshold in THRESHOLD) doing what compressSetup does.
const compressNodeServerJS = `
import http from 'node:http';
import { Server } from 'socket.io';
const fill = (c, n) => c.repeat(n);
const httpServer = http.createServer();
const io = new Server(httpServer, { perMessageDeflate: { threshold: Number(process.env.THRESHOLD) } });
io.on('connection', (s) => {
  s.on('echo', (v, ack) => ack(v));
  s.on('gimme', () => {
    s.emit('small', fill('s', 100));
    s.emit('large', fill('l', 3000));
    s.compress(false).emit('plain', fill('p', 3000));
    s.emit('bin', Buffer.alloc(3000, 7));
    io.emit('all', fill('a', 3000));
    io.compress(false).emit('allplain', fill('q', 3000));
    s.emit('done');
  });
});
await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
out('listening', httpServer.address().port);
`

// compressSetup makes srv do what compressNodeServerJS does.
func compressSetup(srv *actorio.Server) {
	srv.OnConnection(func(s *actorio.Socket) {
		s.On("echo", echoHandler)
		s.On("gimme", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
			_ = s.Emit("small", strings.Repeat("s", 100))
			_ = s.Emit("large", strings.Repeat("l", 3000))
			_ = s.Compress(false).Emit("plain", strings.Repeat("p", 3000))
			_ = s.Emit("bin", bytes.Repeat([]byte{7}, 3000))
			_ = srv.Emit("all", strings.Repeat("a", 3000))
			_ = srv.Compress(false).Emit("allplain", strings.Repeat("q", 3000))
			_ = s.Emit("done")
		})
	})
}

// runCompressClient runs compressClientJS against base (through a tap)
// over WebSocket and returns the one WebSocket the tap saw, once the
// client is done.
func runCompressClient(t *testing.T, base string) tapSocket {
	t.Helper()
	return runCompressClientOver(t, base, "websocket")
}

// runCompressClientOver is runCompressClient with the client's
// transports, comma-separated.
func runCompressClientOver(t *testing.T, base, transports string) tapSocket {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	tap := startWSTap(t, u.Host)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p := node.Run(t, ctx, compressClientJS, map[string]string{"SERVER_URL": tap.URL(), "TRANSPORTS": transports})
	l := p.Expect(t, "result", 15*time.Second)
	var checks []bool
	var got []string
	if err := l.Decode(0, &checks); err != nil {
		t.Fatal(err)
	}
	if err := l.Decode(1, &got); err != nil {
		t.Fatal(err)
	}
	for i, ok := range checks {
		if !ok {
			t.Errorf("echo %d came back changed", i)
		}
	}
	if want := "small:true large:true plain:true bin:true all:true allplain:true"; strings.Join(got, " ") != want {
		t.Errorf("received %v, want %s", got, want)
	}
	if code := p.WaitExit(t, step); code != 0 {
		t.Errorf("client exit code %d", code)
	}
	var socks []tapSocket
	// The last bytes (the client's 41 and close frame) may still be on
	// their way.
	waitUntil(t, step, "the tap to see the WebSocket closed by the client", func() bool {
		socks = tap.sockets()
		return len(socks) == 1 && slices.ContainsFunc(socks[0].messages, func(m tapMessage) bool {
			return m.fromClient && m.opcode == 8
		})
	})
	return socks[0]
}

// compressedByMessage names each data message of s by its direction and
// its first bytes (up to the first ',' or '{', at most 12: the packet
// type and the event, or a sample of an ack's payload; "bin <length>" for
// a binary message), and tells whether it was compressed.
func compressedByMessage(s tapSocket) map[string]bool {
	m := make(map[string]bool)
	for _, msg := range s.messages {
		if msg.opcode != 1 && msg.opcode != 2 {
			continue
		}
		dir := "server "
		if msg.fromClient {
			dir = "client "
		}
		name := string(msg.data)
		if msg.opcode == 2 {
			name = fmt.Sprintf("bin %d", len(msg.data))
		}
		if i := strings.IndexAny(name, ",{"); i > 0 {
			name = name[:i]
		}
		m[dir+name[:min(len(name), 12)]] = msg.compressed
	}
	return m
}

// clientCompressed is what the official client compresses, whatever the
// server: from its threshold (1024) on, unless compress(false).
var clientCompressed = map[string]bool{
	`client 40`:           false,
	`client 420["echo"`:   false,
	`client 421["echo"`:   true,
	`client 422["echo"`:   false, // compress(false)
	`client 451-3["echo"`: false,
	`client bin 3000`:     true,
	`client 42["gimme"]`:  false,
	`client 41`:           false,
}

// TestPerMessageDeflateOfficialClient checks, with the official client
// over WebSocket, that every payload arrives intact both ways and that
// what goes compressed is what Options.PerMessageDeflate and Compress say:
// the server compresses its messages from the threshold on (acks,
// broadcasts and binary attachments too) and none sent with
// Compress(false), however large; the client, which negotiated the
// extension, compresses from its own threshold (1024) unless
// compress(false).
func TestPerMessageDeflateOfficialClient(t *testing.T) {
	// The server's messages, and whether each is compressed with the
	// default threshold (1024), 50 and -1 (every message).
	type want struct{ def, t50, all bool }
	server := map[string]want{
		`server 0`:            {false, true, true}, // the open packet, about 100 bytes
		`server 40`:           {false, false, true},
		`server 430["eeeeeee`: {false, true, true},
		`server 431["EEEEEEE`: {true, true, true},
		`server 432["PPPPPPP`: {true, true, true}, // compress(false) was the client's emit, not the ack's
		`server 461-3[`:       {false, false, true},
		`server bin 3000`:     {true, true, true},
		`server 451-["bin"`:   {false, false, true},
		`server 42["small"`:   {false, true, true},
		`server 42["large"`:   {true, true, true},
		`server 42["plain"`:   {false, false, false}, // Compress(false)
		`server 42["all"`:     {true, true, true},
		`server 42["allplain`: {false, false, false}, // Compress(false)
		`server 42["done"]`:   {false, false, true},
	}
	for _, tc := range []struct {
		name      string
		threshold int
		pick      func(want) bool
	}{
		{"default threshold", 0, func(w want) bool { return w.def }},
		{"threshold 50", 50, func(w want) bool { return w.t50 }},
		{"every message", -1, func(w want) bool { return w.all }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, actorio.Options{PerMessageDeflate: &actorio.PerMessageDeflate{Threshold: tc.threshold}}, compressSetup)
			s := runCompressClient(t, ts.URL)
			if want := "permessage-deflate; server_no_context_takeover; client_no_context_takeover"; s.extensions != want {
				t.Errorf("Sec-WebSocket-Extensions %q, want %q", s.extensions, want)
			}
			expect := maps.Clone(clientCompressed)
			for name, w := range server {
				expect[name] = tc.pick(w)
			}
			checkCompressed(t, compressedByMessage(s), expect)
		})
	}
}

// checkCompressed fails t where a message of want was not seen, or was
// compressed otherwise; and where got holds a message want does not name.
func checkCompressed(t *testing.T, got, want map[string]bool) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(want)) {
		c, ok := got[name]
		switch {
		case !ok:
			t.Errorf("no message %q on the wire", name)
		case c != want[name]:
			t.Errorf("%q: compressed %v, want %v", name, c, want[name])
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected message %q", name)
		}
	}
}

// TestPerMessageDeflateUpgrade runs the exchange on a WebSocket reached by
// the upgrade from long-polling: compression is negotiated there too, and
// every payload arrives intact.
func TestPerMessageDeflateUpgrade(t *testing.T) {
	ts := startServer(t, actorio.Options{PerMessageDeflate: &actorio.PerMessageDeflate{}}, compressSetup)
	s := runCompressClientOver(t, ts.URL, "polling,websocket")
	if !strings.HasPrefix(s.extensions, "permessage-deflate") {
		t.Errorf("Sec-WebSocket-Extensions %q", s.extensions)
	}
	if got := compressedByMessage(s); !got[`server 42["large"`] || got[`server 42["plain"`] {
		t.Errorf("compressed after the upgrade: %v", got)
	}
}

// TestPerMessageDeflateOff checks that without Options.PerMessageDeflate
// nothing is negotiated nor compressed, the client's offer notwithstanding.
func TestPerMessageDeflateOff(t *testing.T) {
	ts := startServer(t, actorio.Options{}, compressSetup)
	s := runCompressClient(t, ts.URL)
	if s.extensions != "" {
		t.Errorf("Sec-WebSocket-Extensions %q", s.extensions)
	}
	for _, m := range s.messages {
		if m.compressed {
			t.Errorf("compressed message %.20q", m.data)
		}
	}
}

// TestPerMessageDeflateLikeNode runs the same exchange against Node's
// socket.io 4.8 with perMessageDeflate {threshold: 1024} and checks the
// differences README's "WebSocket compression" describes. Node's ws
// answers "permessage-deflate", with context takeover both ways (gorilla
// can only do without); its WebSocket transport (engine.io 6.6) gives ws
// no per-message option, and ws applies the threshold only without
// context takeover, so every message Node sends is compressed, whatever
// its size and compress(false). The client does the same with both.
func TestPerMessageDeflateLikeNode(t *testing.T) {
	node.RequirePackage(t, "socket.io")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ref := node.Run(t, ctx, compressNodeServerJS, map[string]string{"THRESHOLD": "1024"})
	var port int
	if err := ref.Expect(t, "listening", 20*time.Second).Decode(0, &port); err != nil {
		t.Fatal(err)
	}
	theirs := runCompressClient(t, fmt.Sprintf("http://127.0.0.1:%d", port))
	ts := startServer(t, actorio.Options{PerMessageDeflate: &actorio.PerMessageDeflate{}}, compressSetup)
	ours := runCompressClient(t, ts.URL)
	t.Logf("Sec-WebSocket-Extensions: node %q, actorio %q", theirs.extensions, ours.extensions)
	if theirs.extensions != "permessage-deflate" {
		t.Errorf("node answered %q", theirs.extensions)
	}
	n, g := compressedByMessage(theirs), compressedByMessage(ours)
	if !slices.Equal(slices.Sorted(maps.Keys(n)), slices.Sorted(maps.Keys(g))) {
		t.Errorf("not the same messages:\n  node    %v\n  actorio %v", slices.Sorted(maps.Keys(n)), slices.Sorted(maps.Keys(g)))
	}
	for _, name := range slices.Sorted(maps.Keys(n)) {
		t.Logf("%-22s node %-5v actorio %v", name, n[name], g[name])
		switch {
		case strings.HasPrefix(name, "client "):
			if n[name] != g[name] {
				t.Errorf("%q: the client compressed it %v for node, %v for actorio", name, n[name], g[name])
			}
		case !n[name]:
			t.Errorf("%q: node did not compress it", name)
		}
	}
}

// TestPerMessageDeflateGoClient checks the Go client's
// PerMessageDeflate against actorio and against Node's socket.io 4.8
// with perMessageDeflate: it offers compression and the server accepts,
// each side compresses its large messages and not its small ones, and
// every payload arrives intact both ways; without the option nothing is
// offered.
func TestPerMessageDeflateGoClient(t *testing.T) {
	node.RequirePackage(t, "socket.io")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ref := node.Run(t, ctx, compressNodeServerJS, map[string]string{"THRESHOLD": "1024"})
	var port int
	if err := ref.Expect(t, "listening", 20*time.Second).Decode(0, &port); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, actorio.Options{PerMessageDeflate: &actorio.PerMessageDeflate{}}, compressSetup)
	for _, tc := range []struct {
		name   string
		base   string
		offer  bool
		header string
	}{
		{"actorio", ts.URL, true, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"node", fmt.Sprintf("http://127.0.0.1:%d", port), true, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"actorio, not offered", ts.URL, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, _ := url.Parse(tc.base)
			tap := startWSTap(t, u.Host)
			opts := client.Options{Transports: []string{client.TransportWebSocket}, DisableReconnection: true}
			if tc.offer {
				opts.PerMessageDeflate = &client.PerMessageDeflate{}
			}
			s, err := client.New(tap.URL(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got := make(chan string, 16)
			for _, ev := range []string{"small", "large", "plain", "all", "allplain"} {
				s.On(ev, func(a client.Args, _ client.AckFunc) { got <- ev + ":" + a.String(0) })
			}
			s.On("bin", func(a client.Args, _ client.AckFunc) { got <- "bin:" + string(a.Bytes(0)) })
			s.On("done", func(client.Args, client.AckFunc) { got <- "done" })
			if err := s.Connect(); err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{strings.Repeat("e", 100), strings.Repeat("E", 3000)} {
				ctx, cancel := context.WithTimeout(t.Context(), step)
				a, err := s.EmitWithAck(ctx, "echo", v)
				cancel()
				if err != nil || a.String(0) != v {
					t.Fatalf("echo of %d bytes: %v, %d bytes back", len(v), err, len(a.String(0)))
				}
			}
			if err := s.Emit("gimme"); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"small": strings.Repeat("s", 100), "large": strings.Repeat("l", 3000), "plain": strings.Repeat("p", 3000),
				"bin": string(bytes.Repeat([]byte{7}, 3000)), "all": strings.Repeat("a", 3000), "allplain": strings.Repeat("q", 3000),
			}
			for {
				v := recv(t, got, step, "the server's emits")
				if v == "done" {
					break
				}
				ev, payload, _ := strings.Cut(v, ":")
				if want[ev] != payload {
					t.Errorf("%s: %d bytes, want %d", ev, len(payload), len(want[ev]))
				}
				delete(want, ev)
			}
			if len(want) > 0 {
				t.Errorf("missing %v", slices.Sorted(maps.Keys(want)))
			}
			socks := tap.sockets()
			if len(socks) != 1 {
				t.Fatalf("%d WebSockets", len(socks))
			}
			if socks[0].extensions != tc.header {
				t.Errorf("Sec-WebSocket-Extensions %q, want %q", socks[0].extensions, tc.header)
			}
			m := compressedByMessage(socks[0])
			for name, want := range map[string]bool{
				`client 420["echo"`: false, `client 421["echo"`: tc.offer,
				`server 430["eeeeeee`: false, `server 431["EEEEEEE`: tc.offer, `server 42["large"`: tc.offer,
			} {
				if c, ok := m[name]; !ok || c != want {
					t.Errorf("%q: compressed %v (seen %v), want %v", name, c, ok, want)
				}
			}
			if t.Failed() {
				t.Logf("messages seen: %v", m)
			}
		})
	}
}
