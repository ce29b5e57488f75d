package client

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/gorilla/websocket"
)

// Bad server input, from tiny fake servers: every case ends in events with
// a reason or an error, never in a panic or a hang.

const fakeOpen = `0{"sid":"fake","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`

// fakeWS serves WebSockets at /socket.io/ and runs script on each.
func fakeWS(t testing.TB, script func(ws *websocket.Conn)) string {
	t.Helper()
	return fakeWSWith(t, websocket.Upgrader{}, script)
}

// fakeWSWith is fakeWS with the upgrader up (compression, say).
func fakeWSWith(t testing.TB, up websocket.Upgrader, script func(ws *websocket.Conn)) string {
	t.Helper()
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		defer ws.Close()
		script(ws)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	})
	return srv.URL
}

// fakeConnect plays a server's handshake and namespace CONNECT answer.
func fakeConnect(ws *websocket.Conn, open string) bool {
	if ws.WriteMessage(websocket.TextMessage, []byte(open)) != nil {
		return false
	}
	_, msg, err := ws.ReadMessage()
	if err != nil || !strings.HasPrefix(string(msg), "40") {
		return false
	}
	return ws.WriteMessage(websocket.TextMessage, []byte(`40{"sid":"s1"}`)) == nil
}

// drain reads until the client goes away.
func drain(ws *websocket.Conn) {
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
	}
}

// wsOnly connects s's options by WebSocket only, without reconnection.
var wsOnly = Options{Transports: []string{TransportWebSocket}, DisableReconnection: true}

func TestFakeBadInputAfterConnect(t *testing.T) {
	text := func(s string) func(*websocket.Conn) {
		return func(ws *websocket.Conn) { _ = ws.WriteMessage(websocket.TextMessage, []byte(s)) }
	}
	binary := func(b []byte) func(*websocket.Conn) {
		return func(ws *websocket.Conn) { _ = ws.WriteMessage(websocket.BinaryMessage, b) }
	}
	cases := []struct {
		name   string
		frames []func(*websocket.Conn)
		reason string
	}{
		{"unknown engine.io type", []func(*websocket.Conn){text("9garbage")}, disconnect.TransportError},
		{"empty frame", []func(*websocket.Conn){text("")}, disconnect.TransportError},
		{"invalid utf-8", []func(*websocket.Conn){text("4\xff\xfe")}, disconnect.TransportError},
		{"unknown socket.io type", []func(*websocket.Conn){text("49")}, disconnect.ParseError},
		{"bad json", []func(*websocket.Conn){text(`42["x",{]`)}, disconnect.ParseError},
		{"event not an array", []func(*websocket.Conn){text(`42{}`)}, disconnect.ParseError},
		{"binary without packet", []func(*websocket.Conn){binary([]byte{1})}, disconnect.ParseError},
		{"text while attachments pending", []func(*websocket.Conn){text(`451-["x",{"_placeholder":true,"num":0}]`), text(`42["y"]`)}, disconnect.ParseError},
		{"placeholder out of range", []func(*websocket.Conn){text(`451-["x",{"_placeholder":true,"num":5}]`)}, disconnect.ParseError},
		{"attachment count too big", []func(*websocket.Conn){text(`4599999-["x"]`)}, disconnect.ParseError},
		{"ack without id", []func(*websocket.Conn){text(`43["x"]`)}, disconnect.ParseError},
		{"server close packet", []func(*websocket.Conn){text("1")}, disconnect.TransportClose},
		{"abrupt close", []func(*websocket.Conn){func(ws *websocket.Conn) { ws.Close() }}, disconnect.TransportClose},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := fakeWS(t, func(ws *websocket.Conn) {
				if !fakeConnect(ws, fakeOpen) {
					return
				}
				for _, f := range c.frames {
					f(ws)
				}
				drain(ws)
			})
			s := mustNew(t, url, wsOnly)
			r := record(s)
			must(t, s.Connect())
			r.wait(t, "disconnect:"+c.reason, 1)
			r.quietFor(t, 50*time.Millisecond)
			expectSeq(t, c.name, r.all(), []string{"connecting", "connect", "disconnect:" + c.reason})
			if r.errOf(EventDisconnect) == nil {
				t.Error("disconnect without the error that caused it")
			}
		})
	}
}

func TestFakeUnknownAckAndNamespaceAreIgnored(t *testing.T) {
	url := fakeWS(t, func(ws *websocket.Conn) {
		if !fakeConnect(ws, fakeOpen) {
			return
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`4312["late"]`))
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`42/nowhere,["x"]`))
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`42["disconnect"]`)) // reserved: dropped
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`42["fine"]`))
		drain(ws)
	})
	s := mustNew(t, url, wsOnly)
	var got []string
	fine := make(chan struct{})
	s.OnAny(func(ev string, _ Args, _ AckFunc) {
		got = append(got, ev)
		if ev == "fine" {
			close(fine)
		}
	})
	r := record(s)
	must(t, s.Connect())
	<-fine
	expectSeq(t, "delivered", got, []string{"fine"})
	expectSeq(t, "events", r.all(), []string{"connecting", "connect"})
}

func TestFakeBadHandshakes(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		is     error
	}{
		{"http 500", 500, "oops", nil},
		{"engine.io error", 400, `{"code":5,"message":"Unsupported protocol version"}`, nil},
		{"not an open packet", 200, "4hello", ErrHandshake},
		{"bad json", 200, "0{bad", ErrHandshake},
		{"missing sid", 200, `0{"pingInterval":1,"pingTimeout":1}`, ErrHandshake},
		{"zero ping interval", 200, `0{"sid":"x","pingInterval":0,"pingTimeout":1}`, ErrHandshake},
		{"binary garbage", 200, "\xff\xfe\x00", ErrHandshake},
		{"empty body", 200, "", ErrHandshake},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}))
			t.Cleanup(srv.Close)
			s := mustNew(t, srv.URL, Options{DisableReconnection: true})
			r := record(s)
			must(t, s.Connect())
			r.wait(t, EventConnectFailed, 1)
			expectSeq(t, c.name, r.all(), []string{"connecting", "connect_error", "connect_failed"})
			err := r.errOf(EventConnectError)
			var he *HTTPError
			switch {
			case c.is != nil && !errors.Is(err, c.is):
				t.Fatalf("error %v, want %v", err, c.is)
			case c.is == nil && (!errors.As(err, &he) || he.StatusCode != c.status):
				t.Fatalf("error %v, want HTTP %d", err, c.status)
			}
			if c.status == 400 && (he.Code != 5 || he.Message != "Unsupported protocol version") {
				t.Fatalf("engine.io error %+v", he)
			}
		})
	}
}

func TestFakeBadWebSocketHandshake(t *testing.T) {
	for _, open := range []string{"zzz", "3pong", `0{"sid":""}`} {
		url := fakeWS(t, func(ws *websocket.Conn) {
			_ = ws.WriteMessage(websocket.TextMessage, []byte(open))
			drain(ws)
		})
		s := mustNew(t, url, wsOnly)
		r := record(s)
		must(t, s.Connect())
		r.wait(t, EventConnectFailed, 1)
		if err := r.errOf(EventConnectError); !errors.Is(err, ErrHandshake) {
			t.Fatalf("%q: %v", open, err)
		}
	}
}

func TestFakeHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept() // accept, then say nothing
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	for _, tr := range []string{TransportPolling, TransportWebSocket} {
		s := mustNew(t, "http://"+ln.Addr().String(), Options{Transports: []string{tr}, DisableReconnection: true, Timeout: 150 * time.Millisecond})
		r := record(s)
		must(t, s.Connect())
		r.wait(t, EventConnectFailed, 1)
		if err := r.errOf(EventConnectFailed); !errors.Is(err, ErrTimeout) {
			t.Fatalf("%s: %v", tr, err)
		}
	}
}

func TestFakePingTimeout(t *testing.T) {
	url := fakeWS(t, func(ws *websocket.Conn) {
		if fakeConnect(ws, `0{"sid":"x","upgrades":[],"pingInterval":60,"pingTimeout":40,"maxPayload":100}`) {
			drain(ws) // and never ping
		}
	})
	s := mustNew(t, url, wsOnly)
	r := record(s)
	must(t, s.Connect())
	r.wait(t, "disconnect:"+disconnect.PingTimeout, 1)
	expectSeq(t, "ping timeout", r.all(), []string{"connecting", "connect", "disconnect:ping timeout"})
}

func TestFakeConnectAnswers(t *testing.T) {
	for _, c := range []struct {
		answer string
		want   []string
		msg    string
	}{
		{`40`, []string{"connecting", "connect_error", "error"}, ""},
		{`44"nope"`, []string{"connecting", "connect_error", "error"}, "nope"},
		{`44{"message":"no","data":[1]}`, []string{"connecting", "connect_error", "error"}, "no"},
	} {
		url := fakeWS(t, func(ws *websocket.Conn) {
			_ = ws.WriteMessage(websocket.TextMessage, []byte(fakeOpen))
			if _, _, err := ws.ReadMessage(); err == nil {
				_ = ws.WriteMessage(websocket.TextMessage, []byte(c.answer))
			}
			drain(ws)
		})
		s := mustNew(t, url, wsOnly)
		r := record(s)
		must(t, s.Connect())
		r.wait(t, EventError, 1)
		expectSeq(t, c.answer, r.all(), c.want)
		var ce *ConnectError
		if c.msg != "" && (!errors.As(r.errOf(EventError), &ce) || ce.Message != c.msg) {
			t.Fatalf("%s: %v", c.answer, r.errOf(EventError))
		}
	}
}

func TestFakePollingGarbageAfterHandshake(t *testing.T) {
	var mu sync.Mutex
	gets := 0
	connectSent := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			once.Do(func() { close(connectSent) })
			_, _ = w.Write([]byte("ok"))
			return
		}
		mu.Lock()
		gets++
		n := gets
		mu.Unlock()
		switch n {
		case 1:
			_, _ = w.Write([]byte(`0{"sid":"p","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
		case 2:
			<-connectSent // a server answers the client's CONNECT
			_, _ = w.Write([]byte(`40{"sid":"s"}`))
		default:
			_, _ = w.Write([]byte("\x1e\x1e"))
		}
	}))
	t.Cleanup(srv.Close)
	s := mustNew(t, srv.URL, Options{Transports: []string{TransportPolling}, DisableReconnection: true})
	r := record(s)
	must(t, s.Connect())
	r.wait(t, "disconnect:"+disconnect.TransportError, 1)
	expectSeq(t, "garbage payload", r.all(), []string{"connecting", "connect", "disconnect:transport error"})
}

// A compressed message is bounded by its size once decompressed, not by
// the few bytes it takes on the wire: past 64 MiB the client stops reading
// it, tells the server with close code 1009 and ends the session with a
// transport error; a compressed message under the bound arrives intact.
func TestFakeCompressedMessageBound(t *testing.T) {
	cases := []struct {
		name string
		size int // bytes of the event's string argument
		over bool
	}{
		{"under the bound", 2 << 20, false},
		{"over the bound once decompressed", maxFrame, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			closeCode := make(chan int, 1)
			url := fakeWSWith(t, websocket.Upgrader{EnableCompression: true}, func(ws *websocket.Conn) {
				if !fakeConnect(ws, fakeOpen) {
					return
				}
				msg := make([]byte, 0, c.size+16)
				msg = append(msg, `42["big","`...)
				msg = append(msg, strings.Repeat("a", c.size)...)
				msg = append(msg, `"]`...)
				ws.EnableWriteCompression(true)
				if ws.WriteMessage(websocket.TextMessage, msg) != nil {
					return
				}
				for {
					if _, _, err := ws.ReadMessage(); err != nil {
						var ce *websocket.CloseError
						if errors.As(err, &ce) {
							closeCode <- ce.Code
						}
						return
					}
				}
			})
			opts := wsOnly
			opts.PerMessageDeflate = &PerMessageDeflate{}
			s := mustNew(t, url, opts)
			got := make(chan int, 1)
			s.On("big", func(args Args, _ AckFunc) {
				var v string
				if args.Decode(0, &v) == nil {
					got <- len(v)
				}
			})
			r := record(s)
			must(t, s.Connect())
			if !c.over {
				select {
				case n := <-got:
					if n != c.size {
						t.Fatalf("got %d bytes, sent %d", n, c.size)
					}
				case <-time.After(waitTimeout):
					t.Fatalf("no event; events %q", r.all())
				}
				return
			}
			r.wait(t, "disconnect:"+disconnect.TransportError, 1)
			if err := r.errOf(EventDisconnect); !errors.Is(err, ErrProtocol) {
				t.Errorf("disconnect error %v, want ErrProtocol", err)
			}
			select {
			case code := <-closeCode:
				if code != websocket.CloseMessageTooBig {
					t.Errorf("server got close code %d, want %d", code, websocket.CloseMessageTooBig)
				}
			case <-time.After(waitTimeout):
				t.Error("server got no close frame")
			}
			select {
			case n := <-got:
				t.Fatalf("a message over the bound was delivered (%d bytes)", n)
			default:
			}
		})
	}
}
