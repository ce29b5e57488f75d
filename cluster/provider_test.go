package cluster_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	protocluster "github.com/asynkron/protoactor-go/cluster"

	"github.com/actorio/actorio/cluster"
)

// board is an in-memory membership service shared by the nodes of a test,
// standing in for Consul or etcd behind protoactor's provider interface.
type board struct {
	mu      sync.Mutex
	members map[string]*protocluster.Member
	nodes   map[string]*protocluster.Cluster
}

// boardProvider is one node's protoactor cluster provider on a board.
type boardProvider struct {
	b  *board
	id string
}

func (p *boardProvider) StartMember(c *protocluster.Cluster) error {
	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil {
		return err
	}
	p.id = c.ActorSystem.ID
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	p.b.members[p.id] = &protocluster.Member{Id: p.id, Host: host, Port: int32(port), Kinds: c.GetClusterKinds()}
	p.b.nodes[p.id] = c
	p.b.publishLocked()
	return nil
}

func (p *boardProvider) StartClient(*protocluster.Cluster) error {
	return errors.New("board: no clients")
}

func (p *boardProvider) Shutdown(bool) error {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	delete(p.b.members, p.id)
	delete(p.b.nodes, p.id)
	p.b.publishLocked()
	return nil
}

// publishLocked tells every node the members, as a provider does when its
// service reports a change.
func (b *board) publishLocked() {
	var ms []*protocluster.Member
	for _, m := range b.members {
		ms = append(ms, m)
	}
	for _, c := range b.nodes {
		c.MemberList.UpdateClusterTopology(ms)
	}
}

// TestProtoactorProviderDrivesMembership runs two nodes whose membership
// comes from a protoactor cluster provider (what Consul, etcd or
// Kubernetes would be in production): they see each other, broadcast to
// each other, and a node that leaves is dropped.
func TestProtoactorProviderDrivesMembership(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race, nodes start in TestCluster only (see cluster.WarmUp)")
	}
	checkGoroutines(t)
	b := &board{members: map[string]*protocluster.Member{}, nodes: map[string]*protocluster.Cluster{}}
	d1 := startNode(t, "D1", "127.0.0.1:0", &cluster.Protoactor{Provider: &boardProvider{b: b}}, false)
	d2 := startNode(t, "D2", "127.0.0.1:0", &cluster.Protoactor{Provider: &boardProvider{b: b}}, false)
	waitMembers(t, 5*time.Second, d1, d2)
	c1 := connect(t, "c1", d1.url, "r")
	c2 := connect(t, "c2", d2.url, "r")
	_ = d1.srv.To("r").Emit("hello", 1)
	_ = d2.srv.To("r").Emit("hello", 2)
	c1.waitEvents(t, "hello", 2, 5*time.Second)
	c2.waitEvents(t, "hello", 2, 5*time.Second)
	d2.close(t)
	if got := d1.srv.ClusterNodes(); len(got) != 1 {
		t.Errorf("D1 still sees %v after D2 closed", got)
	}
}
