package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/gateway"
)

// pollingRequest sends one Engine.IO long-polling request to the server at
// url for session sid (none: a handshake) and returns its status and body.
func pollingRequest(t *testing.T, method, url, sid, body string) (int, string) {
	t.Helper()
	q := "/socket.io/?EIO=4&transport=polling"
	if sid != "" {
		q += "&sid=" + sid
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url+q, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url+q, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// pollingHandshake opens an Engine.IO long-polling session on the server
// at url and returns its id.
func pollingHandshake(t *testing.T, url string) string {
	t.Helper()
	st, open := pollingRequest(t, http.MethodGet, url, "", "")
	var hs struct {
		SID string `json:"sid"`
	}
	if i := strings.IndexByte(open, '{'); st != http.StatusOK || i < 0 || json.Unmarshal([]byte(open[i:]), &hs) != nil {
		t.Fatalf("handshake on %s: %d %q", url, st, open)
	}
	return hs.SID
}

// testForwarding drives one session opened on a through b and c, as a
// round-robin balancer without sticky sessions would: polling GETs and
// POSTs, a broadcast from another node, and the WebSocket upgrade, all on
// nodes that do not hold the session. A session id of no node gets
// "Session ID unknown" from every node.
func testForwarding(t *testing.T, a, b, c *testNode) {
	sid := pollingHandshake(t, a.url)
	expect := func(node *testNode, method, body string, wantStatus int, want string) {
		t.Helper()
		st, got := pollingRequest(t, method, node.url, sid, body)
		if st != wantStatus || !strings.HasPrefix(got, want) {
			t.Fatalf("%s on %s: %d %q, want %d %q…", method, node.name, st, got, wantStatus, want)
		}
	}
	expect(b, http.MethodPost, "40", http.StatusOK, "ok")
	expect(c, http.MethodGet, "", http.StatusOK, `40{"sid":"`)
	expect(c, http.MethodPost, `421["join","fwd"]`, http.StatusOK, "ok")
	expect(b, http.MethodGet, "", http.StatusOK, `431["ok"]`)
	if err := b.srv.To("fwd").Emit("hello", "from B"); err != nil {
		t.Fatal(err)
	}
	expect(c, http.MethodGet, "", http.StatusOK, `42["hello","from B"]`)

	// The upgrade through B, while a GET waits on C: the GET gets noop.
	pending := make(chan string, 1)
	go func() {
		_, got := pollingRequest(t, http.MethodGet, c.url, sid, "")
		pending <- got
	}()
	time.Sleep(100 * time.Millisecond) // the GET is waiting on A
	ws, _, err := websocket.DefaultDialer.DialContext(t.Context(),
		"ws"+strings.TrimPrefix(b.url, "http")+"/socket.io/?EIO=4&transport=websocket&sid="+sid, nil)
	if err != nil {
		t.Fatalf("upgrade through B: %v", err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	read := func() string {
		t.Helper()
		for {
			_, m, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("WebSocket through B: %v", err)
			}
			if string(m) != "2" {
				return string(m)
			}
			_ = ws.WriteMessage(websocket.TextMessage, []byte("3"))
		}
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("2probe"))
	if got := read(); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	select {
	case got := <-pending:
		if got != "6" {
			t.Errorf("pending GET on C got %q, want noop 6", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pending GET on C not answered after the probe")
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("5"))
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`422["join","fwd2"]`))
	if got := read(); got != `432["ok"]` {
		t.Fatalf("ack over the upgraded WebSocket: %q", got)
	}
	if err := c.srv.To("fwd2").Emit("hello", "from C"); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != `42["hello","from C"]` {
		t.Fatalf("broadcast from C over the WebSocket through B: %q", got)
	}

	// A session id whose tag no node has: every node refuses it.
	unknown := "zzzzzzzz" + gateway.NewID()
	for _, n := range []*testNode{a, b, c} {
		start := time.Now()
		st, got := pollingRequest(t, http.MethodGet, n.url, unknown, "")
		if st != http.StatusBadRequest || strings.TrimSpace(got) != `{"code":1,"message":"Session ID unknown"}` {
			t.Errorf("%s answered %d %q to a sid of no node", n.name, st, got)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s took %v to refuse a sid of no node", n.name, d)
		}
	}
}

// testHandedOverPolls checks what a long-polling request handed over on
// the link between the nodes does at its edges, as it would on the node
// of its session: a GET whose client goes away ends the session (as a
// GET aborted there does, "transport error"), and a POST body over
// MaxHTTPBufferSize, declared or not, gets 413 while the session goes on.
func testHandedOverPolls(t *testing.T, a, b, c *testNode) {
	t.Run("a GET whose client goes away ends its session", func(t *testing.T) {
		sid := pollingHandshake(t, a.url)
		if st, got := pollingRequest(t, http.MethodPost, b.url, sid, "40"); st != http.StatusOK || got != "ok" {
			t.Fatalf("CONNECT through B: %d %q", st, got)
		}
		st, got := pollingRequest(t, http.MethodGet, c.url, sid, "")
		var connect struct {
			SID string `json:"sid"`
		}
		if st != http.StatusOK || !strings.HasPrefix(got, "40") || json.Unmarshal([]byte(got[2:]), &connect) != nil {
			t.Fatalf("GET through C: %d %q", st, got)
		}
		connected := func() bool {
			ss, err := a.srv.Of("/").FetchSockets(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(ss, func(s *actorio.Socket) bool { return s.ID() == connect.SID })
		}
		if !connected() {
			t.Fatal("the socket is not on A")
		}
		ctx, cancel := context.WithCancel(t.Context())
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/socket.io/?EIO=4&transport=polling&sid="+sid, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			res, err := http.DefaultClient.Do(req)
			if err == nil {
				res.Body.Close()
			}
			done <- err
		}()
		time.Sleep(200 * time.Millisecond) // the GET waits on A
		cancel()
		if err := <-done; err == nil {
			t.Fatal("the GET was answered before its client went away")
		}
		// (Without a request that would find the GET still pending.)
		eventually(t, 5*time.Second, "the socket leaves A", func() bool { return !connected() })
	})

	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprintf("a POST body over the limit gets 413 and the session goes on (length declared: %v)", declared), func(t *testing.T) {
			sid := pollingHandshake(t, a.url)
			var body io.Reader = strings.NewReader("4" + strings.Repeat("x", gateway.DefaultMaxPayload))
			if !declared {
				body = io.MultiReader(body) // no length: sent chunked
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.url+"/socket.io/?EIO=4&transport=polling&sid="+sid, body)
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("POST through B: %v", err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusRequestEntityTooLarge || len(got) != 0 {
				t.Fatalf("POST over the limit through B: %d %q, want 413 and no body", res.StatusCode, got)
			}
			if st, got := pollingRequest(t, http.MethodPost, c.url, sid, "40"); st != http.StatusOK || got != "ok" {
				t.Fatalf("CONNECT through C after the 413: %d %q", st, got)
			}
			if st, got := pollingRequest(t, http.MethodGet, b.url, sid, ""); st != http.StatusOK || !strings.HasPrefix(got, `40{"sid":"`) {
				t.Fatalf("GET through B after the 413: %d %q", st, got)
			}
		})
	}
}

// testOldHandOver drives a session of a through b and c with long-polling
// requests: CONNECT, an ack, and a broadcast.
func testOldHandOver(t *testing.T, a, b, c *testNode) {
	t.Helper()
	sid := pollingHandshake(t, a.url)
	for _, step := range []struct {
		via          *testNode
		method, body string
		want         string
	}{
		{b, http.MethodPost, "40", "ok"},
		{c, http.MethodGet, "", `40{"sid":"`},
		{c, http.MethodPost, `421["join","old"]`, "ok"},
		{b, http.MethodGet, "", `431["ok"]`},
	} {
		if st, got := pollingRequest(t, step.method, step.via.url, sid, step.body); st != http.StatusOK || !strings.HasPrefix(got, step.want) {
			t.Fatalf("%s through %s: %d %q, want %q…", step.method, step.via.name, st, got, step.want)
		}
	}
}

// testOlderAsker sends long-polling requests for a session of a to a's
// cluster port as a node of an older build does: HTTP/2 with prior
// knowledge, on a connection from's DialHandOver opened. a serves them.
func testOlderAsker(t *testing.T, a, from *testNode) {
	t.Helper()
	tr := &http.Transport{Protocols: new(http.Protocols), DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return from.rec.node.DialHandOver(ctx, a.addr)
	}}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	sid := pollingHandshake(t, a.url)
	for _, step := range []struct {
		method, body, want string
	}{
		{http.MethodPost, "40", "ok"},
		{http.MethodGet, "", `40{"sid":"`},
	} {
		req, err := http.NewRequestWithContext(t.Context(), step.method, "http://"+a.addr+"/socket.io/?EIO=4&transport=polling&sid="+sid, strings.NewReader(step.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Actorio-Forwarded", "1")
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s as an older node: %v", step.method, err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.ProtoMajor != 2 || res.StatusCode != http.StatusOK || !strings.HasPrefix(string(got), step.want) {
			t.Fatalf("%s as an older node: %s %d %q, want HTTP/2 200 %q…", step.method, res.Proto, res.StatusCode, got, step.want)
		}
	}
}
