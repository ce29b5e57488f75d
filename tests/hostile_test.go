package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/logbuf"
)

// hostileLimit is the server's MaxHTTPBufferSize in TestHostileInput: above
// the 20 kB of the deep-nesting packets, so that they reach the decoders.
const hostileLimit = 64 << 10

// hostileAttempts bounds the hostile requests and connections of
// TestHostileInput, all kinds together; hostileBudget bounds their time
// when the server answers too slowly (it takes about 5s).
const (
	hostileAttempts = 2000
	hostileBudget   = 30 * time.Second
)

// goodClientsScript runs two official clients, one on WebSocket and one on
// polling, each emitting an echo with an ack every 10ms and checking every
// answer. On {"op":"stop"} they stop emitting, wait for their missing acks
// (up to 5s) and report {sent, acked, bad} each.
const goodClientsScript = clientLib + `
const stats = {};
for (const [name, transport] of [['ws', 'websocket'], ['poll', 'polling']]) {
  const s = open(name, '/', { transports: [transport], reconnection: false, forceNew: true });
  const st = stats[name] = { sent: 0, acked: 0, bad: 0, timer: null };
  s.on('connect', () => {
    st.timer = setInterval(() => {
      const k = st.sent++;
      s.emit('echo', name, k, (n, r) => {
        if (n !== name || r !== k) { st.bad++; out('bad', name, n, r, k); }
        st.acked++;
      });
    }, 10);
  });
}
for await (const c of input()) {
  if (c.op !== 'stop') continue;
  for (const st of Object.values(stats)) clearInterval(st.timer);
  const until = Date.now() + 5000;
  while (Date.now() < until && Object.values(stats).some((st) => st.acked < st.sent)) await sleep(10);
  const report = {};
  for (const [name, st] of Object.entries(stats)) report[name] = { sent: st.sent, acked: st.acked, bad: st.bad };
  out('stopped', report);
}
`

// eioError is an Engine.IO HTTP error answer.
type eioError struct {
	status int
	code   int
}

var (
	errUnknownTransport = eioError{http.StatusBadRequest, 0}
	errUnknownSID       = eioError{http.StatusBadRequest, 1}
	errBadHandshake     = eioError{http.StatusBadRequest, 2}
	errBadRequest       = eioError{http.StatusBadRequest, 3}
	errBadVersion       = eioError{http.StatusBadRequest, 5}
)

var eioMessages = map[int]string{
	0: "Transport unknown", 1: "Session ID unknown", 2: "Bad handshake method",
	3: "Bad request", 5: "Unsupported protocol version",
}

// hostile sends hostile input to a test server and checks each answer.
type hostile struct {
	ts   *testServer
	hc   *http.Client
	base string // the polling endpoint, ?EIO=4&transport=polling

	mu sync.Mutex
	// sockets that joined "/" before misbehaving, with the reason their
	// OnDisconnect must get.
	joined map[string]string
}

// checkEIOError reads resp and checks that it is the JSON error want.
func checkEIOError(resp *http.Response, want eioError) error {
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	wantBody := fmt.Sprintf(`{"code":%d,"message":%q}`, want.code, eioMessages[want.code])
	if resp.StatusCode != want.status || string(body) != wantBody || resp.Header.Get("Content-Type") != "application/json" {
		return fmt.Errorf("got %d %s %q, want %d application/json %s", resp.StatusCode, resp.Header.Get("Content-Type"), body, want.status, wantBody)
	}
	return nil
}

// do sends one request and returns the response.
func (h *hostile) do(method, url, body string) (*http.Response, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return resp, nil
}

// expect sends one request and checks that it gets the error want.
func (h *hostile) expect(method, url, body string, want eioError) error {
	resp, err := h.do(method, url, body)
	if err != nil {
		return err
	}
	return checkEIOError(resp, want)
}

// expectOK sends one request and returns its 200 body.
func (h *hostile) expectOK(method, url, body string) (string, error) {
	resp, err := h.do(method, url, body)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %d %q, want 200", method, resp.StatusCode, b)
	}
	return string(b), nil
}

// openPolling opens a polling session and returns its URL.
func (h *hostile) openPolling() (string, error) {
	body, err := h.expectOK(http.MethodGet, h.base, "")
	if err != nil {
		return "", fmt.Errorf("handshake: %w", err)
	}
	var open struct {
		Sid string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(body, "0")), &open); err != nil || open.Sid == "" {
		return "", fmt.Errorf("handshake answer %q", body)
	}
	return h.base + "&sid=" + open.Sid, nil
}

// expectGone checks that the polling session at u has ended: a GET gets
// either the close packet (the session closes while it waits) or, once it
// is gone, "Session ID unknown".
func (h *hostile) expectGone(u string) error {
	resp, err := h.do(http.MethodGet, u, "")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return checkEIOError(resp, errUnknownSID)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if !strings.HasSuffix(string(b), "1") || !(len(b) == 1 || b[len(b)-2] == 0x1e) {
		return fmt.Errorf("GET on a closing session: %q, want the close packet", b)
	}
	return h.expect(http.MethodGet, u, "", errUnknownSID)
}

// dialWS opens a WebSocket session; with join it also connects "/" and
// records that the socket must end with reason.
func (h *hostile) dialWS(join bool, reason string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: step}
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(h.ts.URL, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	_ = resp.Body.Close()
	_ = ws.SetReadDeadline(time.Now().Add(step))
	if _, open, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(open), `0{"sid":"`) {
		ws.Close()
		return nil, fmt.Errorf("open packet %q: %v", open, err)
	}
	if !join {
		return ws, nil
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		ws.Close()
		return nil, err
	}
	_, reply, err := ws.ReadMessage()
	var sid struct {
		Sid string `json:"sid"`
	}
	if err != nil || !strings.HasPrefix(string(reply), "40") || json.Unmarshal(reply[2:], &sid) != nil {
		ws.Close()
		return nil, fmt.Errorf("connect reply %q: %v", reply, err)
	}
	h.mu.Lock()
	h.joined[sid.Sid] = reason
	h.mu.Unlock()
	return ws, nil
}

// wsFrame is one WebSocket message to send.
type wsFrame struct {
	binary bool
	data   string
}

// sendBadFrames writes frames on a new WebSocket session (joined to "/"
// when join is set) and checks that the server closes the connection;
// only Engine.IO close and ping packets may come before.
func (h *hostile) sendBadFrames(join bool, reason string, frames ...wsFrame) error {
	ws, err := h.dialWS(join, reason)
	if err != nil {
		return err
	}
	defer ws.Close()
	_ = ws.SetWriteDeadline(time.Now().Add(step))
	for _, f := range frames {
		mt := websocket.TextMessage
		if f.binary {
			mt = websocket.BinaryMessage
		}
		if err := ws.WriteMessage(mt, []byte(f.data)); err != nil {
			break // the server may close before the last frame
		}
	}
	return expectWSClosed(ws)
}

// expectWSClosed reads until the connection ends; a read timeout means the
// server left it open.
func expectWSClosed(ws *websocket.Conn) error {
	_ = ws.SetReadDeadline(time.Now().Add(step))
	for {
		_, data, err := ws.ReadMessage()
		if err == nil {
			if s := string(data); s == "1" || s == "2" {
				continue
			}
			return fmt.Errorf("got %q, want the connection closed", data)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("connection still open after %v", step)
		}
		return nil
	}
}

// text returns a text frame.
func text(s string) wsFrame { return wsFrame{data: s} }

// deepEvent is an EVENT whose argument nests 10 000 arrays: one level more
// than JSON decoders accept.
var deepEvent = `2["x",` + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + `]`

// thousandPlaceholders is a BINARY_EVENT announcing 1000 attachments, the
// most a header may announce, with their placeholders.
var thousandPlaceholders = func() string {
	var sb strings.Builder
	sb.WriteString(`51000-["up"`)
	for i := range 1000 {
		sb.WriteString(`,{"_placeholder":true,"num":` + strconv.Itoa(i) + `}`)
	}
	sb.WriteString(`]`)
	return sb.String()
}()

// socketIOGarbage are Engine.IO messages that carry a malformed Socket.IO
// packet: each must close its connection with "parse error".
var socketIOGarbage = []string{
	`abc`, `2{}`, `2["x"`, `2[]`, `2abc["x"]`, `4{"message":"only servers send this"}`, `7`,
	`51000-["x"]`, `5999999-["x"]`, `5` + strings.Repeat("9", 30) + `-["x"]`, `51-["x",{"_placeholder":true,"num":1}]`,
	deepEvent, `2/admin["x"]`, `3["no id"]`, `2["x"]` + "\x00",
}

// engineIOGarbage are polling bodies that are not Engine.IO payloads.
var engineIOGarbage = []string{
	"", "9", "a", "4a\x1e", "\x1e4a", "4a\x1e\x1e4b", "b!!!", "4\xff\xfe", "4\xc3\x28", "42[\"\xed\xa0\x80\"]",
}

// attack is one kind of hostile input and the check of its answer.
type attack struct {
	name string
	run  func(h *hostile, i int) error
}

func (h *hostile) attacks() []attack {
	eio := h.base
	root := strings.TrimSuffix(eio, "?EIO=4&transport=polling") + "?"
	bogus := func(i int) string { return fmt.Sprintf("&sid=not-a-session-%d", i) }
	return []attack{
		{"unknown sid GET", func(h *hostile, i int) error { return h.expect("GET", eio+bogus(i), "", errUnknownSID) }},
		{"unknown sid POST", func(h *hostile, i int) error { return h.expect("POST", eio+bogus(i), "40", errUnknownSID) }},
		{"unknown sid websocket", func(h *hostile, i int) error {
			d := websocket.Dialer{HandshakeTimeout: step}
			ws, resp, err := d.Dial("ws"+strings.TrimPrefix(h.ts.URL, "http")+"/socket.io/?EIO=4&transport=websocket"+bogus(i), nil)
			if err == nil {
				ws.Close()
				return errors.New("upgrade with an unknown sid accepted")
			}
			if resp == nil {
				return err
			}
			return checkEIOError(resp, errUnknownSID)
		}},
		{"handshake with POST", func(h *hostile, i int) error { return h.expect("POST", eio, "40", errBadHandshake) }},
		{"handshake with PUT", func(h *hostile, i int) error { return h.expect("PUT", eio, "", errBadHandshake) }},
		{"unknown transport", func(h *hostile, i int) error {
			return h.expect("GET", root+"EIO=4&transport=carrier-pigeon", "", errUnknownTransport)
		}},
		{"no transport", func(h *hostile, i int) error { return h.expect("GET", root+"EIO=4", "", errUnknownTransport) }},
		{"protocol v3", func(h *hostile, i int) error {
			return h.expect("GET", root+"EIO=3&transport=polling", "", errBadVersion)
		}},
		{"websocket without upgrade", func(h *hostile, i int) error {
			return h.expect("GET", root+"EIO=4&transport=websocket", "", errBadRequest)
		}},
		{"wrong method on a session", func(h *hostile, i int) error {
			u, err := h.openPolling()
			if err != nil {
				return err
			}
			method := []string{"PUT", "DELETE", "PATCH"}[i%3]
			if err := h.expect(method, u, "", errBadRequest); err != nil {
				return err
			}
			// The session survives a wrong method; the client closes it.
			if body, err := h.expectOK("POST", u, "1"); err != nil || body != "ok" {
				return fmt.Errorf("close packet: %q, %v", body, err)
			}
			return h.expect("GET", u, "", errUnknownSID)
		}},
		{"malformed polling payload", func(h *hostile, i int) error {
			u, err := h.openPolling()
			if err != nil {
				return err
			}
			// As Node: "ok", and the session closes with "parse error".
			if body, err := h.expectOK("POST", u, engineIOGarbage[i%len(engineIOGarbage)]); err != nil || body != "ok" {
				return fmt.Errorf("POST: %q, %v", body, err)
			}
			return h.expectGone(u)
		}},
		{"oversized polling body", func(h *hostile, i int) error {
			u, err := h.openPolling()
			if err != nil {
				return err
			}
			resp, err := h.do("POST", u, "4"+strings.Repeat("o", hostileLimit))
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				return fmt.Errorf("oversized POST: %d, want 413", resp.StatusCode)
			}
			// As Node, the session goes on; the client closes it.
			if body, err := h.expectOK("POST", u, "1"); err != nil || body != "ok" {
				return fmt.Errorf("close packet after 413: %q, %v", body, err)
			}
			return h.expect("GET", u, "", errUnknownSID)
		}},
		{"malformed socket.io over polling", func(h *hostile, i int) error {
			u, err := h.openPolling()
			if err != nil {
				return err
			}
			if body, err := h.expectOK("POST", u, "4"+socketIOGarbage[i%len(socketIOGarbage)]); err != nil || body != "ok" {
				return fmt.Errorf("POST: %q, %v", body, err)
			}
			return h.expectGone(u)
		}},
		{"upgrade probe with junk", func(h *hostile, i int) error {
			u, err := h.openPolling()
			if err != nil {
				return err
			}
			d := websocket.Dialer{HandshakeTimeout: step}
			q := u[strings.Index(u, "&sid="):]
			ws, resp, err := d.Dial("ws"+strings.TrimPrefix(h.ts.URL, "http")+"/socket.io/?EIO=4&transport=websocket"+q, nil)
			if err != nil {
				return fmt.Errorf("upgrade: %w", err)
			}
			_ = resp.Body.Close()
			defer ws.Close()
			if err := ws.WriteMessage(websocket.TextMessage, []byte([]string{"4junk", "9", "3probe", "2prob"}[i%4])); err != nil {
				return err
			}
			if err := expectWSClosed(ws); err != nil {
				return fmt.Errorf("probe: %w", err)
			}
			// The polling session goes on; its client closes it.
			if body, err := h.expectOK("POST", u, "1"); err != nil || body != "ok" {
				return fmt.Errorf("close packet after the failed upgrade: %q, %v", body, err)
			}
			return h.expect("GET", u, "", errUnknownSID)
		}},
		{"malformed engine.io frame", func(h *hostile, i int) error {
			bad := []string{"", "9", "a", "\x00", "4\xff\xfe", "4\xc3\x28", "\xed\xa0\x80"}
			return h.sendBadFrames(i%2 == 0, disconnect.ParseError, text(bad[i%len(bad)]))
		}},
		{"malformed socket.io frame", func(h *hostile, i int) error {
			return h.sendBadFrames(i%2 == 0, disconnect.ParseError, text("4"+socketIOGarbage[i%len(socketIOGarbage)]))
		}},
		{"binary frame out of place", func(h *hostile, i int) error {
			return h.sendBadFrames(i%2 == 0, disconnect.ParseError, wsFrame{binary: true, data: "\x01\x02"})
		}},
		{"text frame instead of an attachment", func(h *hostile, i int) error {
			return h.sendBadFrames(i%2 == 0, disconnect.ParseError,
				text("4"+thousandPlaceholders), wsFrame{binary: true, data: "\x01"}, text(`42["x"]`))
		}},
		{"oversized frame", func(h *hostile, i int) error {
			return h.sendBadFrames(i%2 == 0, disconnect.TransportError, text("4"+strings.Repeat("o", hostileLimit)))
		}},
	}
}

// TestHostileInput throws thousands of malformed, oversized and misplaced
// requests and frames at a server, over polling and WebSocket, from
// several goroutines, while two official clients (one per transport) keep
// emitting echoes. Every hostile request gets the right answer (HTTP status
// and Engine.IO error code, or its WebSocket closed), every hostile socket
// ends once with the right reason, every echo is acked, and afterwards the
// server's Stats and the goroutine count are back to where they were.
func TestHostileInput(t *testing.T) {
	dl := newDisconnectLog()
	dl.ch = make(chan disconnectEvent, hostileAttempts)
	// Every hostile request is logged at Warn: keep only errors, shown if
	// the test fails.
	var logs logbuf.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server errors:\n%s", logs.String())
		}
	})
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))
	ts := startServer(t, actorio.Options{MaxHTTPBufferSize: hostileLimit, Logger: logger}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			dl.watch(s)
			s.On("echo", echoHandler)
		})
		srv.Of("/admin") // a namespace no hostile packet may reach
	})
	good := runScript(t, ts.URL, goodClientsScript, nil)
	goodIDs := []string{good.expect("connect", "ws").Arg(1).(string), good.expect("connect", "poll").Arg(1).(string)}

	hc := &http.Client{Timeout: step, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	t.Cleanup(hc.CloseIdleConnections)
	h := &hostile{ts: ts, hc: hc, base: ts.URL + "/socket.io/?EIO=4&transport=polling", joined: map[string]string{}}
	attacks := h.attacks()

	// The baseline: the good clients connected and busy. Their polling
	// requests come and go, so take the highest goroutine count seen.
	time.Sleep(100 * time.Millisecond)
	baseStats := ts.Srv.Stats()
	baseGoroutines := 0
	for range 20 {
		baseGoroutines = max(baseGoroutines, runtime.NumGoroutine())
		time.Sleep(10 * time.Millisecond)
	}

	var (
		next     atomic.Int64
		mu       sync.Mutex
		failures = map[string][]string{}
		counts   = map[string]int{}
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= hostileAttempts || time.Since(start) > hostileBudget {
					return
				}
				a := attacks[i%len(attacks)]
				err := a.run(h, i/len(attacks))
				mu.Lock()
				counts[a.name]++
				if err != nil {
					failures[a.name] = append(failures[a.name], err.Error())
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n := min(int(next.Load()), hostileAttempts); n < hostileAttempts {
		t.Errorf("only %d of %d hostile requests and connections answered within %v", n, hostileAttempts, hostileBudget)
	}
	t.Logf("%d hostile requests and connections of %d kinds in %v", hostileAttempts, len(attacks), time.Since(start))
	for _, a := range attacks {
		if f := failures[a.name]; len(f) > 0 {
			t.Errorf("%s: %d of %d wrong, first: %s", a.name, len(f), counts[a.name], f[0])
		}
	}

	// Let the good clients run for a second at least.
	time.Sleep(time.Until(start.Add(time.Second)))
	good.send(map[string]any{"op": "stop"})
	report := good.waitFor("the good clients' report", func(l nodeLine) bool { return l.Ev == "stopped" }).Arg(0).(map[string]any)
	for _, name := range []string{"ws", "poll"} {
		st := report[name].(map[string]any)
		sent, acked, bad := st["sent"].(float64), st["acked"].(float64), st["bad"].(float64)
		t.Logf("good client %s: %v echoes, %v acked", name, sent, acked)
		if sent < 50 || acked != sent || bad != 0 {
			t.Errorf("good client %s: %v echoes sent, %v acked, %v wrong", name, sent, acked, bad)
		}
	}
	good.none("a bad echo or a disconnect", func(l nodeLine) bool { return l.Ev == "bad" || l.Ev == "disconnect" })

	// Every hostile socket ended once, with its reason; the good ones did not.
	h.mu.Lock()
	joined := h.joined
	h.mu.Unlock()
	waitUntil(t, step, "every hostile socket's OnDisconnect", func() bool {
		return len(dl.snapshot()) >= len(joined)
	})
	for id, reason := range joined {
		dl.expectOnce(t, id, reason)
	}
	for id := range dl.snapshot() {
		if _, ok := joined[id]; !ok {
			t.Errorf("socket %s disconnected, good ones are %v: %q", id, goodIDs, dl.of(id))
		}
	}
	t.Logf("%d hostile sockets joined \"/\" and ended", len(joined))

	// Nothing left behind.
	expectStats(t, ts.Srv, baseStats)
	hc.CloseIdleConnections()
	deadline := time.Now().Add(leakWait)
	for runtime.NumGoroutine() > baseGoroutines {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the hostile input, %d before", runtime.NumGoroutine(), baseGoroutines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
