package tests

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/logbuf"
)

// forbidden is the Engine.IO error body of a refused handshake.
const forbidden = `{"code":4,"message":"Forbidden"}`

// warnLogger returns a logger writing Warn and above into a buffer.
func warnLogger() (*slog.Logger, *logbuf.Buffer) {
	logs := &logbuf.Buffer{}
	return slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})), logs
}

// pollHandshake sends a polling handshake and returns its status and body.
func pollHandshake(t *testing.T, ts *testServer) (int, string) {
	t.Helper()
	c := http.Client{Timeout: step}
	resp, err := c.Get(ts.URL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatalf("polling handshake: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// expectWSRefused checks that a WebSocket handshake gets HTTP 403 with
// the Engine.IO Forbidden body and no WebSocket.
func expectWSRefused(t *testing.T, ts *testServer) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: step}
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err == nil {
		ws.Close()
		t.Fatal("WebSocket handshake over the limit accepted")
	}
	if resp == nil {
		t.Fatalf("WebSocket handshake over the limit: %v, no response", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || string(body) != forbidden {
		t.Fatalf("WebSocket handshake over the limit: %d %q, want 403 %s", resp.StatusCode, body, forbidden)
	}
}

// expectPollRefused checks the same for a polling handshake.
func expectPollRefused(t *testing.T, ts *testServer) {
	t.Helper()
	if code, body := pollHandshake(t, ts); code != http.StatusForbidden || body != forbidden {
		t.Fatalf("polling handshake over the limit: %d %q, want 403 %s", code, body, forbidden)
	}
}

// expectPollAccepted checks that a polling handshake opens a session.
func expectPollAccepted(t *testing.T, ts *testServer) {
	t.Helper()
	if code, body := pollHandshake(t, ts); code != http.StatusOK || !strings.HasPrefix(body, `0{"sid":"`) {
		t.Fatalf("polling handshake under the limit: %d %q", code, body)
	}
}

// TestConnectionLimitPerAddress allows 3 sessions per address: the 4th
// handshake from 127.0.0.1, WebSocket or polling, gets 403 Forbidden
// before any session exists, and once one of the 3 closed a new one is
// accepted.
func TestConnectionLimitPerAddress(t *testing.T) {
	logger, logs := warnLogger()
	ts := startServer(t, actorio.Options{MaxConnectionsPerAddress: 3, Logger: logger}, nil)
	peers := make([]*wsPeer, 3)
	for i := range peers {
		peers[i] = dialPeer(t, ts, peerOpts{})
	}
	expectWSRefused(t, ts)
	expectPollRefused(t, ts)
	if got := ts.Srv.Stats().Sessions; got != 3 {
		t.Fatalf("sessions after the refusals: %d, want 3", got)
	}
	if !strings.Contains(logs.String(), "connection limit reached") {
		t.Fatalf("no Warn log of the refusal; logs:\n%s", logs)
	}

	_ = peers[0].ws.Close()
	waitUntil(t, step, "the closed session to end", func() bool { return ts.Srv.Stats().Sessions == 2 })
	expectPollAccepted(t, ts) // the 3rd slot again
	expectWSRefused(t, ts)    // and the limit still holds
}

// TestConnectionLimitTotal allows 2 sessions in all.
func TestConnectionLimitTotal(t *testing.T) {
	logger, logs := warnLogger()
	ts := startServer(t, actorio.Options{MaxConnections: 2, Logger: logger}, nil)
	p := dialPeer(t, ts, peerOpts{})
	expectPollAccepted(t, ts)
	expectPollRefused(t, ts)
	expectWSRefused(t, ts)
	if !strings.Contains(logs.String(), "connection limit reached") {
		t.Fatalf("no Warn log of the refusal; logs:\n%s", logs)
	}
	_ = p.ws.Close()
	waitUntil(t, step, "the closed session to end", func() bool { return ts.Srv.Stats().Sessions == 1 })
	dialPeer(t, ts, peerOpts{})
}

// TestDynamicNamespaceLimit allows 2 dynamic namespaces: a client asking
// for a 3rd name gets CONNECT_ERROR "Invalid namespace", logged at Warn,
// while the existing ones can still be joined.
func TestDynamicNamespaceLimit(t *testing.T) {
	logger, logs := warnLogger()
	ts := startServer(t, actorio.Options{MaxDynamicNamespaces: 2, Logger: logger}, func(srv *actorio.Server) {
		srv.OfRegexp(regexp.MustCompile(`^/room-\d+$`)).OnConnection(func(s *actorio.Socket) {
			s.On("echo", echoHandler)
		})
	})
	p := dialPeer(t, ts, peerOpts{})
	p.join("/room-1", "")
	p.join("/room-2", "")
	want := `44/room-3,{"message":"Invalid namespace"}`
	if got := p.joinReply("/room-3", ""); got != want {
		t.Fatalf("3rd dynamic namespace: %q, want %q", got, want)
	}
	if !strings.Contains(logs.String(), "MaxDynamicNamespaces reached") {
		t.Fatalf("no Warn log of the refusal; logs:\n%s", logs)
	}
	if _, ok := ts.Srv.Stats().Namespaces["/room-3"]; ok {
		t.Fatal("the refused namespace was created")
	}
	q := dialPeer(t, ts, peerOpts{})
	q.join("/room-1", "")
	if got := q.joinReply("/room-4", ""); got != `44/room-4,{"message":"Invalid namespace"}` {
		t.Fatalf("4th dynamic namespace: %q", got)
	}
	q.startReader()
	q.echo("/room-1", "still served")
}

// TestEventRateLimit gives each socket bursts of 10 events and 5 events/s:
// of 50 events sent at once the handler sees the burst (and at most the
// one token refilled meanwhile), the rest are dropped and counted, and an
// event sent after a pause is delivered again.
func TestEventRateLimit(t *testing.T) {
	var hits atomic.Int64
	ts := startServer(t, actorio.Options{EventRate: 5, EventBurst: 10}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("hit", func(*actorio.Socket, actorio.Args, actorio.AckFunc) { hits.Add(1) })
		})
	})
	p := dialPeer(t, ts, peerOpts{})
	p.join("/", "")
	const sent = 50
	for i := range sent {
		p.send(fmt.Sprintf(`42["hit",%d]`, i))
	}
	waitUntil(t, step, "every event delivered or dropped", func() bool {
		return hits.Load()+ts.Srv.Stats().DroppedEvents == sent
	})
	delivered := hits.Load()
	if delivered < 10 || delivered > 11 {
		t.Fatalf("delivered %d of %d events sent at once, want the burst of 10 (11 at most)", delivered, sent)
	}

	// 300ms refill 1.5 tokens.
	time.Sleep(300 * time.Millisecond)
	p.send(`42["hit","after a pause"]`)
	waitUntil(t, step, "the event after the pause", func() bool { return hits.Load() == delivered+1 })

	// Another socket has its own bucket.
	q := dialPeer(t, ts, peerOpts{})
	q.join("/", "")
	for i := range 5 {
		q.send(fmt.Sprintf(`42["hit",%d]`, i))
	}
	waitUntil(t, step, "the other socket's events", func() bool { return hits.Load() == delivered+6 })
}

// TestPayloadLimit sets MaxHTTPBufferSize to 10 000 bytes: an event just
// under it arrives, one just over it closes that connection only, with
// reason "transport error" on the server, while another client goes on.
func TestPayloadLimit(t *testing.T) {
	const limit = 10_000
	// The event "big" with a string of n characters travels as the n+12
	// bytes 42["big","…"], in a WebSocket frame or a polling body.
	const under, over = limit - 100, limit + 100
	for _, tc := range []struct {
		name          string
		opts          map[string]any
		clientReasons []string // the big client's possible disconnect reasons
		serverReason  string
	}{
		// The server closes the WebSocket (code 1009 from the read limit).
		{"websocket", wsOnly, []string{"transport close"}, disconnect.TransportError},
		// As with Node, the POST gets 413 ("transport error" for the
		// client) and the session goes on until the client, giving up,
		// sends its close packet ("transport close" for the server).
		{"polling", pollingOnly, []string{"transport error"}, disconnect.TransportClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dl := newDisconnectLog()
			ts := startServer(t, actorio.Options{MaxHTTPBufferSize: limit}, func(srv *actorio.Server) {
				srv.OnConnection(func(s *actorio.Socket) {
					dl.watch(s)
					s.On("big", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
						_ = ack(len(args.String(0)))
					})
					s.On("echo", echoHandler)
				})
			})
			c := startClients(t, ts)
			opts := with(tc.opts, "forceNew", true, "reconnection", false)
			bigID := c.connect("big", "/", opts)
			otherID := c.connect("other", "/", opts)

			if l := c.emitAck("big", "big", strings.Repeat("u", under)); l.Arg(2) != float64(under) {
				t.Fatalf("event just under the limit: %s", l.Raw)
			}
			c.emit("big", "big", strings.Repeat("o", over))
			if l := c.expect("disconnect", "big"); !slices.Contains(tc.clientReasons, l.Arg(1).(string)) {
				t.Errorf("client reason %v, want one of %q", l.Arg(1), tc.clientReasons)
			}
			ev := dl.next(t)
			if ev.ID != bigID || ev.Reason != tc.serverReason {
				t.Errorf("OnDisconnect %+v, want %s with %q", ev, bigID, tc.serverReason)
			}

			// The other client is untouched and keeps working, with big
			// payloads too.
			for i := range 3 {
				if l := c.emitAck("other", "echo", i, "fine"); l.Arg(2) != float64(i) || l.Arg(3) != "fine" {
					t.Errorf("echo from the other client: %s", l.Raw)
				}
			}
			if l := c.emitAck("other", "big", strings.Repeat("u", under)); l.Arg(2) != float64(under) {
				t.Errorf("other client, event under the limit: %s", l.Raw)
			}
			c.quiet("a disconnect of the other client", 100*time.Millisecond, func(l nodeLine) bool {
				return l.Ev == "disconnect" && l.Arg(0) == "other"
			})
			if r := dl.of(otherID); len(r) != 0 {
				t.Errorf("other client disconnected: %v", r)
			}
			if err := ts.Srv.Close(); err != nil {
				t.Fatal(err)
			}
			dl.expectOnce(t, bigID, tc.serverReason)
			dl.expectOnce(t, otherID, disconnect.ServerShuttingDown)
		})
	}
}
