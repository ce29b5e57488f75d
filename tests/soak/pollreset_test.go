package soak

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/internal/testkit"
)

// TestPollingResetLosesNoPacket is the minimal case of a loss the soak
// found: a polling client's connection is reset after the server wrote a
// poll response and before the client read it. The server counts those
// packets as delivered. The client must then end the session (and
// reconnect): going on with it loses them silently.
//
// What happened: net/http's Transport retries a GET that failed on a
// reused keep-alive connection before any byte of the answer was read,
// on a new connection, without telling its caller. The server took the
// retry for the next poll, so the session went on, minus the packets of
// the lost answer. The client's polling GETs are no longer replayable.
func TestPollingResetLosesNoPacket(t *testing.T) {
	sockets := make(chan *actorio.Socket, 1)
	web := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: slog.New(slog.DiscardHandler)},
		Setup:   func(srv *actorio.Server) { srv.OnConnection(func(s *actorio.Socket) { sockets <- s }) },
	})

	var armed atomic.Bool
	fired := make(chan struct{}, 1)
	d := &net.Dialer{}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &resetConn{Conn: c, armed: &armed, fired: fired}, nil
	}}}
	defer hc.CloseIdleConnections()
	s, err := client.New(web.URL, client.Options{
		Transports:        []string{client.TransportPolling},
		HTTPClient:        hc,
		ReconnectionDelay: 50 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make(chan string, 16)
	s.On("n", func(args client.Args, _ client.AckFunc) { got <- args.String(0) })
	s.On("disconnect", func(args client.Args, _ client.AckFunc) { got <- "disconnect" })
	if err := s.Connect(); err != nil {
		t.Fatal(err)
	}
	var ss *actorio.Socket
	select {
	case ss = <-sockets:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
	}
	next := func() string {
		t.Helper()
		select {
		case v := <-got:
			return v
		case <-time.After(5 * time.Second):
			t.Fatal("nothing received in 5s")
			return ""
		}
	}

	_ = ss.Emit("n", "first")
	if v := next(); v != "first" {
		t.Fatalf("got %q, want first", v)
	}
	// The answer that carries "lost" is reset before the client reads it.
	armed.Store(true)
	_ = ss.Emit("n", "lost")
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("the answer was not reset")
	}
	_ = ss.Emit("n", "after")
	if v := next(); v != "disconnect" {
		t.Errorf("after the reset the client got %q on the same session: %q was lost and the session went on", v, "lost")
	}
}

// resetConn, once armed, drops the next data it receives and fails the
// read as a connection reset would, closing the connection.
type resetConn struct {
	net.Conn
	armed *atomic.Bool
	fired chan struct{}
}

func (c *resetConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.armed.CompareAndSwap(true, false) {
		_ = c.Conn.Close()
		c.fired <- struct{}{}
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	return n, err
}
