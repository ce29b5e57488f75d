package actorio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/internal/bufpool"
	"github.com/actorio/actorio/internal/clusterlink"
	pb "github.com/actorio/actorio/proto"
)

const (
	// forwardedHeader marks a request one node handed to another, so that
	// it is never handed on again.
	forwardedHeader = "X-Actorio-Forwarded"
	// routeWait bounds the search for the node of a session.
	routeWait = 3 * time.Second
	// maxRouting bounds the searches under way at once: a request naming
	// a session of a tag not yet known costs one question to each node,
	// and clients choose the ids they send; past it such a request is
	// refused at once ("Session ID unknown").
	maxRouting = 16
)

// forwarder hands the Engine.IO requests for another node's sessions to
// that node (Options.Cluster): a long-polling GET or POST, or a WebSocket
// upgrade, is answered by the node that holds the session as if the
// client had reached it, so that a balancer needs no sticky sessions. A
// session id starts with its node's tag (clusterlink.SessionTagLen
// characters); the node of a tag is asked of the other nodes once and
// kept until a request to it fails. A long-polling request goes on the
// link to that node (clusterlink.Node.HandOverRequest), whose forwarder
// serves it (serveHandOver); a WebSocket upgrade goes as HTTP/1.1 on a
// connection of its own to that node's cluster port, secured as the links
// between nodes are (clusterlink.Node.DialHandOver), which becomes its
// tunnel, and that node serves it (handOverServer).
type forwarder struct {
	s *Server
	// tag starts the id of every session of this node.
	tag string
	// upgrades carries the WebSocket upgrades handed over, and the
	// long-polling requests for a node of an older build (see
	// clusterlink.Node.LinkHandOver), as HTTP/1.1; proxy sends them.
	upgrades *http.Transport
	proxy    *httputil.ReverseProxy
	routing  atomic.Int32 // searches under way
	// maxBody bounds what this node reads of a POST body it hands over:
	// its MaxHTTPBufferSize, -1 for none.
	maxBody int64
	// handler serves the requests other nodes hand over to this one: the
	// Server, or Options.Cluster.HandOverHandler.
	handler http.Handler
	// serving counts, by session id, the long-polling requests other
	// nodes handed over that handler is serving (see endServed).
	servingMu sync.Mutex
	serving   map[string]int

	mu     sync.Mutex
	routes map[string]string // tag -> cluster address, one per node found

	// ctx ends at close: it ends the requests being forwarded, WebSocket
	// connections included.
	ctx    context.Context
	cancel context.CancelFunc

	// served serves the requests the other nodes hand over to this one.
	served *handOverServer
}

// handOverIdle is how long the forwarder keeps a connection to another
// node idle, and handOverServed how long the node at the other end does:
// longer, so that the forwarder closes it first and never sends a
// request on a connection being closed.
const (
	handOverIdle   = 90 * time.Second
	handOverServed = 2 * time.Minute
)

func newForwarder(s *Server) *forwarder {
	ctx, cancel := context.WithCancel(context.Background())
	// Every address is a node's cluster address (route), which serves
	// HTTP on the connections DialHandOver opens.
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		if s.node == nil {
			return nil, errors.New("not in a cluster")
		}
		return s.node.DialHandOver(ctx, addr)
	}
	// DisableCompression: the client's own Accept-Encoding goes to the
	// owner, which compresses (or not) for the client; without it a
	// request that has none would be answered in gzip between the nodes
	// and unpacked again by this one.
	upgrades := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: handOverIdle, DisableCompression: true, DialContext: dial}
	maxBody := s.opts.MaxHTTPBufferSize
	switch {
	case maxBody == 0:
		maxBody = gateway.DefaultMaxPayload
	case maxBody < 0:
		maxBody = -1
	}
	f := &forwarder{s: s, tag: gateway.NewID()[:clusterlink.SessionTagLen], routes: map[string]string{},
		ctx: ctx, cancel: cancel, upgrades: upgrades, maxBody: maxBody, serving: map[string]int{}}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			var addr string
			if ho, ok := pr.In.Context().Value(routeKey{}).(*handOver); ok {
				addr = ho.addr
			}
			pr.SetURL(&url.URL{Scheme: "http", Host: addr})
			pr.Out.URL.Path, pr.Out.URL.RawPath = pr.In.URL.Path, pr.In.URL.RawPath
			pr.Out.Host = pr.In.Host // the owner checks the origin against it
			pr.Out.Header.Set(forwardedHeader, "1")
		},
		ModifyResponse: func(res *http.Response) error {
			if ho, ok := res.Request.Context().Value(routeKey{}).(*handOver); ok {
				dropDoubled(res.Header, ho.set)
			}
			return nil
		},
		Transport:     upgrades,
		BufferPool:    proxyBuffers{},
		FlushInterval: -1, // what the owner writes goes out as soon as it comes
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// The node that held the session is gone or unreachable: the
			// session is lost, as the client learns from this answer.
			sid := r.URL.Query().Get("sid")
			f.forget(sid[:clusterlink.SessionTagLen])
			s.opts.Logger.Debug("actorio: request for another node's session failed", "sid", sid, "err", err)
			gateway.CodeUnknownSID.Answer(w)
		},
		ErrorLog: slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelDebug),
	}
	var h http.Handler = s
	if s.opts.Cluster.HandOverHandler != nil {
		h = s.opts.Cluster.HandOverHandler
	}
	f.handler = h
	f.served = newHandOverServer(h, s.opts.Logger)
	return f
}

// proxyBuffers lends the buffers through which the forwarder copies what
// a WebSocket upgrade's tunnel carries: without a pool,
// httputil.ReverseProxy makes a 32 KB buffer for every request it hands
// over.
type proxyBuffers struct{}

// proxyBufferSize is httputil.ReverseProxy's own copy buffer's size.
const proxyBufferSize = 32 << 10

var proxyBufferPool = sync.Pool{New: func() any { b := make([]byte, proxyBufferSize); return &b }}

// Get returns a buffer of proxyBufferSize bytes.
func (proxyBuffers) Get() []byte { return *proxyBufferPool.Get().(*[]byte) }

// Put takes back a buffer Get returned.
func (proxyBuffers) Put(b []byte) {
	if cap(b) == proxyBufferSize {
		b = b[:proxyBufferSize]
		proxyBufferPool.Put(&b)
	}
}

// routeKey carries a *handOver from elsewhere to the proxy's Rewrite and
// ModifyResponse.
type routeKey struct{}

// handOver is what the proxy needs to know of one request it hands over:
// the owner's address, and the answer's headers this node has set already.
type handOver struct {
	addr string
	set  http.Header
}

// dropDoubled removes from an owner's answer the CORS headers this node
// set on its own answer already (the gateway sets them before it hands a
// request over), and the Vary values it set: the proxy adds the owner's
// headers to those, and a browser refuses an answer whose
// Access-Control-Allow-Origin holds two values ("*, *"), as a failed
// request.
func dropDoubled(owner, set http.Header) {
	for k := range set {
		if strings.HasPrefix(k, "Access-Control-") {
			owner.Del(k)
		}
	}
	have := set.Values("Vary")
	if len(have) == 0 {
		return
	}
	var keep []string
	for _, v := range owner.Values("Vary") {
		for _, tok := range strings.Split(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !slices.ContainsFunc(have, func(h string) bool { return varies(h, tok) }) {
				keep = append(keep, tok)
			}
		}
	}
	owner.Del("Vary")
	if len(keep) > 0 {
		owner.Set("Vary", strings.Join(keep, ", "))
	}
}

// varies reports whether the Vary value v names the header tok.
func varies(v, tok string) bool {
	for _, h := range strings.Split(v, ",") {
		if strings.EqualFold(strings.TrimSpace(h), tok) {
			return true
		}
	}
	return false
}

// elsewhere is the gateway's Config.Elsewhere: it forwards a request for
// a session another node holds, and reports whether it did.
func (f *forwarder) elsewhere(w http.ResponseWriter, r *http.Request, sid string) bool {
	n := f.s.node
	if n == nil || r.Header.Get(forwardedHeader) != "" || len(sid) <= clusterlink.SessionTagLen {
		return false
	}
	tag := sid[:clusterlink.SessionTagLen]
	if tag == f.tag {
		return false // this node's: the session is over
	}
	addr, ok := f.route(r.Context(), n, tag)
	if !ok {
		return false
	}
	fctx, stop := context.WithCancel(context.WithValue(r.Context(), routeKey{}, &handOver{addr: addr, set: w.Header()}))
	defer stop()
	unhook := context.AfterFunc(f.ctx, stop)
	defer unhook()
	if r.Header.Get("Upgrade") == "" && n.LinkHandOver(addr) {
		f.handOverPoll(fctx, w, r, n, addr, tag)
		return true
	}
	f.proxy.ServeHTTP(w, r.WithContext(fctx))
	return true
}

// handOverPoll hands the long-polling request r over to the node at addr,
// on the link to it, and answers r with that node's answer. The request's
// body is read first, up to maxBody and one byte: a body declared longer
// is not read, and the owner refuses it as too large (413, as it would
// had the client reached it).
func (f *forwarder) handOverPoll(ctx context.Context, w http.ResponseWriter, r *http.Request, n clusterlink.Node, addr, tag string) {
	m := &pb.NodeHandOver{Method: r.Method, Uri: r.URL.RequestURI(), Host: r.Host,
		Header: headersOut(r.Header), ContentLength: r.ContentLength}
	if r.Body != nil && r.Body != http.NoBody {
		if f.maxBody >= 0 && r.ContentLength > f.maxBody {
			m.Cut = true
		} else {
			body := io.Reader(r.Body)
			if f.maxBody >= 0 {
				body = io.LimitReader(r.Body, f.maxBody+1)
			}
			b, err := io.ReadAll(body)
			m.Body = b
			m.Cut = err != nil || (f.maxBody >= 0 && int64(len(b)) > f.maxBody)
		}
	}
	reply, err := n.HandOverRequest(ctx, addr, m)
	if reply != nil {
		defer bufpool.Put(reply.Body) // from bufpool, the reply's alone
	}
	if err == nil && reply.Status == 0 {
		err = errors.New("its server did not answer")
	}
	if err != nil {
		// The node that held the session is gone or unreachable, or
		// failed serving it: the session is lost, as the client learns
		// from this answer. (When the client went away, or this server
		// is closing, the node is not forgotten.)
		if ctx.Err() == nil {
			f.forget(tag)
		}
		f.s.opts.Logger.Debug("actorio: request for another node's session failed", "sid", r.URL.Query().Get("sid"), "err", err)
		gateway.CodeUnknownSID.Answer(w)
		return
	}
	owner := make(http.Header, len(reply.Header))
	for _, h := range reply.Header {
		owner[h.Key] = h.Values
	}
	dropHopByHop(owner)
	h := w.Header()
	dropDoubled(owner, h)
	for k, vs := range owner {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	status := int(reply.Status)
	if bodyAllowed(status, r.Method) && h.Get("Content-Length") == "" {
		h.Set("Content-Length", strconv.Itoa(len(reply.Body)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(reply.Body)
}

// bodyAllowed reports whether an answer of status to a request of method
// has a body.
func bodyAllowed(status int, method string) bool {
	return method != http.MethodHead && status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// hopByHop are the headers that concern one connection only, which a
// hand-over does not carry from one connection to the next (RFC 9110,
// 7.6.1), as a proxy does not.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// dropHopByHop removes from h the hop-by-hop headers, and those its
// Connection header names.
func dropHopByHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
}

// headersOut returns the headers of a request handed over: the client's,
// less the hop-by-hop ones, in the form a link carries.
func headersOut(in http.Header) []*pb.NodeHeader {
	h := in.Clone()
	dropHopByHop(h)
	out := make([]*pb.NodeHeader, 0, len(h))
	for k, vs := range h {
		out = append(out, &pb.NodeHeader{Key: k, Values: vs})
	}
	return out
}

// errCutBody is what the server of a request handed over reads after the
// part of its body the node that handed it over read (NodeHandOver.cut).
var errCutBody = errors.New("actorio: the rest of the body stayed on the node that handed the request over")

// cutBody reads as the body of a request handed over whose body was cut:
// what was read of it, then errCutBody.
type cutBody struct{ r io.Reader }

func (b cutBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = errCutBody
	}
	return n, err
}

// serveHandOver serves, with this node's server (or its HandOverHandler),
// a long-polling request another node handed over, and returns the answer
// the server wrote, once it returned. The request is what the server saw
// on that node (its path and query, its client's headers, with the header
// X-Actorio-Forwarded), from that node's cluster address; its context is
// ctx. A handler that panics gets a reply of status 0, which that node
// takes as a failure.
func (f *forwarder) serveHandOver(ctx context.Context, m *pb.NodeHandOver) (reply *pb.NodeHandOverReply, pooled bool) {
	var body io.Reader = bytes.NewReader(m.Body)
	if m.Cut {
		body = cutBody{body}
	}
	r, err := http.NewRequestWithContext(ctx, m.Method, m.Uri, body)
	if err != nil {
		f.s.opts.Logger.Warn("actorio: request handed over by another node refused", "from", m.ReplyTo, "err", err)
		return &pb.NodeHandOverReply{Status: http.StatusBadRequest}, false
	}
	r.RequestURI, r.Host, r.RemoteAddr = m.Uri, m.Host, m.ReplyTo
	r.ContentLength = m.ContentLength
	r.Header = make(http.Header, len(m.Header)+1)
	for _, h := range m.Header {
		r.Header[h.Key] = h.Values
	}
	r.Header.Set(forwardedHeader, "1")
	sid := r.URL.Query().Get("sid")
	f.servingMu.Lock()
	f.serving[sid]++
	f.servingMu.Unlock()
	defer func() {
		f.servingMu.Lock()
		if f.serving[sid]--; f.serving[sid] <= 0 {
			delete(f.serving, sid)
		}
		f.servingMu.Unlock()
	}()
	w := &handOverAnswer{header: http.Header{}}
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				f.s.opts.Logger.Error("actorio: panic serving a request handed over by another node", "from", m.ReplyTo, "panic", p, "stack", string(debug.Stack()))
			}
			reply, pooled = &pb.NodeHandOverReply{}, false
		}
	}()
	f.handler.ServeHTTP(w, r)
	return w.reply(), w.pooled
}

// endServed ends, as closing the server does ("server shutting down"),
// the sessions of the long-polling requests other nodes handed over that
// are being served: a GET then gets its session's last packets, which the
// node sends before it leaves the cluster (clusterlink.Receiver's
// EndHandOvers).
func (f *forwarder) endServed() {
	f.servingMu.Lock()
	sids := make([]string, 0, len(f.serving))
	for sid := range f.serving {
		sids = append(sids, sid)
	}
	f.servingMu.Unlock()
	for _, sid := range sids {
		f.s.gw.CloseSession(sid, disconnect.ServerShuttingDown)
	}
}

// handOverAnswer is the http.ResponseWriter of a request handed over:
// it keeps the answer, which goes back whole once the handler returns.
type handOverAnswer struct {
	header http.Header
	sent   http.Header // header as it was at WriteHeader
	status int
	// body is what was written. Appended to, not a bytes.Buffer, whose
	// growth zeroes the new space first: a poll's answer is written in
	// one Write, the size of the session's queue. pooled: body is one
	// the gateway kept from bufpool (KeepBody), the answer's alone.
	body   []byte
	pooled bool
}

func (w *handOverAnswer) Header() http.Header { return w.header }

func (w *handOverAnswer) WriteHeader(status int) {
	if w.status != 0 || status < 200 {
		return // written already, or informational (not carried)
	}
	w.status, w.sent = status, w.header.Clone()
}

func (w *handOverAnswer) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	w.pooled = false // written to after a kept body (the gateway never does): not given back
	return len(p), nil
}

// KeepBody takes body as the answer's, not copied: the gateway gives it a
// long-polling answer's body, which it does not reuse then (the answer
// goes on the link after the handler returned, see gateway.bodyKeeper).
// pooled: see gateway.bodyKeeper.
func (w *handOverAnswer) KeepBody(body []byte, pooled bool) {
	w.WriteHeader(http.StatusOK)
	switch {
	case w.body == nil && pooled:
		// The answer's alone, its capacity kept for bufpool.
		w.body, w.pooled = body, true
		return
	case w.body == nil:
		// Clipped: a Write after it must not append into the capacity
		// past body, which may be shared (a gateway's constant answer).
		w.body = body[:len(body):len(body)]
		return
	}
	w.body = append(w.body, body...)
}

// Flush implements http.Flusher: the answer goes once the handler returns.
func (w *handOverAnswer) Flush() {}

// reply returns the answer as a link carries it.
func (w *handOverAnswer) reply() *pb.NodeHandOverReply {
	w.WriteHeader(http.StatusOK)
	out := &pb.NodeHandOverReply{Status: int32(w.status), Body: w.body}
	for k, vs := range w.sent {
		out.Header = append(out.Header, &pb.NodeHeader{Key: k, Values: vs})
	}
	return out
}

// route returns the HTTP address of the node of tag.
func (f *forwarder) route(ctx context.Context, n clusterlink.Node, tag string) (string, bool) {
	f.mu.Lock()
	addr, ok := f.routes[tag]
	f.mu.Unlock()
	if ok {
		return addr, true
	}
	if f.routing.Add(1) > maxRouting {
		f.routing.Add(-1)
		return "", false
	}
	defer f.routing.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, routeWait)
	defer cancel()
	if addr, ok = n.Route(ctx, tag); ok {
		f.mu.Lock()
		f.routes[tag] = addr
		f.mu.Unlock()
	}
	return addr, ok
}

// forget drops what is known of the node of tag.
func (f *forwarder) forget(tag string) {
	f.mu.Lock()
	delete(f.routes, tag)
	f.mu.Unlock()
}

// close ends the requests being forwarded and lets the connections to the
// other nodes go.
func (f *forwarder) close() {
	f.cancel()
	f.upgrades.CloseIdleConnections()
}

// handOverServer serves with net/http the connections on which other
// nodes hand WebSocket upgrades over to this one, and the long-polling
// requests of nodes of older builds. Its HTTP server starts with the
// first.
type handOverServer struct {
	srv   *http.Server
	conns chan net.Conn
	done  chan struct{}
	stop  sync.Once
	start sync.Once
	ended chan struct{} // closed once Serve returned, or at close if it never ran
}

// newHandOverServer returns a server that serves with h the connections
// given to serve.
func newHandOverServer(h http.Handler, log *slog.Logger) *handOverServer {
	hs := &handOverServer{conns: make(chan net.Conn), done: make(chan struct{}), ended: make(chan struct{})}
	hs.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       handOverServed,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		// A node of an older build sends its long-polling requests as
		// HTTP/2 with prior knowledge, on connections the cluster port
		// secured: a stream per poll waiting.
		Protocols: new(http.Protocols),
		HTTP2:     &http.HTTP2Config{MaxConcurrentStreams: 1000},
	}
	hs.srv.Protocols.SetHTTP1(true)
	hs.srv.Protocols.SetUnencryptedHTTP2(true)
	return hs
}

// serve serves conn, or closes it once the server is closed.
func (hs *handOverServer) serve(conn net.Conn) {
	hs.start.Do(func() {
		go func() {
			defer close(hs.ended)
			_ = hs.srv.Serve(handOverListener{hs})
		}()
	})
	select {
	case hs.conns <- conn:
	case <-hs.done:
		_ = conn.Close()
	}
}

// close stops the server: it closes the connections it serves (not those
// its handler took over, the WebSocket upgrades, which the gateway owns)
// and waits for Serve to return.
func (hs *handOverServer) close() {
	hs.stop.Do(func() { close(hs.done) })
	hs.start.Do(func() { close(hs.ended) }) // never served: nothing to wait for
	_ = hs.srv.Close()
	<-hs.ended
}

// handOverListener is what a handOverServer's HTTP server accepts from.
type handOverListener struct{ hs *handOverServer }

func (l handOverListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.hs.conns:
		return c, nil
	case <-l.hs.done:
		return nil, net.ErrClosed
	}
}

func (l handOverListener) Close() error {
	l.hs.stop.Do(func() { close(l.hs.done) })
	return nil
}

func (l handOverListener) Addr() net.Addr { return handOverAddr{} }

// handOverAddr names a handOverListener's address.
type handOverAddr struct{}

func (handOverAddr) Network() string { return "actorio-handover" }
func (handOverAddr) String() string  { return "cluster port" }
