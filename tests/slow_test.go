package tests

import (
	"bytes"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/logbuf"
)

// The slow-consumer scenario: one peer stops reading among fastPeers that
// read everything, while the server broadcasts slowMsgs messages of
// slowMsgSize bytes to the room they all joined, slowBurst at a time every
// millisecond (up to 8 MB/s for each receiver). slowMsgs*slowMsgSize, 8 MB,
// is far more than the stalled peer's kernel buffers (a 4 KiB receive
// buffer and the server's send buffer) plus slowQueue hold.
const (
	fastPeers   = 3
	slowMsgs    = 2000
	slowMsgSize = 4 << 10
	slowBurst   = 2
	// slowWindow is how far ahead of the slowest fast peer the broadcasts
	// may run: what is on its way to a fast peer (its queue, the actors'
	// mailboxes) stays below slowWindow*slowMsgSize, 256 KiB, so a fast
	// peer is never taken for a slow consumer and the heap measures the
	// stalled peer, not a backlog.
	slowWindow = 64
	// slowQueue is the test server's MaxQueueBytes: 128 messages, twice
	// what slowWindow lets a fast peer lag by.
	slowQueue = 512 << 10
	// slowHeapBound bounds the growth of the live heap during the run: the
	// stalled peer's queue and the batch its writer is stuck on (at most
	// slowQueue each), the frames on their way to the fast peers (under
	// slowWindow*slowMsgSize). Measured: about +1.5 to +2.5 MiB with the
	// bound on a quiet machine, once +4.4 MiB in a full CI run (every
	// package testing at once on two cores: the fast peers lag and the
	// garbage collector runs late), about +10 MiB without it
	// (MaxQueueBytes -1), the stalled peer then pinning every frame its
	// kernel buffers cannot take.
	slowHeapBound = 6 << 20
)

// TestSlowConsumer: a peer that stops reading is disconnected once, with
// "slow consumer" (and a Warn log naming its session), while the fast peers
// get every message in order and the heap stays bounded; Stats and
// goroutines come back to where they were.
func TestSlowConsumer(t *testing.T) {
	runSlow(t, false)
}

// TestSlowConsumerVolatile: volatile broadcasts skip a peer that cannot
// take them now, so the same stalled peer is never disconnected: its
// packets are dropped while the fast peers keep receiving.
func TestSlowConsumerVolatile(t *testing.T) {
	runSlow(t, true)
}

func runSlow(t *testing.T, volatile bool) {
	logs := &logbuf.Buffer{}
	dl := newDisconnectLog()
	ts := startServer(t, actorio.Options{
		MaxQueueBytes: slowQueue,
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			dl.watch(s)
			s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				s.Join(args.String(0))
				if ack != nil {
					_ = ack()
				}
			})
		})
	})
	f := &faultServer{ts: ts}
	base := f.settle(t)
	heap0 := liveHeap()

	joinRoom := func(p *wsPeer) string {
		id := p.join("/", "")
		p.send(`421["join","r"]`)
		if ack := p.readSync(); ack != "431[]" {
			t.Fatalf("join ack %q", ack)
		}
		return id
	}
	stalled := dialPeer(t, ts, peerOpts{rcvBuf: 4096})
	stalledID := joinRoom(stalled) // and never reads again
	fast := make([]*fastReader, fastPeers)
	for i := range fast {
		p := dialPeer(t, ts, peerOpts{})
		joinRoom(p)
		fast[i] = startFastReader(p, volatile)
	}

	// Sample the live heap while the broadcasts run.
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			h := liveHeap()
			if h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	payload := strings.Repeat("p", slowMsgSize)
	op := ts.Srv.To("r")
	if volatile {
		op = op.Volatile()
	}
	tick := time.NewTicker(time.Millisecond)
	for i := 0; i < slowMsgs; i += slowBurst {
		for k, r := range fast {
			r.waitFor(t, k, i-slowWindow, volatile)
		}
		for j := i; j < i+slowBurst; j++ {
			if err := op.Emit("m", j, payload); err != nil {
				t.Fatalf("broadcast %d: %v", j, err)
			}
		}
		<-tick.C
	}
	tick.Stop()
	if volatile {
		// Volatile packets may be dropped for the fast peers too (a burst
		// finds the previous packet still queued); a last reliable one,
		// numbered slowMsgs, tells them the run is over.
		if err := ts.Srv.To("r").Emit("m", slowMsgs, payload); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range fast {
		r.wait(t, i)
	}
	close(stopSampling)
	<-sampled
	grown := int64(peak.Load()) - int64(heap0)
	t.Logf("live heap: %d KiB before, peak %d KiB during the run (bound +%d KiB)", heap0>>10, peak.Load()>>10, slowHeapBound>>10)
	if grown > slowHeapBound {
		t.Errorf("live heap grew by %d KiB during the run, more than %d KiB", grown>>10, slowHeapBound>>10)
	}

	for i, r := range fast {
		got, dropped := r.result()
		if got == 0 || (!volatile && (got != slowMsgs || dropped != 0)) {
			t.Errorf("fast peer %d: %d messages in order, %d skipped, want all %d", i, got, dropped, slowMsgs)
		}
		if err := r.failure(); err != nil {
			t.Errorf("fast peer %d: %v", i, err)
		}
	}

	if !volatile {
		if ev := dl.waitID(t, stalledID); ev.Reason != disconnect.SlowConsumer {
			t.Errorf("stalled peer disconnected with %q, want %q", ev.Reason, disconnect.SlowConsumer)
		}
		log := logs.String()
		if !strings.Contains(log, "level=WARN") || !strings.Contains(log, `reason="slow consumer"`) || !strings.Contains(log, "sid=") {
			t.Errorf("no Warn log with sid and reason %q; logs:\n%s", disconnect.SlowConsumer, log)
		}
	} else {
		// Still connected after the whole run; then it hangs up.
		if r := dl.of(stalledID); len(r) != 0 {
			t.Fatalf("stalled peer of volatile broadcasts disconnected: %q", r)
		}
		expectStats(t, ts.Srv, withConns(plus(base.stats, "/", fastPeers+1, fastPeers+2), fastPeers+1))
		_ = stalled.ws.Close()
		if ev := dl.waitID(t, stalledID); ev.Reason != "transport close" && ev.Reason != "transport error" {
			t.Errorf("stalled peer disconnected with %q after hanging up", ev.Reason)
		}
	}
	for _, r := range fast {
		_ = r.p.ws.Close()
	}
	f.expectBaseline(t, base)
	for id, reasons := range dl.snapshot() {
		if len(reasons) != 1 {
			t.Errorf("socket %s: OnDisconnect calls %q, want exactly one", id, reasons)
		}
	}
	if !volatile {
		dl.expectOnce(t, stalledID, disconnect.SlowConsumer)
	}
}

// liveHeap returns the heap in use right after a garbage collection (two:
// what sync.Pools hold survives the first one).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// fastReader reads every frame of a peer on its own goroutine, answering
// pings and checking that the "m" events come in increasing order.
type fastReader struct {
	p    *wsPeer
	end  int           // the index of the last message
	last chan struct{} // closed on message end

	mu      sync.Mutex
	next    int // the index expected next
	got     int
	dropped int
	err     error
}

// startFastReader starts reading; after volatile broadcasts the last
// message is a reliable one numbered slowMsgs.
func startFastReader(p *wsPeer, volatile bool) *fastReader {
	r := &fastReader{p: p, end: slowMsgs - 1, last: make(chan struct{})}
	if volatile {
		r.end = slowMsgs
	}
	done := make(chan struct{})
	p.readerDone = done
	go func() {
		defer close(done)
		for {
			_ = p.ws.SetReadDeadline(time.Time{})
			_, data, err := p.ws.ReadMessage()
			if err != nil {
				return
			}
			if string(data) == "2" {
				p.wmu.Lock()
				_ = p.ws.WriteMessage(websocket.TextMessage, []byte("3"))
				p.wmu.Unlock()
				continue
			}
			r.frame(data)
		}
	}()
	return r
}

func (r *fastReader) frame(data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rest, ok := bytes.CutPrefix(data, []byte(`42["m",`))
	if !ok {
		return
	}
	n, _, _ := bytes.Cut(rest, []byte(","))
	i, err := strconv.Atoi(string(n))
	switch {
	case err != nil:
		r.err = fmt.Errorf("bad frame %.40q", data)
	case i < r.next:
		if r.err == nil {
			r.err = fmt.Errorf("message %d after %d", i, r.next-1)
		}
	default:
		r.dropped += i - r.next
		r.got++
		r.next = i + 1
		if i == r.end {
			close(r.last)
		}
	}
}

// waitFor waits until the peer has seen message i or a later one. After
// volatile broadcasts, which it may not get, it gives up after a while.
func (r *fastReader) waitFor(t *testing.T, k, i int, volatile bool) {
	t.Helper()
	limit := step
	if volatile {
		limit = 50 * time.Millisecond
	}
	deadline := time.Now().Add(limit)
	for {
		r.mu.Lock()
		next := r.next
		r.mu.Unlock()
		if next > i {
			return
		}
		if time.Now().After(deadline) {
			if !volatile {
				t.Fatalf("fast peer %d: message %d not received after %v", k, i, limit)
			}
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func (r *fastReader) wait(t *testing.T, i int) {
	t.Helper()
	select {
	case <-r.last:
	case <-time.After(step):
		got, dropped := r.result()
		t.Fatalf("fast peer %d: %d messages (%d skipped) after %v, not the last one", i, got, dropped, step)
	}
}

func (r *fastReader) result() (got, dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got, r.dropped
}

func (r *fastReader) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
