package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestOriginPolicy checks which origins each CORS configuration accepts,
// request by request, without a network: the over-the-wire answers are
// checked by tests/security_test.go.
func TestOriginPolicy(t *testing.T) {
	listed := &CORS{Origins: []string{"https://app.example"}}
	anyOrigin := &CORS{Origins: []string{"*"}}
	tests := []struct {
		name   string
		cors   *CORS
		host   string
		origin string
		want   bool
	}{
		{"no origin, default", nil, "srv.example:8080", "", true},
		{"same origin, default", nil, "srv.example:8080", "http://srv.example:8080", true},
		{"same origin over https, default", nil, "srv.example", "https://srv.example", true},
		{"same origin, host case differs", nil, "SRV.example:8080", "http://srv.EXAMPLE:8080", true},
		{"other port, default", nil, "srv.example:8080", "http://srv.example:9090", false},
		{"other host, default", nil, "srv.example:8080", "http://evil.example:8080", false},
		{"subdomain, default", nil, "srv.example", "https://a.srv.example", false},
		{"opaque origin null, default", nil, "srv.example", "null", false},
		{"garbage origin, default", nil, "srv.example", "::", false},
		{"listed origin", listed, "srv.example", "https://app.example", true},
		{"listed host, other scheme", listed, "srv.example", "http://app.example", false},
		{"unlisted origin", listed, "srv.example", "https://evil.example", false},
		{"same origin, unlisted", listed, "srv.example", "https://srv.example", true},
		{"no origin, list", listed, "srv.example", "", true},
		{"any origin", anyOrigin, "srv.example", "https://evil.example", true},
		{"null with any origin", anyOrigin, "srv.example", "null", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{cfg: Config{CORS: tt.cors}}
			r := httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil)
			r.Host = tt.host
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if got := s.originAllowed(r); got != tt.want {
				t.Fatalf("originAllowed(Origin %q, Host %q) = %v, want %v", tt.origin, tt.host, got, tt.want)
			}
		})
	}
}

// TestCheckOriginOverridesWebSocketOnly checks that Config.CheckOrigin
// decides for WebSocket requests and leaves polling to the CORS policy.
func TestCheckOriginOverridesWebSocketOnly(t *testing.T) {
	s := &Server{cfg: Config{CheckOrigin: func(*http.Request) bool { return true }}}
	r := httptest.NewRequest(http.MethodGet, "/socket.io/", nil)
	r.Host = "srv.example"
	r.Header.Set("Origin", "https://evil.example")
	if !s.checkOrigin(r, true) {
		t.Error("WebSocket request refused although CheckOrigin accepts it")
	}
	if s.checkOrigin(r, false) {
		t.Error("cross-origin polling request accepted by CheckOrigin without CORS")
	}
}

func TestAddrHost(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.2:5000":          "127.0.0.2",
		"[::1]:5000":              "::1",
		"[::ffff:10.0.0.1]:5000":  "10.0.0.1",
		"[fe80::1%eth0]:5000":     "fe80::1%eth0",
		"unix-socket":             "unix-socket",
		"not-an-ip.example:80":    "not-an-ip.example",
		"[::ffff:127.0.0.1]:5000": "127.0.0.1",
	} {
		if got := addrHost(addr); got != want {
			t.Errorf("addrHost(%q) = %q, want %q", addr, got, want)
		}
	}
}
