package cluster

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	pb "github.com/actorio/actorio/proto"
)

// deadSeedEvery is how many rounds pass between two probes of a seed that
// does not answer: a node that starts probes its seeds itself, so it is
// heard of at once anyway.
const deadSeedEvery = 10

// staticProvider is the protoactor cluster provider behind Static: one
// goroutine probes the known nodes in rounds and reports the live ones as
// the cluster's topology.
type staticProvider struct {
	cfg Static
	n   *node
	c   *cluster.Cluster

	kick     chan struct{} // asks for a round now
	stop     chan struct{}
	done     chan struct{} // closed when the probing goroutine ended
	stopOnce sync.Once

	mu      sync.Mutex
	started bool
	cands   map[string]*candidate // by address
	left    map[string]bool       // member ids of nodes that said they were leaving
	rounds  int
}

// candidate is a node the provider knows of, by the address it probes.
type candidate struct {
	seed  bool
	self  bool // it answered with this node's own id
	alive bool
	fails int // probes in a row without an answer
	pong  *pb.NodePong
}

func newStaticProvider(cfg Static) *staticProvider {
	p := &staticProvider{
		cfg:   cfg,
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		cands: map[string]*candidate{},
		left:  map[string]bool{},
	}
	for _, s := range cfg.Seeds {
		if s = strings.TrimSpace(s); s != "" {
			p.cands[s] = &candidate{seed: true}
		}
	}
	return p
}

// StartMember implements cluster.ClusterProvider: it reports this node
// alone, then starts probing.
func (p *staticProvider) StartMember(c *cluster.Cluster) error {
	p.mu.Lock()
	p.c = c
	p.started = true
	if self, ok := p.cands[p.n.address()]; ok {
		self.self = true
	}
	members := p.membersLocked()
	p.mu.Unlock()
	c.MemberList.UpdateClusterTopology(members)
	go p.loop()
	return nil
}

// StartClient implements cluster.ClusterProvider; a node is always a
// member.
func (p *staticProvider) StartClient(*cluster.Cluster) error {
	return errors.New("cluster: the static membership has no clients")
}

// Shutdown implements cluster.ClusterProvider: it stops the probes and
// waits for the probing goroutine, at most one ProbeTimeout.
func (p *staticProvider) Shutdown(bool) error {
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	p.stopOnce.Do(func() { close(p.stop) })
	if started {
		<-p.done
	}
	return nil
}

// probeSoon asks for a round now rather than after the interval.
func (p *staticProvider) probeSoon() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// learn adds the address of a node that probed this one.
func (p *staticProvider) learn(addr string) {
	if addr == p.n.address() {
		return
	}
	p.mu.Lock()
	_, known := p.cands[addr]
	if !known {
		p.cands[addr] = &candidate{}
	}
	p.mu.Unlock()
	if !known {
		p.probeSoon()
	}
}

// forget drops a node that said it was leaving, and reports the topology
// without it at the next round.
func (p *staticProvider) forget(addr, id string) {
	p.mu.Lock()
	p.left[id] = true
	for a, c := range p.cands {
		if a == addr || (c.pong != nil && c.pong.MemberId == id) {
			p.dropLocked(a, c)
		}
	}
	p.mu.Unlock()
	p.probeSoon()
}

// dropLocked marks a candidate dead; one learnt from others is forgotten.
func (p *staticProvider) dropLocked(addr string, c *candidate) {
	c.alive = false
	c.fails = p.cfg.MaxFailures
	c.pong = nil
	if !c.seed {
		delete(p.cands, addr)
	}
}

func (p *staticProvider) loop() {
	defer close(p.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.kick:
		case <-t.C:
		}
		p.round()
		t.Reset(p.cfg.ProbeInterval)
	}
}

// round probes the known nodes at once, waits for every answer or
// timeout, and reports the live ones.
func (p *staticProvider) round() {
	self := p.n.address()
	p.mu.Lock()
	p.rounds++
	var addrs []string
	for a, c := range p.cands {
		if c.self || a == self {
			continue
		}
		if c.seed && !c.alive && c.fails >= p.cfg.MaxFailures && p.rounds%deadSeedEvery != 0 {
			continue
		}
		addrs = append(addrs, a)
	}
	p.mu.Unlock()

	ping := &pb.NodePing{Cluster: p.n.name, MemberId: p.n.id, Address: self}
	pongs := make([]*pb.NodePong, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() {
			res, err := p.n.sys.Root.RequestFuture(actor.NewPID(a, nodeActorName), ping, p.cfg.ProbeTimeout).Result()
			if err == nil {
				pongs[i], _ = res.(*pb.NodePong)
			}
		})
	}
	wg.Wait()

	p.mu.Lock()
	learnt := false
	for i, a := range addrs {
		c, ok := p.cands[a]
		if !ok {
			continue // forgotten meanwhile
		}
		pong := pongs[i]
		switch {
		case pong != nil && pong.MemberId == p.n.id:
			c.self = true
		case pong != nil && pong.Cluster == p.n.name && !p.left[pong.MemberId]:
			c.alive, c.fails, c.pong = true, 0, pong
			for _, k := range pong.Known {
				if _, known := p.cands[k]; !known && k != self {
					p.cands[k] = &candidate{}
					learnt = true
				}
			}
		default:
			c.fails++
			if c.fails >= p.cfg.MaxFailures {
				p.dropLocked(a, c)
			}
		}
	}
	members := p.membersLocked()
	p.mu.Unlock()
	p.c.MemberList.UpdateClusterTopology(members)
	if learnt {
		p.probeSoon()
	}
}

// membersLocked returns this node and the live ones, once each.
func (p *staticProvider) membersLocked() []*cluster.Member {
	kinds := p.c.GetClusterKinds()
	out := []*cluster.Member{member(p.n.id, p.n.address(), kinds)}
	seen := map[string]bool{p.n.id: true}
	for _, c := range p.cands {
		if !c.alive || c.pong == nil || seen[c.pong.MemberId] {
			continue
		}
		seen[c.pong.MemberId] = true
		out = append(out, member(c.pong.MemberId, c.pong.Address, c.pong.Kinds))
	}
	return out
}

func member(id, addr string, kinds []string) *cluster.Member {
	host, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	return &cluster.Member{Id: id, Host: host, Port: int32(port), Kinds: kinds}
}
