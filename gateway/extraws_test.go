package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestExtraWebSocketIsAcceptedThenClosed: a WebSocket request for a session
// that is upgrading, upgraded, or opened on a WebSocket completes its
// handshake (101, as Node's engine.io answers) and is then closed by the
// server with a close frame without a status code; the session itself goes
// on undisturbed.
func TestExtraWebSocketIsAcceptedThenClosed(t *testing.T) {
	tests := []struct {
		name string
		// setup opens the session and returns the sid and its first
		// WebSocket, with the probe and upgrade packets sent as the case
		// requires.
		setup func(t *testing.T, e *env) (string, *websocket.Conn)
		// finish completes the upgrade the case left half done.
		finish func(t *testing.T, ws *websocket.Conn)
	}{
		{
			name: "upgraded",
			setup: func(t *testing.T, e *env) (string, *websocket.Conn) {
				sid := e.handshake(t)
				ws := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
				writeText(t, ws, "2probe")
				expectFrame(t, ws, "3probe")
				writeText(t, ws, "5")
				waitTransport(t, e.h.nextConn(t), TransportWebSocket)
				return sid, ws
			},
			finish: func(*testing.T, *websocket.Conn) {},
		},
		{
			name: "probed",
			setup: func(t *testing.T, e *env) (string, *websocket.Conn) {
				sid := e.handshake(t)
				ws := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
				writeText(t, ws, "2probe")
				expectFrame(t, ws, "3probe")
				return sid, ws
			},
			finish: func(t *testing.T, ws *websocket.Conn) { writeText(t, ws, "5") },
		},
		{
			name: "upgrade request only",
			setup: func(t *testing.T, e *env) (string, *websocket.Conn) {
				sid := e.handshake(t)
				ws := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
				// The upgrade request is served once the dial returns.
				return sid, ws
			},
			finish: func(t *testing.T, ws *websocket.Conn) {
				writeText(t, ws, "2probe")
				expectFrame(t, ws, "3probe")
				writeText(t, ws, "5")
			},
		},
		{
			name: "opened on a websocket",
			setup: func(t *testing.T, e *env) (string, *websocket.Conn) {
				ws, c := e.openWS(t)
				return c.ID(), ws
			},
			finish: func(*testing.T, *websocket.Conn) {},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			e := startEnv(t, Config{})
			sid, ws := tc.setup(t, e)

			ws2, resp, err := websocket.DefaultDialer.Dial(e.wsBase+"?EIO=4&transport=websocket&sid="+sid, nil)
			if err != nil {
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				t.Fatalf("second websocket refused: HTTP %d, %v (want 101, then a close)", status, err)
			}
			defer ws2.Close()
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("second websocket: HTTP %d", resp.StatusCode)
			}
			err = expectClosed(t, ws2)
			if !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
				t.Fatalf("second websocket ended with %v, want a close frame without status (1005)", err)
			}

			tc.finish(t, ws)
			writeText(t, ws, "4hello")
			expectFrame(t, ws, "4hello")
			select {
			case ev := <-e.h.closes:
				t.Fatalf("session closed: %+v", ev)
			default:
			}
		})
	}
}

// TestExtraWebSocketForUnknownSessionIs400: a WebSocket request with an
// unknown sid is refused before the handshake, as in Node.
func TestExtraWebSocketForUnknownSessionIs400(t *testing.T) {
	e := startEnv(t, Config{})
	_, resp, err := websocket.DefaultDialer.Dial(e.wsBase+"?EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAAA", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown sid: %v %v, want HTTP 400", resp, err)
	}
}

// expectFrame fails unless the next text frame, skipping pings, is want.
func expectFrame(t *testing.T, ws *websocket.Conn, want string) {
	t.Helper()
	for {
		got := readText(t, ws)
		if got == "2" {
			continue
		}
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		return
	}
}

// waitTransport waits until c uses transport.
func waitTransport(t *testing.T, c *Conn, transport string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for c.Transport() != transport {
		if time.Now().After(deadline) {
			t.Fatalf("transport %s, want %s", c.Transport(), transport)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
