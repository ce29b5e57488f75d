package client

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/actorio/actorio"
)

// TestGoPollingGzip checks that long-polling responses the server gzips
// (HTTPCompressionThreshold) reach a polling client intact: the client's
// HTTP transport asks for gzip and decompresses.
func TestGoPollingGzip(t *testing.T) {
	big := strings.Repeat("compressible ", 5000) // 65 KB
	g := startGo(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) { _ = s.Emit("big", big) })
	})
	var gzipped atomic.Int32
	watch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.server().ServeHTTP(w, r)
		if w.Header().Get("Content-Encoding") == "gzip" {
			gzipped.Add(1)
		}
	}))
	t.Cleanup(watch.Close)

	s, err := New(watch.URL, fast(Options{Transports: []string{TransportPolling}}))
	must(t, err)
	t.Cleanup(func() { _ = s.Close() })
	got := make(chan string, 1)
	s.On("big", func(a Args, _ AckFunc) { got <- a.String(0) })
	must(t, s.Connect())
	if v := recv(t, got); v != big {
		t.Fatalf("got %d bytes, want %d", len(v), len(big))
	}
	if gzipped.Load() == 0 {
		t.Fatal("no polling response was gzip-compressed")
	}
}
