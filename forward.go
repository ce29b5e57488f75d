package actorio

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/internal/clusterlink"
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
// kept until a request to it fails. The requests go as HTTP/1.1 on
// connections to that node's cluster port, secured as the links between
// nodes are (clusterlink.Node.DialHandOver), and the forwarder of that
// node serves them (handOverServer).
type forwarder struct {
	s *Server
	// tag starts the id of every session of this node.
	tag       string
	transport handOverTransport
	proxy     *httputil.ReverseProxy
	routing   atomic.Int32 // searches under way

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
	// handOverStreams bounds the requests on one HTTP/2 connection of
	// hand-overs; past it the other node opens another connection.
	handOverStreams = 1000
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
	polls := &http.Transport{IdleConnTimeout: handOverIdle, DisableCompression: true, DialContext: dial,
		Protocols: new(http.Protocols)}
	polls.Protocols.SetUnencryptedHTTP2(true) // on a connection DialHandOver secured
	f := &forwarder{s: s, tag: gateway.NewID()[:clusterlink.SessionTagLen], routes: map[string]string{},
		ctx: ctx, cancel: cancel, transport: handOverTransport{upgrades: upgrades, polls: polls}}
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
		Transport:     f.transport,
		BufferPool:    proxyBuffers{},
		FlushInterval: -1, // a long-polling answer goes out as soon as it comes
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
	f.served = newHandOverServer(h, s.opts.Logger)
	return f
}

// proxyBuffers lends the buffers through which the forwarder copies
// bodies: without a pool, httputil.ReverseProxy makes a 32 KB buffer for
// every request it hands over, a long-polling GET or POST included.
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
	f.proxy.ServeHTTP(w, r.WithContext(fctx))
	return true
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
	f.transport.upgrades.CloseIdleConnections()
	f.transport.polls.CloseIdleConnections()
}

// handOverTransport sends the requests handed over to another node: the
// long-polling ones multiplexed on HTTP/2 (with prior knowledge, over the
// connections DialHandOver secured), so that a node's pending polls for
// another node share a connection or a few (one TLS handshake, not one
// per poll waiting at once); a WebSocket upgrade, which HTTP/2 cannot
// carry, on an HTTP/1.1 connection of its own, which becomes its tunnel.
type handOverTransport struct{ upgrades, polls *http.Transport }

// RoundTrip sends r on the transport for its kind.
func (t handOverTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Upgrade") != "" {
		return t.upgrades.RoundTrip(r)
	}
	return t.polls.RoundTrip(r)
}

// handOverServer serves with net/http the connections on which other
// nodes hand requests over to this one. Its HTTP server starts with the
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
		// HTTP/2 with prior knowledge for the polls (handOverTransport),
		// on connections the cluster port secured.
		Protocols: new(http.Protocols),
		// A stream per poll waiting: room for a node's polling clients
		// on one connection, before the other node opens another.
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: handOverStreams},
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
