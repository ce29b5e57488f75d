package actorio

import (
	"context"
	"errors"

	pb "github.com/actorio/actorio/proto"
)

// replication is actors.Replication over the server's cluster node: with
// Options.Cluster and ConnectionStateRecovery, every namespace shares its
// logged packets and its sessions with the other nodes, so that a client
// restores its session on any node (ARCHITECTURE.md, "Recovery on any
// node").
type replication struct{ s *Server }

func (r replication) Broadcast(nsp string, b *pb.Broadcast) {
	if n := r.s.node; n != nil {
		n.Broadcast(nsp, b)
	}
}

func (r replication) Session(s *pb.NodeSession) {
	if n := r.s.node; n != nil {
		n.SessionState(s)
	}
}

func (r replication) Claim(ctx context.Context, member string, c *pb.NodeSessionClaim) (*pb.NodeSession, error) {
	n := r.s.node
	if n == nil {
		return nil, errors.New("actorio: claim a session: not in a cluster")
	}
	return n.ClaimSession(ctx, member, c)
}

func (r replication) Alive(member string) bool {
	n := r.s.node
	return n != nil && n.Alive(member)
}

// SessionState keeps the state of another node's session, if its
// namespace exists here.
func (r clusterReceiver) SessionState(s *pb.NodeSession) {
	if ns := r.namespace(s.Namespace); ns != nil {
		ns.a.ReceiveSession(s)
	}
}

// ClaimSession gives up a session for the node where its client
// reconnected.
func (r clusterReceiver) ClaimSession(ctx context.Context, c *pb.NodeSessionClaim) *pb.NodeSession {
	if ns := r.namespace(c.Namespace); ns != nil {
		return ns.a.GiveUpSession(ctx, c.Pid, c.Addr)
	}
	return nil
}
