package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// Engine.IO v3 sessions (Config.AllowEIO3), driven by hand. The wire
// formats are those of Node's engine.io 6.x serving a v3 client.

var openV3Re = regexp.MustCompile(`^(\d+):0\{"sid":"([A-Za-z0-9_-]{20})",`)

// handshakeV3 opens a v3 polling session with the extra query and returns
// its sid.
func (e *env) handshakeV3(t *testing.T, extra string) string {
	t.Helper()
	status, body := e.do(t, http.MethodGet, "EIO=3&transport=polling"+extra, "")
	m := openV3Re.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("v3 handshake: %d %q", status, body)
	}
	if n, _ := strconv.Atoi(m[1]); n != len(body)-len(m[1])-1 {
		t.Fatalf("v3 handshake %q: length %d, packet of %d", body, n, len(body)-len(m[1])-1)
	}
	return m[2]
}

// getV3 polls a v3 session and returns the status, content type and body.
func (e *env) getV3(t *testing.T, sid string) (int, string, []byte) {
	t.Helper()
	resp, err := e.client.Get(e.base + "?EIO=3&transport=polling&sid=" + sid)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// postV3 posts body with the content type to a v3 session.
func (e *env) postV3(t *testing.T, sid, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+"?EIO=3&transport=polling&sid="+sid, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEIO3RefusedByDefault(t *testing.T) {
	e := startEnv(t, Config{})
	for _, q := range []string{"EIO=3&transport=polling", "EIO=2&transport=polling", "transport=polling"} {
		status, body := e.do(t, http.MethodGet, q, "")
		if status != http.StatusBadRequest || body != `{"code":5,"message":"Unsupported protocol version"}` {
			t.Errorf("%s: %d %q", q, status, body)
		}
	}
	_, resp, err := websocket.DefaultDialer.Dial(e.wsBase+"?EIO=3&transport=websocket", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("v3 WebSocket: %v, %v", err, resp)
	}
}

func TestEIO3PollingHandshake(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{AllowEIO3: true, PingInterval: 25 * time.Second, PingTimeout: 20 * time.Second})
	resp, err := e.client.Get(e.base + "?EIO=3&transport=polling&t=N1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != pollContentType {
		t.Errorf("content type %q", ct)
	}
	m := openV3Re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("handshake %q", b)
	}
	want := `0{"sid":"` + string(m[2]) + `","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`
	if got := string(b); got != strconv.Itoa(len(want))+":"+want {
		t.Fatalf("handshake %q, want the open packet %q", got, want)
	}
	c := e.h.nextConn(t)
	if c.Protocol() != 3 {
		t.Fatalf("Protocol() = %d", c.Protocol())
	}
	// An EIO=4 handshake on the same server is still a v4 session.
	e.handshake(t)
	if c := e.h.nextConn(t); c.Protocol() != 4 {
		t.Fatalf("v4 session: Protocol() = %d", c.Protocol())
	}
}

func TestEIO3PollingMessages(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{AllowEIO3: true})
	sid := e.handshakeV3(t, "")
	e.h.nextConn(t)
	// Two messages in one POST, one of them outside the BMP.
	if status, body := e.postV3(t, sid, "text/plain;charset=UTF-8", []byte(`15:42["chat","hi"]8:42["😀"]`)); status != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", status, body)
	}
	if got := e.h.nextPacket(t); got != `2["chat","hi"]` {
		t.Fatalf("first packet %q", got)
	}
	if got := e.h.nextPacket(t); got != `2["😀"]` {
		t.Fatalf("second packet %q", got)
	}
	// The recorder echoes both; one GET takes them in v3 framing.
	waitQueued(t, e, sid, 2)
	status, ct, body := e.getV3(t, sid)
	if status != 200 || ct != pollContentType || string(body) != `15:42["chat","hi"]8:42["😀"]` {
		t.Fatalf("GET: %d %q %q", status, ct, body)
	}
}

// waitQueued waits until session sid has n packets queued.
func waitQueued(t *testing.T, e *env, sid string, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		e.srv.mu.Lock()
		c := e.srv.sessions[sid]
		e.srv.mu.Unlock()
		if c == nil {
			t.Fatalf("session %s gone", sid)
		}
		c.mu.Lock()
		got := len(c.queue)
		c.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d packets queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestEIO3PollingBinary(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{AllowEIO3: true})
	bin := []byte{1, 2, 3}
	for _, tt := range []struct {
		name, query  string
		post         []byte
		postType     string
		wantType     string
		wantResponse []byte
	}{
		// A client that asked b64 gets base64 text and may send it.
		{"b64", "&b64=1", []byte("6:b4AQID"), "text/plain;charset=UTF-8", pollContentType, []byte("6:b4AQID")},
		// A client that reads binary gets a binary payload; it sends
		// binary payloads, or base64 in text ones.
		{"xhr2 binary post", "", []byte{1, 4, 255, 4, 1, 2, 3}, binaryContentType, binaryContentType, []byte{1, 4, 255, 4, 1, 2, 3}},
		{"xhr2 text post", "", []byte("6:b4AQID"), "text/plain;charset=UTF-8", binaryContentType, []byte{1, 4, 255, 4, 1, 2, 3}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sid := e.handshakeV3(t, tt.query)
			e.h.nextConn(t)
			if status, body := e.postV3(t, sid, tt.postType, tt.post); status != 200 || body != "ok" {
				t.Fatalf("POST: %d %q", status, body)
			}
			if got := e.h.nextPacket(t); got != string(bin) {
				t.Fatalf("packet %v", []byte(got))
			}
			waitQueued(t, e, sid, 1)
			status, ct, body := e.getV3(t, sid)
			if status != 200 || ct != tt.wantType || !bytes.Equal(body, tt.wantResponse) {
				t.Fatalf("GET: %d %q %v", status, ct, body)
			}
		})
	}
}

func TestEIO3PollingMixedBinaryPayload(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{AllowEIO3: true})
	sid := e.handshakeV3(t, "")
	c := e.h.nextConn(t)
	if err := c.Send(msg(`51-["up",{"_placeholder":true,"num":0}]`), engineio.Packet{Type: engineio.Message, Data: []byte{9}, Binary: true}); err != nil {
		t.Fatal(err)
	}
	_, ct, body := e.getV3(t, sid)
	want := engineio.AppendBinaryPayloadV3(nil, []engineio.Packet{msg(`51-["up",{"_placeholder":true,"num":0}]`), {Type: engineio.Message, Data: []byte{9}, Binary: true}})
	if ct != binaryContentType || !bytes.Equal(body, want) {
		t.Fatalf("GET: %q %v, want %v", ct, body, want)
	}
}

func TestEIO3Heartbeat(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{AllowEIO3: true, PingInterval: 150 * time.Millisecond, PingTimeout: 100 * time.Millisecond})

	t.Run("client pings keep the session", func(t *testing.T) {
		sid := e.handshakeV3(t, "")
		e.h.nextConn(t)
		start := time.Now()
		for time.Since(start) < 800*time.Millisecond {
			time.Sleep(120 * time.Millisecond)
			if status, body := e.postV3(t, sid, "text/plain;charset=UTF-8", []byte("1:2")); status != 200 || body != "ok" {
				t.Fatalf("ping POST after %v: %d %q", time.Since(start), status, body)
			}
			// The server answers each ping with a pong, and never pings.
			if status, _, body := e.getV3(t, sid); status != 200 || string(body) != "1:3" {
				t.Fatalf("GET after a ping: %d %q", status, body)
			}
		}
		select {
		case ev := <-e.h.closes:
			t.Fatalf("session closed: %+v", ev)
		default:
		}
	})

	t.Run("no ping times out", func(t *testing.T) {
		start := time.Now()
		sid := e.handshakeV3(t, "")
		e.h.nextConn(t)
		// A GET waits: the server sends no ping, then the session dies.
		status, _, body := e.getV3(t, sid)
		if status != 200 || string(body) != "1:1" {
			t.Fatalf("GET: %d %q", status, body)
		}
		ev := e.h.nextClose(t)
		for ev.sid != sid { // the session of the subtest before ends too
			ev = e.h.nextClose(t)
		}
		if ev.reason != disconnect.PingTimeout {
			t.Fatalf("close %+v", ev)
		}
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Fatalf("timed out after %v, before pingInterval + pingTimeout", d)
		}
	})

	t.Run("a pong ends the session", func(t *testing.T) {
		sid := e.handshakeV3(t, "")
		e.h.nextConn(t)
		e.postV3(t, sid, "text/plain;charset=UTF-8", []byte("1:3"))
		ev := e.h.nextClose(t)
		for ev.sid != sid {
			ev = e.h.nextClose(t)
		}
		if ev.reason != disconnect.TransportError || !errors.Is(ev.err, ErrHeartbeatDirection) {
			t.Fatalf("close %+v", ev)
		}
	})
}

func TestEIO3MalformedPost(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{AllowEIO3: true})
	for _, tt := range []struct {
		name, contentType string
		body              []byte
	}{
		{"text", "text/plain;charset=UTF-8", []byte("6:4hello9:4x")},
		{"binary", binaryContentType, []byte{0, 6, 255, '4', 'h', 'e', 'l', 'l', 'o', 7}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sid := e.handshakeV3(t, "")
			e.h.nextConn(t)
			if status, body := e.postV3(t, sid, tt.contentType, tt.body); status != 200 || body != "ok" {
				t.Fatalf("POST: %d %q", status, body)
			}
			// The packet before the fault is handled, then the session
			// closes.
			if got := e.h.nextPacket(t); got != "hello" {
				t.Fatalf("packet %q", got)
			}
			if ev := e.h.nextClose(t); ev.reason != disconnect.ParseError {
				t.Fatalf("close %+v", ev)
			}
		})
	}
}

func TestEIO3ProtocolMismatch(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{AllowEIO3: true})
	sid3 := e.handshakeV3(t, "")
	e.h.nextConn(t)
	sid4 := e.handshake(t)
	e.h.nextConn(t)
	for _, q := range []string{"EIO=4&transport=polling&sid=" + sid3, "EIO=3&transport=polling&sid=" + sid4} {
		if status, body := e.do(t, http.MethodGet, q, ""); status != 400 || body != `{"code":3,"message":"Bad request"}` {
			t.Errorf("%s: %d %q", q, status, body)
		}
	}
	// Both sessions go on.
	if status, body := e.postV3(t, sid3, "text/plain;charset=UTF-8", []byte("2:4a")); status != 200 || body != "ok" {
		t.Fatalf("v3 POST: %d %q", status, body)
	}
	if status, body := e.post(t, sid4, "4b"); status != 200 || body != "ok" {
		t.Fatalf("v4 POST: %d %q", status, body)
	}
}

func TestEIO3WebSocket(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{AllowEIO3: true})
	for _, tt := range []struct {
		name, query string
		wantBinary  bool
		want        []byte
	}{
		{"binary frames", "", true, []byte{4, 1, 2}},
		{"b64", "&b64=1", false, []byte("b4AQI=")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ws := e.dial(t, "EIO=3&transport=websocket"+tt.query)
			if open := readText(t, ws); !strings.HasPrefix(open, `0{"sid":"`) || !strings.Contains(open, `"upgrades":[]`) {
				t.Fatalf("open %q", open)
			}
			if c := e.h.nextConn(t); c.Protocol() != 3 {
				t.Fatalf("Protocol() = %d", c.Protocol())
			}
			// A v3 binary frame: the type byte, then the data.
			if err := ws.WriteMessage(websocket.BinaryMessage, []byte{4, 1, 2}); err != nil {
				t.Fatal(err)
			}
			if got := e.h.nextPacket(t); got != "\x01\x02" {
				t.Fatalf("packet %v", []byte(got))
			}
			_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
			mt, data, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if (mt == websocket.BinaryMessage) != tt.wantBinary || !bytes.Equal(data, tt.want) {
				t.Fatalf("echo: type %d %v", mt, data)
			}
			// Base64 in a text frame is a binary message too.
			writeText(t, ws, "b4AQI=")
			if got := e.h.nextPacket(t); got != "\x01\x02" {
				t.Fatalf("base64 packet %v", []byte(got))
			}
			_, _, _ = ws.ReadMessage()
			// The client pings; the server answers.
			writeText(t, ws, "2")
			if got := readText(t, ws); got != "3" {
				t.Fatalf("answer to a ping: %q", got)
			}
			// A v4 binary frame (no type byte) is malformed.
			if err := ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2}); err != nil {
				t.Fatal(err)
			}
			if ev := e.h.nextClose(t); ev.reason != disconnect.ParseError {
				t.Fatalf("close %+v", ev)
			}
		})
	}
}

func TestEIO3Upgrade(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{AllowEIO3: true})
	// Polling asked b64 (as Node's v2 client does); the WebSocket did not.
	sid := e.handshakeV3(t, "&b64=1")
	c := e.h.nextConn(t)
	// A v4 upgrade request for the v3 session is refused.
	if _, resp, err := websocket.DefaultDialer.Dial(e.wsBase+"?EIO=4&transport=websocket&sid="+sid, nil); err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("v4 upgrade: %v %v", err, resp)
	}
	ws := e.dial(t, "EIO=3&transport=websocket&sid="+sid)
	writeText(t, ws, "2probe")
	if got := readText(t, ws); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	// A pending GET gets the v3 noop.
	if status, _, body := e.getV3(t, sid); status != 200 || string(body) != "1:6" {
		t.Fatalf("GET during the upgrade: %d %q", status, body)
	}
	writeText(t, ws, "5")
	waitUntilTransport(t, c, TransportWebSocket)
	if err := c.Send(engineio.Packet{Type: engineio.Message, Data: []byte{7}, Binary: true}); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	mt, data, err := ws.ReadMessage()
	if err != nil || mt != websocket.BinaryMessage || !bytes.Equal(data, []byte{4, 7}) {
		t.Fatalf("binary after the upgrade: %d %v %v", mt, data, err)
	}
}

// waitUntilTransport waits until c uses transport.
func waitUntilTransport(t *testing.T, c *Conn, transport string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for c.Transport() != transport {
		if time.Now().After(deadline) {
			t.Fatalf("transport %s, want %s", c.Transport(), transport)
		}
		time.Sleep(time.Millisecond)
	}
}
