package testkit

import (
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/internal/leakcheck"
)

// Server is an actorio server that StartServer serves over HTTP on
// 127.0.0.1 for one test.
type Server struct {
	Srv  *actorio.Server
	HTTP *httptest.Server
	// URL is the base URL, such as http://127.0.0.1:43210.
	URL string
}

// ServerConfig says what StartServer serves and what its cleanup checks;
// the zero value serves a server with the default options at every path
// and checks nothing.
type ServerConfig struct {
	// Options are the server's options, used as given.
	Options actorio.Options
	// Setup, when not nil, registers the server's handlers before it
	// serves.
	Setup func(*actorio.Server)
	// Wrap, when not nil, wraps the server's handler: to mount it on a
	// router, or to meddle with the requests.
	Wrap func(http.Handler) http.Handler
	// ConnState, when not nil, is the HTTP server's ConnState hook, such
	// as Conns.Track.
	ConnState func(net.Conn, http.ConnState)
	// LeakWait, when positive, fails the test unless, once the cleanups
	// registered after StartServer and its own have run, the goroutine
	// count is back within LeakWait to what it was before the start (see
	// leakcheck.Check).
	LeakWait time.Duration
	// CheckClose fails the test when Server.Close returns an error.
	CheckClose bool
	// Name, when set, names the server in the failure messages, for a
	// test that starts several.
	Name string
	// Listener, when set, is where the HTTP server listens (a test that
	// must know the address before the server exists); by default a new
	// one on 127.0.0.1.
	Listener net.Listener
	// ServeUpgrades has Listener, one made by actorio.Listen, answer the
	// WebSocket upgrade requests itself, as actorio.Serve does
	// (gateway.ServeUpgrades).
	ServeUpgrades bool
}

// StartServer starts an actorio server as cfg says and serves it on
// 127.0.0.1. Its cleanup closes the server, then the HTTP server, then
// checks the goroutines if cfg.LeakWait says so. Both Close methods may
// already have been called by the test.
func StartServer(t testing.TB, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.LeakWait > 0 {
		leakcheck.Check(t, cfg.LeakWait)
	}
	prefix := ""
	if cfg.Name != "" {
		prefix = cfg.Name + ": "
	}
	srv, err := actorio.NewServer(cfg.Options)
	if err != nil {
		t.Fatalf("%sNewServer: %v", prefix, err)
	}
	if cfg.Setup != nil {
		cfg.Setup(srv)
	}
	var h http.Handler = srv
	if cfg.Wrap != nil {
		h = cfg.Wrap(h)
	}
	web := httptest.NewUnstartedServer(h)
	if cfg.Listener != nil {
		_ = web.Listener.Close()
		web.Listener = cfg.Listener
	}
	web.Config.ConnState = cfg.ConnState
	if cfg.ServeUpgrades && !gateway.ServeUpgrades(web.Listener, web.Config) && runtime.GOOS == "linux" {
		t.Fatalf("%sthe listener does not serve upgrades itself", prefix)
	}
	web.Start()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil && cfg.CheckClose {
			t.Errorf("%sServer.Close: %v", prefix, err)
		}
		web.Close()
	})
	return &Server{Srv: srv, HTTP: web, URL: web.URL}
}

// JoinRooms is an event handler that has the socket join the room each of
// the event's arguments names, then acknowledges with "ok".
func JoinRooms(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
	for i := range args.Len() {
		s.Join(args.String(i))
	}
	if ack != nil {
		_ = ack("ok")
	}
}
