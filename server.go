package actorio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorio/actorio/actors"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/internal/clusterlink"
	pb "github.com/actorio/actorio/proto"
	"github.com/actorio/actorio/protocol/socketio"
)

// stopGrace is how long Close still waits for actors that were told to stop
// after the drain used up Options.CloseTimeout.
const stopGrace = 500 * time.Millisecond

// Server is a Socket.IO v5 server: an http.Handler plus its namespaces.
type Server struct {
	opts Options
	rt   *actors.Runtime
	gw   *gateway.Server
	// connOpts is what every connection actor of the server shares.
	connOpts *actors.ConnOptions

	mu      sync.RWMutex
	nsps    map[string]*Namespace
	parents []*Namespace // dynamic namespace matchers, in creation order
	dynamic int          // child namespaces of parents, alive
	closed  bool
	// removing counts the child namespaces removed whose supervisor has
	// not stopped yet, for Close to wait on; incarnations numbers the
	// removable children made, for their actor names.
	removing     sync.WaitGroup
	incarnations atomic.Uint64
	// refusals logs the namespaces and rooms refused to clients.
	refusals *actors.RefusalLog
	// down is closed, readable without mu.
	down atomic.Bool

	// entry is the actor that takes Emit messages (PID).
	entry *actor.PID

	// node is this server's cluster node; nil on a single node, never
	// changed after NewServer.
	node clusterlink.Node
	// fw hands the requests for other nodes' sessions to them
	// (Options.Cluster).
	fw *forwarder
	// sideMu guards onSide, the ServerSideEmit handlers by event.
	sideMu sync.RWMutex
	onSide map[string][]ServerSideHandler

	// path is the endpoint's path, "/"-terminated, for ClientDir's files.
	path string

	// obs holds the installed observers (Observe); nil when there are none.
	obs atomic.Pointer[multiObserver]
}

// NewServer creates a server with the default namespace "/".
func NewServer(opts Options) (*Server, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if opts.ClientDir != "" {
		if _, err := os.Stat(filepath.Join(opts.ClientDir, "socket.io.js")); err != nil {
			return nil, fmt.Errorf("actorio: ClientDir is not socket.io-client's dist directory: %w", err)
		}
	}
	s := &Server{opts: opts, rt: actors.NewRuntime(opts.Logger, opts.ActorSystem), nsps: map[string]*Namespace{},
		refusals: actors.NewRefusalLog(opts.Logger)}
	if opts.Parser == ParserMsgpack {
		s.rt.SetParser(actors.ParserMsgpack)
	}
	gw := opts.gateway()
	if opts.Cluster != nil {
		// The session ids of a node start with its tag, by which the
		// other nodes find it and hand it the requests for its sessions.
		s.fw = newForwarder(s)
		gw.SessionIDPrefix, gw.Elsewhere = s.fw.tag, s.fw.elsewhere
	}
	s.connOpts = &actors.ConnOptions{
		Directory:          s.lookup,
		ConnectTimeout:     opts.ConnectTimeout,
		EventRate:          opts.EventRate,
		EventBurst:         opts.EventBurst,
		MaxAttachmentBytes: max(opts.MaxAttachmentBytes, 0),
	}
	s.gw = gateway.New(gw, openHandler{s})
	s.path = s.gw.Path()
	if _, err := s.of("/"); err != nil {
		return nil, err
	}
	if err := s.spawnEntry(); err != nil {
		_ = s.Close()
		return nil, err
	}
	if opts.Cluster != nil {
		if err := s.joinCluster(); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// ServeHTTP serves the Engine.IO endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.serveClient(w, r) {
		return
	}
	s.gw.ServeHTTP(w, r)
}

// openHandler gives each new Engine.IO connection its connection actor.
type openHandler struct{ s *Server }

func (h openHandler) OnOpen(c *gateway.Conn) {
	if err := h.s.rt.Open(c, h.s.connOpts); err != nil {
		h.s.opts.Logger.Error("actorio: cannot open connection", "conn", c.ID(), "err", err)
		c.Close(disconnect.ForcedClose)
	}
}

// Of returns the namespace called name, creating it on first use. After
// Close it returns a namespace whose broadcasts fail with ErrServerClosed.
//
// A name that a parent made by OfRegexp matches belongs to that parent,
// as in Node: Of returns its child namespace when one is alive, else a
// handle of the name that creates nothing (the next client to connect to
// the name makes the child, with the parent's handlers). Either way the
// handle's broadcasts reach the child of that name alive at the time, if
// any: it outlives the removal of empty children. Register middleware and
// handlers on the parent: a child runs its parent's. Names of OfFunc
// parents are not looked at, as in Node (their match needs the client's
// auth): Of creates a namespace of its own for such a name when no child
// has it, and clients then join that one; to only look, use Namespace.
func (s *Server) Of(name string) *Namespace {
	ns, err := s.of(name)
	if err != nil {
		s.opts.Logger.Error("actorio: cannot create namespace", "nsp", name, "err", err)
		return newNamespace(s, name, nil)
	}
	return ns
}

func (s *Server) of(name string) (*Namespace, error) {
	if name == "" || name[0] != '/' {
		name = "/" + name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ns, ok := s.nsps[name]; ok {
		return ns, nil
	}
	if s.closed {
		return nil, ErrServerClosed
	}
	for _, p := range s.parents {
		if p.byName && p.match(name, nil) {
			h := newNamespace(s, name, nil)
			h.parent, h.a = p, s.rt.DetachedNamespace(name)
			return h, nil
		}
	}
	ns := newNamespace(s, name, nil)
	if err := ns.spawn(); err != nil {
		return nil, err
	}
	s.nsps[name] = ns
	return ns, nil
}

// OfFunc returns a parent namespace: a client connecting to a name that
// match accepts gets a child namespace of that name, which uses the
// parent's middleware and connection handlers. A child is removed once
// its last socket has left (see Options.KeepEmptyChildNamespaces) and made
// again, with the parent's handlers, by the next client to connect to its
// name.
func (s *Server) OfFunc(match func(name string, auth json.RawMessage) bool) *Namespace {
	return s.ofFunc(match, false)
}

// OfRegexp returns a parent namespace for every name re matches.
func (s *Server) OfRegexp(re *regexp.Regexp) *Namespace {
	return s.ofFunc(func(name string, _ json.RawMessage) bool { return re.MatchString(name) }, true)
}

func (s *Server) ofFunc(match func(name string, auth json.RawMessage) bool, byName bool) *Namespace {
	ns := newNamespace(s, "", match)
	ns.byName = byName
	s.mu.Lock()
	s.parents = append(s.parents, ns)
	s.mu.Unlock()
	return ns
}

// lookup is the server's actors.Directory, for the connection actors: the
// namespace it returns is reserved for the SpawnSocket request that
// follows (actors.NamespaceRef.Reserve), under s.mu, so a child namespace
// found here is not removed before that request reached it.
func (s *Server) lookup(name string, auth []byte) *actors.NamespaceRef {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil
	}
	if ns, ok := s.nsps[name]; ok {
		ns.a.Reserve()
		s.mu.RUnlock()
		return ns.a
	}
	parents := s.parents
	s.mu.RUnlock()
	for _, p := range parents {
		if p.match(name, auth) {
			return s.child(p, name)
		}
	}
	return nil
}

// child returns the child namespace of p called name, reserved for a
// SpawnSocket, creating it unless Options.MaxDynamicNamespaces children
// are alive.
func (s *Server) child(p *Namespace, name string) *actors.NamespaceRef {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	if ns, ok := s.nsps[name]; ok { // made meanwhile
		ns.a.Reserve()
		s.mu.Unlock()
		return ns.a
	}
	if limit := s.opts.MaxDynamicNamespaces; limit > 0 && s.dynamic >= limit {
		s.mu.Unlock()
		s.refusals.Refuse("", "actorio: dynamic namespace refused: MaxDynamicNamespaces reached",
			slog.String("nsp", name), slog.Int("max", limit))
		return nil
	}
	ns := newNamespace(s, name, nil)
	ns.parent = p
	if err := ns.spawn(); err != nil {
		s.mu.Unlock()
		s.opts.Logger.Error("actorio: cannot create dynamic namespace", "nsp", name, "err", err)
		return nil
	}
	s.nsps[name] = ns
	s.dynamic++
	p.addChild(ns)
	ns.a.Reserve()
	s.mu.Unlock()
	return ns.a
}

// removeChild removes the child namespace ns, which its supervisor found
// empty, unless a CONNECT found it meanwhile (its SpawnSocket is on its
// way) or the server is closing (Close drains and stops it).
func (s *Server) removeChild(ns *Namespace) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.nsps[ns.name] != ns || ns.a.Pending() > 0 {
		return false
	}
	delete(s.nsps, ns.name)
	s.dynamic--
	ns.parent.removeChild(ns)
	s.removing.Add(1)
	return true
}

// Namespace returns the namespace called name if it exists now (static,
// or a child of a parent alive at this moment), without creating one as
// Of does: what code that only inspects (a dashboard, say) should use,
// since a child namespace may be removed at any time.
func (s *Server) Namespace(name string) (*Namespace, bool) {
	ns := s.lookupName(name)
	return ns, ns != nil
}

// lookupName returns the namespace called name now, nil if there is none.
func (s *Server) lookupName(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

// OnConnection registers a connection handler on the namespace "/".
func (s *Server) OnConnection(fn func(s *Socket)) { s.Of("/").OnConnection(fn) }

// Use adds a middleware to the namespace "/".
func (s *Server) Use(mw Middleware) { s.Of("/").Use(mw) }

// Emit sends an event to every socket of the namespace "/".
func (s *Server) Emit(event string, args ...any) error { return s.Of("/").Emit(event, args...) }

// To selects the sockets of the namespace "/" in rooms.
func (s *Server) To(rooms ...string) *BroadcastOperator { return s.Of("/").To(rooms...) }

// Close disconnects every socket with reason "server shutting down", closes
// every connection and stops every goroutine the server started. Close is
// idempotent.
//
// Close waits up to Options.CloseTimeout for every socket to end: a socket
// ends once the handler it is running returns, then its disconnect handlers
// run. A handler still running at the deadline (blocked forever, say) does
// not hold Close up: Close closes every connection anyway, stops the actors
// (waiting a little longer, at most half a second, for those already
// stopping, but not for that socket) and returns an error saying which
// namespaces did not drain. The
// goroutine of that handler is the only one Close leaves behind; when the
// handler returns, its socket still gets exactly one OnDisconnect call, with
// reason "server shutting down" (or the reason of an end that came earlier,
// such as "transport close"). Closing the connections flushes what is
// queued for each client: a WebSocket client that stopped reading holds
// that up for at most a second, then its connection is cut.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.down.Store(true)
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, ns := range s.nsps {
		nsps = append(nsps, ns)
	}
	s.mu.Unlock()

	// Leave the cluster first: the other nodes stop sending to this one,
	// and nothing they sent reaches a namespace that is stopping.
	var nodeErr error
	if s.node != nil {
		nodeErr = s.node.Close()
	}
	if s.fw != nil {
		s.fw.close()
	}

	deadline := time.Now().Add(s.opts.CloseTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// Drain the namespaces together: one stuck namespace must not use up
	// the time of the others.
	errs := make([]error, len(nsps))
	var wg sync.WaitGroup
	for i, ns := range nsps {
		wg.Go(func() {
			if err := ns.a.Drain(ctx, disconnect.ServerShuttingDown); err != nil {
				errs[i] = fmt.Errorf("drain %s: %w", ns.name, err)
			}
		})
	}
	wg.Wait()
	if err := s.gw.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close gateway: %w", err))
	}
	if s.fw != nil {
		s.fw.close() // the connections the last forwarded requests left idle
		// Only now, once the gateway ended their sessions: the requests the
		// other nodes handed over, each answered as the clients' own.
		s.fw.served.close()
	}
	// Every actor left has been told to stop; those not stuck in a handler
	// need only a moment, even when the drain used up the deadline. A
	// namespace that did not drain is stopped without waiting: it has a
	// socket stuck in a handler, and stops once the handler returns.
	stopCtx, cancelStop := context.WithDeadline(context.Background(), later(deadline, time.Now().Add(stopGrace)))
	defer cancelStop()
	noWait, cancelNoWait := context.WithCancel(context.Background())
	cancelNoWait()
	for i, ns := range nsps {
		if errs[i] != nil {
			_ = ns.a.Stop(noWait)
			continue
		}
		if err := ns.a.Stop(stopCtx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.entry != nil {
		s.rt.System().Root.Stop(s.entry)
	}
	if err := waitGroup(stopCtx, &s.removing); err != nil {
		errs = append(errs, fmt.Errorf("stop removed namespaces: %w", err))
	}
	s.refusals.Close()
	if err := s.rt.Close(stopCtx); err != nil {
		errs = append(errs, fmt.Errorf("stop actors: %w", err))
	}
	if nodeErr != nil {
		errs = append(errs, fmt.Errorf("leave cluster: %w", nodeErr))
	}
	return errors.Join(errs...)
}

// waitGroup waits for wg, or until ctx ends.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Local selects the sockets of the namespace "/" on this node only: with
// Options.Cluster, its broadcasts do not go to the other nodes.
func (s *Server) Local() *BroadcastOperator { return s.Of("/").Local() }

// Compress selects every socket of the namespace "/", with the packets
// compressed or not as BroadcastOperator.Compress says (Node's
// io.compress).
func (s *Server) Compress(compress bool) *BroadcastOperator { return s.Of("/").Compress(compress) }

// ClusterNodes returns the cluster addresses (host:port) of the nodes this
// server's broadcasts go to, its own first, as its membership sees them
// now; nil without Options.Cluster.
func (s *Server) ClusterNodes() []string {
	if s.node == nil {
		return nil
	}
	return s.node.Nodes()
}

// ServerSideHandler handles an event another node of the cluster sent with
// ServerSideEmit; ack is nil unless that node waits for an acknowledgement
// (ServerSideEmitWithAck). Handlers run one at a time, in the order each
// node sent its events, and never on the path of a broadcast.
type ServerSideHandler func(args Args, ack AckFunc)

// OnServerSideEmit registers a handler for event, sent by the other nodes
// of the cluster with ServerSideEmit.
func (s *Server) OnServerSideEmit(event string, fn ServerSideHandler) {
	s.sideMu.Lock()
	if s.onSide == nil {
		s.onSide = map[string][]ServerSideHandler{}
	}
	s.onSide[event] = append(s.onSide[event], fn)
	s.sideMu.Unlock()
}

// ServerSideEmit sends an event to the handlers that the other nodes of the
// cluster registered with OnServerSideEmit (not to this node's), without
// waiting. Without Options.Cluster there is no other node: it sends
// nothing.
func (s *Server) ServerSideEmit(event string, args ...any) error {
	data, atts, err := s.encodeServerSide(event, args)
	if err != nil || s.node == nil {
		return err
	}
	s.node.ServerSideEmit(data, atts)
	return nil
}

// ServerSideEmitWithAck sends an event as ServerSideEmit does and returns
// the acknowledgement of every other node once each answered; a node that
// leaves the cluster meanwhile is not waited for, nor one known
// unreachable or dropped (the error then wraps cluster.ErrNodeUnreachable).
// When ctx ends first it
// returns the acknowledgements received with ctx's error. A node answers
// when one of its handlers calls ack: a node without a handler for the
// event never does.
func (s *Server) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	data, atts, err := s.encodeServerSide(event, args)
	if err != nil || s.node == nil {
		return nil, err
	}
	acks, err := s.node.ServerSideEmitWithAck(ctx, data, atts)
	out := make([]Args, 0, len(acks))
	for _, a := range acks {
		if args, aerr := newArgs(a.Data, a.Attachments, 0); aerr == nil {
			out = append(out, args)
		}
	}
	if err != nil {
		return out, fmt.Errorf("server-side emit %q: %w", event, err)
	}
	return out, nil
}

// encodeServerSide encodes a server-side event as the JSON array [event,
// args...] and its attachments.
func (s *Server) encodeServerSide(event string, args []any) ([]byte, [][]byte, error) {
	if s.down.Load() {
		return nil, nil, ErrServerClosed
	}
	return encodeEventData(event, args)
}

// joinCluster starts this server's cluster node (Options.Cluster).
func (s *Server) joinCluster() error {
	o := *s.opts.Cluster
	if o.Provider == nil {
		return errors.New("actorio: Options.Cluster.Provider is nil")
	}
	if o.HTTPAddress != "" {
		s.opts.Logger.Warn("actorio: ClusterOptions.HTTPAddress is ignored: other nodes hand requests over through the cluster port", "http_address", o.HTTPAddress)
	}
	c := clusterlink.Config{Name: o.Name, Address: o.Address, AdvertisedAddress: o.AdvertisedAddress,
		Secret: o.Secret, Insecure: o.Insecure, MaxQueueBytes: o.MaxQueueBytes}
	if o.TLS != nil {
		c.TLS = &clusterlink.TLS{CertFile: o.TLS.CertFile, KeyFile: o.TLS.KeyFile, CAFile: o.TLS.CAFile}
	}
	node, err := o.Provider.JoinCluster(c, s.opts.Logger, clusterReceiver{s})
	if err != nil {
		return fmt.Errorf("actorio: join cluster: %w", err)
	}
	s.node = node
	return nil
}

// clusterReceiver hands a server what the other nodes of its cluster sent.
type clusterReceiver struct{ s *Server }

// OwnsSessionTag reports whether tag is this node's session tag.
func (r clusterReceiver) OwnsSessionTag(tag string) bool { return tag == r.s.fw.tag }

// HandOver serves a connection on which another node hands this one a
// WebSocket upgrade for one of its sessions.
func (r clusterReceiver) HandOver(conn net.Conn) { r.s.fw.served.serve(conn) }

// EndHandOvers ends the sessions of the long-polling requests other
// nodes handed over that are being served, as Close does.
func (r clusterReceiver) EndHandOvers() { r.s.fw.endServed() }

// ServeHandOver serves a long-polling request another node handed over
// for one of this node's sessions.
func (r clusterReceiver) ServeHandOver(ctx context.Context, m *pb.NodeHandOver) (*pb.NodeHandOverReply, bool) {
	return r.s.fw.serveHandOver(ctx, m)
}

// Broadcast delivers a broadcast another node encoded to the sockets of
// the namespace of that name, as a local broadcast. A namespace that does
// not exist here has no socket to reach. held is as for
// actors.BroadcastOptions.
func (r clusterReceiver) Broadcast(nsp string, b *pb.Broadcast, held *gateway.Held) {
	s := r.s
	if s.down.Load() {
		return
	}
	s.mu.RLock()
	ns := s.nsps[nsp]
	s.mu.RUnlock()
	if ns != nil {
		ns.a.Broadcast(b, true, actors.BroadcastOptions{Uncompressed: b.Uncompressed, Held: held}, s.sentFrame(nsp, b.Frame, b.Attachments))
	}
}

// namespace returns the namespace called nsp, nil if it does not exist
// here or the server is closing.
func (r clusterReceiver) namespace(nsp string) *Namespace {
	if r.s.down.Load() {
		return nil
	}
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	return r.s.nsps[nsp]
}

// ChangeRooms makes the sockets t selects in nsp join or leave rooms.
func (r clusterReceiver) ChangeRooms(nsp string, t *pb.Target, rooms []string, leave bool) {
	if ns := r.namespace(nsp); ns != nil {
		ns.a.ChangeRooms(t, rooms, leave)
	}
}

// DisconnectSockets disconnects the sockets t selects in nsp.
func (r clusterReceiver) DisconnectSockets(nsp string, t *pb.Target, closeTransport bool) {
	if ns := r.namespace(nsp); ns != nil {
		ns.a.DisconnectSockets(t, closeTransport)
	}
}

// BroadcastWithAck sends an event another node encoded to the sockets t
// selects in nsp and hands their acks to onAck, as EmitWithAck does on
// this node, and done the number of those that did not answer.
func (r clusterReceiver) BroadcastWithAck(ctx context.Context, nsp string, t *pb.Target, f clusterlink.EmitFlags, data []byte, atts [][]byte, onAck func([]byte, [][]byte, bool), done func(missing int)) {
	ns := r.namespace(nsp)
	if ns == nil {
		done(0)
		return
	}
	startEmitWithAckLocal(ctx, ns.a, t, f.Volatile, actors.BroadcastOptions{Uncompressed: f.Uncompressed}, data, atts, onAck, r.s.sentTo(nsp, data, atts),
		func(missing int, err error) {
			if err != nil && missing == 0 && ctx.Err() == nil {
				r.s.opts.Logger.Warn("actorio: broadcast with acks from another node failed", "nsp", nsp, "err", err)
			}
			done(missing)
		})
}

// ServerSideEmit runs the handlers of a server-side event.
func (r clusterReceiver) ServerSideEmit(data []byte, atts [][]byte, ack func([]byte, [][]byte)) {
	name, args, err := socketio.NewEventArgs(data, atts)
	if err != nil {
		r.s.opts.Logger.Warn("actorio: malformed server-side event from another node", "err", err)
		return
	}
	r.s.sideMu.RLock()
	fns := r.s.onSide[name]
	r.s.sideMu.RUnlock()
	var af AckFunc
	if ack != nil {
		var sent atomic.Bool
		af = func(args ...any) error {
			if !sent.CompareAndSwap(false, true) {
				return nil
			}
			data, atts, err := socketio.MarshalArgs(args...)
			if err != nil {
				return fmt.Errorf("encode ack: %w", err)
			}
			ack(data, atts)
			return nil
		}
	}
	for _, fn := range fns {
		fn(args, af)
	}
}
