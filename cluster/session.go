package cluster

import (
	"context"
	"fmt"
	"time"

	pb "github.com/actorio/actorio/proto"
)

// This file carries connection state recovery across nodes: the state of
// each session to every node, and the claim of a session by the node where
// its client reconnected.

// claimGiveUp bounds how long a node waits for the socket of a session
// another node claims to end; the claimer waits less (3 s) and then gives
// its client a new socket.
const claimGiveUp = 5 * time.Second

// claimWaiter waits for the answer to a NodeSessionClaim.
type claimWaiter = replyWaiter[*pb.NodeSessionClaimReply]

// SessionState implements clusterlink.Node: one message per other node,
// after the broadcasts queued for it before, with this node's member id.
func (n *node) SessionState(s *pb.NodeSession) {
	if ps := n.others(); len(ps) > 0 {
		s.MemberId = n.member()
		n.send(ps, s)
	}
}

// Alive implements clusterlink.Node.
func (n *node) Alive(member string) bool {
	p, ok := n.peer(member)
	return ok && n.reachable(p.addr)
}

// peer returns the other node alive whose member id is member; none once
// the node is closed.
func (n *node) peer(member string) (peer, bool) {
	for _, p := range n.others() {
		if p.id == member {
			return p, true
		}
	}
	return peer{}, false
}

// ClaimSession implements clusterlink.Node: the claim goes to the node
// actor of that node, whose answer comes back to this node's node actor
// behind what that node sent before it.
func (n *node) ClaimSession(ctx context.Context, member string, c *pb.NodeSessionClaim) (*pb.NodeSession, error) {
	p, ok := n.peer(member)
	if !ok {
		return nil, fmt.Errorf("claim a session from node %s: %w", member, ErrNodeUnreachable)
	}
	replies, err := collectReplies[*pb.NodeSessionClaimReply](ctx, n, []peer{p}, "session", func(id uint64) []string {
		m := &pb.NodeSessionClaim{Namespace: c.Namespace, Pid: c.Pid, Addr: c.Addr, RequestId: id, ReplyTo: n.address()}
		return n.send([]peer{p}, m)
	})
	if err != nil {
		return nil, fmt.Errorf("claim a session from node %s: %w", member, err)
	}
	if len(replies) == 0 {
		return nil, nil
	}
	return replies[0].Session, nil
}

// claimSession answers, for another node, a NodeSessionClaim; the socket
// it ends has claimGiveUp to do so.
func (n *node) claimSession(m *pb.NodeSessionClaim) {
	ctx, cancel := context.WithTimeout(n.ctx, claimGiveUp)
	defer cancel()
	s := n.recv.ClaimSession(ctx, m)
	if !n.closed.Load() {
		n.sendTo(m.ReplyTo, &pb.NodeSessionClaimReply{RequestId: m.RequestId, MemberId: n.member(), Session: s})
	}
}
