package cluster

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/actorio/actorio/proto"
)

// routeTimeout bounds one node's answer to a NodeRouteQuery.
const routeTimeout = 2 * time.Second

// Route implements clusterlink.Node: it asks every other node alive at
// once; the questions still out when it returns end within routeTimeout.
func (n *node) Route(ctx context.Context, tag string) (string, bool) {
	ps := n.others()
	if len(ps) == 0 || tag == "" {
		return "", false
	}
	answers := make(chan string, len(ps)) // never blocks a sender
	q := &pb.NodeRouteQuery{Tag: tag}
	for _, p := range ps {
		go func(pid *actor.PID) {
			addr := ""
			if res, err := n.sys.Root.RequestFuture(pid, q, routeTimeout).Result(); err == nil {
				if r, ok := res.(*pb.NodeRouteReply); ok {
					addr = r.HttpAddress
				}
			}
			answers <- addr
		}(p.node)
	}
	for range ps {
		select {
		case addr := <-answers:
			if addr != "" {
				return addr, true
			}
		case <-ctx.Done():
			return "", false
		}
	}
	return "", false
}
