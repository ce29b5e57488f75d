package cluster

import (
	"testing"

	pb "github.com/actorio/actorio/proto"
)

// TestRouteWaiter checks when the answers to one NodeRouteQuery end the
// wait, and what Route then returns: the first owner's address, at once
// even while other nodes have not answered, or nothing once every node
// answered that the tag is not its own (or was lost).
func TestRouteWaiter(t *testing.T) {
	peers := []peer{{id: "a", addr: "10.0.0.1:7001"}, {id: "b", addr: "10.0.0.2:7001"}, {id: "c", addr: "10.0.0.3:7001"}}
	reply := func(member, addr string) *pb.NodeRouteReply {
		return &pb.NodeRouteReply{MemberId: member, Address: addr}
	}
	tests := []struct {
		name     string
		replies  []*pb.NodeRouteReply
		lost     []string
		wantDone bool
		wantAddr string
	}{
		{"no answer yet", nil, nil, false, ""},
		{"two not the owner, one silent", []*pb.NodeRouteReply{reply("a", ""), reply("c", "")}, nil, false, ""},
		{"the owner first, the others silent", []*pb.NodeRouteReply{reply("b", "10.0.0.2:3000")}, nil, true, "10.0.0.2:3000"},
		{"the owner after one that is not", []*pb.NodeRouteReply{reply("a", ""), reply("b", "10.0.0.2:3000")}, nil, true, "10.0.0.2:3000"},
		{"a later owner's answer changes nothing", []*pb.NodeRouteReply{reply("b", "10.0.0.2:3000"), reply("c", "10.0.0.3:3000")}, nil, true, "10.0.0.2:3000"},
		{"none is the owner", []*pb.NodeRouteReply{reply("a", ""), reply("b", ""), reply("c", "")}, nil, true, ""},
		{"two not the owner, one lost", []*pb.NodeRouteReply{reply("a", ""), reply("b", "")}, []string{"c"}, true, ""},
		{"an answer from a node not asked", []*pb.NodeRouteReply{reply("z", "10.0.0.9:3000")}, nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &routeWaiter{}
			w.await(peers, func(string) bool { return true })
			for _, r := range tt.replies {
				w.add(r)
			}
			w.lose(tt.lost)
			done := false
			select {
			case <-w.done:
				done = true
			default:
			}
			if done != tt.wantDone || w.addr != tt.wantAddr {
				t.Errorf("done %v, address %q; want %v, %q", done, w.addr, tt.wantDone, tt.wantAddr)
			}
		})
	}
}
