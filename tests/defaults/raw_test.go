package defaults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Raw Engine.IO v4 clients, for what the official clients cannot be made
// to do: never join a namespace, never answer a ping, never finish an
// upgrade, never read.

// openPacket is the payload of the Engine.IO open packet.
type openPacket struct {
	Sid          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

// rawWS is a WebSocket to the server, speaking Engine.IO by hand.
type rawWS struct {
	c *websocket.Conn
}

// dialWS opens a WebSocket to the endpoint; sid is empty for a new session,
// or the session to upgrade. A positive rcvBuf shrinks the socket's
// receive buffer (before the connection, so that the window stays small).
func dialWS(t *testing.T, s *server, sid string, rcvBuf int) *rawWS {
	t.Helper()
	u := "ws" + strings.TrimPrefix(s.url, "http") + "/socket.io/?EIO=4&transport=websocket"
	if sid != "" {
		u += "&sid=" + sid
	}
	d := websocket.Dialer{HandshakeTimeout: step}
	if rcvBuf > 0 {
		nd := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		d.NetDialContext = nd.DialContext
	}
	ctx, cancel := context.WithTimeout(t.Context(), step)
	defer cancel()
	c, resp, err := d.DialContext(ctx, u, nil)
	if err != nil {
		t.Fatalf("websocket %s: %v", u, err)
	}
	resp.Body.Close()
	t.Cleanup(func() { _ = c.Close() })
	return &rawWS{c: c}
}

// read returns the next text message, waiting at most d.
func (w *rawWS) read(d time.Duration) (string, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(d))
	_, b, err := w.c.ReadMessage()
	return string(b), err
}

// mustRead is read that fails the test on an error.
func (w *rawWS) mustRead(t *testing.T) string {
	t.Helper()
	m, err := w.read(step)
	if err != nil {
		t.Fatalf("websocket read: %v", err)
	}
	return m
}

func (w *rawWS) send(t *testing.T, msg string) {
	t.Helper()
	_ = w.c.SetWriteDeadline(time.Now().Add(step))
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("websocket write %q: %v", msg, err)
	}
}

// open reads the open packet.
func (w *rawWS) open(t *testing.T) openPacket {
	t.Helper()
	return parseOpen(t, w.mustRead(t))
}

// join connects the socket to "/" and returns its id.
func (w *rawWS) join(t *testing.T) string {
	t.Helper()
	w.send(t, "40")
	return parseConnect(t, w.mustRead(t))
}

func parseOpen(t *testing.T, m string) openPacket {
	t.Helper()
	var o openPacket
	if !strings.HasPrefix(m, "0") || json.Unmarshal([]byte(m[1:]), &o) != nil || o.Sid == "" {
		t.Fatalf("got %q, want an open packet", m)
	}
	return o
}

func parseConnect(t *testing.T, m string) string {
	t.Helper()
	var c struct {
		Sid string `json:"sid"`
	}
	if !strings.HasPrefix(m, "40") || json.Unmarshal([]byte(m[2:]), &c) != nil || c.Sid == "" {
		t.Fatalf("got %q, want a CONNECT reply", m)
	}
	return c.Sid
}

// rawPolling is an Engine.IO session over long-polling, by hand.
type rawPolling struct {
	s   *server
	hc  *http.Client
	sid string
}

// dialPolling makes the polling handshake.
func dialPolling(t *testing.T, s *server) (*rawPolling, openPacket) {
	t.Helper()
	// Longer than a long poll can be held: the server answers a GET at
	// the latest with its next ping (PingInterval).
	hc := &http.Client{Timeout: pingInterval + step, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	p := &rawPolling{s: s, hc: hc}
	code, body := p.do(t, http.MethodGet, "")
	if code != http.StatusOK {
		t.Fatalf("polling handshake: %d %s", code, body)
	}
	o := parseOpen(t, body)
	p.sid = o.Sid
	return p, o
}

func (p *rawPolling) url() string {
	u := p.s.url + "/socket.io/?EIO=4&transport=polling"
	if p.sid != "" {
		u += "&sid=" + p.sid
	}
	return u
}

// do sends one request and returns the status and body.
func (p *rawPolling) do(t *testing.T, method, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, p.url(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := p.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, p.url(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, p.url(), err)
	}
	return resp.StatusCode, string(b)
}

// get polls once and returns the packets of the answer.
func (p *rawPolling) get(t *testing.T) []string {
	t.Helper()
	code, body := p.do(t, http.MethodGet, "")
	if code != http.StatusOK {
		t.Fatalf("poll: %d %s", code, body)
	}
	return strings.Split(body, "\x1e")
}

// post sends packets.
func (p *rawPolling) post(t *testing.T, packets ...string) {
	t.Helper()
	if code, body := p.do(t, http.MethodPost, strings.Join(packets, "\x1e")); code != http.StatusOK || body != "ok" {
		t.Fatalf("POST %q: %d %s", packets, code, body)
	}
}

// join connects the socket to "/" and returns its id.
func (p *rawPolling) join(t *testing.T) string {
	t.Helper()
	p.post(t, "40")
	got := p.get(t)
	if len(got) != 1 {
		t.Fatalf("polling CONNECT reply %q", got)
	}
	return parseConnect(t, got[0])
}

// gone asserts that the session no longer exists.
func (p *rawPolling) gone(t *testing.T) {
	t.Helper()
	code, body := p.do(t, http.MethodGet, "")
	if want := `{"code":1,"message":"Session ID unknown"}`; code != http.StatusBadRequest || body != want {
		t.Errorf("poll after the close: %d %s, want 400 %s", code, body, want)
	}
}

// checkOpen checks the heartbeat the open packet announces.
func checkOpen(t *testing.T, o openPacket) {
	t.Helper()
	if got, want := fmt.Sprint(o.PingInterval, o.PingTimeout), fmt.Sprint(pingInterval.Milliseconds(), pingTimeout.Milliseconds()); got != want {
		t.Errorf("open packet announces pingInterval, pingTimeout %s, want %s", got, want)
	}
	if o.MaxPayload != 1_000_000 {
		t.Errorf("open packet announces maxPayload %d, want 1000000", o.MaxPayload)
	}
}
