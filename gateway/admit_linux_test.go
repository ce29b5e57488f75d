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
	"github.com/actorio/actorio/internal/leakcheck"
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

// TestMassCloseHoldsFewGoroutines: when a thousand idle WebSocket
// sessions end at once (their clients hang up, each is closed, the server
// is), every session ends with its reason, every client that did not hang
// up reads a close frame, and the server never runs more than a few dozen
// goroutines more than before: the poller admits a bounded number of runs
// at a time, and an ended session's last write goes out on the goroutine
// that ended it when the socket takes it at once. (Before, each hang-up
// started a run and a writer goroutine, and each close a writer: 260 to
// 840 goroutines more in the runs that measured it.)
func TestMassCloseHoldsFewGoroutines(t *testing.T) {
	tests := []struct {
		name   string
		end    func(srv *Server, wss []*websocket.Conn, conns []*Conn)
		reason string
		// frame: the clients read a close frame (1005) after it.
		frame bool
	}{
		{
			name: "clients hang up",
			end: func(_ *Server, wss []*websocket.Conn, _ []*Conn) {
				for _, ws := range wss {
					_ = ws.UnderlyingConn().Close()
				}
			},
			reason: disconnect.TransportClose,
		},
		{
			name: "Conn.Close",
			end: func(_ *Server, _ []*websocket.Conn, conns []*Conn) {
				for _, c := range conns {
					c.Close(disconnect.ForcedClose)
				}
			},
			reason: disconnect.ForcedClose,
			frame:  true,
		},
		{
			name:   "Server.Close",
			end:    func(srv *Server, _ []*websocket.Conn, _ []*Conn) { _ = srv.Close() },
			reason: disconnect.ForcedServerClose,
			frame:  true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
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
			srv.mu.Lock()
			conns := make([]*Conn, 0, n)
			for _, c := range srv.sessions {
				conns = append(conns, c)
			}
			srv.mu.Unlock()
			time.Sleep(workpool.Idle + 100*time.Millisecond) // the handshakes' workers end
			base := runtime.NumGoroutine()

			peak, ok := leakcheck.PeakDuring(func() { tc.end(srv, wss, conns) },
				func() bool { return h.closed.Load() >= n }, 30*time.Second)
			if !ok {
				t.Fatalf("%d of %d sessions closed after 30 s", h.closed.Load(), n)
			}
			h.mu.Lock()
			reasons := fmt.Sprint(h.reasons)
			h.mu.Unlock()
			if want := fmt.Sprint(map[string]int{tc.reason: n}); reasons != want {
				t.Fatalf("close reasons %s, want %s", reasons, want)
			}
			// The admitted runs, the goroutine ending the sessions, and a
			// few of the runtime's and the HTTP server's.
			bound := maxRuns + 40
			extra := peak - base
			if extra > bound {
				t.Fatalf("ending %d sessions ran %d goroutines more than before, want at most %d", n, extra, bound)
			}
			t.Logf("ending %d sessions ran at most %d goroutines more than before", n, extra)
			if !tc.frame {
				return
			}
			for i, ws := range wss {
				_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
				if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
					t.Fatalf("client %d: %v, want a close frame without status (1005)", i, err)
				}
			}
		})
	}
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
