package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// startTLSEnv is startEnv with the server behind TLS (httptest's own
// certificate, which the env's HTTP client and dialer trust).
func startTLSEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	return startTLSEnvOver(t, cfg, false)
}

// startTLSEnvOver is startTLSEnv, or, when ready, the server as README
// advises for production on Linux: its listener a ReadyListener, wrapped
// in TLS (httptest's StartTLS wraps it), with HTTP/2 enabled, which the
// env's HTTP client then speaks (its WebSockets HTTP/1.1).
func startTLSEnvOver(t *testing.T, cfg Config, ready bool) *env {
	t.Helper()
	srv, h := envServer(t, cfg)
	ts := httptest.NewUnstartedServer(srv)
	if ready {
		ts.Listener = ReadyListener(ts.Listener, 0)
		ts.EnableHTTP2 = true
	}
	ts.StartTLS()
	client := ts.Client()
	client.Timeout = 10 * time.Second
	dialTLS := client.Transport.(*http.Transport).TLSClientConfig.Clone()
	dialTLS.NextProtos = []string{"http/1.1"}
	e := &env{
		srv: srv, ts: ts, h: h,
		client: client,
		base:   ts.URL + "/socket.io/",
		wsBase: "wss" + strings.TrimPrefix(ts.URL, "https") + "/socket.io/",
		dialer: &websocket.Dialer{
			TLSClientConfig:  dialTLS,
			HandshakeTimeout: 10 * time.Second,
		},
	}
	t.Cleanup(e.stop)
	return e
}

// TestTLS runs sessions over TLS, where a WebSocket cannot wait in the
// poller (TLS keeps decrypted bytes the poller cannot see): its reader,
// and an upgrade's probe, are read on goroutines of their own, as on every
// system but Linux. A direct WebSocket and an upgrade from polling each
// carry messages both ways, then end, and nothing is left running; both
// also behind a ReadyListener with HTTP/2 (long-polling on HTTP/2).
func TestTLS(t *testing.T) {
	checkGoroutines(t)
	for _, ready := range []bool{false, true} {
		t.Run(map[bool]string{false: "TLS", true: "ReadyListener, TLS, HTTP/2"}[ready], func(t *testing.T) {
			testTLSSessions(t, startTLSEnvOver(t, Config{}, ready), ready)
		})
	}

	t.Run("probe times out", func(t *testing.T) {
		e := startTLSEnv(t, Config{UpgradeTimeout: 200 * time.Millisecond})
		sid := e.handshake(t)
		c := e.h.nextConn(t)
		ws := e.probe(t, sid)
		// No upgrade packet: the probe's WebSocket is closed, and the
		// session goes on polling.
		expectClosed(t, ws)
		_ = c.Send(msg("still polling"))
		if _, body := e.poll(t, sid); body != "4still polling" {
			t.Fatalf("GET after the failed upgrade %q", body)
		}
	})
}

// testTLSSessions runs TestTLS's direct WebSocket and upgrade on e; h2:
// its long-polling requests must go over HTTP/2.
func testTLSSessions(t *testing.T, e *env, h2 bool) {
	if h2 {
		resp, err := e.client.Get(e.base + "?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		e.h.nextConn(t)
		if resp.ProtoMajor != 2 {
			t.Fatalf("a long-polling handshake over %s, want HTTP/2", resp.Proto)
		}
	}

	t.Run("websocket", func(t *testing.T) {
		ws := e.dial(t, "EIO=4&transport=websocket")
		if got := readText(t, ws); !strings.HasPrefix(got, `0{"sid":"`) {
			t.Fatalf("open packet %q", got)
		}
		c := e.h.nextConn(t)
		writeText(t, ws, "4hello")
		if got := readText(t, ws); got != "4hello" {
			t.Fatalf("echo %q", got)
		}
		_ = c.Send(msg("from server"))
		if got := readText(t, ws); got != "4from server" {
			t.Fatalf("got %q", got)
		}
		writeText(t, ws, "1")
		if ev := e.h.nextClose(t); ev.sid != c.ID() {
			t.Fatalf("closed %q, want %q", ev.sid, c.ID())
		}
	})

	t.Run("upgrade", func(t *testing.T) {
		sid := e.handshake(t)
		c := e.h.nextConn(t)
		_ = c.Send(msg("before"))
		if _, body := e.poll(t, sid); body != "4before" {
			t.Fatalf("GET %q", body)
		}
		ws := e.probe(t, sid)
		_ = c.Send(msg("during"))
		writeText(t, ws, "5")
		if got := readText(t, ws); got != "4during" {
			t.Fatalf("got %q after the upgrade", got)
		}
		if c.Transport() != TransportWebSocket {
			t.Fatalf("transport %s after the upgrade", c.Transport())
		}
		writeText(t, ws, "4hello")
		if got := readText(t, ws); got != "4hello" {
			t.Fatalf("echo %q", got)
		}
		writeText(t, ws, "1")
		if ev := e.h.nextClose(t); ev.sid != sid {
			t.Fatalf("closed %q, want %q", ev.sid, sid)
		}
	})

}
