//go:build linux

package gateway

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/logbuf"
	"github.com/gorilla/websocket"
)

// upgradeServing is a ReadyListener with ServeUpgrades, serving h.
type upgradeServing struct {
	ln   net.Listener
	srv  *http.Server
	up   *upgradeServer
	logs *logbuf.Buffer
	mu   sync.Mutex
	// states is what srv.ConnState was told, per connection, in order.
	states map[net.Conn][]http.ConnState
}

type baseKey struct{}
type connKey struct{}

// serveUpgrading serves h on a ReadyListener with ServeUpgrades, with a
// BaseContext and a ConnContext that put values in the contexts.
func serveUpgrading(t *testing.T, h http.Handler) *upgradeServing {
	t.Helper()
	ln, _ := startReady(t, 0)
	s := &upgradeServing{ln: ln, logs: &logbuf.Buffer{}, states: map[net.Conn][]http.ConnState{}}
	s.srv = &http.Server{
		Handler:     h,
		ErrorLog:    log.New(s.logs, "", 0),
		BaseContext: func(net.Listener) context.Context { return context.WithValue(context.Background(), baseKey{}, "base") },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c.RemoteAddr().String())
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			s.mu.Lock()
			s.states[c] = append(s.states[c], st)
			s.mu.Unlock()
		},
	}
	if !ServeUpgrades(ln, s.srv) {
		t.Fatal("ServeUpgrades refused a ReadyListener")
	}
	s.up = ln.(*readyListener).up.Load()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = s.srv.Close()
		<-done
	})
	return s
}

// stateOf returns the ConnState calls of the connection whose remote
// address is addr.
func (s *upgradeServing) stateOf(addr string) []http.ConnState {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, st := range s.states {
		if c.RemoteAddr().String() == addr {
			return append([]http.ConnState(nil), st...)
		}
	}
	return nil
}

// seenRequest is what a handler saw of its request.
type seenRequest struct {
	remote, host, uri, header, base, conn string
	server                                *http.Server
	local                                 net.Addr
	hostHeader                            bool
	ctx                                   context.Context
}

func see(r *http.Request) seenRequest {
	s := seenRequest{remote: r.RemoteAddr, host: r.Host, uri: r.RequestURI, header: r.Header.Get("X-Test"), ctx: r.Context()}
	s.base, _ = r.Context().Value(baseKey{}).(string)
	s.conn, _ = r.Context().Value(connKey{}).(string)
	s.server, _ = r.Context().Value(http.ServerContextKey).(*http.Server)
	s.local, _ = r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	_, s.hostHeader = r.Header["Host"]
	return s
}

func TestServeUpgradesUpgradesWithoutNetHTTP(t *testing.T) {
	seen := make(chan seenRequest, 1)
	up := websocket.Upgrader{}
	s := serveUpgrading(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- see(r)
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		go func() {
			defer ws.Close()
			for {
				mt, p, err := ws.ReadMessage()
				if err != nil {
					return
				}
				if err := ws.WriteMessage(mt, p); err != nil {
					return
				}
			}
		}()
	}))
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial("ws://"+s.ln.Addr().String()+"/echo?x=1", http.Header{"X-Test": {"yes"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, msg := range []string{"one", strings.Repeat("x", 70000)} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, p, err := ws.ReadMessage()
		if err != nil || string(p) != msg {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(msg), len(p), err)
		}
	}
	r := <-seen
	if got := s.up.served.Load(); got != 1 {
		t.Fatalf("the listener served %d upgrade requests itself, want 1", got)
	}
	local := ws.LocalAddr().String()
	if r.remote != local || r.host != s.ln.Addr().String() || r.uri != "/echo?x=1" || r.header != "yes" || r.hostHeader {
		t.Errorf("handler saw remote %q host %q uri %q X-Test %q, Host in Header %v; want %q, %q, /echo?x=1, yes, false",
			r.remote, r.host, r.uri, r.header, r.hostHeader, local, s.ln.Addr())
	}
	if r.base != "base" || r.conn != local || r.server != s.srv || r.local == nil || r.local.String() != s.ln.Addr().String() {
		t.Errorf("context values: base %q conn %q server %p (want %p) local %v", r.base, r.conn, r.server, s.srv, r.local)
	}
	select {
	case <-r.ctx.Done():
	case <-time.After(2 * time.Second):
		t.Error("the request's context is not done once its handler returned")
	}
	// StateHijacked comes once the handler has returned, which may be
	// after the echoes.
	var got []http.ConnState
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if got = s.stateOf(local); len(got) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	if !equalStates(got, http.StateNew, http.StateActive, http.StateHijacked) {
		t.Errorf("ConnState calls %v, want new, active, hijacked", got)
	}
}

func equalStates(got []http.ConnState, want ...http.ConnState) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// upgradeHead is a WebSocket upgrade request to path.
func upgradeHead(path string, extra string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + extra + "\r\n"
}

// exchange sends req on a new connection to s and returns what comes back
// until the server closes the connection.
func (s *upgradeServing) exchange(t *testing.T, req string) string {
	t.Helper()
	c := sendRequest(t, s.ln.Addr().String(), req)
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answer: %v (got %q)", err, b)
	}
	return string(b)
}

func TestServeUpgradesAnswersWithoutHijack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		// the answer's status, headers (each must be there) and body
		status  int
		headers map[string]string
		body    string
		logged  string
	}{
		{
			name: "error",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-A", "b")
				http.Error(w, "no", http.StatusForbidden)
			},
			status:  http.StatusForbidden,
			headers: map[string]string{"X-A": "b", "Content-Type": "text/plain; charset=utf-8"},
			body:    "no\n",
		},
		{
			name: "body without WriteHeader",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "<html><body>hi</body></html>")
			},
			status:  http.StatusOK,
			headers: map[string]string{"Content-Type": "text/html; charset=utf-8"},
			body:    "<html><body>hi</body></html>",
		},
		{
			name:    "nothing written",
			handler: func(w http.ResponseWriter, r *http.Request) {},
			status:  http.StatusOK,
			headers: map[string]string{"Content-Length": "0"},
		},
		{
			name: "no content",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNoContent)
				if _, err := w.Write([]byte("x")); err != http.ErrBodyNotAllowed {
					panic("a body written after 204 did not fail")
				}
			},
			status:  http.StatusNoContent,
			headers: map[string]string{},
		},
		{
			name: "flushed in parts",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(http.StatusAccepted)
				w.(http.Flusher).Flush()
				_, _ = io.WriteString(w, "a")
				w.(http.Flusher).Flush()
				_, _ = io.WriteString(w, "b")
			},
			status:  http.StatusAccepted,
			headers: map[string]string{"Content-Type": "text/event-stream"},
			body:    "ab",
		},
		{
			name:    "panic",
			handler: func(w http.ResponseWriter, r *http.Request) { panic("handler broke") },
			status:  0, // the connection is closed without an answer
			logged:  "http: panic serving 127.0.0.1:",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serveUpgrading(t, tc.handler)
			got := s.exchange(t, upgradeHead("/x", ""))
			if s.up.served.Load() != 1 {
				t.Fatalf("served %d requests itself, want 1", s.up.served.Load())
			}
			if tc.status == 0 {
				if got != "" {
					t.Fatalf("answer %q, want none", got)
				}
			} else {
				resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
				if err != nil {
					t.Fatalf("answer %q: %v", got, err)
				}
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != tc.status || string(body) != tc.body {
					t.Errorf("answer %d %q, want %d %q (whole: %q)", resp.StatusCode, body, tc.status, tc.body, got)
				}
				for k, v := range tc.headers {
					if resp.Header.Get(k) != v {
						t.Errorf("header %s %q, want %q (whole: %q)", k, resp.Header.Get(k), v, got)
					}
				}
				if !resp.Close {
					t.Errorf("no Connection: close in %q", got)
				}
				if resp.Header.Get("Date") == "" {
					t.Errorf("no Date header in %q", got)
				}
			}
			if tc.logged != "" {
				deadline := time.Now().Add(2 * time.Second)
				for !strings.Contains(s.logs.String(), tc.logged) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if !strings.Contains(s.logs.String(), tc.logged) || !strings.Contains(s.logs.String(), "handler broke") {
					t.Errorf("log %q, want it to contain %q and the panic's value", s.logs.String(), tc.logged)
				}
			}
		})
	}
}

// TestServeUpgradesLeavesTheRestToNetHTTP sends what the listener must not
// serve itself: net/http answers each, as it does without ServeUpgrades.
func TestServeUpgradesLeavesTheRestToNetHTTP(t *testing.T) {
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"plain GET", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", http.StatusOK},
		{"HTTP/1.0", strings.Replace(upgradeHead("/x", ""), "HTTP/1.1", "HTTP/1.0", 1), http.StatusOK},
		{"bytes after the head", upgradeHead("/x", "") + "\x81\x80", http.StatusOK},
		{"a body", upgradeHead("/x", "Content-Length: 2\r\n") + "ab", http.StatusOK},
		{"POST", strings.Replace(upgradeHead("/x", ""), "GET", "POST", 1), http.StatusOK},
		{"head over 4 KB", upgradeHead("/x", "X-Long: "+strings.Repeat("a", 4100)+"\r\n"), http.StatusOK},
		{"no Host", strings.Replace(upgradeHead("/x", ""), "Host: example.test\r\n", "", 1), http.StatusBadRequest},
		{"two Hosts", upgradeHead("/x", "Host: b\r\n"), http.StatusBadRequest},
		{"bad header name", upgradeHead("/x", "X (y): z\r\n"), http.StatusBadRequest},
		{"header line without colon", upgradeHead("/x", "oops\r\n"), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serveUpgrading(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Connection", "close")
				_, _ = io.WriteString(w, "net/http")
			}))
			got := s.exchange(t, tc.req)
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
			if err != nil {
				t.Fatalf("answer %q: %v", got, err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (answer %q)", resp.StatusCode, tc.status, got)
			}
			if n := s.up.served.Load(); n != 0 {
				t.Errorf("the listener served %d of these itself, want 0", n)
			}
		})
	}
}

func TestUpgradeHeadLen(t *testing.T) {
	ok := upgradeHead("/socket.io/?EIO=4&transport=websocket", "")
	for _, tc := range []struct {
		name string
		head string
		want int
	}{
		{"upgrade", ok, len(ok)},
		{"header names in any case", strings.ReplaceAll(ok, "Upgrade: websocket", "UPGRADE: WebSocket"), len(ok)},
		{"websocket among other protocols", strings.ReplaceAll(ok, "Upgrade: websocket", "Upgrade: foo, websocket"), len(ok) + 5},
		{"no Host", strings.ReplaceAll(ok, "Host: example.test\r\n", ""), 0},
		{"two Hosts", upgradeHead("/", "host: b\r\n"), 0},
		{"Host with a space", strings.ReplaceAll(ok, "example.test", "exa mple"), 0},
		{"not an upgrade", strings.ReplaceAll(ok, "Upgrade: websocket\r\n", ""), 0},
		{"another upgrade", strings.ReplaceAll(ok, "Upgrade: websocket", "Upgrade: h2c"), 0},
		{"incomplete", ok[:len(ok)-2], 0},
		{"bytes after", ok + "x", 0},
		{"HTTP/1.0", strings.Replace(ok, "HTTP/1.1", "HTTP/1.0", 1), 0},
		{"HEAD", "HEAD" + ok[3:], 0},
		{"transfer-encoding", upgradeHead("/", "transfer-encoding: chunked\r\n"), 0},
		{"content-length", upgradeHead("/", "CONTENT-LENGTH: 0\r\n"), 0},
		{"line without colon", upgradeHead("/", "x\r\n"), 0},
		{"empty", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := upgradeHeadLen([]byte(tc.head)); got != tc.want {
				t.Errorf("upgradeHeadLen(%q) = %d, want %d", tc.head, got, tc.want)
			}
		})
	}
}

// FuzzUpgradeHeadLen checks that a head the quick look takes is whole
// and that parsing it never panics.
func FuzzUpgradeHeadLen(f *testing.F) {
	f.Add([]byte(upgradeHead("/socket.io/?EIO=4&transport=websocket", "")))
	f.Add([]byte(upgradeHead("/", "X: y\r\n")))
	f.Add([]byte("GET / HTTP/1.1\r\nupgrade:websocket\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := upgradeHeadLen(b)
		if n == 0 {
			return
		}
		if n != len(b) || !bytes.HasSuffix(b, []byte("\r\n\r\n")) {
			t.Fatalf("took %d of %d bytes: %q", n, len(b), b)
		}
		if r := parseHead(b); r != nil && (r.Method != http.MethodGet || r.Header["Host"] != nil) {
			t.Fatalf("parsed %q as %s with Host header %q", b, r.Method, r.Header["Host"])
		}
	})
}

// TestServeUpgradesHandlersThatKeepTheirConnection has more handlers than
// the listener has workers keep the connection they hijacked, as a
// WebSocket endpoint serving its connection in its handler does, and
// checks that the upgrades after them are still served, by the listener.
func TestServeUpgradesHandlersThatKeepTheirConnection(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	up := websocket.Upgrader{}
	s := serveUpgrading(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if r.URL.Path == "/hold" {
			<-release
			return
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte("hi"))
	}))
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	url := "ws://" + s.ln.Addr().String()
	held := upgradeWorkers + 2
	for range held {
		ws, _, err := d.Dial(url+"/hold", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
	}
	start := time.Now()
	ws, _, err := d.Dial(url+"/hi", nil)
	if err != nil {
		t.Fatalf("an upgrade after %d held ones: %v", held, err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, p, err := ws.ReadMessage(); err != nil || string(p) != "hi" {
		t.Fatalf("read %q, %v", p, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the upgrade after the held ones took %v", d)
	}
	if got := s.up.served.Load(); got != int64(held+1) {
		t.Errorf("the listener served %d upgrades itself, want %d", got, held+1)
	}
}

// TestServeUpgradesStorm has many clients upgrade at once: every one is
// served, by the listener, and no worker is left once they are.
func TestServeUpgradesStorm(t *testing.T) {
	up := websocket.Upgrader{}
	s := serveUpgrading(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte(r.URL.Query().Get("n")))
		go func() {
			defer ws.Close()
			_, _, _ = ws.ReadMessage() // until the client closes
		}()
	}))
	const clients = 300
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, _, err := d.Dial("ws://"+s.ln.Addr().String()+"/?n="+strconv.Itoa(i), nil)
			if err != nil {
				errs <- err
				return
			}
			defer ws.Close()
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, p, err := ws.ReadMessage(); err != nil || string(p) != strconv.Itoa(i) {
				errs <- fmt.Errorf("client %d read %q, %v", i, p, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.up.served.Load(); got != clients {
		t.Errorf("the listener served %d upgrades itself, want %d", got, clients)
	}
	// A worker ends once its handler has returned, which may be after
	// its client read the message.
	var workers, queued int
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		s.up.mu.Lock()
		workers, queued = s.up.workers, len(s.up.queue)
		s.up.mu.Unlock()
		if workers == 0 && queued == 0 || time.Now().After(deadline) {
			break
		}
	}
	if workers != 0 || queued != 0 {
		t.Errorf("%d workers and %d queued requests left", workers, queued)
	}
}

// TestServeUpgradesRefusalsAsNetHTTP sends the gateway WebSocket upgrade
// requests it refuses, once to a listener that serves upgrades itself and
// once to one that leaves them to net/http, and checks that both answer
// with the same status, Content-Type and body (the listener's answer
// also closes the connection).
func TestServeUpgradesRefusalsAsNetHTTP(t *testing.T) {
	srv, _ := envServer(t, Config{})
	t.Cleanup(func() { _ = srv.Close() })
	direct := serveUpgrading(t, srv)
	plainLn, _ := startReady(t, 0)
	plain := &http.Server{Handler: srv}
	go func() { _ = plain.Serve(plainLn) }()
	t.Cleanup(func() { _ = plain.Close() })

	for _, tc := range []struct{ name, path string }{
		{"unknown session", "/socket.io/?EIO=4&transport=websocket&sid=nosuchsession"},
		{"unknown transport", "/socket.io/?EIO=4&transport=carrier-pigeon"},
		{"unsupported protocol", "/socket.io/?EIO=9&transport=websocket"},
		{"no protocol", "/socket.io/?transport=websocket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := upgradeHead(tc.path, "")
			got := direct.exchange(t, req)
			want := exchangeOnce(t, plainLn.Addr().String(), req)
			g, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
			if err != nil {
				t.Fatalf("listener's answer %q: %v", got, err)
			}
			w, err := http.ReadResponse(bufio.NewReader(strings.NewReader(want)), nil)
			if err != nil {
				t.Fatalf("net/http's answer %q: %v", want, err)
			}
			gb, _ := io.ReadAll(g.Body)
			wb, _ := io.ReadAll(w.Body)
			if g.StatusCode != w.StatusCode || g.Header.Get("Content-Type") != w.Header.Get("Content-Type") || string(gb) != string(wb) {
				t.Errorf("listener answered %d %q %q, net/http %d %q %q", g.StatusCode, g.Header.Get("Content-Type"), gb,
					w.StatusCode, w.Header.Get("Content-Type"), wb)
			}
			if !g.Close {
				t.Errorf("the listener's answer %q does not close the connection", got)
			}
		})
	}
	if n := direct.up.served.Load(); n != 4 {
		t.Errorf("the listener served %d of the requests itself, want 4", n)
	}
}

// exchangeOnce sends req on a new connection to addr and returns the
// answer to it, read as net/http frames it (the connection may stay open).
func exchangeOnce(t *testing.T, addr, req string) string {
	t.Helper()
	c := sendRequest(t, addr, req)
	defer c.Close()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if err := resp.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// sendRequest sends req on a new connection to addr, and returns the
// connection with a 5 s read deadline.
func sendRequest(t *testing.T, addr, req string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(req)); err != nil {
		_ = c.Close()
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	return c
}
