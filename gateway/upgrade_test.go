package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// probe opens the WebSocket of an upgrade of session sid and sends its
// probe, whose answer it checks.
func (e *env) probe(t *testing.T, sid string) *websocket.Conn {
	t.Helper()
	ws := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	writeText(t, ws, "2probe")
	if got := readText(t, ws); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	return ws
}

func TestUpgradeSequence(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	c := e.h.nextConn(t)

	_ = c.Send(msg("before"))
	if _, body := e.poll(t, sid); body != "4before" {
		t.Fatalf("GET %q", body)
	}

	// A GET pending when the probe arrives is answered with a noop.
	pending := make(chan string, 1)
	go func() {
		_, b := e.poll(t, sid)
		pending <- b
	}()
	time.Sleep(30 * time.Millisecond)

	ws := e.probe(t, sid)
	if b := <-pending; b != "6" {
		t.Fatalf("pending GET %q", b)
	}
	// Packets sent while paused wait for the WebSocket; GETs get noops.
	_ = c.Send(msg("during1"), msg("during2"))
	if _, body := e.poll(t, sid); body != "6" {
		t.Fatalf("GET while paused %q", body)
	}
	if c.Transport() != TransportPolling {
		t.Fatalf("transport %s before upgrade packet", c.Transport())
	}
	writeText(t, ws, "5")
	_ = c.Send(msg("after"))
	for _, want := range []string{"4during1", "4during2", "4after"} {
		if got := readText(t, ws); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if c.Transport() != TransportWebSocket {
		t.Fatalf("transport %s", c.Transport())
	}

	// The session no longer accepts polling; a second WebSocket is
	// accepted and closed at once (see TestExtraWebSocketIsAcceptedThenClosed).
	if status, body := e.poll(t, sid); status != 400 || body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("GET after upgrade: %d %q", status, body)
	}
	if ws2, resp, err := websocket.DefaultDialer.Dial(e.wsBase+"?EIO=4&transport=websocket&sid="+sid, nil); err != nil {
		t.Fatalf("second websocket: %v %v", resp, err)
	} else {
		expectClosed(t, ws2)
		ws2.Close()
	}

	writeText(t, ws, "4hello")
	if got := readText(t, ws); got != "4hello" {
		t.Fatalf("echo %q", got)
	}
}

func TestUpgradeProbeAndUpgradeBackToBack(t *testing.T) {
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	ws := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	writeText(t, ws, "2probe")
	writeText(t, ws, "5")
	if got := readText(t, ws); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	writeText(t, ws, "4hello")
	if got := readText(t, ws); got != "4hello" {
		t.Fatalf("echo %q", got)
	}
}

func TestUpgradeTimeoutKeepsPolling(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{UpgradeTimeout: 150 * time.Millisecond})
	sid := e.handshake(t)
	c := e.h.nextConn(t)
	ws := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	writeText(t, ws, "2probe")
	if got := readText(t, ws); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	expectClosed(t, ws)
	_ = c.Send(msg("still polling"))
	if status, body := e.poll(t, sid); status != 200 || body != "4still polling" {
		t.Fatalf("GET after failed upgrade: %d %q", status, body)
	}
	if c.Transport() != TransportPolling {
		t.Fatalf("transport %s", c.Transport())
	}
	select {
	case ev := <-e.h.closes:
		t.Fatalf("session closed: %+v", ev)
	default:
	}
}

func TestUpgradeDisabled(t *testing.T) {
	e := startEnv(t, Config{DisableUpgrades: true})
	sid := e.handshake(t)
	_, resp, err := websocket.DefaultDialer.Dial(e.wsBase+"?EIO=4&transport=websocket&sid="+sid, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("upgrade allowed: %v %v", resp, err)
	}
}

// TestUpgradeUnderLoadLosesNothing sends a stream of packets while the
// client polls and upgrades, and checks that every packet arrives exactly
// once and in order across both transports.
func TestUpgradeUnderLoadLosesNothing(t *testing.T) {
	checkGoroutines(t)
	const n = 3000
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	c := e.h.nextConn(t)

	var received []string
	var mu sync.Mutex
	record := func(pkts ...string) {
		mu.Lock()
		received = append(received, pkts...)
		mu.Unlock()
	}

	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		for i := 0; i < n; i++ {
			if err := c.Send(msg(fmt.Sprint(i))); err != nil {
				t.Errorf("send %d: %v", i, err)
				return
			}
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()

	var stopPolling atomic.Bool
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for !stopPolling.Load() {
			status, body := e.poll(t, sid)
			if status != 200 {
				t.Errorf("GET: %d %q", status, body)
				return
			}
			for _, p := range strings.Split(body, "\x1e") {
				if p != "6" {
					record(p)
				}
			}
		}
	}()

	time.Sleep(10 * time.Millisecond)
	ws := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	writeText(t, ws, "2probe")
	if got := readText(t, ws); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	// Like a client: pause polling, wait for the last GET, then upgrade.
	stopPolling.Store(true)
	<-pollDone
	writeText(t, ws, "5")
	for {
		mu.Lock()
		done := len(received) >= n
		mu.Unlock()
		if done {
			break
		}
		record(readText(t, ws))
	}
	<-sendDone
	for i, p := range received {
		if want := "4" + fmt.Sprint(i); p != want {
			t.Fatalf("packet %d is %q, want %q", i, p, want)
		}
	}
}

// TestUpgradeGetRacingUpgradePacket: a GET sent during an upgrade, while
// the client is also sending the upgrade packet, is refused once the upgrade
// completes instead of getting a noop first.
func TestUpgradeGetRacingUpgradePacket(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	ws := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	type result struct {
		status int
		body   string
	}
	got := make(chan result, 1)
	go func() {
		s, b := e.poll(t, sid) // pending before the probe: held, not answered noop
		got <- result{s, b}
	}()
	time.Sleep(20 * time.Millisecond)
	writeText(t, ws, "2probe")
	writeText(t, ws, "5")
	if r := <-got; r.status != 400 || r.body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("GET racing the upgrade: %d %q", r.status, r.body)
	}
	if got := readText(t, ws); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	writeText(t, ws, "4hello")
	if got := readText(t, ws); got != "4hello" {
		t.Fatalf("echo %q", got)
	}
}

// TestUpgradeHeldGetGetsNoopWithoutUpgradePacket: a GET sent during an
// upgrade gets its noop within upgradeHold when no upgrade packet comes.
func TestUpgradeHeldGetGetsNoopWithoutUpgradePacket(t *testing.T) {
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	ws := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	writeText(t, ws, "2probe")
	if got := readText(t, ws); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	start := time.Now()
	if status, body := e.poll(t, sid); status != 200 || body != "6" {
		t.Fatalf("GET during the upgrade: %d %q", status, body)
	}
	if d := time.Since(start); d > upgradeHold+200*time.Millisecond {
		t.Fatalf("noop after %v", d)
	}
}

// TestUpgradeRetiresPollingConnections: once an upgrade is under way, the
// answers to the session's polling requests close their HTTP connections
// (a browser would keep them open, idle, for minutes); before it, the
// connections are kept alive for the next request.
func TestUpgradeRetiresPollingConnections(t *testing.T) {
	e := startEnv(t, Config{})
	e.h.echo = false
	sid := e.handshake(t)
	c := e.h.nextConn(t)
	query := "?EIO=4&transport=polling&sid=" + sid
	addr := strings.TrimPrefix(e.ts.URL, "http://")

	// roundTrip sends one request on raw and returns its answer's body
	// and whether the server closed the connection after it.
	roundTrip := func(raw net.Conn, br *bufio.Reader, method, body string) (string, bool) {
		t.Helper()
		fmt.Fprintf(raw, "%s /socket.io/%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", method, query, addr, len(body), body)
		_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		closed := false
		if resp.Close {
			_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := br.ReadByte()
			closed = errors.Is(err, io.EOF)
			if !closed {
				t.Fatalf("%s: Connection: close, then the connection read %v", method, err)
			}
		}
		return string(b), closed
	}
	dial := func() (net.Conn, *bufio.Reader) {
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		return raw, bufio.NewReader(raw)
	}

	getConn, getR := dial()
	postConn, postR := dial()
	_ = c.Send(msg("before"))
	if b, closed := roundTrip(getConn, getR, "GET", ""); b != "4before" || closed {
		t.Fatalf("GET before the upgrade: %q, closed %v", b, closed)
	}
	if b, closed := roundTrip(postConn, postR, "POST", "4x"); b != "ok" || closed {
		t.Fatalf("POST before the upgrade: %q, closed %v", b, closed)
	}

	pending := make(chan string, 1)
	go func() {
		b, closed := roundTrip(getConn, getR, "GET", "")
		pending <- fmt.Sprintf("%s closed=%v", b, closed)
	}()
	time.Sleep(30 * time.Millisecond)
	ws := e.probe(t, sid)
	if got := <-pending; got != "6 closed=true" {
		t.Fatalf("pending GET at the probe: %s, want its noop and the connection closed", got)
	}
	if b, closed := roundTrip(postConn, postR, "POST", "4y"); b != "ok" || !closed {
		t.Fatalf("POST during the upgrade: %q, closed %v", b, closed)
	}
	writeText(t, ws, "5")
	for _, want := range []string{"x", "y"} {
		if got := e.h.nextPacket(t); got != want {
			t.Fatalf("delivered %q, want %q", got, want)
		}
	}
}

// TestUpgradeCarriesAQueueOfSeveralArrays: packets sent while a polling
// session is paused for its upgrade, more than one array of the queue
// holds (queueSegment), all reach the client over the WebSocket, in
// order, once the upgrade completes.
func TestUpgradeCarriesAQueueOfSeveralArrays(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	c := e.h.nextConn(t)
	ws := e.probe(t, sid)
	const n = 3*queueSegment + 17
	for i := range n {
		if err := c.Send(msg(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	checkSegments(t, c, n)
	if _, body := e.poll(t, sid); body != "6" {
		t.Fatalf("GET while paused %q", body)
	}
	writeText(t, ws, "5")
	for i := range n {
		if got, want := readText(t, ws), "4"+fmt.Sprint(i); got != want {
			t.Fatalf("packet %d is %q, want %q", i, got, want)
		}
	}
}
