package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
)

func TestPollingEchoBothWays(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"one text packet", "4hello"},
		{"several text packets", "4test1\x1e4test2\x1e4test3"},
		{"text and binary", "4hello\x1ebAQIDBA=="},
	}
	e := startEnv(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := e.handshake(t)
			status, body := e.post(t, sid, tt.body)
			if status != 200 || body != "ok" {
				t.Fatalf("POST: %d %q", status, body)
			}
			status, body = e.poll(t, sid)
			if status != 200 || body != tt.body {
				t.Fatalf("GET: %d %q, want %q", status, body, tt.body)
			}
		})
	}
}

func TestPollingPostAnswersOKAsHTML(t *testing.T) {
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	resp, err := e.client.Post(e.base+"?EIO=4&transport=polling&sid="+sid, "text/plain", strings.NewReader("4x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("content type %q", ct)
	}
}

func TestPollingDeliversBinaryToReceiver(t *testing.T) {
	e := startEnv(t, Config{})
	var mu sync.Mutex
	var got []engineio.Packet
	e.h.onPkt = func(_ *Conn, p engineio.Packet) {
		mu.Lock()
		got = append(got, engineio.Packet{Type: p.Type, Data: append([]byte(nil), p.Data...), Binary: p.Binary})
		mu.Unlock()
	}
	sid := e.handshake(t)
	e.post(t, sid, "4hi\x1ebAQIDBA==")
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || string(got[0].Data) != "hi" || got[0].Binary || !got[1].Binary || string(got[1].Data) != "\x01\x02\x03\x04" {
		t.Fatalf("got %+v", got)
	}
}

func TestPollingGetWaitsForServerPackets(t *testing.T) {
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	c := e.h.nextConn(t)
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = c.Send(msg("a"), engineio.Packet{Type: engineio.Message, Data: []byte{0xff}, Binary: true})
	}()
	start := time.Now()
	status, body := e.poll(t, sid)
	if status != 200 || body != "4a\x1eb/w==" {
		t.Fatalf("GET: %d %q", status, body)
	}
	if time.Since(start) < 40*time.Millisecond {
		t.Fatal("GET did not wait")
	}
}

func TestPollingConcurrentGetClosesSession(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	first := make(chan [2]any, 1)
	go func() {
		s, b := e.poll(t, sid)
		first <- [2]any{s, b}
	}()
	time.Sleep(50 * time.Millisecond)
	status, body := e.do(t, http.MethodGet, "EIO=4&transport=polling&sid="+sid+"&t=burst", "")
	if status != 400 || body != "" { // as Node: no body
		t.Fatalf("second GET: %d %q", status, body)
	}
	if r := <-first; r[0] != 200 || r[1] != "1" {
		t.Fatalf("first GET: %v", r)
	}
	if status, _ := e.poll(t, sid); status != 400 {
		t.Fatalf("GET after close: %d", status)
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.TransportError || !errors.Is(ev.err, ErrPollOverlap) {
		t.Fatalf("close %+v", ev)
	}
}

func TestPollingMalformedPostClosesWithParseError(t *testing.T) {
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	if status, body := e.post(t, sid, "abc"); status != 200 || body != "ok" {
		t.Fatalf("POST: %d %q, want Node's 200 ok", status, body)
	}
	if status, _ := e.poll(t, sid); status != 400 {
		t.Fatalf("GET: %d", status)
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.ParseError || !errors.Is(ev.err, engineio.ErrMalformed) {
		t.Fatalf("close %+v", ev)
	}
}

func TestPollingClientCloseAnswersPendingGetWithNoop(t *testing.T) {
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	first := make(chan string, 1)
	go func() {
		_, b := e.poll(t, sid)
		first <- b
	}()
	time.Sleep(50 * time.Millisecond)
	if status, body := e.post(t, sid, "1"); status != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", status, body)
	}
	if b := <-first; b != "6" {
		t.Fatalf("pending GET got %q", b)
	}
	if status, _ := e.poll(t, sid); status != 400 {
		t.Fatalf("GET after close: %d", status)
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.TransportClose || ev.err != nil {
		t.Fatalf("close %+v", ev)
	}
}

func TestPollingAbortedGetClosesSession(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.doCtx(t, ctx, http.MethodGet, "EIO=4&transport=polling&sid="+sid, "")
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	if ev := e.h.nextClose(t); ev.reason != disconnect.TransportError || !errors.Is(ev.err, ErrPollAborted) {
		t.Fatalf("close %+v", ev)
	}
	if status, _ := e.poll(t, sid); status != 400 {
		t.Fatalf("GET after abort: %d", status)
	}
}

func TestPollingMaxPayload(t *testing.T) {
	const max = 100
	e := startEnv(t, Config{MaxPayload: max})
	t.Run("at limit", func(t *testing.T) {
		sid := e.handshake(t)
		body := "4" + strings.Repeat("x", max-1)
		if status, resp := e.post(t, sid, body); status != 200 || resp != "ok" {
			t.Fatalf("POST: %d %q", status, resp)
		}
		if status, got := e.poll(t, sid); status != 200 || got != body {
			t.Fatalf("GET: %d %q", status, got)
		}
	})
	t.Run("over limit", func(t *testing.T) {
		sid := e.handshake(t)
		if status, body := e.post(t, sid, "4"+strings.Repeat("x", max)); status != http.StatusRequestEntityTooLarge || body != "" {
			t.Fatalf("POST: %d %q", status, body)
		}
		// As in Node, the session goes on.
		if status, body := e.post(t, sid, "4small"); status != 200 || body != "ok" {
			t.Fatalf("POST after 413: %d %q", status, body)
		}
		if status, body := e.poll(t, sid); status != 200 || body != "4small" {
			t.Fatalf("GET after 413: %d %q", status, body)
		}
	})
}

func TestPollingMalformedPacketDoesNotAffectOtherSession(t *testing.T) {
	e := startEnv(t, Config{})
	bad := e.handshake(t)
	good := e.handshake(t)
	if status, body := e.post(t, bad, "4ok\x1e9oops"); status != 200 || body != "ok" {
		t.Fatalf("bad POST: %d %q", status, body)
	}
	if status, body := e.post(t, good, "4still"); status != 200 || body != "ok" {
		t.Fatalf("good POST: %d %q", status, body)
	}
	if status, body := e.poll(t, good); status != 200 || body != "4still" {
		t.Fatalf("good GET: %d %q", status, body)
	}
	if e.srv.Count() != 1 {
		t.Fatalf("Count = %d", e.srv.Count())
	}
}
