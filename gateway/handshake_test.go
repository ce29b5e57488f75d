package gateway

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestHandshakePollingJSONIsExact(t *testing.T) {
	e := startEnv(t, Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	req, _ := http.NewRequest(http.MethodGet, e.base+"?EIO=4&transport=polling", nil)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := new(bytes.Buffer)
	_, _ = buf.ReadFrom(resp.Body)
	body := buf.String()
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("content type %q", ct)
	}
	m := openRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("body %q", body)
	}
	want := `0{"sid":"` + m[1] + `","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`
	if body != want {
		t.Fatalf("body\n%s\nwant\n%s", body, want)
	}
	c := e.h.nextConn(t)
	if c.ID() != m[1] || c.Transport() != TransportPolling {
		t.Fatalf("conn %s/%s", c.ID(), c.Transport())
	}
	if c.Request().Query().Get("EIO") != "4" || c.Request().RemoteAddr == "" {
		t.Fatalf("request %+v", c.Request())
	}
	if e.srv.Count() != 1 {
		t.Fatalf("Count = %d", e.srv.Count())
	}
}

func TestHandshakeUpgradesEmptyWhenNotAllowed(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"upgrades disabled", Config{DisableUpgrades: true}},
		{"websocket not allowed", Config{Transports: []string{TransportPolling}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEnv(t, tt.cfg)
			_, body := e.do(t, http.MethodGet, "EIO=4&transport=polling", "")
			if !strings.Contains(body, `"upgrades":[],`) {
				t.Fatalf("body %q", body)
			}
		})
	}
}

func TestHandshakeWebSocketFirstFrameIsOpen(t *testing.T) {
	e := startEnv(t, Config{MaxPayload: 5000})
	ws := e.dial(t, "EIO=4&transport=websocket")
	got := readText(t, ws)
	m := openRe.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("first frame %q", got)
	}
	want := `0{"sid":"` + m[1] + `","upgrades":[],"pingInterval":60000,"pingTimeout":60000,"maxPayload":5000}`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if c := e.h.nextConn(t); c.Transport() != TransportWebSocket {
		t.Fatalf("transport %s", c.Transport())
	}
}

func TestErrorCodes(t *testing.T) {
	e := startEnv(t, Config{
		AllowRequest: func(r *http.Request) error {
			if r.Header.Get("X-Deny") != "" {
				return errors.New("denied")
			}
			return nil
		},
	})
	sid := e.handshake(t)
	tests := []struct {
		name   string
		method string
		query  string
		header string
		status int
		code   int
		msg    string
	}{
		{"missing transport", "GET", "EIO=4", "", 400, 0, "Transport unknown"},
		{"unknown transport", "GET", "EIO=4&transport=abc", "", 400, 0, "Transport unknown"},
		{"missing EIO", "GET", "transport=polling", "", 400, 5, "Unsupported protocol version"},
		{"EIO=3", "GET", "EIO=3&transport=polling", "", 400, 5, "Unsupported protocol version"},
		{"EIO=abc", "GET", "EIO=abc&transport=polling", "", 400, 5, "Unsupported protocol version"},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", "", 400, 1, "Session ID unknown"},
		{"POST handshake", "POST", "EIO=4&transport=polling", "", 400, 2, "Bad handshake method"},
		{"PUT handshake", "PUT", "EIO=4&transport=polling", "", 400, 2, "Bad handshake method"},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", "", 400, 3, "Bad request"},
		{"PUT on session", "PUT", "EIO=4&transport=polling&sid=" + sid, "", 400, 3, "Bad request"},
		{"forbidden", "GET", "EIO=4&transport=polling", "X-Deny", 403, 4, "Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.base+"?"+tt.query, nil)
			if tt.header != "" {
				req.Header.Set(tt.header, "1")
			}
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			buf := new(bytes.Buffer)
			_, _ = buf.ReadFrom(resp.Body)
			want := `{"code":` + string(rune('0'+tt.code)) + `,"message":"` + tt.msg + `"}`
			if resp.StatusCode != tt.status || buf.String() != want {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, buf.String(), tt.status, want)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content type %q", ct)
			}
		})
	}
}

func TestWebSocketHandshakeErrors(t *testing.T) {
	e := startEnv(t, Config{})
	for _, q := range []string{"transport=websocket", "EIO=abc&transport=websocket", "EIO=4", "EIO=4&transport=abc", "EIO=4&transport=websocket&sid=unknown"} {
		ws, resp, err := websocket.DefaultDialer.Dial(e.wsBase+"?"+q, nil)
		if err == nil {
			ws.Close()
			t.Fatalf("%s: dial succeeded", q)
		}
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: resp %v", q, resp)
		}
		resp.Body.Close()
	}
}

func TestTransportNotAllowed(t *testing.T) {
	e := startEnv(t, Config{Transports: []string{TransportWebSocket}})
	status, body := e.do(t, http.MethodGet, "EIO=4&transport=polling", "")
	if status != 400 || body != `{"code":0,"message":"Transport unknown"}` {
		t.Fatalf("got %d %s", status, body)
	}
}

func TestPathWithAndWithoutTrailingSlash(t *testing.T) {
	e := startEnv(t, Config{Path: "/eio"})
	for path, want := range map[string]int{"/eio/": 200, "/eio": 200, "/other/": 404, "/eio/x": 404} {
		resp, err := e.client.Get(e.ts.URL + path + "?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestCORS(t *testing.T) {
	e := startEnv(t, Config{CORS: &CORS{Origins: []string{"https://a.example"}, Credentials: true, MaxAge: time.Hour}})
	req, _ := http.NewRequest(http.MethodOptions, e.base+"?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", "https://a.example")
	req.Header.Set("Access-Control-Request-Headers", "X-Token")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent ||
		h.Get("Access-Control-Allow-Origin") != "https://a.example" ||
		h.Get("Access-Control-Allow-Credentials") != "true" ||
		h.Get("Access-Control-Allow-Methods") != "GET,HEAD,PUT,PATCH,POST,DELETE" ||
		h.Get("Access-Control-Allow-Headers") != "X-Token" ||
		!slices.Contains(h.Values("Vary"), "Access-Control-Request-Headers") ||
		h.Get("Access-Control-Max-Age") != "3600" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, h)
	}

	req, _ = http.NewRequest(http.MethodGet, e.base+"?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err = e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("unlisted origin allowed: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestCheckOriginRefusalIsForbidden(t *testing.T) {
	e := startEnv(t, Config{CheckOrigin: func(*http.Request) bool { return false }})
	_, resp, err := websocket.DefaultDialer.Dial(e.wsBase+"?EIO=4&transport=websocket", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial: %v %v", resp, err)
	}
	resp.Body.Close()
}
