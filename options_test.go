package actorio_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/testkit"
)

// TestNegativeDurationsAreRefused: a duration cannot be switched off, so
// NewServer refuses a negative one, except ConnectTimeout (no timeout).
func TestNegativeDurationsAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts actorio.Options
		ok   bool
	}{
		{"PingInterval", actorio.Options{PingInterval: -time.Second}, false},
		{"PingTimeout", actorio.Options{PingTimeout: -time.Second}, false},
		{"UpgradeTimeout", actorio.Options{UpgradeTimeout: -time.Second}, false},
		{"CloseTimeout", actorio.Options{CloseTimeout: -time.Second}, false},
		{"MaxDisconnectionDuration", actorio.Options{ConnectionStateRecovery: &actorio.ConnectionStateRecovery{MaxDisconnectionDuration: -time.Second}}, false},
		{"ConnectTimeout", actorio.Options{ConnectTimeout: -time.Second}, true},
		{"negative limits", actorio.Options{MaxHTTPBufferSize: -1, MaxQueueBytes: -1, MaxInboundBytes: -1,
			ConnectionStateRecovery: &actorio.ConnectionStateRecovery{MaxPackets: -1, MaxBytes: -1}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = quiet()
			srv, err := actorio.NewServer(tc.opts)
			if srv != nil {
				defer srv.Close()
			}
			switch {
			case tc.ok && err != nil:
				t.Fatalf("NewServer: %v", err)
			case !tc.ok && err == nil:
				t.Fatal("NewServer accepted a negative duration")
			case !tc.ok && !strings.Contains(err.Error(), tc.name):
				t.Errorf("error %q does not name %s", err, tc.name)
			}
		})
	}
}

// TestMaxHTTPBufferSizeNegativeIsUnlimited: a message twice the default
// MaxHTTPBufferSize closes a default server's WebSocket (1009) and gets a
// polling POST 413, while a server with MaxHTTPBufferSize -1 takes it on
// both transports and acknowledges it.
func TestMaxHTTPBufferSizeNegativeIsUnlimited(t *testing.T) {
	big := strings.Repeat("x", 2_000_000)
	for _, tc := range []struct {
		name      string
		max       int64
		unlimited bool
	}{
		{"default", 0, false},
		{"negative", -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := testkit.StartServer(t, testkit.ServerConfig{
				Options: actorio.Options{Logger: quiet(), MaxHTTPBufferSize: tc.max},
				Setup: func(srv *actorio.Server) {
					srv.OnConnection(func(s *actorio.Socket) {
						s.On("big", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
							v := args.String(0)
							_ = ack(len(v))
						})
					})
				},
			})
			wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
			ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			read := func() string {
				for {
					_, m, err := ws.ReadMessage()
					if err != nil {
						return "error: " + err.Error()
					}
					if s := string(m); s != "2" {
						return s
					}
					_ = ws.WriteMessage(websocket.TextMessage, []byte("3"))
				}
			}
			read() // open
			_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
			if got := read(); !strings.HasPrefix(got, "40") {
				t.Fatalf("CONNECT reply %q", got)
			}
			_ = ws.WriteMessage(websocket.TextMessage, []byte(`421["big","`+big+`"]`))
			got := read()
			if tc.unlimited && got != "431[2000000]" {
				t.Errorf("WebSocket: got %.60q, want the ack 431[2000000]", got)
			}
			if !tc.unlimited && !strings.Contains(got, "1009") {
				t.Errorf("WebSocket: got %.60q, want a close 1009 (message too big)", got)
			}

			status := pollPost(t, ts.URL, `421["big","`+big+`"]`)
			want := http.StatusRequestEntityTooLarge
			if tc.unlimited {
				want = http.StatusOK
			}
			if status != want {
				t.Errorf("polling POST of %d bytes: status %d, want %d", len(big), status, want)
			}
		})
	}
}

// pollPost opens a polling session on base, connects to "/", POSTs body
// and returns the POST's status.
func pollPost(t *testing.T, base, body string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	do := func(method, url, body string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	_, open := do(http.MethodGet, base+"/socket.io/?EIO=4&transport=polling", "")
	i := strings.Index(open, `"sid":"`)
	if i < 0 {
		t.Fatalf("handshake %q", open)
	}
	sid := open[i+7 : i+7+strings.IndexByte(open[i+7:], '"')]
	url := base + "/socket.io/?EIO=4&transport=polling&sid=" + sid
	if st, _ := do(http.MethodPost, url, "40"); st != http.StatusOK {
		t.Fatalf("CONNECT POST: %d", st)
	}
	st, _ := do(http.MethodPost, url, body)
	return st
}

// TestPerMessageDeflateLevel: NewServer refuses a compression level
// compress/flate does not have, and takes the others (0: the default).
func TestPerMessageDeflateLevel(t *testing.T) {
	for _, tc := range []struct {
		level int
		ok    bool
	}{{-3, false}, {-2, true}, {0, true}, {1, true}, {9, true}, {10, false}} {
		srv, err := actorio.NewServer(actorio.Options{Logger: quiet(), PerMessageDeflate: &actorio.PerMessageDeflate{Level: tc.level}})
		if srv != nil {
			_ = srv.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("level %d: %v", tc.level, err)
		}
	}
}
