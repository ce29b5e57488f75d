package gateway

import (
	"net/http"
)

// String returns the Set-Cookie value of the cookie for session sid.
func (k *Cookie) String(sid string) string {
	c := http.Cookie{
		Name:     k.Name,
		Value:    sid,
		Path:     k.Path,
		Domain:   k.Domain,
		Secure:   k.Secure,
		HttpOnly: !k.NoHTTPOnly,
		SameSite: k.SameSite,
	}
	if c.Name == "" {
		c.Name = "io"
	}
	if c.Path == "" {
		c.Path = "/"
	}
	if c.SameSite == 0 {
		c.SameSite = http.SameSiteLaxMode
	}
	if k.MaxAge > 0 {
		c.MaxAge = int(k.MaxAge.Seconds())
		if c.MaxAge == 0 {
			c.MaxAge = 1
		}
	}
	return c.String()
}

// addHeaders adds the configured headers to h, the header of a successful
// answer to r: the session cookie when sid is set (a polling handshake),
// then InitialHeaders for a handshake, then Headers.
func (s *Server) addHeaders(h http.Header, r *http.Request, handshake bool, sid string) {
	if sid != "" && s.cfg.Cookie != nil {
		h.Add("Set-Cookie", s.cfg.Cookie.String(sid))
	}
	if handshake && s.cfg.InitialHeaders != nil {
		s.cfg.InitialHeaders(h, r)
	}
	if s.cfg.Headers != nil {
		s.cfg.Headers(h, r)
	}
}

// upgradeHeaders returns the extra headers of the 101 answering the
// WebSocket request r, or nil when there are none.
func (s *Server) upgradeHeaders(r *http.Request, handshake bool) http.Header {
	if s.cfg.Headers == nil && (!handshake || s.cfg.InitialHeaders == nil) {
		return nil
	}
	h := make(http.Header)
	s.addHeaders(h, r, handshake, "")
	return h
}
