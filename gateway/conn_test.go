package gateway

import (
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// openCollector is a Handler that hands every opened Conn to a channel and
// ignores what the clients send.
type openCollector struct{ opened chan *Conn }

func (h *openCollector) OnOpen(c *Conn) {
	c.SetReceiver(h)
	h.opened <- c
}

func (h *openCollector) OnPacket(*Conn, engineio.Packet) {}
func (h *openCollector) OnClose(*Conn, string, error)    {}

// next waits for the next opened Conn.
func (h *openCollector) next(tb testing.TB) *Conn {
	tb.Helper()
	return receive(tb, h.opened, 5*time.Second, "a session to open")
}

// rawSessions starts a server with cfg, whose handler collects the
// sessions, and opens n WebSocket sessions to it from raw connections:
// once a client has read its open packet, serve gets its network
// connection (on a goroutine of its own; gorilla buffered nothing more).
// It returns the server's side of each session. The server closes at tb's
// cleanup, which then waits for serve to return on every connection.
func rawSessions(tb testing.TB, cfg Config, n int, serve func(net.Conn)) []*Conn {
	tb.Helper()
	h := &openCollector{opened: make(chan *Conn, n)}
	srv := New(cfg, h)
	ts := httptest.NewServer(srv)
	var clients sync.WaitGroup
	tb.Cleanup(func() {
		_ = srv.Close() // the clients' connections with it
		ts.Close()
		clients.Wait()
	})
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	conns := make([]*Conn, 0, n)
	for range n {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			tb.Fatalf("dial: %v", err)
		}
		if _, open, err := ws.ReadMessage(); err != nil || len(open) == 0 || open[0] != '0' {
			tb.Fatalf("open packet %q: %v", open, err)
		}
		conns = append(conns, h.next(tb))
		nc := ws.NetConn()
		clients.Go(func() { serve(nc) })
	}
	return conns
}

// byteCount counts the bytes a set of raw readers got and wakes a waiter
// once they reach a target.
type byteCount struct {
	got, target atomic.Int64
	hit         chan struct{}
}

func (n *byteCount) add(k int) {
	if n.got.Add(int64(k)) >= n.target.Load() {
		select {
		case n.hit <- struct{}{}:
		default:
		}
	}
}

// waitFor blocks until the readers got at least want bytes.
func (n *byteCount) waitFor(b *testing.B, want int64) {
	n.target.Store(want)
	deadline := time.After(30 * time.Second)
	for n.got.Load() < want {
		select {
		case <-n.hit:
		case <-time.After(10 * time.Millisecond): // the count passed the target before it was stored
		case <-deadline:
			b.Fatalf("the clients read %d of %d bytes", n.got.Load(), want)
		}
	}
}

// BenchmarkFanOutSend sends each packet to every one of many WebSocket
// sessions, one Send per session as a broadcast does (actors' deliver), in
// bursts of 32 packets, each burst waiting until the clients read it all.
// The clients read raw bytes without parsing them, so what is measured is
// mostly the server's side: Send, the writers' wake-up and the frames they
// write. One op is one packet to every session; ns/delivery is per session.
//
//	go test -run '^$' -bench FanOutSend -benchmem ./gateway
func BenchmarkFanOutSend(b *testing.B) {
	const sessions, burst, size = 200, 32, 200
	var got byteCount
	got.hit = make(chan struct{}, 1)
	conns := rawSessions(b, Config{PingInterval: time.Hour, PingTimeout: time.Hour, Logger: testLogger}, sessions, func(nc net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			k, err := nc.Read(buf)
			got.add(k)
			if err != nil {
				return
			}
		}
	})
	p := engineio.Packet{Type: engineio.Message, Data: []byte(strings.Repeat("x", size))}
	frame := int64(2 + 1 + 2 + size) // header with a 16-bit length, type, data
	if 1+size <= 125 {
		frame -= 2
	}
	b.ReportAllocs()
	b.ResetTimer()
	base := got.got.Load()
	for i := 0; i < b.N; i += burst {
		k := min(burst, b.N-i)
		for range k {
			for _, c := range conns {
				if err := c.Send(p); err != nil {
					b.Fatal(err)
				}
			}
		}
		got.waitFor(b, base+int64(i+k)*sessions*frame)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*sessions), "ns/delivery")
}
