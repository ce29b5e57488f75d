package client

import (
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
)

// waitTimeout bounds every wait of the tests.
const waitTimeout = 10 * time.Second

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fast returns options with short reconnection delays for tests.
func fast(o Options) Options {
	if o.ReconnectionDelay == 0 {
		o.ReconnectionDelay = 20 * time.Millisecond
	}
	if o.ReconnectionDelayMax == 0 {
		o.ReconnectionDelayMax = 80 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = quiet()
	}
	return o
}

// goServer is an actorio server on 127.0.0.1 that can be stopped and
// started again on the same port.
type goServer struct {
	t     testing.TB
	opts  actorio.Options
	setup func(*actorio.Server)
	addr  string
	URL   string

	mu  sync.Mutex
	srv *actorio.Server
	web *httptest.Server
}

// startGo starts an actorio server configured by setup.
func startGo(t testing.TB, opts actorio.Options, setup func(*actorio.Server)) *goServer {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	g := &goServer{t: t, opts: opts, setup: setup, addr: "127.0.0.1:0"}
	g.start()
	t.Cleanup(g.stop)
	return g
}

func (g *goServer) start() {
	g.t.Helper()
	srv, err := actorio.NewServer(g.opts)
	if err != nil {
		g.t.Fatal(err)
	}
	if g.setup != nil {
		g.setup(srv)
	}
	var ln net.Listener
	for i := 0; ; i++ {
		ln, err = net.Listen("tcp", g.addr)
		if err == nil {
			break
		}
		if i > 100 {
			g.t.Fatalf("listen %s: %v", g.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	web := httptest.NewUnstartedServer(srv)
	web.Listener.Close()
	web.Listener = ln
	web.Start()
	g.mu.Lock()
	g.srv, g.web = srv, web
	g.addr = ln.Addr().String()
	g.URL = "http://" + g.addr
	g.mu.Unlock()
}

// server returns the running actorio server.
func (g *goServer) server() *actorio.Server {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.srv
}

// stop stops the server (a no-op when stopped).
func (g *goServer) stop() {
	g.mu.Lock()
	srv, web := g.srv, g.web
	g.srv, g.web = nil, nil
	g.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	web.CloseClientConnections()
	web.Close()
}

// recorder records the lifecycle events of a socket.
type recorder struct {
	mu     sync.Mutex
	events []string
	errs   []error
	change chan struct{}
}

// record starts recording s's lifecycle events as "name" or
// "name:reason" / "name:attempt".
func record(s *Socket) *recorder {
	r := &recorder{change: make(chan struct{})}
	s.OnEvent(func(e Event) {
		str := e.Name
		switch e.Name {
		case EventDisconnect:
			str += ":" + e.Reason
		case EventReconnecting, EventReconnectAttempt, EventReconnect:
			str += ":" + strconv.Itoa(e.Attempt)
		}
		r.mu.Lock()
		r.events = append(r.events, str)
		r.errs = append(r.errs, e.Err)
		close(r.change)
		r.change = make(chan struct{})
		r.mu.Unlock()
	})
	return r
}

// all returns the events so far.
func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// errOf returns the error of the last event named name.
func (r *recorder) errOf(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if strings.SplitN(r.events[i], ":", 2)[0] == name {
			return r.errs[i]
		}
	}
	return nil
}

// wait waits until the n-th (1-based) event equal to want was recorded.
func (r *recorder) wait(t testing.TB, want string, n int) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		r.mu.Lock()
		c, ch := 0, r.change
		for _, e := range r.events {
			if e == want {
				c++
			}
		}
		r.mu.Unlock()
		if c >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %q (#%d) within %v; events: %q", want, n, waitTimeout, r.all())
		}
	}
}

// quietFor waits d and fails if an event arrives meanwhile.
func (r *recorder) quietFor(t testing.TB, d time.Duration) {
	t.Helper()
	before := r.all()
	time.Sleep(d)
	if after := r.all(); len(after) != len(before) {
		t.Fatalf("unexpected events after %q: %q", before, after[len(before):])
	}
}

// classic filters events down to the classic names.
func classic(events []string) []string {
	var out []string
	for _, e := range events {
		switch strings.SplitN(e, ":", 2)[0] {
		case EventConnectError, EventReconnectAttempt, EventReconnectError:
			continue
		}
		out = append(out, e)
	}
	return out
}

// expectSeq fails unless got equals want.
func expectSeq(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s events:\n got  %q\n want %q", what, got, want)
	}
}

// cutProxy is a TCP proxy to a server whose connections the test can cut.
type cutProxy struct {
	ln     net.Listener
	target string
	URL    string

	mu     sync.Mutex
	conns  map[net.Conn]bool
	isDown bool // new connections are closed at once
	wg     sync.WaitGroup
}

func newCutProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: strings.TrimPrefix(target, "http://"), URL: "http://" + ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.isDown
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *cutProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// open returns how many proxied connections are open.
func (p *cutProxy) open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

// cut closes every proxied connection.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// down cuts every connection and refuses new ones until up.
func (p *cutProxy) down() {
	p.mu.Lock()
	p.isDown = true
	p.mu.Unlock()
	p.cut()
}

// up accepts connections again.
func (p *cutProxy) up() {
	p.mu.Lock()
	p.isDown = false
	p.mu.Unlock()
}

func (p *cutProxy) close() {
	p.ln.Close()
	p.cut()
	p.wg.Wait()
}

// freePort returns a port nothing listens on (for "server gone" tests).
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// mustNew creates a socket for url or fails the test; Close is a cleanup.
func mustNew(t testing.TB, url string, opts Options) *Socket {
	t.Helper()
	s, err := New(url, fast(opts))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// mustConnect connects s and waits for connect.
func mustConnect(t testing.TB, s *Socket, r *recorder) {
	t.Helper()
	if err := s.Connect(); err != nil {
		t.Fatal(err)
	}
	r.wait(t, EventConnect, 1)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkNoClientGoroutine fails if a goroutine runs code of the client
// package (tests excepted) or holds an HTTP client connection.
func checkNoClientGoroutine(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var bad []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "net/http.(*persistConn)") {
				bad = append(bad, g)
				continue
			}
			for _, line := range strings.Split(g, "\n") {
				line = strings.TrimSpace(line)
				if strings.Contains(line, "/client/") && strings.Contains(line, ".go:") && !strings.Contains(line, "_test.go:") {
					bad = append(bad, g)
					break
				}
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the client remain:\n%s", len(bad), strings.Join(bad, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
