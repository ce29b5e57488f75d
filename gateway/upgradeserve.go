package gateway

// WebSocket upgrade requests a ReadyListener answers itself
// (ServeUpgrades): the request is parsed from the bytes its client sent,
// and the handler runs with a ResponseWriter of this file's, so that a
// connection that is upgraded never gets net/http's buffers.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ServeUpgrades has ln, a listener made by [ReadyListener], answer with
// srv's Handler the WebSocket upgrade requests that arrive whole in their
// connection's first bytes, and reports whether it will: false for other
// listeners and on other systems than Linux, where every connection goes
// to net/http as before.
//
// Call it before srv.Serve(ln). net/http gives every connection it serves
// a 4 KB read buffer and two write buffers (4 KB and 2 KB), and a hijacked
// connection never gives them back, so each WebSocket upgrade leaves
// about 14 KB of garbage: in a connection storm, that garbage sets the
// peak of the process's memory. A connection whose first bytes are a
// whole GET request asking for a WebSocket upgrade (HTTP/1.1, no body,
// headers within 4 KB, nothing sent after them) is served without
// net/http instead, by one of the listener's workers (at most 4 ×
// GOMAXPROCS at a time; one whose handler runs past 5 ms stops counting,
// see upgradeServer): the request is parsed by
// http.ReadRequest and checked as net/http checks it, and its context
// carries what net/http's carries (srv.BaseContext's and
// srv.ConnContext's values, http.ServerContextKey,
// http.LocalAddrContextKey; it is cancelled once the handler returns);
// srv.ConnState is called with StateNew, StateActive and then
// StateHijacked or StateClosed. Its ResponseWriter implements
// http.Hijacker and http.Flusher. An answer without a hijack (a refusal)
// is sent with "Connection: close" and the connection closed after it
// (its body, if any, delimited by the close); a handler's panic is
// logged to srv.ErrorLog as net/http logs it. Every other connection,
// and a request that net/http would refuse, goes to net/http as without
// ServeUpgrades. srv's ReadTimeout and ReadHeaderTimeout do not apply
// (the request is there whole), nor does MaxHeaderBytes (net/http reads
// 4 KB more than it says, so it takes such a head too); WriteTimeout
// bounds the answer of a request not hijacked, and srv.Shutdown does not
// wait for these connections, as for hijacked ones.
func ServeUpgrades(ln net.Listener, srv *http.Server) bool {
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	u := &upgradeServer{srv: srv, handler: h, base: context.Background()}
	if srv.BaseContext != nil {
		if u.base = srv.BaseContext(ln); u.base == nil {
			panic("BaseContext returned a nil context")
		}
	}
	return serveUpgrades(ln, u)
}

// upgradeHeadMax is the most bytes of a connection's head the listener
// looks at: a longer head goes to net/http.
const upgradeHeadMax = 4096

// upgradeServer serves the upgrade requests of a listener (ServeUpgrades)
// on at most upgradeWorkers goroutines at a time, in the order they came
// (queue): in a storm, a request waits there, in a few hundred bytes,
// rather than in a goroutine of its own that the scheduler has not run
// yet. A handler that runs longer than upgradeGrace (one that keeps the
// connection it hijacked, say) stops counting, and another worker starts
// if requests wait.
type upgradeServer struct {
	srv     *http.Server
	handler http.Handler
	base    context.Context
	// served counts the requests it served (for tests).
	served atomic.Int64
	// done is closed when the listener is: the requests still queued are
	// dropped (their connections closed), as net/http's listener closes
	// those it has not accepted.
	done <-chan struct{}
	// handOver gives a connection to net/http (the listener's Accept).
	handOver func(*net.TCPConn)

	mu sync.Mutex
	// queue holds the requests waiting for a worker.
	queue []upgradeRequest
	// workers counts the workers that count toward upgradeWorkers.
	workers int
}

// upgradeRequest is a connection whose head (a copy of its bytes, which
// are still in the connection's receive queue) waits for a worker.
type upgradeRequest struct {
	c    *net.TCPConn
	head []byte
}

// upgradeGrace is how long a request may take its worker before that
// worker stops counting toward upgradeWorkers.
const upgradeGrace = 5 * time.Millisecond

// upgradeWorkers is how many workers serve requests at a time, besides
// those past upgradeGrace.
var upgradeWorkers = 4 * runtime.GOMAXPROCS(0)

// add queues r, and starts a worker when fewer than upgradeWorkers run.
func (u *upgradeServer) add(r upgradeRequest) {
	u.mu.Lock()
	u.queue = append(u.queue, r)
	start := u.workers < upgradeWorkers
	if start {
		u.workers++
	}
	u.mu.Unlock()
	if start {
		go u.work()
	}
}

// upgradeWorker is the state of one worker, which its timer (upgradeGrace)
// shares.
type upgradeWorker struct {
	u *upgradeServer
	t *time.Timer
	// serving: a request is being served; released: the worker no longer
	// counts in u.workers (it ends after the request). Guarded by u.mu.
	serving, released bool
}

// work serves the queue's requests until it is empty, or until the
// request it serves took upgradeGrace.
func (u *upgradeServer) work() {
	w := &upgradeWorker{u: u}
	w.t = time.AfterFunc(time.Hour, w.overdue)
	w.t.Stop()
	for {
		u.mu.Lock()
		if w.released || len(u.queue) == 0 {
			if !w.released {
				u.workers--
			}
			u.mu.Unlock()
			w.t.Stop()
			return
		}
		r := u.queue[0]
		u.queue[0] = upgradeRequest{}
		u.queue = u.queue[1:]
		if len(u.queue) == 0 {
			u.queue = nil // let the array go once a storm is over
		}
		closing := false
		select {
		case <-u.done:
			closing = true
		default:
		}
		w.serving = !closing
		u.mu.Unlock()
		if closing {
			_ = r.c.Close()
			continue
		}
		w.t.Reset(upgradeGrace)
		u.serve(r.c, r.head)
		w.t.Stop()
		u.mu.Lock()
		w.serving = false
		u.mu.Unlock()
	}
}

// overdue runs when a request took its worker upgradeGrace: the worker
// stops counting, and another starts if requests wait.
func (w *upgradeWorker) overdue() {
	u := w.u
	u.mu.Lock()
	if !w.serving || w.released {
		u.mu.Unlock()
		return
	}
	w.released = true
	u.workers--
	start := len(u.queue) > 0 && u.workers < upgradeWorkers
	if start {
		u.workers++
	}
	u.mu.Unlock()
	if start {
		go u.work()
	}
}

// headReaders holds the readers http.ReadRequest parses heads with.
var headReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, upgradeHeadMax) }}

// upgradeHeadLen returns the length of b when b is, as far as a quick look
// tells, one whole GET request asking for a WebSocket upgrade and nothing
// else: an HTTP/1.1 request line, headers ending with an empty line that
// ends b, an Upgrade header naming websocket, one Host header (of the
// bytes validHost takes) and no header announcing a body. Otherwise it
// returns 0.
func upgradeHeadLen(b []byte) int {
	if !bytes.HasPrefix(b, []byte("GET ")) {
		return 0
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 || end+4 != len(b) {
		return 0
	}
	line, rest, _ := bytes.Cut(b[:end+2], []byte("\r\n"))
	if !bytes.HasSuffix(line, []byte(" HTTP/1.1")) {
		return 0
	}
	upgrade, hosts := false, 0
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0
		}
		switch {
		case bytes.EqualFold(name, []byte("upgrade")):
			upgrade = upgrade || containsFold(value, "websocket")
		case bytes.EqualFold(name, []byte("host")):
			hosts++
			if !validHost(bytes.Trim(value, " \t")) {
				return 0
			}
		case bytes.EqualFold(name, []byte("content-length")), bytes.EqualFold(name, []byte("transfer-encoding")):
			return 0
		}
	}
	if !upgrade || hosts != 1 {
		return 0
	}
	return len(b)
}

// containsFold reports whether b contains s, case aside.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if bytes.EqualFold(b[i:i+len(s)], []byte(s)) {
			return true
		}
	}
	return false
}

// parseHead parses head, a head upgradeHeadLen took, and returns the
// request, or nil when net/http would refuse it (the caller then hands
// the connection to net/http, which answers it as it does).
func parseHead(head []byte) *http.Request {
	br := headReaders.Get().(*bufio.Reader)
	br.Reset(bytes.NewReader(head))
	req, err := http.ReadRequest(br)
	br.Reset(nil)
	headReaders.Put(br)
	// ReadRequest took the Host header out of Header, into Host;
	// upgradeHeadLen checked it.
	if err != nil || req.Method != http.MethodGet || !req.ProtoAtLeast(1, 1) {
		return nil
	}
	for name, values := range req.Header {
		if !validFieldName(name) {
			return nil
		}
		for _, v := range values {
			if !validFieldValue(v) {
				return nil
			}
		}
	}
	return req
}

// validFieldName reports whether s is an RFC 9110 token.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return true
}

// validFieldValue reports whether s has no control byte but tabs.
func validFieldValue(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost reports whether s is made of the bytes a Host header may
// hold (a stricter set than net/http's: anything else goes to it).
func validHost(s []byte) bool {
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case bytes.IndexByte([]byte("-._~:[]%!$&'()*+,;="), c) >= 0:
		default:
			return false
		}
	}
	return true
}

// serve serves the request whose head is head (upgradeHeadLen's, still in
// c's receive queue) on c, or hands c to net/http (u.handOver) when
// net/http would refuse it.
func (u *upgradeServer) serve(c *net.TCPConn, head []byte) {
	req := parseHead(head)
	if req == nil {
		u.handOver(c)
		return
	}
	// Take the head off the connection: it is in the kernel's queue.
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	_, err := io.ReadFull(c, head)
	if err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	u.served.Add(1)
	u.state(c, http.StateNew)
	u.state(c, http.StateActive)

	req.RemoteAddr = c.RemoteAddr().String()
	ctx := context.WithValue(u.base, http.ServerContextKey, u.srv)
	if cc := u.srv.ConnContext; cc != nil {
		if ctx = cc(ctx, c); ctx == nil {
			panic("ConnContext returned nil")
		}
	}
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.LocalAddr())
	ctx, cancel := context.WithCancel(ctx)
	req = req.WithContext(ctx)
	if d := u.srv.WriteTimeout; d > 0 {
		_ = c.SetWriteDeadline(time.Now().Add(d))
	}
	w := &directResponse{c: c, header: make(http.Header)}
	u.run(w, req)
	cancel()
	if w.hijacked {
		u.state(c, http.StateHijacked)
		return
	}
	if !w.panicked {
		_ = w.finish()
	}
	_ = c.CloseWrite()
	_ = c.Close()
	u.state(c, http.StateClosed)
}

// run calls the handler, logging a panic as net/http does.
func (u *upgradeServer) run(w *directResponse, req *http.Request) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		w.panicked = true
		if v == http.ErrAbortHandler {
			return
		}
		buf := make([]byte, 64<<10)
		buf = buf[:runtime.Stack(buf, false)]
		u.logf("http: panic serving %v: %v\n%s", req.RemoteAddr, v, buf)
	}()
	u.handler.ServeHTTP(w, req)
}

func (u *upgradeServer) state(c net.Conn, s http.ConnState) {
	if f := u.srv.ConnState; f != nil {
		f(c, s)
	}
}

func (u *upgradeServer) logf(format string, args ...any) {
	if l := u.srv.ErrorLog; l != nil {
		l.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// directResponse is the ResponseWriter of a request served by
// upgradeServer: a hijack hands the connection over; any other answer is
// written straight to the connection, its body delimited by the
// connection's close.
type directResponse struct {
	c        net.Conn
	header   http.Header
	status   int
	err      error
	wrote    bool // WriteHeader ran (the status is set)
	headSent bool // the status line and headers are on the connection
	hijacked bool
	panicked bool
}

// Header returns the answer's headers.
func (w *directResponse) Header() http.Header { return w.header }

// WriteHeader sets the answer's status; an informational one (1xx but
// 101) is sent at once and the handler may answer after it.
func (w *directResponse) WriteHeader(code int) {
	if w.hijacked || w.wrote {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.sendHead(code, nil, false)
		return
	}
	w.status, w.wrote = code, true
}

// Write writes p as (part of) the answer's body.
func (w *directResponse) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.headSent = true
		w.sendHead(w.status, p, false)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.c.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// Flush sends the status line and headers if they are not sent yet; the
// body is written as it comes.
func (w *directResponse) Flush() {
	if w.hijacked {
		return
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.headSent = true
		w.sendHead(w.status, nil, false)
	}
}

// Hijack hands over the connection, with an empty reader and a small
// writer (the WebSocket upgraders write the 101 answer through it).
func (w *directResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	w.hijacked = true
	_ = w.c.SetDeadline(time.Time{})
	return w.c, bufio.NewReadWriter(bufio.NewReaderSize(w.c, 16), bufio.NewWriterSize(w.c, 256)), nil
}

// finish sends what the handler left unsent: the status line and headers
// of an answer without a body.
func (w *directResponse) finish() error {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.headSent = true
		w.sendHead(w.status, nil, true)
	}
	return w.err
}

// sendHead writes the status line of code and the headers. body is the
// body's first bytes, for a Content-Type sniffed as net/http does; final
// means the answer has no body.
func (w *directResponse) sendHead(code int, body []byte, final bool) {
	if w.err != nil {
		return
	}
	h := w.header
	if code >= 200 || code == http.StatusSwitchingProtocols {
		if _, ok := h["Content-Type"]; !ok && len(body) > 0 && bodyAllowed(code) {
			h.Set("Content-Type", http.DetectContentType(body))
		}
		if _, ok := h["Date"]; !ok {
			h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		}
		if _, ok := h["Content-Length"]; !ok && final && bodyAllowed(code) {
			h.Set("Content-Length", "0")
		}
		h.Set("Connection", "close")
	}
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %03d %s\r\n", code, text)
	_ = h.Write(&b)
	b.WriteString("\r\n")
	if _, err := w.c.Write(b.Bytes()); err != nil {
		w.err = err
	}
}

// bodyAllowed reports whether an answer of status code may have a body.
func bodyAllowed(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}
