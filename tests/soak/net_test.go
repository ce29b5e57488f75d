package soak

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// connTracker dials the TCP connections of one client, WebSocket and
// polling alike, and remembers those still open so that kill can end them
// abruptly: the client package has no public way to kill its transport,
// and a real network drop looks like this from the client's side. It
// refuses any address but 127.0.0.1.
type connTracker struct {
	d     net.Dialer
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func newConnTracker() *connTracker {
	return &connTracker{conns: map[*trackedConn]struct{}{}}
}

// dial is a DialContext for net/http and gorilla/websocket.
func (t *connTracker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if host != "127.0.0.1" {
		return nil, fmt.Errorf("soak: refusing to dial %s: loopback only", addr)
	}
	c, err := t.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, t: t}
	t.mu.Lock()
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	return tc, nil
}

// kill resets every open connection (RST, no FIN, nothing flushed) and
// returns how many it ended. Resetting also leaves no TIME_WAIT behind,
// which keeps ephemeral ports free in long runs.
func (t *connTracker) kill() int {
	t.mu.Lock()
	conns := make([]*trackedConn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		if tcp, ok := c.Conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0)
		}
		_ = c.Close()
	}
	return len(conns)
}

// wsDialer returns a WebSocket dialer that dials through t.
func (t *connTracker) wsDialer(timeout time.Duration) *websocket.Dialer {
	return &websocket.Dialer{NetDialContext: t.dial, HandshakeTimeout: timeout}
}

// httpClient returns a polling client of its own that dials through t.
// Its idle connections must be closed by the caller once the client's
// Manager is closed: the Manager leaves a client it was given alone.
func (t *connTracker) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         t.dial,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}}
}

// trackedConn removes itself from its tracker when closed.
type trackedConn struct {
	net.Conn
	t    *connTracker
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}
