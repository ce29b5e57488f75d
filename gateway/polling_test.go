package gateway

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// TestPollingFanOutBodiesStayIntact: a long-polling answer is encoded in a
// pooled buffer and its queue's array is reused once encoded; sessions
// polling at once while the server sends each of them thousands of
// packets, of sizes that land the answers in several of the pools' size
// classes, get every packet once, whole and in order.
func TestPollingFanOutBodiesStayIntact(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	const sessions, packets = 8, 3000
	data := func(i int) string {
		return strconv.Itoa(i) + ":" + strings.Repeat(string(rune('a'+i%26)), (i*37)%700)
	}
	sids := make([]string, sessions)
	conns := make([]*Conn, sessions)
	for k := range sessions {
		sids[k] = e.handshake(t)
		conns[k] = e.h.nextConn(t)
		if conns[k].ID() != sids[k] {
			t.Fatalf("session %d: opened %s, handshake gave %s", k, conns[k].ID(), sids[k])
		}
	}
	var polls atomic.Int64
	var wg sync.WaitGroup
	for k, sid := range sids {
		wg.Go(func() {
			for next := 0; next < packets; {
				status, body := e.poll(t, sid)
				if status != http.StatusOK {
					t.Errorf("session %d: GET after %d packets: %d %q", k, next, status, body)
					return
				}
				polls.Add(1)
				for p := range strings.SplitSeq(body, "\x1e") {
					if want := "4" + data(next); p != want {
						t.Errorf("session %d: packet %d is %.40q (%d bytes), want %.40q (%d bytes)", k, next, p, len(p), want, len(want))
						return
					}
					next++
				}
			}
		})
	}
	for i := range packets {
		for _, c := range conns {
			if err := c.Send(msg(data(i))); err != nil {
				t.Errorf("send %d: %v", i, err)
			}
		}
	}
	wg.Wait()
	if n := polls.Load(); n <= sessions {
		t.Errorf("%d GETs for %d sessions: the answers were not spread over several polls", n, sessions)
	}
}

// keeper is a ResponseWriter that keeps the long-polling bodies it is
// given (a bodyKeeper), as package actorio's answer to a request handed
// over does.
type keeper struct {
	*httptest.ResponseRecorder
	kept   [][]byte
	pooled []bool
}

func (k *keeper) KeepBody(body []byte, pooled bool) {
	k.kept = append(k.kept, body)
	k.pooled = append(k.pooled, pooled)
}

// TestPollingBodyKept: a GET served into a bodyKeeper hands it the body
// with the answer's headers, not through Write, and the gateway does not
// reuse that body for the answers that follow.
func TestPollingBodyKept(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	sid := e.handshake(t)
	c := e.h.nextConn(t)
	get := func(w http.ResponseWriter) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling&sid="+sid, nil)
		e.srv.ServeHTTP(w, r)
	}
	// Large enough for a body from bufpool, small enough not to be
	// gzipped (the request accepts no gzip anyway).
	payload := strings.Repeat("k", 600)
	if err := c.Send(msg(payload)); err != nil {
		t.Fatal(err)
	}
	k := &keeper{ResponseRecorder: httptest.NewRecorder()}
	get(k)
	if len(k.kept) != 1 || string(k.kept[0]) != "4"+payload || k.Body.Len() != 0 {
		t.Fatalf("kept %d bodies, wrote %d bytes", len(k.kept), k.Body.Len())
	}
	if !k.pooled[0] {
		t.Error("a body from bufpool was kept as not pooled: the keeper would not give it back")
	}
	if h := k.Header(); k.Code != http.StatusOK || h.Get("Content-Length") != "601" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("answer %d with headers %v", k.Code, h)
	}
	// Answers of the same size, each in a body from the pool: none may
	// be the one kept.
	for i := range 20 {
		other := strings.Repeat(string(rune('a'+i)), 600)
		if err := c.Send(msg(other)); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		get(rec)
		if rec.Body.String() != "4"+other {
			t.Fatalf("answer %d: %q", i, rec.Body.String())
		}
	}
	if string(k.kept[0]) != "4"+payload {
		t.Fatalf("the kept body was reused: %.20q…", k.kept[0])
	}

	// A gzipped answer goes to the keeper too, compressed.
	big := strings.Repeat("z", 2*DefaultCompressionThreshold)
	if err := c.Send(msg(big)); err != nil {
		t.Fatal(err)
	}
	k = &keeper{ResponseRecorder: httptest.NewRecorder()}
	r := httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling&sid="+sid, nil)
	r.Header.Set("Accept-Encoding", "gzip")
	e.srv.ServeHTTP(k, r)
	if len(k.kept) != 1 || k.Body.Len() != 0 || k.Header().Get("Content-Encoding") != "gzip" ||
		k.Header().Get("Content-Length") != strconv.Itoa(len(k.kept[0])) {
		t.Fatalf("kept %d bodies, wrote %d bytes, headers %v", len(k.kept), k.Body.Len(), k.Header())
	}
	if k.pooled[0] {
		t.Error("a gzipped body, not from bufpool, was kept as pooled")
	}
	zr, err := gzip.NewReader(bytes.NewReader(k.kept[0]))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(zr); err != nil || string(plain) != "4"+big {
		t.Fatalf("the kept gzipped body reads %d bytes, %v", len(plain), err)
	}
}
