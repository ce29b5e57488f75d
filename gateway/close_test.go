package gateway

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

func TestConnCloseFlushesPolling(t *testing.T) {
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	c := e.h.nextConn(t)
	pending := make(chan string, 1)
	go func() {
		_, b := e.poll(t, sid)
		pending <- b
	}()
	time.Sleep(30 * time.Millisecond)
	c.mu.Lock() // queue without waking the poller, to test the flush
	c.enqueueLocked(msg("last"))
	c.mu.Unlock()
	c.Close(disconnect.ForcedClose)
	// As Node, whose close waits for the buffer to drain: what was queued
	// goes to the pending GET, the close packet to the next one.
	if b := <-pending; b != "4last" {
		t.Fatalf("pending GET %q, want the queued packet alone", b)
	}
	if status, b := e.poll(t, sid); status != 200 || b != "1" {
		t.Fatalf("next GET %d %q, want the close packet", status, b)
	}
	if status, _ := e.poll(t, sid); status != 400 {
		t.Fatalf("GET after the close packet: %d", status)
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.ForcedClose || ev.err != nil {
		t.Fatalf("close %+v", ev)
	}
	if err := c.Send(msg("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after close: %v", err)
	}
	select {
	case <-c.Closed():
	default:
		t.Fatal("Closed channel open")
	}
}

func TestConnCloseFlushesWebSocket(t *testing.T) {
	e := startEnv(t, Config{})
	ws, c := e.openWS(t)
	_ = c.Send(msg("a"), msg("b"))
	c.Close(disconnect.ForcedClose)
	for _, want := range []string{"4a", "4b"} {
		if got := readText(t, ws); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	// No close packet on a WebSocket, and a close frame without status.
	if err := expectClosed(t, ws); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
		t.Fatalf("close error %v", err)
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.ForcedClose {
		t.Fatalf("close %+v", ev)
	}
}

func TestSendRejectsNonMessage(t *testing.T) {
	e := startEnv(t, Config{})
	e.handshake(t)
	c := e.h.nextConn(t)
	if err := c.Send(engineio.Packet{Type: engineio.Ping}); !errors.Is(err, ErrNotMessage) {
		t.Fatalf("err %v", err)
	}
}

func TestMaxQueueBytesClosesSlowConsumer(t *testing.T) {
	e := startEnv(t, Config{MaxQueueBytes: 10})
	e.handshake(t)
	c := e.h.nextConn(t)
	if err := c.Send(msg("0123456789")); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(msg("x")); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("err %v", err)
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.SlowConsumer || !errors.Is(ev.err, ErrSlowConsumer) {
		t.Fatalf("close %+v", ev)
	}
}

func TestMaxQueuePacketsClosesSlowConsumer(t *testing.T) {
	e := startEnv(t, Config{MaxQueuePackets: 2})
	e.handshake(t)
	c := e.h.nextConn(t)
	if err := c.Send(msg("a"), msg("b")); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(msg("c")); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("err %v", err)
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.SlowConsumer || !errors.Is(ev.err, ErrSlowConsumer) {
		t.Fatalf("close %+v", ev)
	}
}

func TestCloseInsideOnPacket(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	e.h.echo = false
	inPacket := make(chan bool, 1)
	e.h.onPkt = func(c *Conn, _ engineio.Packet) {
		c.Close(disconnect.ForcedClose)
		select {
		case ev := <-e.h.closes:
			t.Errorf("OnClose ran inside OnPacket: %+v", ev)
		default:
		}
		inPacket <- true
	}
	ws, _ := e.openWS(t)
	writeText(t, ws, "4bye")
	<-inPacket
	if ev := e.h.nextClose(t); ev.reason != disconnect.ForcedClose {
		t.Fatalf("close %+v", ev)
	}
	if err := expectClosed(t, ws); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
		t.Fatalf("close error %v", err)
	}
}

func TestServerCloseClosesEveryoneAndLeavesNoGoroutine(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})

	// An idle polling session, one with a pending GET, a WebSocket one,
	// an upgraded one and one in the middle of an upgrade.
	e.handshake(t)
	pendingSID := e.handshake(t)
	pending := make(chan string, 1)
	go func() {
		_, b := e.poll(t, pendingSID)
		pending <- b
	}()
	ws, _ := e.openWS(t)

	upSID := e.handshake(t)
	up := e.dial(t, "EIO=4&transport=websocket&sid="+upSID)
	writeText(t, up, "2probe")
	readText(t, up)
	writeText(t, up, "5")

	probingSID := e.handshake(t)
	probing := e.dial(t, "EIO=4&transport=websocket&sid="+probingSID)
	writeText(t, probing, "2probe")
	readText(t, probing)
	time.Sleep(30 * time.Millisecond)

	if n := e.srv.Count(); n != 5 {
		t.Fatalf("Count = %d", n)
	}
	// The idle, the pending and the probing sessions still poll.
	if n := e.srv.PollingCount(); n != 3 {
		t.Fatalf("PollingCount = %d, want 3", n)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Count(); n != 0 {
		t.Fatalf("Count after Close = %d", n)
	}
	if n := e.srv.PollingCount(); n != 0 {
		t.Fatalf("PollingCount after Close = %d", n)
	}
	if b := <-pending; b != "1" {
		t.Fatalf("pending GET %q", b)
	}
	for i := 0; i < 5; i++ {
		if ev := e.h.nextClose(t); ev.reason != disconnect.ForcedServerClose || !errors.Is(ev.err, ErrServerClosed) {
			t.Fatalf("close %+v", ev)
		}
	}
	for _, s := range []*websocket.Conn{ws, up, probing} {
		expectClosed(t, s)
	}
	if status, _ := e.do(t, http.MethodGet, "EIO=4&transport=polling", ""); status != http.StatusServiceUnavailable {
		t.Fatalf("request after Close: %d", status)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestServerCloseCutsAClientThatDoesNotRead checks that Close does not
// wait WriteTimeout for a WebSocket client that stopped reading: it cuts
// the connection after its flush bound.
func TestServerCloseCutsAClientThatDoesNotRead(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{WriteTimeout: 20 * time.Second})
	_, c := e.openWS(t) // never read from here on
	chunk := msg(strings.Repeat("x", 256<<10))
	for range 64 { // 16 MiB: far more than the socket buffers hold
		if err := c.Send(chunk); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // the writer is blocked by now
	start := time.Now()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > shutdownFlush+2*time.Second {
		t.Fatalf("Close took %v with a client that does not read (flush bound %v)", took, shutdownFlush)
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.ForcedServerClose {
		t.Fatalf("close %+v", ev)
	}
}

// TestClosedChannel checks Conn.Closed, whose channel is made on first
// use: asked for before the end, it is closed by the end; asked for
// after, it is closed already; asked for while the session closes, from
// several goroutines, it is closed for each of them.
func TestClosedChannel(t *testing.T) {
	isClosed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	tests := []struct {
		name   string
		before bool // Closed is called before the session ends
		racing bool // and from other goroutines while it ends
	}{
		{"asked before the end", true, false},
		{"asked after the end", false, false},
		{"asked while it ends", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEnv(t, Config{})
			ws, c := e.openWS(t)
			var early <-chan struct{}
			if tt.before {
				early = c.Closed()
				if isClosed(early) {
					t.Fatal("Closed's channel is closed while the session is open")
				}
			}
			var wg sync.WaitGroup
			got := make(chan (<-chan struct{}), 8)
			if tt.racing {
				for range cap(got) {
					wg.Go(func() { got <- c.Closed() })
				}
			}
			c.Close("server shutting down")
			wg.Wait()
			close(got)
			if early != nil && !isClosed(early) {
				t.Fatal("the channel asked for before the end is not closed after it")
			}
			if !isClosed(c.Closed()) {
				t.Fatal("the channel asked for after the end is not closed")
			}
			for ch := range got {
				select {
				case <-ch:
				case <-time.After(3 * time.Second):
					t.Fatal("a channel asked for while the session ended was never closed")
				}
			}
			_ = expectClosed(t, ws)
		})
	}
}
