package actorio_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/admin"
	"github.com/actorio/actorio/internal/testkit"
)

// The benchmarks below measure the outbound data path end to end, over
// real WebSocket connections on 127.0.0.1 in this process: from the
// server's Emit until the client side has read the frame. Receivers are
// minimal clients (one reader goroutine each) whose cost is included.
// Emits are pipelined in batches of benchBatch and each batch waits until
// every frame of it arrived, so queues stay bounded.
//
//	go test -run '^$' -bench 'BroadcastRoom|SocketEmit' -benchmem .

// benchBatch is how many emits may be in flight at once.
const benchBatch = 32

// benchRecv counts the frames a set of benchmark clients received and
// wakes the emitter when the count reaches a target.
type benchRecv struct {
	got    atomic.Int64
	target atomic.Int64
	hit    chan struct{}
}

func newBenchRecv() *benchRecv { return &benchRecv{hit: make(chan struct{}, 1)} }

func (r *benchRecv) add() {
	if r.got.Add(1) == r.target.Load() {
		select {
		case r.hit <- struct{}{}:
		default:
		}
	}
}

// waitFor blocks until at least n frames arrived.
func (r *benchRecv) waitFor(b *testing.B, n int64) {
	r.target.Store(n)
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for r.got.Load() < n {
		select {
		case <-r.hit:
		case <-time.After(10 * time.Millisecond):
			// The target was stored after the count passed it.
		case <-deadline.C:
			b.Fatalf("only %d of %d frames arrived", r.got.Load(), n)
		}
	}
}

// benchServer starts a server with quiet logs and no heartbeat during the
// benchmark, mounted on an httptest server.
func benchServer(b *testing.B, onConn func(s *actorio.Socket)) (*actorio.Server, string) {
	b.Helper()
	hs := testkit.StartServer(b, testkit.ServerConfig{
		Options: actorio.Options{
			Logger:       slog.New(slog.DiscardHandler),
			PingInterval: time.Hour,
		},
		Setup: func(srv *actorio.Server) { srv.OnConnection(onConn) },
	})
	return hs.Srv, "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
}

// benchJoin opens a WebSocket and joins the namespace "/".
func benchJoin(b *testing.B, url string) *websocket.Conn {
	b.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		b.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, open, err := ws.ReadMessage(); err != nil || len(open) == 0 || open[0] != '0' {
		b.Fatalf("open packet %q: %v", open, err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		b.Fatal(err)
	}
	if _, conn, err := ws.ReadMessage(); err != nil || !bytes.HasPrefix(conn, []byte("40")) {
		b.Fatalf("CONNECT %q: %v", conn, err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	return ws
}

// benchConnect opens a WebSocket, joins the namespace "/" and starts a
// reader that counts every EVENT frame into r.
func benchConnect(b *testing.B, url string, r *benchRecv, wg *sync.WaitGroup) *websocket.Conn {
	b.Helper()
	ws := benchJoin(b, url)
	wg.Go(func() {
		buf := make([]byte, 0, 512)
		for {
			_, rd, err := ws.NextReader()
			if err != nil {
				return
			}
			buf = buf[:0]
			for {
				if len(buf) == cap(buf) {
					buf = append(buf, 0)[:len(buf)]
				}
				n, err := rd.Read(buf[len(buf):cap(buf)])
				buf = buf[:len(buf)+n]
				if err == io.EOF {
					break
				}
				if err != nil {
					return
				}
			}
			if bytes.HasPrefix(buf, []byte("42")) {
				r.add()
			}
		}
	})
	return ws
}

// benchEmit runs b.N emits in batches and waits, after each batch, until
// each of its frames reached all receivers.
func benchEmit(b *testing.B, r *benchRecv, receivers int, emit func() error) {
	b.ReportAllocs()
	b.ResetTimer()
	base := r.got.Load()
	for i := 0; i < b.N; i += benchBatch {
		k := min(benchBatch, b.N-i)
		for range k {
			if err := emit(); err != nil {
				b.Fatal(err)
			}
		}
		r.waitFor(b, base+int64(i+k)*int64(receivers))
	}
	b.StopTimer()
	deliveries := float64(b.N) * float64(receivers)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
	b.ReportMetric(deliveries/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkBroadcastRoom: Namespace.To(room).Emit to a room of 1000
// sockets, each on its own WebSocket; one op is one broadcast delivered to
// all of them.
func BenchmarkBroadcastRoom(b *testing.B) {
	const members = 1000
	srv, url := benchServer(b, func(s *actorio.Socket) { s.Join("room") })
	r := newBenchRecv()
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, 0, members)
	for range members {
		conns = append(conns, benchConnect(b, url, r, &wg))
	}
	b.Cleanup(func() {
		for _, ws := range conns {
			_ = ws.Close()
		}
		wg.Wait()
	})
	// Join is asynchronous: wait until the room is complete.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		socks, err := srv.To("room").FetchSockets(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(socks) == members {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, size := range []int{64, 1024} {
		payload := strings.Repeat("x", size)
		b.Run(fmt.Sprintf("members=%d/bytes=%d", members, size), func(b *testing.B) {
			benchEmit(b, r, members, func() error { return srv.To("room").Emit("msg", payload) })
		})
	}
	// The same with the admin namespace instrumented (no dashboard
	// connected): what its observer costs the broadcast path.
	for _, production := range []bool{false, true} {
		mode := "development"
		if production {
			mode = "production"
		}
		b.Run(fmt.Sprintf("members=%d/bytes=64/admin=%s", members, mode), func(b *testing.B) {
			a, err := admin.Instrument(srv, admin.Options{NoAuth: true, Production: production,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			payload := strings.Repeat("x", 64)
			benchEmit(b, r, members, func() error { return srv.To("room").Emit("msg", payload) })
			b.ReportMetric(float64(a.Dropped())/float64(b.N), "dropped-reports/op")
		})
	}
}

// BenchmarkSocketEmit: Socket.Emit to one socket; one op is one event
// read by the client.
func BenchmarkSocketEmit(b *testing.B) {
	sockets := make(chan *actorio.Socket, 1)
	_, url := benchServer(b, func(s *actorio.Socket) { sockets <- s })
	r := newBenchRecv()
	var wg sync.WaitGroup
	ws := benchConnect(b, url, r, &wg)
	b.Cleanup(func() {
		_ = ws.Close()
		wg.Wait()
	})
	var s *actorio.Socket
	select {
	case s = <-sockets:
	case <-time.After(10 * time.Second):
		b.Fatal("no socket connected")
	}
	for _, size := range []int{64, 1024} {
		payload := strings.Repeat("x", size)
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			benchEmit(b, r, 1, func() error { return s.Emit("msg", payload) })
		})
	}
}
