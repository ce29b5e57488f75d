package gateway

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
)

// Long-polling requests that Node's engine.io refuses or cannot decode get
// its answers: what status, body and content type, and whether the session
// survives, were read from Node 4.8 (tests/differential records them).

// rawResponse is one answer as the client saw it.
type rawResponse struct {
	status      int
	contentType string
	body        string
}

// send performs a request with body on the session and returns the answer.
func (e *env) send(t *testing.T, method, sid string, body io.Reader, size int64) rawResponse {
	t.Helper()
	req, err := http.NewRequest(method, e.base+"?EIO=4&transport=polling&sid="+sid, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// TestPollingOverLimitOverHTTP2KeepsTheConnection sends a POST over the
// limit on HTTP/2, where one connection carries every request a browser
// makes to the server: the 413 must not end that connection (net/http
// turns a Connection: close answer into a GOAWAY), and the session and
// the requests after it go on, on the same connection.
func TestPollingOverLimitOverHTTP2KeepsTheConnection(t *testing.T) {
	checkGoroutines(t)
	const max = 1000
	srv, h := envServer(t, Config{MaxPayload: max})
	ts := httptest.NewUnstartedServer(srv)
	var conns atomic.Int32
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	ts.EnableHTTP2 = true
	ts.StartTLS()
	e := &env{srv: srv, ts: ts, h: h, client: ts.Client(), base: ts.URL + "/socket.io/"}
	t.Cleanup(e.stop)
	sid := e.handshake(t)
	e.h.nextConn(t)
	if got := e.send(t, http.MethodPost, sid, strings.NewReader("4"+strings.Repeat("x", max)), -1); got.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("POST over the limit: %+v, want 413", got)
	}
	if status, got := e.post(t, sid, "4small"); status != 200 || got != "ok" {
		t.Fatalf("POST after 413: %d %q", status, got)
	}
	if status, got := e.poll(t, sid); status != 200 || got != "4small" {
		t.Fatalf("GET after 413: %d %q", status, got)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the client opened %d connections, want 1: the 413 ended the HTTP/2 connection", n)
	}
}

func TestPollingBadPayloadAnswersOKAndCloses(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	e.h.echo = false
	sid := e.handshake(t)
	e.h.nextConn(t)
	got := e.send(t, http.MethodPost, sid, strings.NewReader("4a\x1ex\x1e4b"), -1)
	if want := (rawResponse{200, "text/html", "ok"}); got != want {
		t.Fatalf("POST: %+v, want %+v", got, want)
	}
	// The packet before the one that does not decode is handled, as in Node.
	if p := e.h.nextPacket(t); p != "a" {
		t.Fatalf("delivered %q, want %q", p, "a")
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.ParseError {
		t.Fatalf("close %+v, want %q", ev, disconnect.ParseError)
	}
	select {
	case p := <-e.h.packets:
		t.Fatalf("packet %q after the malformed one delivered", p)
	default:
	}
	if status, body := e.poll(t, sid); status != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("GET after: %d %q", status, body)
	}
}

func TestPollingOverlappingRequestsGetAnEmpty400(t *testing.T) {
	tests := []struct {
		name   string
		method string
	}{
		{"GET", http.MethodGet},
		{"POST", http.MethodPost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			e := startEnv(t, Config{})
			sid := e.handshake(t)
			e.h.nextConn(t)
			first := make(chan rawResponse, 1)
			var release func()
			if tc.method == http.MethodGet {
				go func() { first <- e.send(t, http.MethodGet, sid, nil, 0) }()
				release = func() {}
			} else {
				// A POST whose body is still coming.
				pr, pw := io.Pipe()
				go func() { first <- e.send(t, http.MethodPost, sid, pr, -1) }()
				_, _ = pw.Write([]byte("4x"))
				release = func() { _ = pw.Close() }
				t.Cleanup(release)
			}
			time.Sleep(50 * time.Millisecond)
			got := e.send(t, tc.method, sid, strings.NewReader("4y"), -1)
			if want := (rawResponse{400, "", ""}); got != want {
				t.Fatalf("overlapping %s: %+v, want %+v", tc.method, got, want)
			}
			if ev := e.h.nextClose(t); ev.reason != disconnect.TransportError || !errors.Is(ev.err, ErrPollOverlap) {
				t.Fatalf("close %+v", ev)
			}
			release()
			if tc.method == http.MethodGet {
				if r := <-first; r.status != 200 || r.body != "1" {
					t.Fatalf("pending GET: %+v, want the close packet", r)
				}
			} else {
				<-first
			}
		})
	}
}

func TestPollingOverLimitKeepsTheSession(t *testing.T) {
	checkGoroutines(t)
	const max = 1000
	e := startEnv(t, Config{MaxPayload: max})
	sid := e.handshake(t)
	e.h.nextConn(t)
	body := "4" + strings.Repeat("x", max)
	for _, size := range []int64{int64(len(body)), -1} { // with Content-Length, then chunked
		got := e.send(t, http.MethodPost, sid, strings.NewReader(body), size)
		if want := (rawResponse{413, "", ""}); got != want {
			t.Fatalf("POST of %d bytes (Content-Length %d): %+v, want %+v", len(body), size, got, want)
		}
	}
	if status, got := e.post(t, sid, "4small"); status != 200 || got != "ok" {
		t.Fatalf("POST after 413: %d %q", status, got)
	}
	if status, got := e.poll(t, sid); status != 200 || got != "4small" {
		t.Fatalf("GET after 413: %d %q", status, got)
	}
	select {
	case ev := <-e.h.closes:
		t.Fatalf("session closed: %+v", ev)
	default:
	}
}

// endless is a request body of n bytes of 'x' that counts what the
// client's transport took from it.
type endless struct {
	n    int64
	read *atomic.Int64
}

func (b *endless) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	for i := range p {
		p[i] = 'x'
	}
	b.n -= int64(len(p))
	b.read.Add(int64(len(p)))
	return len(p), nil
}

// TestPollingOversizedPostsCostNoMemory: a client that keeps sending POSTs
// far over MaxPayload costs the server at most MaxPayload per request: the
// bodies are not read into memory, and the session stays.
func TestPollingOversizedPostsCostNoMemory(t *testing.T) {
	checkGoroutines(t)
	const (
		max    = 1000
		rounds = 20
		size   = 32 << 20 // per POST; rounds * size is 640 MiB
	)
	e := startEnv(t, Config{MaxPayload: max})
	sid := e.handshake(t)
	e.h.nextConn(t)
	var sent atomic.Int64
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range rounds {
		length := int64(size)
		if i%2 == 1 {
			length = -1 // chunked: the server cannot tell the size up front
		}
		req, err := http.NewRequest(http.MethodPost, e.base+"?EIO=4&transport=polling&sid="+sid, &endless{n: size, read: &sent})
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = length
		resp, err := e.client.Do(req)
		if err != nil {
			// The server may close the connection while the client still
			// writes; what matters is that it took no more.
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("round %d: %d, want 413", i, resp.StatusCode)
		}
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d POSTs of %d MiB: the client's transport took %d MiB in all; %d KiB allocated (server and client)",
		rounds, size>>20, sent.Load()>>20, allocated>>10)
	// Reading one body into memory would allocate at least its size.
	if allocated > size/2 {
		t.Fatalf("%d oversized POSTs allocated %d bytes", rounds, allocated)
	}
	if status, got := e.post(t, sid, "4still"); status != 200 || got != "ok" {
		t.Fatalf("POST after: %d %q", status, got)
	}
}

// TestPollingPostThatEndsTheSessionLeavesItToARacingGet: when a POST's
// packets end the session with no GET pending, a GET the client sent with
// it and that comes right after the close still gets the close packet, as
// from Node, which reads the POST's body after such a GET: the client
// sees "transport close" rather than a failed poll ("transport error").
func TestPollingPostThatEndsTheSessionLeavesItToARacingGet(t *testing.T) {
	tests := []struct {
		name, body, reason string
	}{
		{"client ping", "2", disconnect.TransportError},
		{"payload that does not decode", "x", disconnect.ParseError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			e := startEnv(t, Config{})
			sid := e.handshake(t)
			e.h.nextConn(t)
			posted := make(chan rawResponse, 1)
			go func() { posted <- e.send(t, http.MethodPost, sid, strings.NewReader(tc.body), -1) }()
			if ev := e.h.nextClose(t); ev.reason != tc.reason {
				t.Fatalf("close %+v, want %q", ev, tc.reason)
			}
			if status, body := e.poll(t, sid); status != 200 || body != "1" {
				t.Fatalf("GET racing the POST: %d %q, want the close packet", status, body)
			}
			if got := <-posted; got != (rawResponse{200, "text/html", "ok"}) {
				t.Fatalf("POST: %+v", got)
			}
			if status, _ := e.poll(t, sid); status != http.StatusBadRequest {
				t.Fatalf("GET after: %d", status)
			}
		})
	}
}
