package tests

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/protocol/engineio"
)

// This file checks the security rules of the server over real sockets:
// session binding to the remote address, the origin policy, AllowRequest,
// room broadcasts after a leave or a middleware refusal, and session ids.
// Rules tested elsewhere are not repeated here:
//
//   - middleware auth refusing and accepting sockets: TestMiddlewareAuth;
//   - a socket that left a room (Leave, SocketsLeave) or was disconnected
//     from the namespace by the server gets none of the room's broadcasts:
//     TestRoomsAndBroadcast;
//   - the CORS headers of an allowed preflight (methods, headers, max age):
//     gateway.TestCORS; a CheckOrigin refusal: gateway.TestCheckOriginRefusalIsForbidden;
//   - the Engine.IO error codes of malformed requests: gateway.TestErrorCodes.

// secSource sends HTTP requests and WebSocket handshakes from one local
// address. Linux routes all of 127.0.0.0/8 to the loopback interface, so a
// source on 127.0.0.2 is a second client address for a server on 127.0.0.1.
type secSource struct {
	t      *testing.T
	ip     string
	hc     *http.Client
	dialer websocket.Dialer
}

func newSecSource(t *testing.T, ip string) *secSource {
	t.Helper()
	nd := &net.Dialer{Timeout: step, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	// One connection per request: a long-poll pending on one connection
	// must not hold up the next request, and no idle connection outlives
	// the test.
	tr := &http.Transport{DialContext: nd.DialContext, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &secSource{
		t:      t,
		ip:     ip,
		hc:     &http.Client{Transport: tr, Timeout: step},
		dialer: websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: step},
	}
}

// secAnswer is an HTTP answer.
type secAnswer struct {
	status int
	header http.Header
	body   string
}

// do sends a request with the Origin header origin (none when empty).
func (s *secSource) do(method, url, origin, body string) secAnswer {
	s.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if method == http.MethodOptions {
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s from %s: %v", method, url, s.ip, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s from %s: read body: %v", method, url, s.ip, err)
	}
	return secAnswer{resp.StatusCode, resp.Header, string(b)}
}

// dial opens a WebSocket with the Origin header origin (none when empty);
// on failure it returns the server's answer instead.
func (s *secSource) dial(url, origin string) (*websocket.Conn, secAnswer) {
	s.t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	ws, resp, err := s.dialer.Dial(url, h)
	if err == nil {
		_ = resp.Body.Close()
		s.t.Cleanup(func() { _ = ws.Close() })
		return ws, secAnswer{status: resp.StatusCode, header: resp.Header}
	}
	if resp == nil {
		s.t.Fatalf("WebSocket %s from %s: %v, no answer", url, s.ip, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return nil, secAnswer{resp.StatusCode, resp.Header, string(b)}
}

// secURLs are a test server's Engine.IO endpoints.
type secURLs struct{ polling, ws string }

func secEndpoints(ts *testServer) secURLs {
	return secURLs{
		polling: ts.URL + "/socket.io/?EIO=4&transport=polling",
		ws:      "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket",
	}
}

var secOpenRe = regexp.MustCompile(`^0\{"sid":"([A-Za-z0-9_-]+)"`)

// handshake opens a polling session and returns its id.
func (s *secSource) handshake(u secURLs) string {
	s.t.Helper()
	a := s.do(http.MethodGet, u.polling, "", "")
	m := secOpenRe.FindStringSubmatch(a.body)
	if a.status != http.StatusOK || m == nil {
		s.t.Fatalf("polling handshake from %s: %d %q", s.ip, a.status, a.body)
	}
	return m[1]
}

const (
	secUnknownSID = `{"code":1,"message":"Session ID unknown"}`
	secOK         = "ok" // the body of an accepted POST
)

// expectAnswer fails the test unless a has the status and body wanted.
func expectAnswer(t *testing.T, what string, a secAnswer, status int, body string) {
	t.Helper()
	if a.status != status || a.body != body {
		t.Fatalf("%s: %d %q, want %d %q", what, a.status, a.body, status, body)
	}
}

// TestSecuritySessionBinding tries to hijack a polling session from
// another address (127.0.0.2) with a GET, a POST and a WebSocket upgrade
// carrying its id. With BindSessionToAddress on, each is refused as an
// unknown session and logged at Warn, nothing the session holds leaks to
// the thief, nothing the thief sends reaches the server's handlers, and
// the session goes on; with the option off the same requests are served,
// which is what the option is for.
func TestSecuritySessionBinding(t *testing.T) {
	for _, tc := range []struct {
		name string
		bind bool
	}{
		{"on", true},
		{"off", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := warnLogger()
			notes := make(chan string, 8)
			dl := newDisconnectLog()
			ts := startServer(t, actorio.Options{BindSessionToAddress: tc.bind, Logger: logger}, func(srv *actorio.Server) {
				srv.OnConnection(func(s *actorio.Socket) {
					dl.watch(s)
					s.On("note", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) { notes <- args.String(0) })
				})
			})
			u := secEndpoints(ts)
			owner, thief := newSecSource(t, "127.0.0.1"), newSecSource(t, "127.0.0.2")
			ns := ts.Srv.Of("/")

			sid := owner.handshake(u)
			poll := u.polling + "&sid=" + sid
			expectAnswer(t, "owner's CONNECT", owner.do(http.MethodPost, poll, "", "40"), http.StatusOK, secOK)
			if a := owner.do(http.MethodGet, poll, "", ""); a.status != http.StatusOK || !strings.HasPrefix(a.body, `40{"sid":"`) {
				t.Fatalf("owner's CONNECT reply: %d %q", a.status, a.body)
			}
			// A packet waits in the session's queue for the next GET.
			if err := ns.Emit("secret", "s1"); err != nil {
				t.Fatal(err)
			}

			get := thief.do(http.MethodGet, poll, "", "")
			post := thief.do(http.MethodPost, poll, "", `42["note","thief"]`)
			ws, upgrade := thief.dial(u.ws+"&sid="+sid, "")
			if tc.bind {
				expectAnswer(t, "thief's GET", get, http.StatusBadRequest, secUnknownSID)
				expectAnswer(t, "thief's POST", post, http.StatusBadRequest, secUnknownSID)
				if ws != nil {
					t.Fatal("thief's WebSocket upgrade accepted")
				}
				expectAnswer(t, "thief's WebSocket upgrade", upgrade, http.StatusBadRequest, secUnknownSID)
				// The packet is still there for its owner.
				expectAnswer(t, "owner's GET", owner.do(http.MethodGet, poll, "", ""), http.StatusOK, `42["secret","s1"]`)
				for _, want := range []string{"session bound to another address", "sid=" + sid, "session_addr=127.0.0.1", "remote=127.0.0.2"} {
					if n := strings.Count(logs.String(), want); n < 3 {
						t.Errorf("%d Warn logs with %q, want one per refused request (3); logs:\n%s", n, want, logs)
					}
				}
			} else {
				expectAnswer(t, "thief's GET", get, http.StatusOK, `42["secret","s1"]`)
				expectAnswer(t, "thief's POST", post, http.StatusOK, secOK)
				if got := recv(t, notes, step, "the thief's note"); got != "thief" {
					t.Fatalf("note %q, want the thief's", got)
				}
				if ws == nil {
					t.Fatalf("thief's WebSocket upgrade refused: %d %q", upgrade.status, upgrade.body)
				}
				_ = ws.Close() // the upgrade is abandoned: the session keeps polling
			}

			// The session goes on both ways.
			if err := ns.Emit("after", 1); err != nil {
				t.Fatal(err)
			}
			expectAnswer(t, "owner's GET after the attempts", owner.do(http.MethodGet, poll, "", ""), http.StatusOK, `42["after",1]`)
			expectAnswer(t, "owner's POST", owner.do(http.MethodPost, poll, "", `42["note","owner"]`), http.StatusOK, secOK)
			if got := recv(t, notes, step, "the owner's note"); got != "owner" {
				t.Fatalf("note %q, want the owner's (the thief's must not arrive)", got)
			}
			if st := ts.Srv.Stats(); st.Sessions != 1 || st.Connections != 1 {
				t.Fatalf("stats %+v, want the one session", st)
			}
			if got := dl.snapshot(); len(got) != 0 {
				t.Fatalf("sockets disconnected: %v", got)
			}
		})
	}
}

// TestSecuritySessionBindingOfficialClients binds sessions and checks that
// the official client works on both transports, upgrade included, while
// a thief on 127.0.0.2 replays its session id.
func TestSecuritySessionBindingOfficialClients(t *testing.T) {
	var (
		mu   sync.Mutex
		sids = map[string]bool{} // session ids the official clients used
	)
	record := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if sid := r.URL.Query().Get("sid"); sid != "" && strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") {
				mu.Lock()
				sids[sid] = true
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	}
	ts := startServerWrapped(t, actorio.Options{BindSessionToAddress: true}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) { s.On("echo", echoHandler) })
	}, record)
	c := startClients(t, ts)
	u := secEndpoints(ts)
	thief := newSecSource(t, "127.0.0.2")

	// A polling-only client: its GET is pending while the thief tries.
	c.connect("poll", "/", with(pollingOnly, "forceNew", true, "reconnection", false))
	var sid string
	waitUntil(t, step, "the polling client's session id", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for s := range sids {
			sid = s
		}
		return sid != ""
	})
	poll := u.polling + "&sid=" + sid
	expectAnswer(t, "thief's GET", thief.do(http.MethodGet, poll, "", ""), http.StatusBadRequest, secUnknownSID)
	expectAnswer(t, "thief's POST", thief.do(http.MethodPost, poll, "", "1"), http.StatusBadRequest, secUnknownSID)
	if ws, a := thief.dial(u.ws+"&sid="+sid, ""); ws != nil {
		t.Fatal("thief's WebSocket upgrade accepted")
	} else {
		expectAnswer(t, "thief's WebSocket upgrade", a, http.StatusBadRequest, secUnknownSID)
	}
	if l := c.emitAck("poll", "echo", "still here"); l.Arg(2) != "still here" {
		t.Fatalf("echo after the attempts: %s", l.Raw)
	}

	// A client with both transports upgrades from its own address.
	c.connect("upgrade", "/", with(map[string]any{}, "forceNew", true, "reconnection", false))
	waitUntil(t, step, "the upgrade to WebSocket", func() bool {
		c.send(map[string]any{"op": "info", "name": "upgrade"})
		info := c.expect("info", "upgrade").Arg(1).(map[string]any)
		return info["transport"] == "websocket"
	})
	if l := c.emitAck("upgrade", "echo", "upgraded"); l.Arg(2) != "upgraded" {
		t.Fatalf("echo after the upgrade: %s", l.Raw)
	}
	c.none("a disconnect", func(l nodeLine) bool { return l.Ev == "disconnect" })
}

// TestSecurityOrigins sends polling requests, preflights and WebSocket
// handshakes with various Origin headers to servers with the default
// origin policy (same origin only), an allow-list, "*", and a CheckOrigin
// that accepts every WebSocket. A refused request gets 403 Forbidden
// without any CORS header and creates no session.
func TestSecurityOrigins(t *testing.T) {
	const (
		listed  = "https://app.example"
		foreign = "https://evil.example"
	)
	type check struct {
		// origin is the Origin header: "none" for none, "same" for the
		// server's own origin.
		origin string
		// ok: the request is served; acao: the Access-Control-Allow-Origin
		// header expected then ("" for none).
		ok   bool
		acao string
	}
	for _, tc := range []struct {
		name   string
		opts   actorio.Options
		checks []check
		// preflightOK: an allowed OPTIONS preflight is answered (204):
		// only when CORS is configured.
		preflightOK bool
	}{
		{
			name: "default same origin only",
			checks: []check{
				{origin: "none", ok: true},
				{origin: "same", ok: true},
				{origin: foreign},
				{origin: listed},
				{origin: "null"},
				{origin: "http://127.0.0.1:1"}, // same host, other port
			},
		},
		{
			name:        "allow-list",
			opts:        actorio.Options{CORS: &actorio.CORS{Origins: []string{listed}, Credentials: true}},
			preflightOK: true,
			checks: []check{
				{origin: "none", ok: true},
				{origin: "same", ok: true},
				{origin: listed, ok: true, acao: listed},
				{origin: foreign},
				{origin: "http://app.example"}, // the listed host over another scheme
			},
		},
		{
			name:        "any origin",
			opts:        actorio.Options{CORS: &actorio.CORS{Origins: []string{"*"}}},
			preflightOK: true,
			checks: []check{
				{origin: "none", ok: true, acao: "*"},
				{origin: foreign, ok: true, acao: "*"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.opts, nil)
			u := secEndpoints(ts)
			src := newSecSource(t, "127.0.0.1")
			sid := src.handshake(u) // a session for the requests that carry an id
			for _, ck := range tc.checks {
				origin := ck.origin
				switch origin {
				case "none":
					origin = ""
				case "same":
					origin = ts.URL
				}
				t.Run("origin "+ck.origin, func(t *testing.T) {
					before := ts.Srv.Stats().Sessions
					expectOrigin := func(what string, a secAnswer, okStatus int) {
						t.Helper()
						if !ck.ok {
							expectAnswer(t, what, a, http.StatusForbidden, forbidden)
							if h := a.header.Get("Access-Control-Allow-Origin"); h != "" {
								t.Fatalf("%s: refused with Access-Control-Allow-Origin %q", what, h)
							}
							return
						}
						if a.status != okStatus {
							t.Fatalf("%s: %d %q, want %d", what, a.status, a.body, okStatus)
						}
						if h := a.header.Get("Access-Control-Allow-Origin"); h != ck.acao {
							t.Fatalf("%s: Access-Control-Allow-Origin %q, want %q", what, h, ck.acao)
						}
						if ck.acao != "" && tc.opts.CORS.Credentials && a.header.Get("Access-Control-Allow-Credentials") != "true" {
							t.Fatalf("%s: no Access-Control-Allow-Credentials: %v", what, a.header)
						}
					}
					expectOrigin("polling handshake", src.do(http.MethodGet, u.polling, origin, ""), http.StatusOK)
					expectOrigin("polling POST", src.do(http.MethodPost, u.polling+"&sid="+sid, origin, "6"), http.StatusOK)
					if !ck.ok || tc.preflightOK {
						expectOrigin("preflight", src.do(http.MethodOptions, u.polling, origin, ""), http.StatusNoContent)
					}
					ws, a := src.dial(u.ws, origin)
					if ck.ok != (ws != nil) {
						t.Fatalf("WebSocket handshake: accepted %v, want %v (%d %q)", ws != nil, ck.ok, a.status, a.body)
					}
					if ws != nil {
						_ = ws.Close()
					} else {
						expectAnswer(t, "WebSocket handshake", a, http.StatusForbidden, forbidden)
					}
					if !ck.ok {
						if n := ts.Srv.Stats().Sessions; n > before {
							t.Fatalf("%d sessions after the refusals, %d before", n, before)
						}
					}
				})
			}
			// The session the refused requests named is untouched.
			expectAnswer(t, "POST on the session", src.do(http.MethodPost, u.polling+"&sid="+sid, "", "6"), http.StatusOK, secOK)
		})
	}

	t.Run("CheckOrigin decides for WebSocket only", func(t *testing.T) {
		ts := startServer(t, actorio.Options{CheckOrigin: func(*http.Request) bool { return true }}, nil)
		u := secEndpoints(ts)
		src := newSecSource(t, "127.0.0.1")
		if ws, a := src.dial(u.ws, foreign); ws == nil {
			t.Fatalf("WebSocket handshake refused although CheckOrigin accepts it: %d %q", a.status, a.body)
		} else {
			_ = ws.Close()
		}
		expectAnswer(t, "polling handshake", src.do(http.MethodGet, u.polling, foreign, ""), http.StatusForbidden, forbidden)
	})
}

// TestSecurityAllowRequest refuses handshakes in AllowRequest: raw polling
// and WebSocket handshakes and the official client get 403 Forbidden (the
// client a connect_error) and no session or connection exists; a client
// that passes connects; AllowRequest never sees a request of an existing
// session, such as its polls or its upgrade.
func TestSecurityAllowRequest(t *testing.T) {
	var calls, withSID atomic.Int32
	ts := startServer(t, actorio.Options{AllowRequest: func(r *http.Request) error {
		calls.Add(1)
		if r.URL.Query().Get("sid") != "" {
			withSID.Add(1)
		}
		if r.URL.Query().Get("key") != "open-sesame" {
			return errors.New("no key")
		}
		return nil
	}}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) { s.On("echo", echoHandler) })
	})
	u := secEndpoints(ts)
	src := newSecSource(t, "127.0.0.1")
	noSession := func(what string) {
		t.Helper()
		if st := ts.Srv.Stats(); st.Sessions != 0 || st.Connections != 0 {
			t.Fatalf("after %s: stats %+v, want no session and no connection", what, st)
		}
	}

	expectAnswer(t, "polling handshake", src.do(http.MethodGet, u.polling, "", ""), http.StatusForbidden, forbidden)
	noSession("the polling refusal")
	if ws, a := src.dial(u.ws, ""); ws != nil {
		t.Fatal("WebSocket handshake accepted")
	} else {
		expectAnswer(t, "WebSocket handshake", a, http.StatusForbidden, forbidden)
	}
	noSession("the WebSocket refusal")

	c := startClients(t, ts)
	for _, tr := range []struct {
		name string
		opts map[string]any
	}{{"polling", pollingOnly}, {"websocket", wsOnly}} {
		name := "refused " + tr.name
		c.open(name, "/", with(tr.opts, "forceNew", true, "reconnection", false))
		if l := c.waitFor("connect or connect_error of "+name, func(l nodeLine) bool {
			return (l.Ev == "connect" || l.Ev == "connect_error") && l.Arg(0) == name
		}); l.Ev != "connect_error" {
			t.Fatalf("%s: %s", name, l.Raw)
		}
		noSession("the refusal of the official client over " + tr.name)
	}

	// With the key, the official client connects and upgrades.
	c.connect("allowed", "/", map[string]any{"forceNew": true, "reconnection": false, "query": map[string]any{"key": "open-sesame"}})
	waitUntil(t, step, "the upgrade to WebSocket", func() bool {
		c.send(map[string]any{"op": "info", "name": "allowed"})
		return c.expect("info", "allowed").Arg(1).(map[string]any)["transport"] == "websocket"
	})
	if l := c.emitAck("allowed", "echo", 1); l.Arg(2) != float64(1) {
		t.Fatalf("echo: %s", l.Raw)
	}
	if st := ts.Srv.Stats(); st.Sessions != 1 {
		t.Fatalf("stats %+v, want the allowed session only", st)
	}
	if n := withSID.Load(); n != 0 {
		t.Fatalf("AllowRequest saw %d requests of existing sessions (of %d calls), want none", n, calls.Load())
	}
}

// TestSecurityNoBroadcastAfterRefusalOrLeave checks, on the wire, that a
// socket gets no broadcast of a room once it is out of it: refused by
// middleware that had already joined it to the room, after it left the
// room, and after its client disconnected it from the namespace. The
// connection stays open on "/" each time, so anything the server still
// sent it would arrive. The socket is a hand-driven client: the official
// client drops the packets of a namespace it is not connected to, so it
// would hide such a leak. A member of the room on the official client
// shows each broadcast did go out.
func TestSecurityNoBroadcastAfterRefusalOrLeave(t *testing.T) {
	dl := newDisconnectLog()
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(*actorio.Socket) {})
		admin := srv.Of("/admin")
		admin.Use(func(s *actorio.Socket) error {
			s.Join("r") // before the decision: a refusal must undo it
			var auth struct {
				Token string `json:"token"`
			}
			_ = json.Unmarshal(s.Handshake().Auth, &auth)
			if auth.Token != "ok" {
				return &actorio.ConnectError{Message: "refused"}
			}
			return nil
		})
		admin.OnConnection(func(s *actorio.Socket) {
			dl.watch(s)
			s.On("leave", func(s *actorio.Socket, _ actorio.Args, ack actorio.AckFunc) {
				s.Leave("r")
				_ = ack(s.Rooms())
			})
		})
	})
	admin := ts.Srv.Of("/admin")
	c := startClients(t, ts)
	member := c.connect("member", "/admin", with(wsOnly, "forceNew", true, "auth", map[string]any{"token": "ok"}))

	inRoom := func() []string {
		socks, err := admin.In("r").FetchSockets(ctxStep(t, step))
		if err != nil {
			t.Fatalf("FetchSockets: %v", err)
		}
		var ids []string
		for _, s := range socks {
			ids = append(ids, s.ID())
		}
		return ids
	}

	round := 0
	for _, tc := range []struct {
		name string
		// out takes the peer's socket on /admin out of room r; it
		// returns whether the socket is still in the namespace.
		out func(t *testing.T, p *wsPeer) bool
	}{
		{"refused by middleware", func(t *testing.T, p *wsPeer) bool {
			if reply := p.joinReply("/admin", `{"token":"bad"}`); reply != `44/admin,{"message":"refused"}` {
				t.Fatalf("CONNECT with a bad token: %q, want the refusal", reply)
			}
			p.startReader()
			return false
		}},
		{"left the room", func(t *testing.T, p *wsPeer) bool {
			p.join("/admin", `{"token":"ok"}`)
			p.startReader()
			p.send(`42/admin,1["leave"]`)
			p.expect("the ack of leave", func(f string) bool { return strings.HasPrefix(f, "43/admin,1[") })
			return true
		}},
		{"left the namespace", func(t *testing.T, p *wsPeer) bool {
			id := p.join("/admin", `{"token":"ok"}`)
			p.startReader()
			p.send("41/admin,")
			if ev := dl.waitID(t, id); ev.Reason != disconnect.ClientNamespaceDisconnect {
				t.Fatalf("OnDisconnect reason %q, want %q", ev.Reason, disconnect.ClientNamespaceDisconnect)
			}
			return false
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := c.on(t)
			p := dialPeer(t, ts, peerOpts{})
			p.join("/", "")
			inNamespace := tc.out(t, p)
			waitUntil(t, step, "room r to hold the member only", func() bool {
				return reflect.DeepEqual(inRoom(), []string{member})
			})

			round++
			if err := admin.To("r").Emit("msg", round); err != nil {
				t.Fatal(err)
			}
			if err := admin.Emit("all", round); err != nil {
				t.Fatal(err)
			}
			for _, ev := range []string{"msg", "all"} {
				if l := c.expectEvent("member", ev); l.Arg(3) != float64(round) {
					t.Fatalf("member got %s, want %s %d", l.Raw, ev, round)
				}
			}
			// A socket still in the namespace gets "all", sent after
			// "msg" by the same namespace and thus after it on the
			// connection: once "all" is here, "msg" would be too. A
			// socket out of the namespace gets neither; the member got
			// both, so a leak would be on its way: wait a little.
			wantAll := fmt.Sprintf(`42/admin,["all",%d]`, round)
			deadline := time.After(300 * time.Millisecond)
			if inNamespace {
				deadline = time.After(step)
			}
			for {
				select {
				case f, ok := <-p.in:
					if !ok {
						t.Fatal("connection closed")
					}
					if f == wantAll && inNamespace {
						return
					}
					if strings.HasPrefix(f, "42/admin,") {
						t.Fatalf("the socket out of room r got %q", f)
					}
				case <-deadline:
					if inNamespace {
						t.Fatalf("no %s within %v", wantAll, step)
					}
					return
				}
			}
		})
	}
}

// secCloser ends every session as soon as it opens: the handshakes of
// TestSecuritySessionIDs leave nothing behind.
type secCloser struct{}

func (secCloser) OnOpen(c *gateway.Conn) {
	c.SetReceiver(secCloser{})
	c.Close(disconnect.ForcedClose)
}

func (secCloser) OnPacket(*gateway.Conn, engineio.Packet) {}
func (secCloser) OnClose(*gateway.Conn, string, error)    {}

// TestSecuritySessionIDs collects the ids of 10000 handshakes: all
// distinct, each 120 random bits (20 URL-safe base64 characters), and
// each of those bits set in about half of them, which a counter, a clock
// or a short seed would not give. It also checks that ids come from
// crypto/rand: with its stream made deterministic, NewID repeats itself.
func TestSecuritySessionIDs(t *testing.T) {
	const n = 10000
	baseline := runtime.NumGoroutine()
	srv := gateway.New(gateway.Config{Logger: slog.New(slog.DiscardHandler)}, secCloser{})
	web := httptest.NewServer(srv)
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	hc := &http.Client{Transport: tr, Timeout: step}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		web.Close()
		_ = srv.Close()
		checkGoroutines(t, baseline)
	})

	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				resp, err := hc.Get(web.URL + "/socket.io/?EIO=4&transport=polling")
				if err != nil {
					errs <- err
					return
				}
				body, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				m := secOpenRe.FindSubmatch(body)
				if err != nil || m == nil {
					errs <- fmt.Errorf("handshake %d: %q %v", i, body, err)
					return
				}
				ids[i] = string(m[1])
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	seen := make(map[string]bool, n)
	var ones [120]int
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("id %s given twice", id)
		}
		seen[id] = true
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if len(id) != 20 || err != nil || len(raw) != 15 {
			t.Fatalf("id %q: %d characters, %d bytes (%v), want 20 characters of 15 bytes", id, len(id), len(raw), err)
		}
		for i, b := range raw {
			for j := range 8 {
				ones[i*8+j] += int(b>>j) & 1
			}
		}
	}
	// Each bit is a fair coin: 5000 ± 50 ones; 4500 to 5500 is ten standard
	// deviations, never reached by chance.
	for i, k := range ones {
		if k < n*45/100 || k > n*55/100 {
			t.Errorf("bit %d set in %d of %d ids: not random", i, k, n)
		}
	}
	waitUntil(t, step, "the sessions to close", func() bool { return srv.Count() == 0 })

	t.Run("drawn from crypto/rand", func(t *testing.T) {
		cryptotest.SetGlobalRandom(t, 1)
		a := gateway.NewID()
		cryptotest.SetGlobalRandom(t, 1)
		b := gateway.NewID()
		cryptotest.SetGlobalRandom(t, 2)
		c := gateway.NewID()
		if a != b || a == c {
			t.Fatalf("NewID with crypto/rand seeded 1, 1, 2: %s %s %s; want it to follow crypto/rand", a, b, c)
		}
	})
}
