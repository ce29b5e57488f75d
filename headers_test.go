package actorio_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/node"
	"github.com/actorio/actorio/internal/testkit"
	"github.com/gorilla/websocket"
)

// The engine-level header hooks (Options.InitialHeaders, Headers and
// Cookie) seen from raw requests on both transports, side by side with
// Node's socket.io given the same options: headersProbe records what each
// answer carries, and the two records must match once the session ids are
// replaced.

// headersAppJS is Node's socket.io with cookie: true and the two header
// events; it prints {"ev":"listening","args":[port]}.
const headersAppJS = `
import http from 'node:http';
import { Server } from 'socket.io';

const httpServer = http.createServer();
const io = new Server(httpServer, { cookie: true });
io.engine.on('initial_headers', (h, req) => { h['X-Initial'] = 'i:' + (req.headers['x-probe'] ?? ''); });
io.engine.on('headers', (h, req) => { h['X-All'] = 'a:' + (req.headers['x-probe'] ?? ''); });
httpServer.listen(0, '127.0.0.1', () => out('listening', httpServer.address().port));
`

// headersOptions are the Go server's options matching headersAppJS.
func headersOptions() actorio.Options {
	return actorio.Options{
		Logger: quiet(),
		Cookie: &actorio.Cookie{},
		InitialHeaders: func(h http.Header, r *http.Request) {
			h.Set("X-Initial", "i:"+r.Header.Get("X-Probe"))
		},
		Headers: func(h http.Header, r *http.Request) {
			h.Set("X-All", "a:"+r.Header.Get("X-Probe"))
		},
	}
}

// sidRE finds the session id of an open packet.
var sidRE = regexp.MustCompile(`"sid":"([^"]+)"`)

// headersProbe sends a polling handshake, a POST, a GET, a WebSocket
// upgrade of that session and a WebSocket handshake to the server at
// host:port, and returns what each answer carries: its status, Set-Cookie
// (the session id replaced by SID), X-Initial and X-All.
func headersProbe(t *testing.T, hostport string) []string {
	t.Helper()
	base := "http://" + hostport + "/socket.io/?EIO=4"
	var rec []string
	note := func(step string, status int, h http.Header, sid string) {
		cookies := slices.Clone(h.Values("Set-Cookie"))
		for i := range cookies {
			if sid != "" {
				cookies[i] = strings.ReplaceAll(cookies[i], sid, "SID")
			}
		}
		rec = append(rec, fmt.Sprintf("%s: %d cookie=%q initial=%q all=%q",
			step, status, cookies, h.Get("X-Initial"), h.Get("X-All")))
	}
	do := func(method, url, body, probe string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Probe", probe)
		if body != "" {
			req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return res, string(b)
	}

	res, body := do(http.MethodGet, base+"&transport=polling", "", "handshake")
	m := sidRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("handshake answered %d %q", res.StatusCode, body)
	}
	sid := m[1]
	note("polling handshake", res.StatusCode, res.Header, sid)
	res, _ = do(http.MethodPost, base+"&transport=polling&sid="+sid, "40", "post")
	note("post", res.StatusCode, res.Header, sid)
	res, body = do(http.MethodGet, base+"&transport=polling&sid="+sid, "", "get")
	note("get", res.StatusCode, res.Header, sid)
	if !strings.HasPrefix(body, "40") {
		t.Fatalf("poll answered %q, want the CONNECT answer", body)
	}
	res, _ = do(http.MethodGet, base+"&transport=nope", "", "error")
	note("error", res.StatusCode, res.Header, sid)

	wsBase := "ws://" + hostport + "/socket.io/?EIO=4&transport=websocket"
	dial := func(url, probe string) (*websocket.Conn, *http.Response) {
		t.Helper()
		ws, res, err := websocket.DefaultDialer.Dial(url, http.Header{"X-Probe": {probe}})
		if err != nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		t.Cleanup(func() { _ = ws.Close() })
		return ws, res
	}
	_, res = dial(wsBase+"&sid="+sid, "upgrade")
	note("websocket upgrade", res.StatusCode, res.Header, sid)
	ws, res := dial(wsBase, "ws-handshake")
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, open, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	wsSID := ""
	if m := sidRE.FindSubmatch(open); m != nil {
		wsSID = string(m[1])
	}
	note("websocket handshake", res.StatusCode, res.Header, wsSID)
	return rec
}

func TestHeaderHooksAndCookie(t *testing.T) {
	gs := testkit.StartServer(t, testkit.ServerConfig{Options: headersOptions()})
	got := headersProbe(t, strings.TrimPrefix(gs.URL, "http://"))
	want := []string{
		`polling handshake: 200 cookie=["io=SID; Path=/; HttpOnly; SameSite=Lax"] initial="i:handshake" all="a:handshake"`,
		`post: 200 cookie=[] initial="" all="a:post"`,
		`get: 200 cookie=[] initial="" all="a:get"`,
		`error: 400 cookie=[] initial="" all=""`,
		`websocket upgrade: 101 cookie=[] initial="" all="a:upgrade"`,
		`websocket handshake: 101 cookie=[] initial="i:ws-handshake" all="a:ws-handshake"`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestHeaderHooksAndCookieLikeNode(t *testing.T) {
	node.RequirePackage(t, "socket.io")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ref := node.Run(t, ctx, headersAppJS, nil)
	var port int
	if err := ref.Expect(t, "listening", 20*time.Second).Decode(0, &port); err != nil {
		t.Fatal(err)
	}
	want := headersProbe(t, fmt.Sprintf("127.0.0.1:%d", port))
	gs := testkit.StartServer(t, testkit.ServerConfig{Options: headersOptions()})
	got := headersProbe(t, strings.TrimPrefix(gs.URL, "http://"))
	if !slices.Equal(got, want) {
		t.Fatalf("actorio\n%s\nNode\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCookieOptions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cookie actorio.Cookie
		want   string
	}{
		{"default", actorio.Cookie{}, "io=SID; Path=/; HttpOnly; SameSite=Lax"},
		{"all set", actorio.Cookie{
			Name: "lb", Path: "/app", Domain: "example.com", MaxAge: time.Hour,
			Secure: true, NoHTTPOnly: true, SameSite: http.SameSiteStrictMode,
		}, "lb=SID; Path=/app; Domain=example.com; Max-Age=3600; Secure; SameSite=Strict"},
		{"no SameSite", actorio.Cookie{SameSite: http.SameSiteDefaultMode}, "io=SID; Path=/; HttpOnly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cookie
			gs := testkit.StartServer(t, testkit.ServerConfig{Options: actorio.Options{Logger: quiet(), Cookie: &c}})
			res, err := http.Get(gs.URL + "/socket.io/?EIO=4&transport=polling")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			m := sidRE.FindSubmatch(b)
			if m == nil {
				t.Fatalf("handshake answered %q", b)
			}
			got := strings.ReplaceAll(res.Header.Get("Set-Cookie"), string(m[1]), "SID")
			if got != tc.want {
				t.Fatalf("Set-Cookie %q, want %q", got, tc.want)
			}
		})
	}
}
