package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio/internal/leakcheck"
	"github.com/actorio/actorio/internal/logbuf"
)

// Paths and settings of the reference application (see main.go).
const (
	eioPath = "/engine.io/"
	sioPath = "/socket.io/"

	// Mocha's default per-test timeout, and the one of the "heartbeat" blocks.
	defaultTimeout   = 2 * time.Second
	heartbeatTimeout = 5 * time.Second
)

// conformanceTest is one test of an official suite: its name (the describe
// blocks and the test title, shortened) and its body.
type conformanceTest struct {
	name    string
	timeout time.Duration // zero means defaultTimeout
	run     func(t *testing.T, s *server)
}

// runSuite runs each test of a suite as a subtest, in order, each against a
// fresh reference server. want is the number of tests in the official suite.
func runSuite(t *testing.T, want int, tests []conformanceTest) {
	t.Helper()
	if len(tests) != want {
		t.Fatalf("%d tests, but the official suite has %d", len(tests), want)
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		if seen[tc.name] {
			t.Fatalf("duplicate test name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = defaultTimeout
			}
			s := startServer(t, timeout)
			start := time.Now()
			tc.run(t, s)
			if d := time.Since(start); d > timeout {
				t.Errorf("took %v, over the suite's %v timeout", d, timeout)
			}
		})
	}
}

// server is a reference server (NewHandler) behind an httptest server on
// 127.0.0.1, with a private HTTP client and the test's deadline.
type server struct {
	t        *testing.T
	http     string // http://127.0.0.1:port
	ws       string // ws://127.0.0.1:port
	client   *http.Client
	tr       *http.Transport
	deadline time.Time

	mu    sync.Mutex
	conns []*websocket.Conn
}

// startServer starts the reference application and registers a cleanup that
// closes the client side, the application and the HTTP server, then checks
// that the goroutine count is back to what it was before the start.
func startServer(t *testing.T, timeout time.Duration) *server {
	t.Helper()
	baseline := runtime.NumGoroutine()
	logs := &logbuf.Buffer{}
	h, closeApp, err := NewHandler(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	ts := httptest.NewUnstartedServer(h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = closeApp()
		t.Fatalf("listen: %v", err)
	}
	ts.Listener = ln
	ts.Start()
	tr := &http.Transport{DisableCompression: true}
	s := &server{
		t:        t,
		http:     ts.URL,
		ws:       "ws" + strings.TrimPrefix(ts.URL, "http"),
		client:   &http.Client{Transport: tr},
		tr:       tr,
		deadline: time.Now().Add(timeout),
	}
	t.Cleanup(func() {
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		tr.CloseIdleConnections()
		if err := closeApp(); err != nil {
			t.Errorf("closing the reference application: %v", err)
		}
		ts.Close()
		tr.CloseIdleConnections()
		checkGoroutines(t, baseline)
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return s
}

// checkGoroutines waits up to a second for the goroutine count to come back
// to baseline, and fails the test with every stack if it does not.
func checkGoroutines(t *testing.T, baseline int) {
	t.Helper()
	if n, dump := leakcheck.Settle(baseline, time.Second); dump != "" {
		t.Errorf("goroutine leak: %d before the server started, %d after it closed\n%s", baseline, n, dump)
	}
}

// ---- HTTP long-polling ----

// response is the outcome of one HTTP request.
type response struct {
	status int
	body   string
	err    error
}

// request performs an HTTP request on the server; query is appended to the
// path after "?". wrote, when not nil, is closed once the request is written.
func (s *server) request(method, path, query, body string, wrote chan<- struct{}) response {
	ctx, cancel := context.WithDeadline(context.Background(), s.deadline)
	defer cancel()
	if wrote != nil {
		var once sync.Once
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(wrote) }) },
		})
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.http+path+"?"+query, rd)
	if err != nil {
		return response{err: err}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(b), err: err}
}

// do performs a request and fails the test on a transport error.
func (s *server) do(method, path, query, body string) response {
	s.t.Helper()
	r := s.request(method, path, query, body, nil)
	if r.err != nil {
		s.t.Fatalf("%s %s?%s: %v", method, path, query, r.err)
	}
	return r
}

// get performs a GET.
func (s *server) get(path, query string) response {
	s.t.Helper()
	return s.do(http.MethodGet, path, query, "")
}

// post performs a POST with body.
func (s *server) post(path, query, body string) response {
	s.t.Helper()
	return s.do(http.MethodPost, path, query, body)
}

// getAsync starts a GET and returns its outcome's channel once the request
// has been written and the server has had a moment to start waiting on it:
// the suites start such requests a few milliseconds before the next one.
func (s *server) getAsync(path, query string) <-chan response {
	wrote := make(chan struct{})
	out := make(chan response, 1)
	go func() { out <- s.request(http.MethodGet, path, query, "", wrote) }()
	select {
	case <-wrote:
	case <-time.After(time.Until(s.deadline)):
	}
	time.Sleep(10 * time.Millisecond)
	return out
}

// await waits for an asynchronous request's outcome.
func (s *server) await(ch <-chan response) response {
	s.t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			s.t.Fatalf("request: %v", r.err)
		}
		return r
	case <-time.After(time.Until(s.deadline) + 100*time.Millisecond):
		s.t.Fatal("request not answered before the test's timeout")
		return response{}
	}
}

// expectStatus fails unless r has the given status (and body, when body is
// not nil).
func expectStatus(t *testing.T, what string, r response, status int, body *string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d (body %q), want %d", what, r.status, r.body, status)
	}
	if body != nil && r.body != *body {
		t.Fatalf("%s: body %q, want %q", what, r.body, *body)
	}
}

// ptr returns a pointer to s.
func ptr(s string) *string { return &s }

// pollingQuery returns the query of a request on session sid.
func pollingQuery(sid string) string { return "EIO=4&transport=polling&sid=" + sid }

// openPolling performs the polling handshake, checks it and returns the sid.
func (s *server) openPolling(path string) string {
	s.t.Helper()
	r := s.get(path, "EIO=4&transport=polling")
	expectStatus(s.t, "handshake", r, http.StatusOK, nil)
	return checkOpenPacket(s.t, r.body, []string{"websocket"})
}

// checkOpenPacket checks an Engine.IO open packet the way both suites do: a
// "0" followed by a JSON object with exactly the keys sid (a string),
// upgrades, pingInterval (300), pingTimeout (200) and maxPayload (1000000).
// It returns the sid.
func checkOpenPacket(t *testing.T, data string, upgrades []string) string {
	t.Helper()
	if !strings.HasPrefix(data, "0") {
		t.Fatalf("open packet %q does not start with 0", data)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data[1:]), &v); err != nil {
		t.Fatalf("open packet %q: %v", data, err)
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"}; !slices.Equal(keys, want) {
		t.Fatalf("open packet keys %v, want exactly %v", keys, want)
	}
	var sid string
	if err := json.Unmarshal(v["sid"], &sid); err != nil {
		t.Fatalf("sid %s is not a string", v["sid"])
	}
	var ups []string
	if err := json.Unmarshal(v["upgrades"], &ups); err != nil || ups == nil || !slices.Equal(ups, upgrades) {
		t.Fatalf("upgrades %s, want %q", v["upgrades"], upgrades)
	}
	for key, want := range map[string]float64{"pingInterval": 300, "pingTimeout": 200, "maxPayload": 1000000} {
		var n float64
		if err := json.Unmarshal(v[key], &n); err != nil || n != want {
			t.Fatalf("%s is %s, want %v", key, v[key], want)
		}
	}
	return sid
}

// checkSIDOnly checks a Socket.IO CONNECT reply's JSON: exactly the key sid,
// a string.
func checkSIDOnly(t *testing.T, frame, prefix string) {
	t.Helper()
	if !strings.HasPrefix(frame, prefix) {
		t.Fatalf("CONNECT reply %q does not start with %q", frame, prefix)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal([]byte(frame[len(prefix):]), &v); err != nil {
		t.Fatalf("CONNECT reply %q: %v", frame, err)
	}
	var sid string
	if len(v) != 1 || json.Unmarshal(v["sid"], &sid) != nil {
		t.Fatalf("CONNECT reply %q: want exactly the key sid, a string", frame)
	}
}

// ---- WebSocket ----

// wsConn is a client WebSocket whose reads end at the test's deadline.
type wsConn struct {
	t        *testing.T
	c        *websocket.Conn
	deadline time.Time
}

// dialRaw opens a WebSocket with the given query; the connection, if any, is
// closed at cleanup.
func (s *server) dialRaw(path, query string) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: time.Until(s.deadline)}
	c, resp, err := d.Dial(s.ws+path+"?"+query, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if c != nil {
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
	}
	return c, resp, err
}

// dial opens a WebSocket and fails the test if the server refuses it.
func (s *server) dial(path, query string) *wsConn {
	s.t.Helper()
	c, resp, err := s.dialRaw(path, query)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		s.t.Fatalf("WebSocket %s?%s: %v (HTTP %d)", path, query, err, status)
	}
	return &wsConn{t: s.t, c: c, deadline: s.deadline}
}

// openWebSocket opens a WebSocket session, checks its open packet and
// returns the connection.
func (s *server) openWebSocket(path string) *wsConn {
	s.t.Helper()
	ws := s.dial(path, "EIO=4&transport=websocket")
	checkOpenPacket(s.t, ws.readText(), []string{})
	return ws
}

// expectRefused checks that the server refuses a WebSocket with the given
// query: the handshake fails with HTTP 400, or the connection is closed.
func (s *server) expectRefused(path, query string) {
	s.t.Helper()
	c, resp, err := s.dialRaw(path, query)
	if err != nil {
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			s.t.Fatalf("WebSocket %s?%s refused with %v, want HTTP 400", path, query, err)
		}
		return
	}
	(&wsConn{t: s.t, c: c, deadline: s.deadline}).expectClosed()
}

// expectIgnored checks that the server accepts a WebSocket with the given
// query (HTTP 101, as Node's engine.io does for a session that is already
// upgrading or upgraded), then closes it at once, sending nothing but a
// close frame without a status code. A 400 fails: clients built on the ws
// package report it as an error.
func (s *server) expectIgnored(path, query string) {
	s.t.Helper()
	c, resp, err := s.dialRaw(path, query)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		s.t.Fatalf("WebSocket %s?%s refused (HTTP %d, %v), want it accepted then closed", path, query, status, err)
	}
	_ = c.SetReadDeadline(s.deadline)
	_, data, err := c.ReadMessage()
	if err == nil {
		s.t.Fatalf("WebSocket %s?%s: got frame %q, want a close", path, query, data)
	}
	if !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
		s.t.Fatalf("WebSocket %s?%s ended with %v, want a close frame without status (1005)", path, query, err)
	}
}

// sendText sends a text frame.
func (w *wsConn) sendText(s string) {
	w.t.Helper()
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		w.t.Fatalf("send %q: %v", s, err)
	}
}

// sendBinary sends a binary frame.
func (w *wsConn) sendBinary(b []byte) {
	w.t.Helper()
	if err := w.c.WriteMessage(websocket.BinaryMessage, b); err != nil {
		w.t.Fatalf("send %v: %v", b, err)
	}
}

// frame is one received WebSocket message.
type frame struct {
	binary bool
	data   []byte
}

func (f frame) String() string {
	if f.binary {
		return fmt.Sprintf("binary frame %v", f.data)
	}
	return strconv.Quote(string(f.data))
}

// read returns the next frame, failing the test if none comes in time.
func (w *wsConn) read() frame {
	w.t.Helper()
	_ = w.c.SetReadDeadline(w.deadline)
	mt, data, err := w.c.ReadMessage()
	if err != nil {
		w.t.Fatalf("reading a frame: %v", err)
	}
	return frame{binary: mt == websocket.BinaryMessage, data: data}
}

// readText returns the next frame, which must be a text frame.
func (w *wsConn) readText() string {
	w.t.Helper()
	f := w.read()
	if f.binary {
		w.t.Fatalf("got %v, want a text frame", f)
	}
	return string(f.data)
}

// expectText fails unless the next frame is the text want.
func (w *wsConn) expectText(want string) {
	w.t.Helper()
	if got := w.readText(); got != want {
		w.t.Fatalf("got frame %q, want %q", got, want)
	}
}

// readPackets returns the next n frames that are not Engine.IO pings, like
// the Socket.IO suite's helper that skips "2" frames.
func (w *wsConn) readPackets(n int) []frame {
	w.t.Helper()
	var out []frame
	for len(out) < n {
		f := w.read()
		if !f.binary && string(f.data) == "2" {
			continue
		}
		out = append(out, f)
	}
	return out
}

// expectClosed reads until the server closes the connection, failing the
// test if it is still open at the deadline. It returns the frames read.
func (w *wsConn) expectClosed() []frame {
	w.t.Helper()
	_ = w.c.SetReadDeadline(w.deadline)
	var got []frame
	for {
		mt, data, err := w.c.ReadMessage()
		if err == nil {
			got = append(got, frame{binary: mt == websocket.BinaryMessage, data: data})
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			w.t.Fatalf("the server did not close the WebSocket in time (frames read: %v)", got)
		}
		return got
	}
}
