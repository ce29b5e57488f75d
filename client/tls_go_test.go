package client

import (
	"crypto/tls"
	"crypto/x509"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
)

// TestGoOverTLSWithHTTP2 connects to an actorio server served over TLS
// with HTTP/2 enabled, as a Go server that calls ListenAndServeTLS
// serves, with each transport choice: the client connects, gets the
// server's event, its emits are acknowledged, and it ends on the
// transport it asked for. Long-polling goes over HTTP/2 (the HTTP client
// is a clone of http.DefaultTransport, which attempts it), the WebSocket
// over HTTP/1.1.
//
// The HTTP client and the Dialer share one tls.Config, holding the test's
// CA, as a user who trusts a private CA writes them. net/http adds "h2"
// to that config's NextProtos in place on its first request; a WebSocket
// dialed with it then negotiated HTTP/2, sent its HTTP/1.1 upgrade into
// it, and failed: the client stayed on long-polling, or never connected
// with WebSocket alone. The WebSocket-only case offers HTTP/2 itself.
func TestGoOverTLSWithHTTP2(t *testing.T) {
	var mu sync.Mutex
	protocols := map[string]int{} // "polling HTTP/2.0": requests
	srv, err := actorio.NewServer(actorio.Options{Logger: quiet()})
	must(t, err)
	srv.OnConnection(func(s *actorio.Socket) {
		s.On("echo", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			if ack != nil {
				_ = ack(args.Values()...)
			}
		})
		_ = s.Emit("hello", s.Transport())
	})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protocols[r.URL.Query().Get("transport")+" "+r.Proto]++
		mu.Unlock()
		srv.ServeHTTP(w, r)
	}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(func() { _ = srv.Close(); ts.Close() })
	ca := x509.NewCertPool()
	ca.AddCert(ts.Certificate())

	for _, tc := range []struct {
		name       string
		transports []string
		nextProtos []string // the shared config's, as written
		want       string   // the transport once connected and upgraded
	}{
		{"polling then WebSocket", nil, nil, TransportWebSocket},
		{"WebSocket only, the config offering HTTP/2", []string{TransportWebSocket}, []string{"h2", "http/1.1"}, TransportWebSocket},
		{"polling only", []string{TransportPolling}, nil, TransportPolling},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := &tls.Config{RootCAs: ca, NextProtos: tc.nextProtos}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = conf
			t.Cleanup(tr.CloseIdleConnections)
			s := mustNew(t, ts.URL, Options{
				Transports: tc.transports,
				HTTPClient: &http.Client{Transport: tr},
				Dialer:     &websocket.Dialer{TLSClientConfig: conf},
			})
			r := record(s)
			hello := make(chan string, 1)
			s.On("hello", func(a Args, _ AckFunc) { hello <- a.String(0) })
			mustConnect(t, s, r)
			recv(t, hello)
			waitTransport(t, s.Manager(), tc.want)
			for _, text := range []string{"over TLS", "once more"} {
				a, err := s.EmitWithAck(ctxT(t), "echo", text)
				must(t, err)
				if a.String(0) != text {
					t.Fatalf("ack %q, want %q", a.String(0), text)
				}
			}
		})
	}
	mu.Lock()
	got := maps.Clone(protocols)
	mu.Unlock()
	t.Logf("requests by transport and protocol: %v", got)
	if got["polling HTTP/2.0"] == 0 || got["polling HTTP/1.1"] != 0 {
		t.Errorf("long-polling requests: %d over HTTP/2, %d over HTTP/1.1; want all over HTTP/2", got["polling HTTP/2.0"], got["polling HTTP/1.1"])
	}
	if got["websocket HTTP/1.1"] != 2 {
		t.Errorf("WebSocket requests over HTTP/1.1: %d, want 2 (the upgrade, the WebSocket-only client)", got["websocket HTTP/1.1"])
	}
}
