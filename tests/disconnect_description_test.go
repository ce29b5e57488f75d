package tests

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/internal/node"
)

// Node's server passes the disconnect event a description: the error
// that ended the transport, for "transport error", nothing otherwise.
// actorio gives it through Socket.DisconnectDescription. These tests end
// raw WebSocket sessions in ways that give one and ways that do not.

// descriptionEnd is one way a raw client ends its session, after its
// CONNECT to "/" was answered.
type descriptionEnd struct {
	name   string
	reason string
	// end ends the session; ws has joined "/".
	end func(t *testing.T, ws *websocket.Conn)
	// want checks the description actorio gives; nil: none.
	want error
	// notNode leaves the end out of the comparison with Node, which
	// ignores a close packet on a WebSocket.
	notNode bool
}

var descriptionEnds = []descriptionEnd{
	{"ping from the client", "transport error", func(t *testing.T, ws *websocket.Conn) {
		writeWS(t, ws, "2")
	}, gateway.ErrHeartbeatDirection, false},
	{"message over maxHttpBufferSize", "transport error", func(t *testing.T, ws *websocket.Conn) {
		writeWS(t, ws, `42["big","`+strings.Repeat("x", 2000)+`"]`)
	}, gateway.ErrPayloadTooLarge, false},
	{"client namespace disconnect", "client namespace disconnect", func(t *testing.T, ws *websocket.Conn) {
		writeWS(t, ws, "41")
	}, nil, false},
	{"close frame", "transport close", func(t *testing.T, ws *websocket.Conn) {
		// The closing handshake, then the TCP close, as a browser does
		// (Node's ws waits for the latter).
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(step))
		_ = ws.SetReadDeadline(time.Now().Add(step))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				break
			}
		}
		_ = ws.Close()
	}, nil, false},
	{"Engine.IO close", "transport close", func(t *testing.T, ws *websocket.Conn) {
		writeWS(t, ws, "1")
	}, nil, true},
}

func writeWS(t *testing.T, ws *websocket.Conn, s string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatalf("write %.20q: %v", s, err)
	}
}

// joinRaw opens a raw WebSocket session on base and joins "/".
func joinRaw(t *testing.T, base string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(step))
	if _, open, err := ws.ReadMessage(); err != nil || open[0] != '0' {
		t.Fatalf("open packet %q: %v", open, err)
	}
	writeWS(t, ws, "40")
	if _, reply, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(reply), "40{") {
		t.Fatalf("CONNECT reply %q: %v", reply, err)
	}
	return ws
}

// TestDisconnectDescription checks what OnDisconnecting and OnDisconnect
// handlers read from DisconnectDescription for each way to end.
func TestDisconnectDescription(t *testing.T) {
	type seen struct {
		where, reason string
		desc          error
	}
	for _, tc := range descriptionEnds {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan seen, 4)
			ts := startServer(t, actorio.Options{MaxHTTPBufferSize: 1000}, func(srv *actorio.Server) {
				srv.OnConnection(func(s *actorio.Socket) {
					if s.DisconnectDescription() != nil {
						t.Error("a description before the end")
					}
					s.OnDisconnecting(func(s *actorio.Socket, reason string) {
						got <- seen{"disconnecting", reason, s.DisconnectDescription()}
					})
					s.OnDisconnect(func(s *actorio.Socket, reason string) {
						got <- seen{"disconnect", reason, s.DisconnectDescription()}
					})
				})
			})
			tc.end(t, joinRaw(t, ts.URL))
			for _, where := range []string{"disconnecting", "disconnect"} {
				s := recv(t, got, step, where)
				if s.where != where || s.reason != tc.reason {
					t.Fatalf("%s %q, want %s %q", s.where, s.reason, where, tc.reason)
				}
				switch {
				case tc.want == nil && s.desc != nil:
					t.Errorf("%s: description %v, want none", where, s.desc)
				case tc.want != nil && !errors.Is(s.desc, tc.want):
					t.Errorf("%s: description %v, want one wrapping %v", where, s.desc, tc.want)
				}
			}
		})
	}
}

// descriptionNodeJS is Node's socket.io with maxHttpBufferSize 1000,
// printing each socket's disconnect reason and its description's message
// (null without one).
const descriptionNodeJS = `
import http from 'node:http';
import { Server } from 'socket.io';
const httpServer = http.createServer();
const io = new Server(httpServer, { maxHttpBufferSize: 1000 });
io.on('connection', (s) => {
  s.on('disconnect', (reason, description) => out('disconnect', reason, description ? String(description.message) : null));
});
await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
out('listening', httpServer.address().port);
`

// TestDisconnectDescriptionLikeNode ends sessions the same ways against
// Node's socket.io 4.8 and checks that Node gives the same reason, and a
// description exactly when actorio does.
func TestDisconnectDescriptionLikeNode(t *testing.T) {
	node.RequirePackage(t, "socket.io")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ref := node.Run(t, ctx, descriptionNodeJS, nil)
	var port int
	if err := ref.Expect(t, "listening", 20*time.Second).Decode(0, &port); err != nil {
		t.Fatal(err)
	}
	for _, tc := range descriptionEnds {
		if tc.notNode {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			tc.end(t, joinRaw(t, fmt.Sprintf("http://127.0.0.1:%d", port)))
			l := ref.Expect(t, "disconnect", step)
			var reason string
			var desc *string
			if err := errors.Join(l.Decode(0, &reason), l.Decode(1, &desc)); err != nil {
				t.Fatal(err)
			}
			t.Logf("node: %q, description %v", reason, l.Arg(1))
			if reason != tc.reason {
				t.Errorf("node's reason %q, actorio's %q", reason, tc.reason)
			}
			if (desc != nil) != (tc.want != nil) {
				t.Errorf("node's description %v, actorio's %v", l.Arg(1), tc.want)
			}
		})
	}
}
