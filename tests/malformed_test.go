package tests

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
)

// steadyScript keeps an official client busy: an echo with ack every 10ms,
// checked, plus echoes on demand.
const steadyScript = clientLib + `
const s = open('good', '/', { transports: ['websocket'], reconnection: false });
let sent = 0, acked = 0;
s.on('connect', () => {
  setInterval(() => {
    const k = sent++;
    s.emit('echo', k, (r) => {
      if (r !== k) out('bad', r, k);
      acked++;
    });
  }, 10);
});
for await (const c of input()) {
  if (c.op === 'echo') s.emit('echo', c.arg, (r) => out('echo', r));
  if (c.op === 'count') out('count', sent, acked);
}
`

// rawClient is a hand-driven Engine.IO/Socket.IO client on a WebSocket.
type rawClient struct {
	t  *testing.T
	ws *websocket.Conn
}

// dialRaw opens a WebSocket session and joins "/", returning the client
// and its socket id.
func dialRaw(t *testing.T, ts *testServer) (*rawClient, string) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	d := websocket.Dialer{HandshakeTimeout: step}
	ws, resp, err := d.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	_ = resp.Body.Close()
	c := &rawClient{t: t, ws: ws}
	t.Cleanup(func() { _ = ws.Close() })
	if open := c.read(); !strings.HasPrefix(open, `0{"sid":"`) {
		t.Fatalf("open packet %q", open)
	}
	c.write(websocket.TextMessage, []byte("40"))
	connect := c.read()
	var sid struct {
		Sid string `json:"sid"`
	}
	if !strings.HasPrefix(connect, "40") || json.Unmarshal([]byte(connect[2:]), &sid) != nil || sid.Sid == "" {
		t.Fatalf("connect reply %q", connect)
	}
	return c, sid.Sid
}

func (c *rawClient) read() string {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(step))
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("raw read: %v", err)
	}
	return string(data)
}

func (c *rawClient) write(mt int, data []byte) {
	c.t.Helper()
	_ = c.ws.SetWriteDeadline(time.Now().Add(step))
	if err := c.ws.WriteMessage(mt, data); err != nil {
		c.t.Fatalf("raw write: %v", err)
	}
}

// expectClosed reads until the server closes the connection; the server
// must not leave it open (a read timeout fails the test).
func (c *rawClient) expectClosed() {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(step))
	for {
		_, data, err := c.ws.ReadMessage()
		if err == nil {
			// A ping may come first; an Engine.IO close packet may
			// precede the WebSocket close.
			if string(data) == "2" || string(data) == "1" {
				continue
			}
			c.t.Fatalf("got %q, want the connection closed", data)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after %v", step)
		}
		return
	}
}

// TestMalformedInput sends malformed packets over raw WebSockets: each one
// closes its own connection with reason "parse error", while an official
// client on the same server keeps getting its echo acks throughout.
func TestMalformedInput(t *testing.T) {
	dl := newDisconnectLog()
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			dl.watch(s)
			s.On("echo", echoHandler)
		})
	})
	good := runScript(t, ts.URL, steadyScript, nil)
	goodID := good.expect("connect", "good").Arg(1).(string)

	type frame struct {
		mt   int
		data string
	}
	text := func(s string) frame { return frame{websocket.TextMessage, s} }
	for _, tc := range []struct {
		name   string
		frames []frame
	}{
		{"unknown socket.io type", []frame{text("4abc")}},
		{"event with an object", []frame{text("42{}")}},
		{"junk before the array", []frame{text(`42abc["x"]`)}},
		{"truncated array", []frame{text(`42["x"`)}},
		{"event without a name", []frame{text(`42[]`)}},
		{"binary frame with no binary packet", []frame{{websocket.BinaryMessage, "\x01\x02\x03"}}},
		{"invalid UTF-8", []frame{text("42[\"\xff\xfe\"]")}},
		{"unknown engine.io type", []frame{text("9")}},
		{"placeholder out of range", []frame{text(`451-["x",{"_placeholder":true,"num":1}]`)}},
		{"text while an attachment is due", []frame{text(`451-["x",{"_placeholder":true,"num":0}]`), text(`42["y"]`)}},
		{"packet type only servers send", []frame{text(`44{"message":"no"}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, sid := dialRaw(t, ts)
			// The raw socket works before the bad packet.
			raw.write(websocket.TextMessage, []byte(`421["echo","hi"]`))
			if got := raw.read(); got != `431["hi"]` {
				t.Fatalf("raw echo ack %q", got)
			}
			// The official client's echo is in flight meanwhile.
			good := good.on(t)
			good.send(map[string]any{"op": "echo", "arg": tc.name})
			for _, f := range tc.frames {
				raw.write(f.mt, []byte(f.data))
			}
			raw.expectClosed()
			if ev := dl.waitID(t, sid); ev.Reason != disconnect.ParseError {
				t.Errorf("OnDisconnect reason %q, want %q", ev.Reason, disconnect.ParseError)
			}
			if l := good.waitFor("echo", func(l nodeLine) bool { return l.Ev == "echo" }); l.Arg(0) != tc.name {
				t.Errorf("echo: %s", l.Raw)
			}
		})
	}

	good.send(map[string]any{"op": "count"})
	l := good.waitFor("count", func(l nodeLine) bool { return l.Ev == "count" })
	sent, acked := l.Arg(0).(float64), l.Arg(1).(float64)
	t.Logf("the official client got %v acks of %v echoes meanwhile", acked, sent)
	if sent < 1 || acked < sent-3 {
		t.Errorf("official client: %v echoes sent, %v acked", sent, acked)
	}
	good.none("a bad echo or a disconnect", func(l nodeLine) bool { return l.Ev == "bad" || l.Ev == "disconnect" })
	if r := dl.of(goodID); len(r) != 0 {
		t.Errorf("official client disconnected: %v", r)
	}
}
