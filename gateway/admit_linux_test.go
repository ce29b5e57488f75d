package gateway

import (
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/workpool"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// massHandler is a Handler and Receiver for many sessions at once: it
// counts opens and closes (with their reasons) without a channel each.
type massHandler struct {
	opened, closed atomic.Int32
	mu             sync.Mutex
	reasons        map[string]int
	// onPacket, if not nil, handles each packet.
	onPacket func(c *Conn, p engineio.Packet)
}

func (h *massHandler) OnOpen(c *Conn) {
	c.SetReceiver(h)
	h.opened.Add(1)
}

func (h *massHandler) OnPacket(c *Conn, p engineio.Packet) {
	if h.onPacket != nil {
		h.onPacket(c, p)
	}
}

func (h *massHandler) OnClose(c *Conn, reason string, err error) {
	h.mu.Lock()
	h.reasons[reason]++
	h.mu.Unlock()
	h.closed.Add(1)
}

// startMass starts a server for h behind an httptest server and returns
// the WebSocket URL of its Engine.IO path.
func startMass(t *testing.T, h *massHandler) (*Server, string) {
	t.Helper()
	h.reasons = make(map[string]int)
	srv := New(Config{PingInterval: time.Minute, PingTimeout: time.Minute, Logger: testLogger}, h)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { _ = srv.Close(); ts.Close() })
	return srv, "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
}

// pollMaxRuns returns how many runs s's poller admits at once (0 when it
// runs none).
func (s *Server) pollMaxRuns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.poll == nil {
		return 0
	}
	return int(s.poll.maxRuns)
}

// pollStalls returns how many times s's poller stopped counting the runs
// it admitted (see poller.admit).
func (s *Server) pollStalls() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.poll == nil {
		return 0
	}
	return s.poll.admStalls.Load()
}

// dialOpen opens a WebSocket session and reads its open packet.
func dialOpen(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	if got := readText(t, ws); !strings.HasPrefix(got, "0{") {
		t.Fatalf("open packet %q", got)
	}
	return ws
}

// TestMassHangUpHoldsFewGoroutines: when the clients of a thousand idle
// WebSockets hang up at once, every session ends with a transport close,
// and the server never runs more than a few dozen goroutines more than
// before: the poller admits a bounded number of runs at a time, and a
// session whose client hung up ends on its run, without a writer
// goroutine. (Before, each hang-up started a run and a writer: the close
// of 10 000 sessions peaked at thousands of goroutines.)
func TestMassHangUpHoldsFewGoroutines(t *testing.T) {
	checkGoroutines(t)
	const n = 1000
	h := &massHandler{}
	srv, url := startMass(t, h)
	wss := make([]*websocket.Conn, n)
	for i := range wss {
		wss[i] = dialOpen(t, url)
	}
	waitFor(t, func() bool { return parkedCount(srv) == n })
	maxRuns := srv.pollMaxRuns()
	time.Sleep(workpool.Idle + 100*time.Millisecond) // the handshakes' workers end
	base := runtime.NumGoroutine()

	var peak atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for h.closed.Load() < n {
			peak.Store(max(peak.Load(), int64(runtime.NumGoroutine())))
			runtime.Gosched()
		}
	}()
	for _, ws := range wss {
		_ = ws.UnderlyingConn().Close()
	}
	select {
	case <-sampled:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d of %d sessions closed after 30 s", h.closed.Load(), n)
	}
	h.mu.Lock()
	reasons := fmt.Sprint(h.reasons)
	h.mu.Unlock()
	if want := fmt.Sprint(map[string]int{disconnect.TransportClose: n}); reasons != want {
		t.Fatalf("close reasons %s, want %s", reasons, want)
	}
	// The admitted runs, the sampler, and a few of the runtime's and the
	// HTTP server's.
	bound := int64(maxRuns) + 40
	if extra := peak.Load() - int64(base); extra > bound {
		t.Fatalf("the hang-up of %d sessions ran %d goroutines more than before, want at most %d", n, extra, bound)
	}
	t.Logf("the hang-up of %d sessions ran at most %d goroutines more than before", n, peak.Load()-int64(base))
}

// TestPollerAdmitsPastBlockedRuns: when every run the poller admitted
// blocks in its delivery (a receiver that waits in OnPacket), the poller
// stops counting them after admitWait, and the other sessions are served.
func TestPollerAdmitsPastBlockedRuns(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	var blocked atomic.Int32
	h := &massHandler{}
	h.onPacket = func(c *Conn, p engineio.Packet) {
		switch string(p.Data) {
		case "block":
			blocked.Add(1)
			<-release
		default:
			_ = c.Send(engineio.Packet{Type: engineio.Message, Data: append([]byte(nil), p.Data...)})
		}
	}
	srv, url := startMass(t, h)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	free := dialOpen(t, url)
	waitFor(t, func() bool { return parkedCount(srv) == 1 })
	maxRuns := srv.pollMaxRuns()
	k := maxRuns + 2
	blockers := make([]*websocket.Conn, k)
	for i := range blockers {
		blockers[i] = dialOpen(t, url)
	}
	waitFor(t, func() bool { return parkedCount(srv) == k+1 })

	for _, ws := range blockers {
		writeText(t, ws, "4block")
	}
	waitFor(t, func() bool { return int(blocked.Load()) == k })
	if stalls := srv.pollStalls(); stalls == 0 {
		t.Fatalf("%d runs blocked with at most %d admitted, and the poller never stopped counting them", k, maxRuns)
	}
	start := time.Now()
	writeText(t, free, "4free")
	if got := readText(t, free); got != "4free" {
		t.Fatalf("echo %q, want %q", got, "4free")
	}
	t.Logf("echoed in %v beside %d blocked runs", time.Since(start), k)

	close(release)
	released = true
	for _, ws := range blockers {
		writeText(t, ws, "4after")
		if got := readText(t, ws); got != "4after" {
			t.Fatalf("echo %q, want %q", got, "4after")
		}
	}
	waitFor(t, func() bool { return parkedCount(srv) == k+1 })
}
