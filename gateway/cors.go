package gateway

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// setCORS sets the CORS response headers for an allowed origin.
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

// preflight answers an OPTIONS request with 204.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	cors := s.cfg.CORS
	h := w.Header()
	methods := cors.Methods
	if len(methods) == 0 {
		methods = []string{http.MethodGet, http.MethodPost}
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
	if len(cors.AllowedHeaders) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(cors.AllowedHeaders, ", "))
	} else if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	if cors.MaxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(int(cors.MaxAge.Seconds())))
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}
