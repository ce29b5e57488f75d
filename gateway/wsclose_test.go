package gateway

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// A WebSocket the server closes ends as Node's engine.io ends it: what was
// queued (when the close flushes), no Engine.IO close packet, then a close
// frame without a status code, which the client reads as 1005.

// readUntilClose reads frames until ws ends and returns the text frames
// read and the error that ended it.
func readUntilClose(t *testing.T, ws *websocket.Conn) ([]string, error) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	var got []string
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("websocket not closed by the server (read %q)", got)
			}
			return got, err
		}
		got = append(got, string(data))
	}
}

func TestWebSocketServerCloseIsABareCloseFrame(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		close  func(t *testing.T, e *env, ws *websocket.Conn, c *Conn)
		want   []string // frames read after the open packet
		reason string
	}{
		{
			name: "Conn.Close flushes the queue",
			close: func(t *testing.T, e *env, ws *websocket.Conn, c *Conn) {
				_ = c.Send(msg("a"), msg("b"))
				c.Close(disconnect.ForcedClose)
			},
			want:   []string{"4a", "4b"},
			reason: disconnect.ForcedClose,
		},
		{
			name: "Conn.Close inside OnPacket",
			close: func(t *testing.T, e *env, ws *websocket.Conn, c *Conn) {
				e.h.echo = false
				e.h.onPkt = func(c *Conn, _ engineio.Packet) { c.Close(disconnect.ParseError) }
				writeText(t, ws, "4bad")
			},
			reason: disconnect.ParseError,
		},
		{
			name: "client-sent ping",
			close: func(t *testing.T, e *env, ws *websocket.Conn, c *Conn) {
				writeText(t, ws, "2")
			},
			reason: disconnect.TransportError,
		},
		{
			name: "malformed Engine.IO packet",
			close: func(t *testing.T, e *env, ws *websocket.Conn, c *Conn) {
				writeText(t, ws, "9")
			},
			reason: disconnect.ParseError,
		},
		{
			name: "Server.Close",
			close: func(t *testing.T, e *env, ws *websocket.Conn, c *Conn) {
				_ = c.Send(msg("last"))
				if err := e.srv.Close(); err != nil {
					t.Error(err)
				}
			},
			want:   []string{"4last"},
			reason: disconnect.ForcedServerClose,
		},
		{
			name: "ping timeout",
			cfg:  Config{PingInterval: 100 * time.Millisecond, PingTimeout: 100 * time.Millisecond},
			close: func(t *testing.T, e *env, ws *websocket.Conn, c *Conn) {
				// The client reads the ping and never answers.
			},
			want:   []string{"2"},
			reason: disconnect.PingTimeout,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			e := startEnv(t, tc.cfg)
			ws, c := e.openWS(t)
			tc.close(t, e, ws, c)
			got, err := readUntilClose(t, ws)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("frames before the close: %q, want %q (no close packet)", got, tc.want)
			}
			if !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
				t.Errorf("websocket ended with %v, want a close frame without status (1005)", err)
			}
			if ev := e.h.nextClose(t); ev.reason != tc.reason {
				t.Errorf("server-side reason %q, want %q", ev.reason, tc.reason)
			}
		})
	}
}

// TestPingTimeoutCutsAWriterStuckOnAPeerThatDoesNotRead: with a writer
// blocked on a peer that stopped reading, no close frame can go in between;
// the ping timeout still ends the connection at once instead of waiting
// for WriteTimeout.
func TestPingTimeoutCutsAWriterStuckOnAPeerThatDoesNotRead(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{PingInterval: 100 * time.Millisecond, PingTimeout: 100 * time.Millisecond, WriteTimeout: 20 * time.Second})
	_, c := e.openWS(t) // never read from here on
	chunk := msg(strings.Repeat("x", 256<<10))
	for range 64 { // 16 MiB: far more than the socket buffers hold
		if err := c.Send(chunk); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if ev := e.h.nextClose(t); ev.reason != disconnect.PingTimeout {
		t.Fatalf("close %+v", ev)
	}
	// The writer ends with the cut, not at WriteTimeout.
	deadline := time.Now().Add(2 * time.Second)
	buf := make([]byte, 1<<20)
	for strings.Contains(string(buf[:runtime.Stack(buf, true)]), ").writeLoop(") {
		if time.Now().After(deadline) {
			t.Fatalf("writer still running %v after the ping timeout", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServerCloseBeforeTheReaderStartsFlushes: a Server.Close that starts
// while the handler of a WebSocket handshake has yet to start the
// session's reader (OnOpen still runs) ends the session as it ends any
// other: what was queued, then the bare close frame. The reader that may no
// longer start must not cut the connection under the writer's flush.
func TestServerCloseBeforeTheReaderStartsFlushes(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	closed := make(chan error, 1)
	shut := func() bool {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		return e.srv.shut
	}
	e.h.onOpen = func(c *Conn) {
		_ = c.Send(msg("last"))
		go func() { closed <- e.srv.Close() }()
		for !shut() { // from here on, no reader may start
			time.Sleep(time.Millisecond)
		}
	}
	ws := e.dial(t, "EIO=4&transport=websocket")
	readText(t, ws) // the open packet
	got, err := readUntilClose(t, ws)
	if strings.Join(got, " ") != "4last" {
		t.Errorf("frames before the close: %q, want [\"4last\"]", got)
	}
	if !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
		t.Errorf("websocket ended with %v, want a close frame without status (1005)", err)
	}
	if err := <-closed; err != nil {
		t.Error(err)
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.ForcedServerClose {
		t.Errorf("server-side reason %q, want %q", ev.reason, disconnect.ForcedServerClose)
	}
}

// rawFrames reads conn until EOF (or 3 s) and returns the opcodes of the
// unmasked frames the server sent, each with its payload.
func rawFrames(t *testing.T, conn net.Conn) []string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	var buf []byte
	b := make([]byte, 512)
	for {
		n, err := conn.Read(b)
		buf = append(buf, b[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection not closed by the server (read %q)", buf)
			}
			break
		}
	}
	var frames []string
	for len(buf) >= 2 {
		n := int(buf[1] & 0x7f)
		if n >= 126 || len(buf) < 2+n {
			t.Fatalf("unexpected frame bytes %q", buf)
		}
		frames = append(frames, fmt.Sprintf("op%d %q", buf[0]&0x0f, buf[2:2+n]))
		buf = buf[2+n:]
	}
	if len(buf) > 0 {
		t.Fatalf("trailing bytes %q", buf)
	}
	return frames
}

// TestClientHangUpGetsWhatNodeSends: a client that ends its WebSocket
// with a close frame gets one close frame back, echoing its code, then the
// end of the connection; one that shuts its side of the connection without
// a close frame gets no frame, only the end (as from Node's ws). Either
// session ends with a transport close.
func TestClientHangUpGetsWhatNodeSends(t *testing.T) {
	tests := []struct {
		name   string
		hangUp func(t *testing.T, ws *websocket.Conn)
		want   string
	}{
		{
			name: "close frame",
			hangUp: func(t *testing.T, ws *websocket.Conn) {
				msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
				if err := ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
					t.Fatal(err)
				}
			},
			want: `op8 "\x03\xe8"`,
		},
		{
			name: "end of the connection",
			hangUp: func(t *testing.T, ws *websocket.Conn) {
				if err := ws.UnderlyingConn().(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			e := startEnv(t, Config{})
			ws, _ := e.openWS(t)
			waitFor(t, func() bool { return parkedCount(e.srv) == 1 })
			tc.hangUp(t, ws)
			if got := strings.Join(rawFrames(t, ws.UnderlyingConn()), " "); got != tc.want {
				t.Errorf("frames after the hang-up: %s, want %s", got, tc.want)
			}
			if ev := e.h.nextClose(t); ev.reason != disconnect.TransportClose {
				t.Errorf("server-side reason %q, want %q", ev.reason, disconnect.TransportClose)
			}
		})
	}
}

// TestCloseFlushesMoreThanTheSocketTakes: a Conn.Close while the writer
// waits on a client that has not read yet (the queue is more than the
// socket takes) flushes it: the client, reading afterwards, reads every
// message, in order, then the close frame.
func TestCloseFlushesMoreThanTheSocketTakes(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{MaxQueueBytes: 64 << 20})
	e.h.echo = false
	ws, c := e.openWS(t)
	const n, size = 256, 32 << 10 // 8 MiB: more than loopback's buffers
	body := strings.Repeat("x", size)
	for i := range n {
		if err := c.Send(msg(fmt.Sprintf("%04d%s", i, body))); err != nil {
			t.Fatal(err)
		}
	}
	c.Close(disconnect.ForcedClose)
	time.Sleep(50 * time.Millisecond) // longer than any wait but the session's
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range n {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := fmt.Sprintf("4%04d", i); len(data) != 1+4+size || string(data[:5]) != want {
			t.Fatalf("message %d: %d bytes starting %q, want %d starting %q", i, len(data), data[:min(5, len(data))], 1+4+size, want)
		}
	}
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
		t.Fatalf("after the messages: %v, want a close frame without status (1005)", err)
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.ForcedClose {
		t.Fatalf("server-side reason %q, want %q", ev.reason, disconnect.ForcedClose)
	}
}
