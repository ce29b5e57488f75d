package cluster

import (
	"context"
	"time"

	pb "github.com/actorio/actorio/proto"
)

// routeTimeout bounds the wait for the other nodes' answers to a
// NodeRouteQuery.
const routeTimeout = 2 * time.Second

// routeWaiter waits for the other nodes' answers to one NodeRouteQuery:
// the first that owns the tag ends the wait, as do answers from all.
type routeWaiter struct {
	awaiting
	addr string // the owner's cluster address, once one answered
}

// add takes the answer of a node still awaited.
func (w *routeWaiter) add(m *pb.NodeRouteReply) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.want[m.MemberId] {
		return
	}
	if m.Address != "" {
		w.addr = m.Address
		clear(w.want) // the others' answers no longer matter
		w.check()
		return
	}
	w.finish(m.MemberId)
}

// Route implements clusterlink.Node: it asks every other node alive at
// once, on the links, and returns with the first owner's answer, or once
// every node answered, became unreachable or left, or after routeTimeout.
func (n *node) Route(ctx context.Context, tag string) (string, bool) {
	ps := n.others()
	if len(ps) == 0 || tag == "" {
		return "", false
	}
	id := n.ackSeq.Add(1)
	w := &routeWaiter{}
	w.await(ps, n.reachable)
	n.watch(id, w, &w.awaiting, ps)
	defer n.waiters.Delete(id)
	if dropped := n.send(ps, &pb.NodeRouteQuery{Tag: tag, RequestId: id, ReplyTo: n.address()}); len(dropped) > 0 {
		w.lose(dropped) // their queue is full
	}
	ctx, cancel := context.WithTimeout(ctx, routeTimeout)
	defer cancel()
	select {
	case <-w.done:
	case <-ctx.Done():
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addr, w.addr != ""
}

// routeReply answers another node's NodeRouteQuery on the link to it.
func (n *node) routeReply(m *pb.NodeRouteQuery) {
	if m.ReplyTo == "" || n.closed.Load() {
		return
	}
	var addr string
	if n.recv.OwnsSessionTag(m.Tag) {
		addr = n.address()
	}
	n.sendTo(m.ReplyTo, &pb.NodeRouteReply{Address: addr, RequestId: m.RequestId, MemberId: n.member(), HandOverLinks: addr != ""})
}
