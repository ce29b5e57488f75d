package cluster

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	pb "github.com/actorio/actorio/proto"
)

// deadSeedEvery is how many rounds pass between two probes of a seed that
// left, or that has not answered for forgetAfter: a node that starts
// probes its seeds itself, so it is heard of at once anyway.
const deadSeedEvery = 10

// staticProvider is the protoactor cluster provider behind Static: one
// goroutine probes the known nodes in rounds and reports the live ones to
// the node (node.setMembers), not to protoactor's member list.
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
	// deadSince is when it was dropped (zero while alive, and before its
	// first drop); left says it said it was leaving.
	deadSince time.Time
	left      bool
	// held says its last probe (from member pingedBy) listed this node
	// among the nodes it sends to; droppedUs is when a probe stopped
	// listing it, while this node held it alive: it dropped this node.
	pingedBy  string
	held      bool
	droppedUs time.Time
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
	p.n.setMembers(members)
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

// pinged hears a probe from the node at addr, whose member id is id and
// which holds the nodes at known alive. An unknown node is added, and one
// not alive (new, dropped or left) is probed at once, so that a node that
// was cut off, or that restarted, is taken back without waiting for the
// next round. A node that this one holds alive and that no longer lists
// it has dropped it (it stalled, or was cut off one way): this is logged,
// as is its taking this node back, which its probes of this node, that
// this node answers, bring about (see round). Probes are heard in the
// order each node sent them, answers are not: hence the probes.
func (p *staticProvider) pinged(addr, id string, known []string) {
	self := p.n.address()
	if addr == self {
		return
	}
	held := slices.Contains(known, self)
	now := time.Now()
	var log func()
	p.mu.Lock()
	c, ok := p.cands[addr]
	if !ok {
		c = &candidate{}
		p.cands[addr] = c
	}
	soon := !c.alive
	if soon && !c.deadSince.IsZero() {
		// Probed at every round again.
		c.deadSince, c.left = now, false
	}
	if c.pingedBy != id {
		c.pingedBy, c.held, c.droppedUs = id, false, time.Time{}
	}
	switch {
	case c.alive && c.held && !held:
		c.droppedUs = now
		log = func() {
			p.n.log.Warn("actorio: cluster node dropped this node: it no longer sends to it; this node answers its probes to rejoin",
				"by", addr, "member", id)
		}
	case held && !c.droppedUs.IsZero():
		after := now.Sub(c.droppedUs).Round(time.Millisecond)
		c.droppedUs = time.Time{}
		log = func() {
			p.n.log.Info("actorio: cluster node took this node back: it sends to it again",
				"by", addr, "member", id, "after", after)
		}
	}
	c.held = held
	p.mu.Unlock()
	if log != nil {
		log()
	}
	if soon {
		p.probeSoon()
	}
}

// forget drops a node that said it was leaving, and reports the topology
// without it at the next round. One learnt from others is forgotten; a
// seed is probed every deadSeedEvery rounds.
func (p *staticProvider) forget(addr, id string) {
	p.mu.Lock()
	p.left[id] = true
	for a, c := range p.cands {
		if a == addr || (c.pong != nil && c.pong.MemberId == id) {
			p.dropLocked(c)
			c.left = true
			if !c.seed {
				delete(p.cands, a)
			}
		}
	}
	p.mu.Unlock()
	p.probeSoon()
}

// dropLocked marks a candidate dead. It is still probed (see round).
func (p *staticProvider) dropLocked(c *candidate) {
	if c.alive || c.deadSince.IsZero() {
		c.deadSince = time.Now()
	}
	c.alive = false
	c.fails = p.cfg.MaxFailures
	c.pong = nil
	c.held, c.droppedUs = false, time.Time{}
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
// timeout, and reports the live ones. Nodes dropped are probed too, so
// that both sides of a partition that ends, or a node that stalled, find
// each other again within a round: at every round for forgetAfter, then a
// seed every deadSeedEvery rounds and a node learnt from others no more;
// a seed that left, every deadSeedEvery rounds. It returns early, without
// reporting, when the provider shuts down; the probes still out end
// within ProbeTimeout.
func (p *staticProvider) round() {
	if p.n.closed.Load() {
		return // its probes would say it sends to no one
	}
	self := p.n.address()
	now := time.Now()
	p.mu.Lock()
	p.rounds++
	var addrs []string
	for a, c := range p.cands {
		if c.self || a == self {
			continue
		}
		if !c.alive && (c.left || !c.deadSince.IsZero() && now.Sub(c.deadSince) > forgetAfter) {
			if !c.seed {
				delete(p.cands, a)
				continue
			}
			if p.rounds%deadSeedEvery != 0 {
				continue
			}
		}
		addrs = append(addrs, a)
	}
	p.mu.Unlock()

	type answer struct {
		i    int
		pong *pb.NodePong
	}
	ping := &pb.NodePing{Cluster: p.n.name, MemberId: p.n.id, Address: self, Known: p.n.known()}
	answers := make(chan answer, len(addrs))
	for i, a := range addrs {
		go func() {
			res, err := p.n.sys.Root.RequestFuture(actor.NewPID(a, nodeActorName), ping, p.cfg.ProbeTimeout).Result()
			pong, _ := res.(*pb.NodePong)
			if err != nil {
				pong = nil
			}
			answers <- answer{i, pong}
		}()
	}
	pongs := make([]*pb.NodePong, len(addrs))
	for range addrs {
		select {
		case a := <-answers:
			pongs[a.i] = a.pong
		case <-p.stop:
			return
		}
	}

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
			p.n.unreachable.Delete(a) // it answered: its connection works
			c.alive, c.fails, c.pong, c.deadSince, c.left = true, 0, pong, time.Time{}, false
			for _, k := range pong.Known {
				if _, known := p.cands[k]; !known && k != self {
					p.cands[k] = &candidate{}
					learnt = true
				}
			}
		default:
			c.fails++
			if c.fails >= p.cfg.MaxFailures {
				p.dropLocked(c)
			}
		}
	}
	members := p.membersLocked()
	p.mu.Unlock()
	p.n.setMembers(members)
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
