package gateway

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/gorilla/websocket"
)

// In Engine.IO v4 only the server pings. Node's engine.io closes a session
// whose client sends a ping, or a probe outside an upgrade, with reason
// "transport error" ("invalid heartbeat direction"): a pending GET gets a
// close packet, the POST that carried it gets "ok", later requests 400.

// expectHeartbeatClose checks the OnClose of a session closed for a
// client-sent ping.
func expectHeartbeatClose(t *testing.T, e *env, sid string) {
	t.Helper()
	ev := e.h.nextClose(t)
	if ev.sid != sid || ev.reason != disconnect.TransportError || !errors.Is(ev.err, ErrHeartbeatDirection) {
		t.Fatalf("close %+v, want %q with ErrHeartbeatDirection", ev, disconnect.TransportError)
	}
}

func TestClientPingClosesPollingSession(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		pending bool   // a GET is pending when the POST arrives
		deliver string // the message delivered before the ping, if any
	}{
		{name: "ping with pending GET", body: "2", pending: true},
		{name: "probe with pending GET", body: "2probe", pending: true},
		{name: "ping with data, no GET", body: "2hi"},
		{name: "probe, no GET", body: "2probe"},
		{name: "ping between messages", body: "4a\x1e2\x1e4b", pending: true, deliver: "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			e := startEnv(t, Config{})
			e.h.echo = false
			sid := e.handshake(t)
			e.h.nextConn(t)
			pending := make(chan string, 1)
			if tc.pending {
				go func() {
					status, b := e.poll(t, sid)
					pending <- http.StatusText(status) + " " + b
				}()
				time.Sleep(30 * time.Millisecond)
			}
			if status, body := e.post(t, sid, tc.body); status != http.StatusOK || body != "ok" {
				t.Fatalf("POST %q: %d %q", tc.body, status, body)
			}
			if tc.pending {
				if got := <-pending; got != "OK 1" {
					t.Fatalf("pending GET: %q, want a close packet", got)
				}
			}
			if tc.deliver != "" {
				if got := e.h.nextPacket(t); got != tc.deliver {
					t.Fatalf("delivered %q", got)
				}
			}
			expectHeartbeatClose(t, e, sid)
			select {
			case p := <-e.h.packets:
				t.Fatalf("packet %q delivered after the ping", p)
			default:
			}
			if status, _ := e.poll(t, sid); status != http.StatusBadRequest {
				t.Fatalf("GET after the close: %d", status)
			}
		})
	}
}

func TestClientPingClosesWebSocketSession(t *testing.T) {
	tests := []struct {
		name     string
		upgraded bool
		frame    string
	}{
		{name: "ping", frame: "2"},
		{name: "probe", frame: "2probe"},
		{name: "ping after upgrade", upgraded: true, frame: "2"},
		{name: "probe after upgrade", upgraded: true, frame: "2probe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			e := startEnv(t, Config{})
			var ws *websocket.Conn
			var sid string
			if tc.upgraded {
				sid = e.handshake(t)
				e.h.nextConn(t)
				ws = e.dial(t, "EIO=4&transport=websocket&sid="+sid)
				writeText(t, ws, "2probe")
				expectFrame(t, ws, "3probe")
				writeText(t, ws, "5")
			} else {
				var c *Conn
				ws, c = e.openWS(t)
				sid = c.ID()
			}
			writeText(t, ws, "4before")
			expectFrame(t, ws, "4before")
			writeText(t, ws, tc.frame)
			_ = ws.WriteMessage(websocket.TextMessage, []byte("4after")) // may fail: the server is closing
			_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
			for {
				_, data, err := ws.ReadMessage()
				if err != nil {
					var ne interface{ Timeout() bool }
					if errors.As(err, &ne) && ne.Timeout() {
						t.Fatal("websocket still open after the client's ping")
					}
					break
				}
				if s := string(data); s != "1" {
					t.Fatalf("got %q after the ping, want the close", s)
				}
			}
			expectHeartbeatClose(t, e, sid)
		})
	}
}

// TestClientPongUnaskedIsIgnored: a pong the server did not ask for changes
// nothing (Node ignores it too).
func TestClientPongUnaskedIsIgnored(t *testing.T) {
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	if status, body := e.post(t, sid, "3\x1e4x"); status != http.StatusOK || body != "ok" {
		t.Fatalf("POST: %d %q", status, body)
	}
	if _, body := e.poll(t, sid); body != "4x" {
		t.Fatalf("GET %q", body)
	}
}
