package gateway

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"sync"
)

// gzipWriters reuses gzip writers, whose state is large to allocate.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
	return w
}}

// writePoll answers a polling GET with body of the given content type,
// gzip-compressed when the client accepts gzip, body reaches
// Config.CompressionThreshold and plain is false: as with Node, a body
// made only of packets sent uncompressed (SendOptions) is sent as is.
// It reports whether w kept body (a bodyKeeper), which the caller then
// must not reuse; pooled: body came from bufpool, which the keeper may
// give it back to once done with it.
func (s *Server) writePoll(w http.ResponseWriter, r *http.Request, body []byte, contentType string, plain, pooled bool) (kept bool) {
	th := s.cfg.CompressionThreshold
	if plain || th < 0 || len(body) < th || !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		return writeOrKeep(w, contentType, body, pooled)
	}
	var buf bytes.Buffer
	buf.Grow(len(body) / 2)
	gz := gzipWriters.Get().(*gzip.Writer)
	gz.Reset(&buf)
	_, err := gz.Write(body)
	if err == nil {
		err = gz.Close()
	}
	gzipWriters.Put(gz)
	if err != nil { // a bytes.Buffer does not fail; send it plain anyway
		return writeOrKeep(w, contentType, body, pooled)
	}
	h := w.Header()
	h.Set("Content-Encoding", "gzip")
	h.Add("Vary", "Accept-Encoding")
	writeOrKeep(w, contentType, buf.Bytes(), false) // body itself is not kept
	return false
}

// writeOrKeep writes body as a 200 answer of the given content type, or
// hands it to w when w is a bodyKeeper, and then reports true; pooled:
// body came from bufpool.
func writeOrKeep(w http.ResponseWriter, contentType string, body []byte, pooled bool) bool {
	if k, ok := w.(bodyKeeper); ok {
		setBodyHeaders(w, contentType, len(body))
		k.KeepBody(body, pooled)
		return true
	}
	writeBody(w, contentType, body)
	return false
}

// bodyKeeper is a ResponseWriter that keeps the body of a long-polling
// answer it is given, rather than copy it as Write would (package
// actorio's answer to a request another node handed over, which goes on
// the node's link once the handler returned). The gateway does not reuse
// a body it gave one. pooled: the body came from bufpool, and nothing
// else refers to it, so that the keeper may give it back once done with
// it; otherwise it may be shared (a constant answer) and must not be
// changed.
type bodyKeeper interface {
	KeepBody(body []byte, pooled bool)
}

// acceptsGzip reports whether an Accept-Encoding header value accepts
// gzip: listed with a non-zero q, or, when not listed, "*" is.
func acceptsGzip(header string) bool {
	star := false
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip":
			return !zeroQ(params)
		case "*":
			star = !zeroQ(params)
		}
	}
	return star
}

// zeroQ reports whether the parameters of an Accept-Encoding entry give it
// q=0, which refuses that coding.
func zeroQ(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(name), "q") {
			v := strings.TrimRight(strings.TrimSpace(value), "0")
			return v == "" || v == "0." || v == "0"
		}
	}
	return false
}
