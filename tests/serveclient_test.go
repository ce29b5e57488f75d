package tests

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/node"
)

// TestServeClient checks Options.ClientDir, Node's serveClient: the npm
// socket.io-client bundles are served under the endpoint's path, and
// nothing else is.
func TestServeClient(t *testing.T) {
	dist := filepath.Join(node.Root(t), "node_modules", "socket.io-client", "dist")
	if _, err := actorio.NewServer(actorio.Options{ClientDir: t.TempDir()}); err == nil {
		t.Fatal("NewServer accepted a ClientDir without socket.io.js")
	}
	ts := startServer(t, actorio.Options{ClientDir: dist}, nil)
	get := func(path string, header http.Header) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	for _, tc := range []struct {
		file, contentType string
	}{
		{"socket.io.js", "application/javascript; charset=utf-8"},
		{"socket.io.min.js", "application/javascript; charset=utf-8"},
		{"socket.io.esm.min.js", "application/javascript; charset=utf-8"},
		{"socket.io.min.js.map", "application/json; charset=utf-8"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dist, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			resp, body := get("/socket.io/"+tc.file, nil)
			if resp.StatusCode != http.StatusOK || string(body) != string(want) || resp.Header.Get("Content-Type") != tc.contentType {
				t.Fatalf("GET %s: %d, %d bytes (want %d), %q", tc.file, resp.StatusCode, len(body), len(want), resp.Header.Get("Content-Type"))
			}
			lm := resp.Header.Get("Last-Modified")
			if lm == "" {
				t.Fatal("no Last-Modified")
			}
			if resp, _ := get("/socket.io/"+tc.file, http.Header{"If-Modified-Since": {lm}}); resp.StatusCode != http.StatusNotModified {
				t.Fatalf("conditional GET: %d, want 304", resp.StatusCode)
			}
		})
	}
	for _, path := range []string{"/socket.io/package.json", "/socket.io/../socket.io.js", "/socket.io/dist/socket.io.js"} {
		if resp, _ := get(path, nil); resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s: 200, want a refusal", path)
		}
	}
	// The Engine.IO endpoint is unchanged.
	c := startClients(t, ts)
	c.connect("a", "/", nil)
}
