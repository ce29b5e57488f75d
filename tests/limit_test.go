package tests

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio"
)

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
		{"websocket", wsOnly, []string{"transport close"}, actorio.ReasonTransportError},
		// As with Node, the POST gets 413 ("transport error" for the
		// client) and the session goes on until the client, giving up,
		// sends its close packet ("transport close" for the server).
		{"polling", pollingOnly, []string{"transport error"}, actorio.ReasonTransportClose},
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
			dl.expectOnce(t, otherID, actorio.ReasonServerShuttingDown)
		})
	}
}
