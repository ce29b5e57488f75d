package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/leakcheck"
	"github.com/actorio/actorio/internal/testwait"
	"github.com/actorio/actorio/internal/workpool"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// closeEvent records one OnClose call.
type closeEvent struct {
	sid    string
	reason string
	err    error
}

// recorder is a Handler and Receiver that records events and optionally echoes.
type recorder struct {
	t       *testing.T
	echo    bool
	onPkt   func(c *Conn, p engineio.Packet)
	onOpen  func(c *Conn)
	opened  chan *Conn
	packets chan string
	closes  chan closeEvent

	mu       sync.Mutex
	closeCnt map[string]int
}

func newRecorder(t *testing.T, echo bool) *recorder {
	return &recorder{
		t: t, echo: echo,
		opened:   make(chan *Conn, 256),
		packets:  make(chan string, 4096),
		closes:   make(chan closeEvent, 256),
		closeCnt: make(map[string]int),
	}
}

func (h *recorder) OnOpen(c *Conn) {
	c.SetReceiver(h)
	if h.onOpen != nil {
		h.onOpen(c)
	}
	h.opened <- c
}

func (h *recorder) OnPacket(c *Conn, p engineio.Packet) {
	data := append([]byte(nil), p.Data...)
	if h.onPkt != nil {
		h.onPkt(c, p)
	}
	if h.echo {
		if err := c.Send(engineio.Packet{Type: engineio.Message, Data: data, Binary: p.Binary}); err != nil {
			h.t.Errorf("echo: %v", err)
		}
	}
	select {
	case h.packets <- string(data):
	default:
	}
}

func (h *recorder) OnClose(c *Conn, reason string, err error) {
	h.mu.Lock()
	h.closeCnt[c.ID()]++
	n := h.closeCnt[c.ID()]
	h.mu.Unlock()
	if n > 1 {
		h.t.Errorf("OnClose called %d times for %s", n, c.ID())
	}
	h.closes <- closeEvent{sid: c.ID(), reason: reason, err: err}
}

// receive waits up to d for the next value on ch, failing tb with what
// when none comes.
func receive[T any](tb testing.TB, ch <-chan T, d time.Duration, what string) T {
	tb.Helper()
	return testwait.Receive(tb, ch, d, what)
}

// nextConn waits for the next opened Conn.
func (h *recorder) nextConn(t *testing.T) *Conn {
	t.Helper()
	return receive(t, h.opened, 3*time.Second, "no connection opened")
}

// nextClose waits for the next OnClose.
func (h *recorder) nextClose(t *testing.T) closeEvent {
	t.Helper()
	return receive(t, h.closes, 3*time.Second, "no OnClose")
}

// nextPacket waits for the next delivered packet's data.
func (h *recorder) nextPacket(t *testing.T) string {
	t.Helper()
	return receive(t, h.packets, 3*time.Second, "no packet delivered")
}

// env is a running Server behind an httptest server.
type env struct {
	srv    *Server
	ts     *httptest.Server
	h      *recorder
	client *http.Client
	base   string // http URL of the Engine.IO path
	wsBase string
	// dialer opens WebSockets; nil: websocket.DefaultDialer.
	dialer *websocket.Dialer
}

var testLogger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))

// startEnv starts a server with cfg (long heartbeat unless set) and an
// echoing recorder.
func startEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	srv, h := envServer(t, cfg)
	ts := httptest.NewServer(srv)
	e := &env{
		srv: srv, ts: ts, h: h,
		client: &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second},
		base:   ts.URL + "/socket.io/",
		wsBase: "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/",
	}
	t.Cleanup(e.stop)
	return e
}

// envServer makes the server of an env: cfg with a long heartbeat unless
// set, and an echoing recorder.
func envServer(t *testing.T, cfg Config) (*Server, *recorder) {
	if cfg.PingInterval == 0 {
		cfg.PingInterval = time.Minute
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger
	}
	h := newRecorder(t, true)
	return New(cfg, h), h
}

// stop closes everything; it is safe to call twice.
func (e *env) stop() {
	_ = e.srv.Close()
	e.ts.Close()
	e.client.CloseIdleConnections()
}

// do performs a request and returns the status and body.
func (e *env) do(t *testing.T, method, query, body string) (int, string) {
	t.Helper()
	return e.doCtx(t, context.Background(), method, query, body)
}

func (e *env) doCtx(t *testing.T, ctx context.Context, method, query, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.base+"?"+query, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ""
		}
		t.Errorf("%s %s: %v", method, query, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var openRe = regexp.MustCompile(`^0\{"sid":"([A-Za-z0-9_-]{20})",`)

// handshake opens a polling session and returns its sid.
func (e *env) handshake(t *testing.T) string {
	t.Helper()
	status, body := e.do(t, http.MethodGet, "EIO=4&transport=polling", "")
	m := openRe.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("handshake: %d %q", status, body)
	}
	return m[1]
}

// poll performs a GET on the session.
func (e *env) poll(t *testing.T, sid string) (int, string) {
	t.Helper()
	return e.do(t, http.MethodGet, "EIO=4&transport=polling&sid="+sid, "")
}

// post performs a POST on the session.
func (e *env) post(t *testing.T, sid, body string) (int, string) {
	t.Helper()
	return e.do(t, http.MethodPost, "EIO=4&transport=polling&sid="+sid, body)
}

// dial opens a WebSocket with the given query.
func (e *env) dial(t *testing.T, query string) *websocket.Conn {
	t.Helper()
	d := e.dialer
	if d == nil {
		d = websocket.DefaultDialer
	}
	ws, resp, err := d.Dial(e.wsBase+"?"+query, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (resp %v)", query, err, resp)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

// readText reads one frame and returns it as a string, failing on binary frames.
func readText(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	mt, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if mt != websocket.TextMessage {
		t.Fatalf("got frame type %d, want text", mt)
	}
	return string(data)
}

// writeText writes one text frame.
func writeText(t *testing.T, ws *websocket.Conn, s string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// expectClosed reads until the server closes ws and returns the error.
func expectClosed(t *testing.T, ws *websocket.Conn) error {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatal("websocket not closed by the server")
			}
			return err
		}
	}
}

// checkGoroutines records the goroutine count and, at cleanup, waits for it
// to come back. Register it before startEnv so it runs after env.stop.
func checkGoroutines(t *testing.T) {
	t.Helper()
	leakcheck.Check(t, 3*time.Second)
}

// settleGoroutines waits until the process runs at most max goroutines
// more than base, and fails (with every goroutine's stack) if it still
// runs more after workpool.Idle and two seconds: the workers that ran the
// last runs wait workpool.Idle for another before they end.
func settleGoroutines(t *testing.T, base, max int, what string) {
	t.Helper()
	deadline := time.Now().Add(workpool.Idle + 2*time.Second)
	for {
		extra := runtime.NumGoroutine() - base
		if extra <= max {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%s hold %d goroutines, want at most %d:\n%s", what, extra, max, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// msg builds a text Message packet.
func msg(s string) engineio.Packet {
	return engineio.Packet{Type: engineio.Message, Data: []byte(s)}
}
