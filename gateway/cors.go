package gateway

import (
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// originAllowed reports whether r passes the origin policy of the CORS
// configuration: no Origin header, the server's own origin, or an origin
// CORS allows.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || sameOrigin(r, origin) {
		return true
	}
	cors := s.cfg.CORS
	return cors != nil && (slices.Contains(cors.Origins, "*") || slices.Contains(cors.Origins, origin))
}

// checkOrigin applies Config.CheckOrigin to WebSocket requests when it is
// set, and the CORS policy otherwise.
func (s *Server) checkOrigin(r *http.Request, websocket bool) bool {
	if websocket && s.cfg.CheckOrigin != nil {
		return s.cfg.CheckOrigin(r)
	}
	return s.originAllowed(r)
}

// sameOrigin reports whether origin names the host r was sent to. Only the
// host and port are compared, as gorilla/websocket does: behind a proxy
// that terminates TLS the server cannot tell the scheme the browser used.
// The opaque origin "null" (sandboxed frames, file: pages) is never the
// same origin.
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// refuseOrigin answers a request whose origin the policy refuses with 403
// {"code":4,"message":"Forbidden"}, and logs it at Warn. Code 4 rather
// than 3 (Bad request): the request is well formed but not allowed, as
// with AllowRequest, and Engine.IO sends 403 with code 4 only.
func (s *Server) refuseOrigin(w http.ResponseWriter, r *http.Request, transport string) {
	s.log.Warn("engine.io request refused: origin not allowed",
		slog.String("origin", r.Header.Get("Origin")), slog.String("host", r.Host),
		slog.String("transport", transport), slog.String("method", r.Method),
		slog.String("sid", r.URL.Query().Get("sid")), slog.String("remote", r.RemoteAddr))
	writeError(w, CodeForbidden)
}

// setCORS sets the CORS response headers of a request that passed the
// origin policy; a same-origin request gets them only when its origin is
// also listed.
func (s *Server) setCORS(w http.ResponseWriter, r *http.Request) {
	cors := s.cfg.CORS
	if cors == nil {
		return
	}
	origin := r.Header.Get("Origin")
	h := w.Header()
	switch {
	case slices.Contains(cors.Origins, "*") && (!cors.Credentials || origin == ""):
		h.Set("Access-Control-Allow-Origin", "*")
	case origin != "" && (slices.Contains(cors.Origins, "*") || slices.Contains(cors.Origins, origin)):
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	default:
		return
	}
	if cors.Credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// preflight answers an OPTIONS request with 204, with the headers Node's
// socket.io sends through the cors package: its default methods, and the
// requested headers echoed (with Vary) unless CORS.AllowedHeaders is set.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	cors := s.cfg.CORS
	h := w.Header()
	methods := defaultCORSMethods
	if len(cors.Methods) > 0 {
		methods = strings.Join(cors.Methods, ",")
	}
	h.Set("Access-Control-Allow-Methods", methods)
	if len(cors.AllowedHeaders) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(cors.AllowedHeaders, ","))
	} else {
		h.Add("Vary", "Access-Control-Request-Headers")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
	}
	if cors.MaxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(int(cors.MaxAge.Seconds())))
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}

// defaultCORSMethods is what a preflight announces when CORS.Methods is
// empty: the cors package's default, which Node's socket.io sends. A
// browser's PUT, say, then reaches the server and gets its 400, as from
// Node, instead of failing its preflight.
const defaultCORSMethods = "GET,HEAD,PUT,PATCH,POST,DELETE"
