package actorio

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/actorio/actorio/actors"
	pb "github.com/actorio/actorio/proto"
)

// Middleware runs before a socket joins a namespace; an error refuses it
// (a *ConnectError sets the message and data the client receives).
type Middleware func(s *Socket) error

// Namespace is a Socket.IO namespace: its middleware, its connection
// handlers and the broadcasts to its sockets. Safe for concurrent use.
type Namespace struct {
	srv  *Server
	name string
	a    *actors.NamespaceRef

	// A parent namespace matches names instead of owning sockets; byName
	// tells that match ignores the auth (OfRegexp), so that Of can use it.
	// A child namespace has its parent, and a is its incarnation: the
	// child is removed when empty and made again on the next CONNECT.
	match    func(name string, auth json.RawMessage) bool
	byName   bool
	parent   *Namespace
	children map[*Namespace]struct{}

	mu          sync.RWMutex
	middlewares []Middleware
	onConnect   []func(s *Socket)
	forwards    []forward // Forward registrations
	// forwarded is set once Forward has been called: events check it
	// without taking mu.
	forwarded atomic.Bool
	// outgoing counts the connected sockets with OnAnyOutgoing handlers
	// (catchall.go).
	outgoing atomic.Int64
	// roomHooks are the OnRoomEvent hooks (guarded by mu); roomQ runs
	// them (roomevents.go).
	roomHooks roomHookList
	roomQ     serial
}

func newNamespace(s *Server, name string, match func(string, json.RawMessage) bool) *Namespace {
	return &Namespace{srv: s, name: name, match: match}
}

func (ns *Namespace) spawn() error {
	s := ns.srv
	o := actors.NamespaceOptions{
		Recovery:             s.opts.ConnectionStateRecovery.actors(s.opts.BindSessionToAddress),
		MaxNamespacesPerConn: max(s.opts.MaxNamespacesPerConnection, 0),
		MaxRoomsPerSocket:    max(s.opts.MaxRoomsPerSocket, 0),
		Refusals:             s.refusals,
	}
	if o.Recovery != nil && s.opts.Cluster != nil {
		o.Replication = replication{s}
	}
	if ns.parent != nil && !s.opts.KeepEmptyChildNamespaces {
		o.OnEmpty = func() bool { return s.removeChild(ns) }
		o.OnRemoved = s.removing.Done
		o.Incarnation = s.incarnations.Add(1)
	}
	a, err := s.rt.SpawnNamespace(ns.name, ns.newSocketHandler, o)
	if err != nil {
		return err
	}
	ns.a = a
	if o := ns.observerFor(s.obs.Load()); o != nil {
		a.SetObserver(o)
	}
	return nil
}

func (ns *Namespace) addChild(c *Namespace) {
	ns.mu.Lock()
	if ns.children == nil {
		ns.children = map[*Namespace]struct{}{}
	}
	ns.children[c] = struct{}{}
	ns.mu.Unlock()
}

func (ns *Namespace) removeChild(c *Namespace) {
	ns.mu.Lock()
	delete(ns.children, c)
	ns.mu.Unlock()
}

// Name returns the namespace name, such as "/" or "/chat" ("" for a parent
// namespace).
func (ns *Namespace) Name() string { return ns.name }

// Server returns the server the namespace belongs to.
func (ns *Namespace) Server() *Server { return ns.srv }

// Use adds a middleware, run in order for every socket before it connects.
func (ns *Namespace) Use(mw Middleware) {
	ns.mu.Lock()
	ns.middlewares = append(ns.middlewares, mw)
	ns.mu.Unlock()
}

// OnConnection registers a handler run for every socket that connects.
func (ns *Namespace) OnConnection(fn func(s *Socket)) {
	ns.mu.Lock()
	ns.onConnect = append(ns.onConnect, fn)
	ns.mu.Unlock()
}

// handlers returns the middleware and connection handlers a socket of this
// namespace runs: a child of a dynamic parent runs the parent's, as they
// are when the socket connects (a child made again runs those registered
// since, too), then those registered on the child itself (through Of or
// Socket.Namespace), which go with the child when it is removed.
func (ns *Namespace) handlers() ([]Middleware, []func(*Socket)) {
	ns.mu.RLock()
	mws, fns := ns.middlewares, ns.onConnect
	ns.mu.RUnlock()
	if ns.parent == nil {
		return mws, fns
	}
	p := ns.parent
	p.mu.RLock()
	pmws, pfns := p.middlewares, p.onConnect
	p.mu.RUnlock()
	if len(mws) > 0 {
		pmws = append(pmws[:len(pmws):len(pmws)], mws...)
	}
	if len(fns) > 0 {
		pfns = append(pfns[:len(pfns):len(pfns)], fns...)
	}
	return pmws, pfns
}

// newSocketHandler is the namespace's actors.Behavior.
func (ns *Namespace) newSocketHandler(p *actors.SocketRef, auth []byte) actors.SocketHandler {
	return newSocket(ns, p, auth)
}

func (ns *Namespace) op() *BroadcastOperator { return &BroadcastOperator{ns: ns} }

// To selects the sockets in any of rooms.
func (ns *Namespace) To(rooms ...string) *BroadcastOperator { return ns.op().To(rooms...) }

// In is the same as To.
func (ns *Namespace) In(rooms ...string) *BroadcastOperator { return ns.op().To(rooms...) }

// Except selects every socket but those in rooms.
func (ns *Namespace) Except(rooms ...string) *BroadcastOperator { return ns.op().Except(rooms...) }

// Volatile selects every socket, skipping those not ready to receive.
func (ns *Namespace) Volatile() *BroadcastOperator { return ns.op().Volatile() }

// Local selects every socket of the namespace on this node only: with
// Options.Cluster, its broadcasts do not go to the other nodes.
func (ns *Namespace) Local() *BroadcastOperator { return ns.op().Local() }

// Compress selects every socket, with the packets compressed or not as
// BroadcastOperator.Compress says.
func (ns *Namespace) Compress(compress bool) *BroadcastOperator { return ns.op().Compress(compress) }

// Emit sends an event to every socket of the namespace.
func (ns *Namespace) Emit(event string, args ...any) error { return ns.op().Emit(event, args...) }

// EmitWithAck sends an event to every socket and collects their acks until
// all answered or ctx ends.
func (ns *Namespace) EmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	return ns.op().EmitWithAck(ctx, event, args...)
}

// FetchSockets returns the sockets of the namespace on this node (see
// FetchRemoteSockets for every node of a cluster).
func (ns *Namespace) FetchSockets(ctx context.Context) ([]*Socket, error) {
	return ns.op().FetchSockets(ctx)
}

// Rooms returns the rooms of the namespace on this node that hold a
// connected socket, with how many each holds, as Node's adapter.rooms
// without the room of each socket's own id. For a parent namespace
// (OfFunc) it adds up those of its child namespaces.
func (ns *Namespace) Rooms(ctx context.Context) (map[string]int, error) {
	targets := ns.targets()
	if targets == nil && ns.match == nil {
		return nil, ErrServerClosed
	}
	out := map[string]int{}
	for _, a := range targets {
		rooms, err := a.ListRooms(ctx)
		if err != nil {
			return nil, fmt.Errorf("rooms of %s: %w", a.Name(), err)
		}
		for r, n := range rooms {
			out[r] += n
		}
	}
	return out, nil
}

// SocketsJoin makes every socket of the namespace join rooms.
func (ns *Namespace) SocketsJoin(rooms ...string) { ns.op().SocketsJoin(rooms...) }

// SocketsLeave makes every socket of the namespace leave rooms.
func (ns *Namespace) SocketsLeave(rooms ...string) { ns.op().SocketsLeave(rooms...) }

// DisconnectSockets disconnects every socket of the namespace; close also
// closes their connections.
func (ns *Namespace) DisconnectSockets(close bool) { ns.op().DisconnectSockets(close) }

// targets lists the namespace actors a broadcast goes to: the namespace
// itself, or every child of a parent namespace. A child namespace stands
// for its name: once removed, its broadcasts go to the namespace of that
// name now, if any (the child made again by the next CONNECT).
// Socket returns the connected socket of this namespace on this node with
// the given id, as Node's namespace.sockets.get(id); for a parent made by
// OfFunc or OfRegexp it looks in every child.
func (ns *Namespace) Socket(id string) (*Socket, bool) {
	for _, a := range ns.targets() {
		if p, ok := a.Socket(id); ok && p.Connected() {
			return p.Handler().(hooks).s, true
		}
	}
	return nil, false
}

func (ns *Namespace) targets() []*actors.NamespaceRef {
	if ns.match == nil {
		if ns.a == nil {
			return nil // made by Of after Close
		}
		if ns.parent != nil {
			if cur := ns.srv.lookupName(ns.name); cur != nil && cur != ns {
				return []*actors.NamespaceRef{cur.a}
			}
		}
		return []*actors.NamespaceRef{ns.a}
	}
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	out := make([]*actors.NamespaceRef, 0, len(ns.children))
	for c := range ns.children {
		out = append(out, c.a)
	}
	return out
}

func target(rooms, exceptRooms, exceptIDs []string) *pb.Target {
	return &pb.Target{Rooms: rooms, ExceptRooms: exceptRooms, ExceptIds: exceptIDs}
}
