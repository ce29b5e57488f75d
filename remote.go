package actorio

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	pb "github.com/actorio/actorio/proto"
)

// RemoteSocket is a socket that FetchRemoteSockets returned, on this node
// or on another node of the cluster (Options.Cluster). A socket of this
// node is its *Socket, whose Rooms and Data are live. A socket of another
// node is a handle holding its id, rooms and Data as of the fetch; Emit,
// Join, Leave and Disconnect send one message to the node that owns it,
// which applies them to the socket with that id if it is still connected,
// and ignores them otherwise. They do not wait for that node, and nothing
// tells whether they were applied: delivery is at most once, in the
// order this goroutine sent them, after the broadcasts it emitted before
// (see package cluster).
type RemoteSocket interface {
	// ID returns the socket's id, unique across nodes.
	ID() string
	// Rooms returns the socket's rooms, its own id's included, sorted.
	Rooms() []string
	// Data returns the socket's Data. For a socket of another node it is
	// the value as encoding/json decodes it into an any (a
	// map[string]any for a struct, float64 for a number), or nil when it
	// was nil or JSON cannot encode it.
	Data() any
	// Emit sends an event to the socket's client.
	Emit(event string, args ...any) error
	// Join adds the socket to rooms.
	Join(rooms ...string)
	// Leave removes the socket from rooms.
	Leave(rooms ...string)
	// Disconnect disconnects the socket from its namespace; close also
	// closes its connection.
	Disconnect(close bool)
}

var (
	_ RemoteSocket = (*Socket)(nil)
	_ RemoteSocket = (*remoteSocket)(nil)
)

// FetchRemoteSockets returns the selected sockets of every node: this
// node's first, as their *Socket, then, with Options.Cluster and unless
// Local, those of every other node alive, as handles that send their
// operations to the node that owns the socket. It waits, under ctx, for
// every other node to answer or to leave the cluster; a node known
// unreachable, or dropped meanwhile, is not waited for, and the error then
// wraps cluster.ErrNodeUnreachable. When ctx ends first, it returns the
// sockets it has (this node's and those of the nodes that answered) with
// an error that wraps ctx's.
func (b *BroadcastOperator) FetchRemoteSockets(ctx context.Context) ([]RemoteSocket, error) {
	local, err := b.FetchSockets(ctx)
	out := make([]RemoteSocket, 0, len(local))
	for _, s := range local {
		out = append(out, s)
	}
	n := b.ns.srv.node
	if err != nil || n == nil || b.local {
		return out, err
	}
	t := b.target()
	for _, a := range b.ns.targets() {
		replies, err := n.FetchSockets(ctx, a.Name(), t)
		for _, r := range replies {
			for _, info := range r.Sockets {
				out = append(out, newRemoteSocket(b.ns.srv, r.MemberId, a.Name(), info))
			}
		}
		if err != nil {
			return out, fmt.Errorf("fetch sockets of other nodes: %w", err)
		}
	}
	return out, nil
}

// FetchRemoteSockets returns the sockets of the namespace on every node
// (see BroadcastOperator.FetchRemoteSockets).
func (ns *Namespace) FetchRemoteSockets(ctx context.Context) ([]RemoteSocket, error) {
	return ns.op().FetchRemoteSockets(ctx)
}

// remoteSocket is a socket of another node.
type remoteSocket struct {
	srv    *Server
	member string // the member id of the node that owns it
	nsp    string
	id     string
	rooms  []string
	data   any
}

func newRemoteSocket(srv *Server, member, nsp string, info *pb.NodeSocketInfo) *remoteSocket {
	r := &remoteSocket{srv: srv, member: member, nsp: nsp, id: info.Id, rooms: info.Rooms}
	if len(info.Data) > 0 {
		var v any
		if json.Unmarshal(info.Data, &v) == nil {
			r.data = v
		}
	}
	return r
}

func (r *remoteSocket) ID() string      { return r.id }
func (r *remoteSocket) Rooms() []string { return slices.Clone(r.rooms) }
func (r *remoteSocket) Data() any       { return r.data }

// Emit encodes the event here and sends it to the owning node. It fails
// only when the server is closed or the arguments cannot be encoded.
func (r *remoteSocket) Emit(event string, args ...any) error {
	if r.srv.down.Load() {
		return ErrServerClosed
	}
	frame, _, atts, err := encodeEvent(r.nsp, event, 0, false, args)
	if err != nil {
		return err
	}
	r.send(&pb.NodeSocketCommand{Frame: frame, Attachments: atts})
	return nil
}

func (r *remoteSocket) Join(rooms ...string) {
	if len(rooms) > 0 {
		r.send(&pb.NodeSocketCommand{Join: rooms})
	}
}

func (r *remoteSocket) Leave(rooms ...string) {
	if len(rooms) > 0 {
		r.send(&pb.NodeSocketCommand{Leave: rooms})
	}
}

func (r *remoteSocket) Disconnect(close bool) {
	r.send(&pb.NodeSocketCommand{Disconnect: true, Close: close})
}

func (r *remoteSocket) send(c *pb.NodeSocketCommand) {
	n := r.srv.node
	if n == nil || r.srv.down.Load() {
		return
	}
	c.Namespace, c.SocketId = r.nsp, r.id
	n.SocketCommand(r.member, c)
}

// FetchSockets describes the sockets t selects in nsp for another node's
// FetchRemoteSockets.
func (r clusterReceiver) FetchSockets(ctx context.Context, nsp string, t *pb.Target) []*pb.NodeSocketInfo {
	ns := r.namespace(nsp)
	if ns == nil {
		return nil
	}
	refs, err := ns.a.Select(ctx, t)
	if err != nil {
		r.s.opts.Logger.Warn("actorio: fetch sockets for another node failed", "nsp", nsp, "err", err)
		return nil
	}
	out := make([]*pb.NodeSocketInfo, 0, len(refs))
	for _, p := range refs {
		info := &pb.NodeSocketInfo{Id: p.ID(), Rooms: p.Rooms()}
		if h, ok := p.Handler().(hooks); ok {
			if d := h.s.Data(); d != nil {
				if b, err := json.Marshal(d); err == nil {
					info.Data = b
				}
			}
		}
		out = append(out, info)
	}
	return out
}

// SocketCommand applies an operation of another node's RemoteSocket to
// the socket it names, if it is still here.
func (r clusterReceiver) SocketCommand(c *pb.NodeSocketCommand) {
	ns := r.namespace(c.Namespace)
	if ns == nil {
		return
	}
	p, ok := ns.a.Socket(c.SocketId)
	if !ok {
		return
	}
	h, ok := p.Handler().(hooks)
	if !ok {
		return
	}
	switch {
	case c.Frame != nil:
		if p.WriteEvent(c.Frame, c.Attachments, false) == nil {
			if sent := r.s.sentFrame(p.Namespace().Name(), c.Frame, c.Attachments); sent != nil {
				sent([]string{p.ID()})
			}
		}
	case len(c.Join) > 0:
		h.s.Join(c.Join...)
	case len(c.Leave) > 0:
		h.s.Leave(c.Leave...)
	case c.Disconnect:
		h.s.Disconnect(c.Close)
	}
}
