package gateway

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/workpool"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// afterLog records, in order, the packets delivered and the tasks run
// after them (Conn.RunAfter), and what RunAfter answered.
type afterLog struct {
	mu      sync.Mutex
	entries []string
	refused []string
}

func (l *afterLog) add(s string) {
	l.mu.Lock()
	l.entries = append(l.entries, s)
	l.mu.Unlock()
}

func (l *afterLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.entries...)
}

func (l *afterLog) refusals() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.refused...)
}

// onPacket asks to run a task after each delivery, and checks that a
// second RunAfter, or a Suspend, in the same call is refused.
func (l *afterLog) onPacket(c *Conn, p engineio.Packet) {
	data := string(p.Data)
	l.add("packet " + data)
	task := func() { l.add("task " + data) }
	if data == "exit" {
		task = runtime.Goexit // a task that ends its goroutine
	}
	if !c.RunAfter(workpool.Func(task)) {
		l.mu.Lock()
		l.refused = append(l.refused, data)
		l.mu.Unlock()
		return
	}
	if c.RunAfter(workpool.Func(func() {})) {
		l.add("second RunAfter granted for " + data)
	}
	if _, ok := c.Suspend(); ok {
		l.add("Suspend granted after RunAfter for " + data)
	}
}

// TestRunAfter: on a WebSocket, the task a delivery leaves runs once its
// OnPacket call has returned and before the next packet is delivered,
// even one already read in the same write; a second RunAfter and a
// Suspend in the same call are refused; on long-polling RunAfter is
// refused (the receiver runs the task itself).
func TestRunAfter(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	e.h.echo = false
	l := &afterLog{}
	e.h.onPkt = l.onPacket

	ws, _ := e.openWS(t)
	// Two packets in one write: the reader has the second in its buffer
	// when the first's task runs. Then two more, apart.
	if _, err := ws.UnderlyingConn().Write(append(maskedText("4a"), maskedText("4b")...)); err != nil {
		t.Fatal(err)
	}
	writeText(t, ws, "4c")
	waitFor(t, func() bool { return len(l.snapshot()) == 6 })
	writeText(t, ws, "4d")
	waitFor(t, func() bool { return len(l.snapshot()) == 8 })
	want := "packet a,task a,packet b,task b,packet c,task c,packet d,task d"
	if got := strings.Join(l.snapshot(), ","); got != want {
		t.Fatalf("WebSocket: %s, want %s", got, want)
	}
	if r := l.refusals(); len(r) != 0 {
		t.Fatalf("RunAfter refused on a parked WebSocket for %v", r)
	}
	// A task that ends its goroutine: the connection reads on.
	writeText(t, ws, "4exit")
	writeText(t, ws, "4e")
	waitFor(t, func() bool { return len(l.snapshot()) == 11 })
	if got := strings.Join(l.snapshot()[8:], ","); got != "packet exit,packet e,task e" {
		t.Fatalf("after a task that ended its goroutine: %s", got)
	}

	sid := e.handshake(t)
	if status, body := e.post(t, sid, "4p"); status != http.StatusOK {
		t.Fatalf("POST: %d %q", status, body)
	}
	waitFor(t, func() bool { return len(l.refusals()) == 1 })
	if got := l.refusals(); got[0] != "p" {
		t.Fatalf("refused for %v, want the POST's packet", got)
	}
}

// blocker is a receiver whose "block" packets leave a task that blocks
// until released, and which records every other packet's arrival.
type blocker struct {
	release  chan struct{}
	released chan struct{} // closed at the test's end
	running  atomic.Int32  // tasks blocked now
	ended    atomic.Int32  // tasks that returned
	packets  chan string
}

func (b *blocker) onPacket(c *Conn, p engineio.Packet) {
	data := string(p.Data)
	if data != "block" {
		b.packets <- data
		return
	}
	release := b.release
	ok := c.RunAfter(workpool.Func(func() {
		b.running.Add(1)
		select {
		case <-release:
		case <-b.released:
		}
		b.running.Add(-1)
		b.ended.Add(1)
	}))
	if !ok {
		b.packets <- "refused"
	}
}

// TestRunAfterHandsOverABlockedTask: a task that blocks after a delivery
// holds its connection's reading for InlineGrace to twice that, then
// another goroutine reads on: later packets are delivered in order,
// heartbeats are answered across a block longer than PingInterval plus
// PingTimeout, and a Close does not wait for the task.
func TestRunAfterHandsOverABlockedTask(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{PingInterval: 150 * time.Millisecond, PingTimeout: 150 * time.Millisecond})
	e.h.echo = false
	b := &blocker{release: make(chan struct{}), packets: make(chan string, 64)}
	e.h.onPkt = b.onPacket
	b.released = make(chan struct{}) // a failed test's tasks end before the server closes
	t.Cleanup(func() { close(b.released) })

	ws, c := e.openWS(t)
	var mu sync.Mutex // one writer at a time: the test and the pongs
	write := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		writeText(t, ws, s)
	}
	go func() {
		for {
			_ = ws.SetReadDeadline(time.Now().Add(time.Minute))
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if string(data) == "2" {
				mu.Lock()
				err := ws.WriteMessage(websocket.TextMessage, []byte("3"))
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()

	start := time.Now()
	write("4block")
	waitFor(t, func() bool { return b.running.Load() == 1 })
	const n = 20
	for i := range n {
		write(fmt.Sprintf("4n%d", i))
	}
	for i := range n {
		got := receive(t, b.packets, 3*time.Second, "a packet sent while a task blocks")
		if want := fmt.Sprintf("n%d", i); got != want {
			t.Fatalf("packet %q delivered, want %q", got, want)
		}
	}
	if el := time.Since(start); el < InlineGrace {
		t.Fatalf("the reading was handed over after %v, before InlineGrace (%v)", el, InlineGrace)
	}
	if b.running.Load() != 1 {
		t.Fatal("the task ended before it was released")
	}
	// Longer than a heartbeat's interval and timeout together: the
	// session lives on, its pongs read by the run that took over.
	time.Sleep(600 * time.Millisecond)
	select {
	case ev := <-e.h.closes:
		t.Fatalf("session closed while its task blocked: %s", ev.reason)
	default:
	}
	close(b.release)
	waitFor(t, func() bool { return b.ended.Load() == 1 })
	write("4after")
	if got := receive(t, b.packets, 3*time.Second, "a packet after the task ended"); got != "after" {
		t.Fatalf("packet %q delivered, want %q", got, "after")
	}

	// Blocked again, then the server closes: Close returns while the task
	// still blocks, and the task's goroutine ends once it returns
	// (checkGoroutines).
	b.release = make(chan struct{})
	write("4block")
	waitFor(t, func() bool { return b.running.Load() == 1 })
	write("4next")
	if got := receive(t, b.packets, 3*time.Second, "a packet after the second block"); got != "next" {
		t.Fatalf("packet %q delivered, want %q", got, "next")
	}
	closed := make(chan struct{})
	go func() {
		_ = e.srv.Close()
		close(closed)
	}()
	receive(t, closed, 5*time.Second, "Close, while a handed-over task blocks")
	if ev := e.h.nextClose(t); ev.sid != c.ID() {
		t.Fatalf("closed %s, want %s", ev.sid, c.ID())
	}
	close(b.release)
	waitFor(t, func() bool { return b.ended.Load() == 2 })
}

// TestHandOver: a task that calls HandOver before it waits has the
// reading go on at once, without the watch (which hands over a run only
// after InlineGrace): the packet it waits for is delivered while it waits.
func TestHandOver(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	e.h.echo = false
	answered := make(chan struct{})
	var once sync.Once
	waited := make(chan bool, 1)
	e.h.onPkt = func(c *Conn, p engineio.Packet) {
		switch string(p.Data) {
		case "ask":
			c.RunAfter(workpool.Func(func() {
				c.HandOver()
				select {
				case <-answered:
					waited <- true
				case <-time.After(3 * time.Second):
					waited <- false
				}
			}))
		case "answer":
			once.Do(func() { close(answered) })
		}
	}
	ws, _ := e.openWS(t)
	writeText(t, ws, "4ask")
	writeText(t, ws, "4answer")
	if !receive(t, waited, 5*time.Second, "the task's wait") {
		t.Fatal("the answer was not read while the task waited")
	}
	e.srv.inline.mu.Lock()
	late := e.srv.inline.late
	e.srv.inline.mu.Unlock()
	if late != 0 {
		t.Fatalf("the watch handed over %d runs: HandOver did not", late)
	}
	writeText(t, ws, "4ask")                                        // and a run reads on after the handed-over one
	_ = receive(t, waited, 5*time.Second, "the second task's wait") // answered is closed: true at once
}
