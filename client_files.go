package actorio

import (
	"net/http"
	"path/filepath"
	"strings"
)

// clientFiles are the files of socket.io-client's dist directory that
// Options.ClientDir serves, as Node's serveClient does.
var clientFiles = map[string]string{
	"socket.io.js":                 "application/javascript; charset=utf-8",
	"socket.io.js.map":             "application/json; charset=utf-8",
	"socket.io.min.js":             "application/javascript; charset=utf-8",
	"socket.io.min.js.map":         "application/json; charset=utf-8",
	"socket.io.esm.min.js":         "application/javascript; charset=utf-8",
	"socket.io.esm.min.js.map":     "application/json; charset=utf-8",
	"socket.io.msgpack.min.js":     "application/javascript; charset=utf-8",
	"socket.io.msgpack.min.js.map": "application/json; charset=utf-8",
}

// serveClient serves a file of Options.ClientDir when r asks for one under
// the endpoint's path, and reports whether it did.
func (s *Server) serveClient(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.ClientDir == "" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	name, ok := strings.CutPrefix(r.URL.Path, s.path)
	if !ok {
		return false
	}
	contentType, ok := clientFiles[name]
	if !ok {
		return false
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "public, max-age=0, must-revalidate")
	// ServeFile answers conditional requests (If-Modified-Since) with 304.
	http.ServeFile(w, r, filepath.Join(s.opts.ClientDir, name))
	return true
}
