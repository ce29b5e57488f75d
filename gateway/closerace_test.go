package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
)

// Node's engine.io handles a session's requests in the order they arrive;
// ours run on goroutines of their own, so a GET and a close that travel
// together may be handled in either order. These tests hold the gateway to
// Node's answers however they interleave.

// TestPollingGetRacingClientCloseGetsNoop: a GET sent with the client's
// close (POST "1"), as the official suite's "forcefully closes the
// session" does, gets the noop Node answers a pending GET with, never a
// 400; the GET after both gets 400.
func TestPollingGetRacingClientCloseGetsNoop(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	const tries = 200
	deadline := time.Now().Add(20 * time.Second)
	bad := 0
	for i := 0; i < tries && time.Now().Before(deadline); i++ {
		sid := e.handshake(t)
		e.h.nextConn(t)
		get := make(chan string, 1)
		// The POST leaves once the GET is on the wire: both are sent
		// before either is answered, as a client sends them, and the
		// server may handle them in either order. (Sent as the goroutine
		// started, the GET could leave after the POST's answer under a
		// loaded machine, and then 400 is the right answer.)
		wrote := make(chan struct{})
		var once sync.Once
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(wrote) }) }}
		go func() {
			status, body := e.doCtx(t, httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, "EIO=4&transport=polling&sid="+sid, "")
			get <- fmt.Sprintf("%d %q", status, body)
		}()
		<-wrote
		if status, body := e.post(t, sid, "1"); status != http.StatusOK || body != "ok" {
			t.Fatalf("try %d: POST 1: %d %q", i, status, body)
		}
		if got := <-get; got != `200 "6"` {
			bad++
			t.Errorf("try %d: GET sent with the close: %s, want 200 \"6\"", i, got)
		}
		if status, _ := e.poll(t, sid); status != http.StatusBadRequest {
			t.Fatalf("try %d: GET after the close: %d, want 400", i, status)
		}
		if ev := e.h.nextClose(t); ev.reason != disconnect.TransportClose {
			t.Fatalf("try %d: close %+v", i, ev)
		}
		if bad >= 5 {
			t.Fatalf("stopped after %d tries", i+1)
		}
	}
}

// TestPollingGetAfterClientCloseIs400: a GET the client sends after its
// close was answered finds no session (400), as in Node; only a GET sent
// with the close gets the noop.
func TestPollingGetAfterClientCloseIs400(t *testing.T) {
	e := startEnv(t, Config{})
	for i := 0; i < 20; i++ {
		sid := e.handshake(t)
		if status, body := e.post(t, sid, "1"); status != http.StatusOK || body != "ok" {
			t.Fatalf("POST 1: %d %q", status, body)
		}
		if status, body := e.poll(t, sid); status != http.StatusBadRequest {
			t.Fatalf("try %d: GET after the close was answered: %d %q, want 400", i, status, body)
		}
	}
	if n := e.srv.lingeringCount(); n != 0 {
		t.Fatalf("%d sessions lingering", n)
	}
}

// TestPollingServerCloseReachesPollingClient: a client that polls without
// pause (the next GET leaves as soon as the last one is answered) gets the
// close packet after the session's Close or the Server's, whenever it
// happens: never a 400 or a 503, which clients report as a transport error.
func TestPollingServerCloseReachesPollingClient(t *testing.T) {
	tests := []struct {
		name  string
		tries int
		close func(e *env, c *Conn)
		after int // the status of a GET after the close packet
	}{
		{name: "Conn.Close", tries: 200, close: func(_ *env, c *Conn) { c.Close(disconnect.ForcedClose) }, after: http.StatusBadRequest},
		{name: "Server.Close", tries: 50, close: func(e *env, _ *Conn) { _ = e.srv.Close() }, after: http.StatusServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			deadline := time.Now().Add(20 * time.Second)
			bad := 0
			for i := 0; i < tc.tries && time.Now().Before(deadline); i++ {
				e := startEnv(t, Config{})
				sid := e.handshake(t)
				c := e.h.nextConn(t)
				last := make(chan string, 1)
				go func() {
					for {
						status, body := e.poll(t, sid)
						if status != http.StatusOK {
							last <- fmt.Sprintf("%d %q", status, body)
							return
						}
						if body == "1" || strings.HasSuffix(body, "\x1e1") {
							last <- "close packet"
							return
						}
					}
				}()
				// Keep the GETs cycling, then close between two of them
				// or during one.
				for j := 0; j < i%7; j++ {
					_ = c.Send(msg("x"))
					time.Sleep(time.Duration(j*50) * time.Microsecond)
				}
				tc.close(e, c)
				select {
				case got := <-last:
					if got != "close packet" {
						bad++
						t.Errorf("try %d: the client's last GET got %s, want the close packet", i, got)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("try %d: the client never got the close", i)
				}
				if status, _ := e.poll(t, sid); status != tc.after {
					t.Fatalf("try %d: GET after the close packet: %d, want %d", i, status, tc.after)
				}
				e.h.nextClose(t)
				e.stop()
				if bad >= 5 {
					t.Fatalf("stopped after %d tries", i+1)
				}
			}
		})
	}
}

// TestPollingPostDuringServerCloseIsAccepted: a POST racing the server's
// Close is answered "ok", as Node answers it while the session closes,
// so that the client learns of the end from its GET (the close packet),
// not from a failed POST.
func TestPollingPostDuringServerCloseIsAccepted(t *testing.T) {
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	c := e.h.nextConn(t)
	c.Close(disconnect.ForcedClose)
	if status, body := e.post(t, sid, "4late"); status != http.StatusOK || body != "ok" {
		t.Fatalf("POST after the server's close: %d %q", status, body)
	}
	if status, body := e.poll(t, sid); status != http.StatusOK || body != "1" {
		t.Fatalf("GET after the server's close: %d %q", status, body)
	}
	if status, _ := e.post(t, sid, "4later"); status != http.StatusBadRequest {
		t.Fatalf("POST after the close packet: %d, want 400", status)
	}
	if status, _ := e.poll(t, sid); status != http.StatusBadRequest {
		t.Fatalf("second GET: %d, want 400", status)
	}
	select {
	case p := <-e.h.packets:
		t.Fatalf("packet %q delivered after the close", p)
	default:
	}
}

// TestPollingLingerEnds: a closed session nobody polls is forgotten after
// closeLinger; the Server keeps no reference to it.
func TestPollingLingerEnds(t *testing.T) {
	e := startEnv(t, Config{})
	e.srv.closeLinger = 50 * time.Millisecond
	sid := e.handshake(t)
	c := e.h.nextConn(t)
	c.Close(disconnect.ForcedClose)
	time.Sleep(150 * time.Millisecond)
	if status, _ := e.poll(t, sid); status != http.StatusBadRequest {
		t.Fatalf("GET long after the close: %d, want 400", status)
	}
	if n := e.srv.lingeringCount(); n != 0 {
		t.Fatalf("%d sessions lingering", n)
	}
}
