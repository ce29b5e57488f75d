package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// openWS opens a WebSocket session and consumes its open packet.
func (e *env) openWS(t *testing.T) (*websocket.Conn, *Conn) {
	t.Helper()
	ws := e.dial(t, "EIO=4&transport=websocket")
	readText(t, ws)
	return ws, e.h.nextConn(t)
}

func TestWebSocketEchoText(t *testing.T) {
	e := startEnv(t, Config{})
	ws, _ := e.openWS(t)
	for _, s := range []string{"4hello", "4", "4héllo ✓"} {
		writeText(t, ws, s)
		if got := readText(t, ws); got != s {
			t.Fatalf("echo %q, want %q", got, s)
		}
	}
}

func TestWebSocketEchoBinary(t *testing.T) {
	e := startEnv(t, Config{})
	ws, _ := e.openWS(t)
	want := []byte{1, 2, 3, 4}
	if err := ws.WriteMessage(websocket.BinaryMessage, want); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	mt, got, err := ws.ReadMessage()
	if err != nil || mt != websocket.BinaryMessage || !bytes.Equal(got, want) {
		t.Fatalf("got %d %v %v", mt, got, err)
	}
}

func TestWebSocketServerSendKeepsOrder(t *testing.T) {
	e := startEnv(t, Config{})
	ws, c := e.openWS(t)
	shared := []byte("shared")
	for i := 0; i < 100; i++ {
		if err := c.Send(msg(strings.Repeat("x", i)), engineio.Packet{Type: engineio.Message, Data: shared, Binary: true}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		if got := readText(t, ws); got != "4"+strings.Repeat("x", i) {
			t.Fatalf("frame %d: %q", i, got)
		}
		mt, data, err := ws.ReadMessage()
		if err != nil || mt != websocket.BinaryMessage || string(data) != "shared" {
			t.Fatalf("binary %d: %d %q %v", i, mt, data, err)
		}
	}
}

func TestWebSocketMalformedFrameClosesOnlyThatConnection(t *testing.T) {
	e := startEnv(t, Config{})
	bad, badConn := e.openWS(t)
	good, _ := e.openWS(t)
	writeText(t, bad, "abc")
	expectClosed(t, bad)
	<-badConn.Closed()
	if ev := e.h.nextClose(t); ev.sid != badConn.ID() || ev.reason != disconnect.ParseError || !errors.Is(ev.err, engineio.ErrMalformed) {
		t.Fatalf("close %+v", ev)
	}
	writeText(t, good, "4fine")
	if got := readText(t, good); got != "4fine" {
		t.Fatalf("other connection got %q", got)
	}
	if e.srv.Count() != 1 {
		t.Fatalf("Count = %d", e.srv.Count())
	}
}

func TestWebSocketCloseReasons(t *testing.T) {
	tests := []struct {
		name   string
		client func(t *testing.T, ws *websocket.Conn)
		reason string
	}{
		{"close packet", func(t *testing.T, ws *websocket.Conn) { writeText(t, ws, "1") }, disconnect.TransportClose},
		{"clean close frame", func(t *testing.T, ws *websocket.Conn) {
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		}, disconnect.TransportClose},
		{"abrupt close", func(t *testing.T, ws *websocket.Conn) { _ = ws.NetConn().Close() }, disconnect.TransportClose},
		{"protocol error close", func(t *testing.T, ws *websocket.Conn) {
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseProtocolError, ""), time.Now().Add(time.Second))
		}, disconnect.TransportError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			e := startEnv(t, Config{})
			ws, c := e.openWS(t)
			tt.client(t, ws)
			<-c.Closed()
			if ev := e.h.nextClose(t); ev.reason != tt.reason {
				t.Fatalf("reason %q (%v), want %q", ev.reason, ev.err, tt.reason)
			}
		})
	}
}

func TestWebSocketMaxPayload(t *testing.T) {
	const max = 100
	e := startEnv(t, Config{MaxPayload: max})
	ws, _ := e.openWS(t)
	atLimit := "4" + strings.Repeat("x", max-1)
	writeText(t, ws, atLimit)
	if got := readText(t, ws); got != atLimit {
		t.Fatalf("echo %q", got)
	}
	writeText(t, ws, atLimit+"y")
	err := expectClosed(t, ws)
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("close error %v", err)
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.TransportError || !errors.Is(ev.err, ErrPayloadTooLarge) {
		t.Fatalf("close %+v", ev)
	}
}

// TestWebSocketSendNowFullSocket sends with SendNow more than the socket
// buffers take while the client does not read: an inline write finds the
// socket full and leaves the rest to a writer goroutine, and later sends
// queue behind it. Once the client reads, every message arrives intact and
// in each sender's order, and SendNow never blocked its caller.
func TestWebSocketSendNowFullSocket(t *testing.T) {
	for _, senders := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d senders", senders), func(t *testing.T) {
			e := startEnv(t, Config{})
			ws, c := e.openWS(t)
			const each = 60
			payload := strings.Repeat("p", 32<<10)
			start := time.Now()
			done := make(chan struct{})
			for s := range senders {
				go func() {
					defer func() { done <- struct{}{} }()
					for i := range each {
						if err := c.SendNow(msg(fmt.Sprintf("%d:%d:%s", s, i, payload))); err != nil {
							t.Errorf("SendNow: %v", err)
							return
						}
					}
				}()
			}
			for range senders {
				<-done
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("SendNow of %d MiB to a client that does not read took %v: it blocked", senders*each*len(payload)>>20, d)
			}
			next := make([]int, senders)
			for range senders * each {
				got := readText(t, ws)
				var s, i int
				var rest string
				if n, err := fmt.Sscanf(got, "4%d:%d:%s", &s, &i, &rest); n != 3 || err != nil || rest != payload {
					t.Fatalf("message %.40q... (%d bytes) is not one that was sent", got, len(got))
				}
				if i != next[s] {
					t.Fatalf("sender %d: message %d, want %d", s, i, next[s])
				}
				next[s]++
			}
		})
	}
}

// TestWebSocketSendNowAfterIdleLongerThanWriteTimeout: the caller's inline
// write after an idle gap longer than WriteTimeout must not trip on the
// deadline the last blocking write left on the connection.
func TestWebSocketSendNowAfterIdleLongerThanWriteTimeout(t *testing.T) {
	const wt = 200 * time.Millisecond
	e := startEnv(t, Config{WriteTimeout: wt})
	ws, c := e.openWS(t) // the open packet is a blocking write: its deadline stays set
	for i := 0; i < 3; i++ {
		time.Sleep(2 * wt)
		want := fmt.Sprintf("4after idle %d", i)
		if err := c.SendNow(msg(want[1:])); err != nil {
			t.Fatalf("SendNow %d: %v", i, err)
		}
		if got := readText(t, ws); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		// A queued (writer goroutine) write between the inline ones sets a
		// fresh deadline that then passes too.
		if err := c.Send(msg("queued")); err != nil {
			t.Fatal(err)
		}
		if got := readText(t, ws); got != "4queued" {
			t.Fatalf("got %q", got)
		}
	}
	select {
	case <-c.Closed():
		t.Fatal("session closed after an idle gap")
	default:
	}
}
