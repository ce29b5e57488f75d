package actorio_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/node"
	"github.com/actorio/actorio/internal/testkit"
	"github.com/gorilla/websocket"
)

// Options.OnConnectionError, Node's "connection_error" event: each request
// answered with an Engine.IO error reports its code and message, with the
// request (here told apart by its X-Label header).

// connErrorAppJS is Node's socket.io refusing requests with an X-Deny
// header in allowRequest and printing each connection_error.
const connErrorAppJS = `
import http from 'node:http';
import { Server } from 'socket.io';

const httpServer = http.createServer();
const io = new Server(httpServer, {
  allowRequest: (req, cb) => cb(null, req.headers['x-deny'] === undefined),
});
io.engine.on('connection_error', (e) => out('error', e.req.headers['x-label'] ?? '', e.code, e.message));
httpServer.listen(0, '127.0.0.1', () => out('listening', httpServer.address().port));
`

// connErrorCase is one request that the server answers with an error.
type connErrorCase struct {
	label, method, query string
	header               http.Header
	ws                   bool // sent as a WebSocket handshake
}

// connErrorCases are the requests of both servers; origin refusals, which
// Node's default (no CORS) does not make, are tested on their own.
var connErrorCases = []connErrorCase{
	{label: "unknown transport", method: http.MethodGet, query: "EIO=4&transport=carrier-pigeon"},
	{label: "no transport", method: http.MethodGet, query: "EIO=4"},
	{label: "unknown sid", method: http.MethodGet, query: "EIO=4&transport=polling&sid=nope"},
	{label: "unknown sid post", method: http.MethodPost, query: "EIO=4&transport=polling&sid=nope"},
	{label: "bad handshake method", method: http.MethodPost, query: "EIO=4&transport=polling"},
	{label: "websocket without upgrade", method: http.MethodGet, query: "EIO=4&transport=websocket"},
	{label: "allowRequest polling", method: http.MethodGet, query: "EIO=4&transport=polling", header: http.Header{"X-Deny": {"1"}}},
	{label: "unsupported version", method: http.MethodGet, query: "EIO=5&transport=polling"},
	{label: "allowRequest websocket", query: "EIO=4&transport=websocket", header: http.Header{"X-Deny": {"1"}}, ws: true},
	{label: "unknown sid websocket", query: "EIO=4&transport=websocket&sid=nope", ws: true},
}

// sendConnError sends c to the server at host:port and returns the
// answer's status.
func sendConnError(t *testing.T, hostport string, c connErrorCase) int {
	t.Helper()
	h := http.Header{"X-Label": {c.label}}
	for k, v := range c.header {
		h[k] = v
	}
	if c.ws {
		ws, res, err := websocket.DefaultDialer.Dial("ws://"+hostport+"/socket.io/?"+c.query, h)
		if err == nil {
			_ = ws.Close()
			t.Fatalf("%s: the WebSocket opened", c.label)
		}
		if !errors.Is(err, websocket.ErrBadHandshake) || res == nil {
			t.Fatalf("%s: %v", c.label, err)
		}
		return res.StatusCode
	}
	req, err := http.NewRequest(c.method, "http://"+hostport+"/socket.io/?"+c.query, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode
}

// connErrors records the OnConnectionError calls of a Go server.
type connErrors struct {
	mu  sync.Mutex
	got []string
}

func (e *connErrors) hook(r *http.Request, code int, message string) {
	e.mu.Lock()
	e.got = append(e.got, fmt.Sprintf("%s: %d %s", r.Header.Get("X-Label"), code, message))
	e.mu.Unlock()
}

func (e *connErrors) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	got := e.got
	e.got = nil
	return got
}

// connErrorServer starts a Go server refusing requests with X-Deny, with
// opts's CORS, and returns its host:port and its record.
func connErrorServer(t *testing.T, cors *actorio.CORS) (string, *connErrors) {
	rec := &connErrors{}
	gs := testkit.StartServer(t, testkit.ServerConfig{Options: actorio.Options{
		Logger: quiet(),
		CORS:   cors,
		AllowRequest: func(r *http.Request) error {
			if r.Header.Get("X-Deny") != "" {
				return errors.New("denied")
			}
			return nil
		},
		OnConnectionError: rec.hook,
	}})
	return strings.TrimPrefix(gs.URL, "http://"), rec
}

func TestOnConnectionError(t *testing.T) {
	hostport, rec := connErrorServer(t, nil)
	want := map[string]string{
		"unknown transport":         "0 Transport unknown",
		"no transport":              "0 Transport unknown",
		"unknown sid":               "1 Session ID unknown",
		"unknown sid post":          "1 Session ID unknown",
		"bad handshake method":      "2 Bad handshake method",
		"websocket without upgrade": "3 Bad request",
		"allowRequest polling":      "4 Forbidden",
		"unsupported version":       "5 Unsupported protocol version",
		"allowRequest websocket":    "4 Forbidden",
		"unknown sid websocket":     "1 Session ID unknown",
	}
	for _, c := range connErrorCases {
		status := sendConnError(t, hostport, c)
		got := rec.take()
		w := []string{c.label + ": " + want[c.label]}
		if !slices.Equal(got, w) {
			t.Errorf("%s (HTTP %d): hook calls %q, want %q", c.label, status, got, w)
		}
	}
}

func TestOnConnectionErrorOrigin(t *testing.T) {
	hostport, rec := connErrorServer(t, &actorio.CORS{Origins: []string{"https://app.example"}})
	for _, c := range []connErrorCase{
		{label: "origin polling", method: http.MethodGet, query: "EIO=4&transport=polling", header: http.Header{"Origin": {"https://evil.example"}}},
		{label: "origin websocket", query: "EIO=4&transport=websocket", header: http.Header{"Origin": {"https://evil.example"}}, ws: true},
	} {
		if status := sendConnError(t, hostport, c); status != http.StatusForbidden {
			t.Errorf("%s: HTTP %d", c.label, status)
		}
		if got, w := rec.take(), []string{c.label + ": 4 Forbidden"}; !slices.Equal(got, w) {
			t.Errorf("%s: hook calls %q, want %q", c.label, got, w)
		}
	}
	// An accepted request, and a handshake, call nothing.
	ok := connErrorCase{label: "allowed", method: http.MethodGet, query: "EIO=4&transport=polling", header: http.Header{"Origin": {"https://app.example"}}}
	if status := sendConnError(t, hostport, ok); status != http.StatusOK {
		t.Errorf("allowed handshake: HTTP %d", status)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("allowed handshake: hook calls %q", got)
	}
}

func TestOnConnectionErrorLikeNode(t *testing.T) {
	node.RequirePackage(t, "socket.io")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ref := node.Run(t, ctx, connErrorAppJS, nil)
	var port int
	if err := ref.Expect(t, "listening", 20*time.Second).Decode(0, &port); err != nil {
		t.Fatal(err)
	}
	hostport, rec := connErrorServer(t, nil)
	for _, c := range connErrorCases {
		nodeStatus := sendConnError(t, fmt.Sprintf("127.0.0.1:%d", port), c)
		l := ref.Expect(t, "error", 5*time.Second)
		var label, message string
		var code int
		if err := errors.Join(l.Decode(0, &label), l.Decode(1, &code), l.Decode(2, &message)); err != nil {
			t.Fatal(err)
		}
		want := []string{fmt.Sprintf("%s: %d %s", label, code, message)}
		status := sendConnError(t, hostport, c)
		// Node answers every refused WebSocket handshake 400 whatever the
		// code; actorio answers it as a polling request (403 Forbidden).
		sameStatus := status == nodeStatus || c.ws
		if got := rec.take(); !slices.Equal(got, want) || !sameStatus {
			t.Errorf("%s: actorio HTTP %d %q, Node HTTP %d %q", c.label, status, got, nodeStatus, want)
		}
	}
}

func TestOnConnectionErrorBrokenWebSocketHandshake(t *testing.T) {
	hostport, rec := connErrorServer(t, nil)
	// An upgrade request without Sec-WebSocket-Key and -Version, which the
	// WebSocket library refuses.
	req, err := http.NewRequest(http.MethodGet, "http://"+hostport+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("X-Label", "broken")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("HTTP %d, want 400", res.StatusCode)
	}
	if got, w := rec.take(), []string{"broken: 3 Bad request"}; !slices.Equal(got, w) {
		t.Errorf("hook calls %q, want %q", got, w)
	}
}
