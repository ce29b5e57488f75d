package defaults

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
)

// TestMaxHTTPBufferSize: a WebSocket message of 1e6 bytes, the default
// MaxHTTPBufferSize, goes through; one byte more closes the connection
// (close code 1009) with "transport error".
func TestMaxHTTPBufferSize(t *testing.T) {
	t.Parallel()
	const limit = 1_000_000
	// event returns 42["echo","x…x"], or 421[…] with ack, of size bytes.
	event := func(size int, ack bool) string {
		head := `42`
		if ack {
			head = `421`
		}
		head += `["echo","`
		return head + strings.Repeat("x", size-len(head)-2) + `"]`
	}
	s := startServer(t, actorio.Options{}, nil)
	w := dialWS(t, s, "", 0)
	w.open(t)
	id := w.join(t)
	msg := event(limit, true)
	if len(msg) != limit {
		t.Fatalf("built a message of %d bytes", len(msg))
	}
	w.send(t, msg)
	if m := w.mustRead(t); !strings.HasPrefix(m, "431[") {
		t.Fatalf("got %.40q, want the ack", m)
	}
	w.send(t, event(limit+1, false))
	_, err := w.read(step)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Errorf("after a message of %d bytes the read ended with %v, want close 1009", limit+1, err)
	}
	if g := s.expectGone(t, step, "message too large"); g.id != id || g.reason != disconnect.TransportError {
		t.Errorf("OnDisconnect(%s, %q), want (%s, %q)", g.id, g.reason, id, disconnect.TransportError)
	}
}

// TestHTTPCompressionThreshold: a polling answer of 1024 bytes, the
// default HTTPCompressionThreshold, is gzipped for a client that accepts
// gzip; one of 1023 bytes is not.
func TestHTTPCompressionThreshold(t *testing.T) {
	t.Parallel()
	s := startServer(t, actorio.Options{}, nil)
	p, _ := dialPolling(t, s)
	id := p.join(t)
	so := s.socket(t, id)
	for _, tc := range []struct {
		size int
		want string
	}{{1023, ""}, {1024, "gzip"}} {
		// 42["m","x…x"] is 10 bytes around the string.
		if err := so.Emit("m", strings.Repeat("x", tc.size-10)); err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, p.url(), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport leaves the body alone
		resp, err := p.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Content-Encoding"); got != tc.want {
			t.Errorf("answer of %d bytes: Content-Encoding %q (%d bytes sent), want %q", tc.size, got, n, tc.want)
		}
		if tc.want == "" && n != int64(tc.size) {
			t.Errorf("answer of %d bytes expected, got %d", tc.size, n)
		}
	}
}

// TestMaxDynamicNamespaces: OfFunc creates at most 1000 namespaces, the
// default MaxDynamicNamespaces; the client asking for one more gets
// CONNECT_ERROR "Invalid namespace". The namespaces are asked for over
// many connections, ten each, all kept open: a child namespace left
// empty is removed and no longer counts.
func TestMaxDynamicNamespaces(t *testing.T) {
	t.Parallel()
	const limit = 1000
	// perConn stays under any bound on the namespaces of one connection.
	const perConn = 10
	s := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OfFunc(func(name string, _ json.RawMessage) bool { return strings.HasPrefix(name, "/dyn-") })
	})
	var w *rawWS
	for i := range limit + 1 {
		if i%perConn == 0 { // the earlier ones stay: an empty namespace goes
			w = dialWS(t, s, "", 0)
			w.open(t)
		}
		nsp := fmt.Sprintf("/dyn-%d", i)
		w.send(t, "40"+nsp+",")
		m := w.mustRead(t)
		switch {
		case i < limit && strings.HasPrefix(m, "40"+nsp+",{"):
		case i == limit && m == "44"+nsp+`,{"message":"Invalid namespace"}`:
		default:
			t.Fatalf("namespace %d: got %q", i, m)
		}
	}
}
