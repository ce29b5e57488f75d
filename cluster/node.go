package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"

	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/internal/clusterlink"
	pb "github.com/actorio/actorio/proto"
)

const (
	// nodeActorName is the actor of every node that the other nodes
	// address through protoactor; eventsActorName runs a node's
	// server-side event handlers (see eventsActor).
	nodeActorName   = "actorio-node"
	eventsActorName = "actorio-events"

	// leaveTimeout bounds the wait for the other nodes to confirm that a
	// closing node left.
	leaveTimeout = 500 * time.Millisecond
	// writerQueue is the initial capacity of the queue of messages to one
	// other node (protoactor's default, a million, allocates 16 MB per
	// node). The queue grows when needed: a send never waits.
	writerQueue = 1024
	// gossipOff is a gossip interval long enough never to tick.
	gossipOff = 1 << 62
	// endpointSupervisor is the name of protoactor remote's actor whose
	// children hold the connections to the other nodes.
	endpointSupervisor = "EndpointSupervisor"
	// localAddress is protoactor's address of an actor system whose remote
	// has not started.
	localAddress = "nonhost"
	// DefaultMaxQueueBytes is the bound, by default, on the bytes queued
	// for one other node and not known to have reached it
	// (actorio.ClusterOptions.MaxQueueBytes).
	DefaultMaxQueueBytes = 64 << 20
	// markRetry is how long a mark of a queue may stay unanswered before
	// another one is sent.
	markRetry = time.Second
	// warnEvery is the least time between two warnings that messages to
	// one node are dropped.
	warnEvery = 10 * time.Second
	// forgetAfter is how long a node dropped is remembered: the static
	// membership probes it at every round for that long (a seed, for
	// ever, every tenth round afterwards), and it is logged as rejoined
	// rather than joined when it comes back within it.
	forgetAfter = 10 * time.Minute
)

// node is one server's member of a cluster: a protoactor actor system with
// remote and cluster started, the two actors the other nodes address, and
// the list of the other nodes alive. It implements clusterlink.Node.
type node struct {
	name string
	log  *slog.Logger
	recv clusterlink.Receiver
	sys  *actor.ActorSystem
	c    *cluster.Cluster
	// static is the membership provider when it is this package's Static;
	// nil with another provider.
	static *staticProvider
	// maxQueue bounds what is queued for one other node (see queue);
	// negative for no bound.
	maxQueue int64
	id       string // the actor system's id: the member id with Static
	// memberID is this node's member id as the provider names it, when it
	// differs from id (protoactor's etcd provider prefixes the cluster
	// name, its Kubernetes provider makes one up): what the other nodes
	// know it by. Found in the topology (selfLocked).
	memberID atomic.Pointer[string]

	// peers are the other nodes alive, what every broadcast goes to: read
	// without a lock, replaced whole under mu.
	peers atomic.Pointer[[]peer]
	// unreachable holds the addresses of nodes alive whose connection
	// failed or was lost, until a new one opens: what was queued for them
	// is gone, and the calls that wait for answers do not wait for theirs.
	unreachable sync.Map // address -> true

	mu      sync.Mutex
	members []*cluster.Member    // the last topology
	left    map[string]bool      // member ids of nodes that said they were leaving
	dropped map[string]time.Time // member ids of nodes dropped, not left, and when
	// cutOff is set once the membership dropped this very node
	// (Protoactor), under the member id cutID.
	cutOff bool
	cutID  string
	// cutLogged: the drop was logged (once per drop).
	cutLogged atomic.Bool

	ackSeq  atomic.Uint64
	waiters sync.Map // request id -> *ackWaiter, *fetchWaiter or *broadcastWaiter
	// acking holds the cancel of each broadcast with acks run for another
	// node, by ackKey, while it waits for this node's sockets.
	acking sync.Map
	// handing holds the cancel of each long-polling request another node
	// handed over, by ackKey (its reply address and request id), while
	// this node's server serves it; handOvers counts those requests.
	handing   sync.Map
	handOvers sync.WaitGroup
	// oldHandOver holds, by cluster address, whether the node there, as
	// its last route reply said, takes long-polling requests as HTTP only
	// (an older build; see LinkHandOver).
	oldHandOver sync.Map
	// handedOver counts the requests handed over on the links that this
	// node served (for tests).
	handedOver atomic.Int64

	// ctx ends when the node closes: it ends the broadcasts with acks
	// other nodes asked this one for, which run in work.
	ctx    context.Context
	cancel context.CancelFunc
	workMu sync.Mutex // orders work.Add before teardown's work.Wait
	work   sync.WaitGroup

	// sec secures the node's links (link.go): links holds the one to
	// each node this node sent to, inbound those other nodes opened, and
	// leaveAcks the goodbyes not answered yet, by address; all under
	// linkMu, linkWG counts their goroutines.
	sec         *linkSecurity
	linkMu      sync.Mutex
	links       map[string]*link
	inbound     map[net.Conn]struct{}
	linksClosed bool
	leaveAcks   map[string]chan struct{}
	linkWG      sync.WaitGroup
	// linkMarks counts the marks checkLinks sent.
	linkMarks atomic.Int64
	// events is the local eventsActor, which the links' readers hand the
	// other nodes' server-side events to.
	events *actor.PID

	subs      []*eventstream.Subscription
	closed    atomic.Bool
	quiet     *atomic.Bool // silences protoactor's logs (protoactorLog)
	closeOnce sync.Once
	closeErr  error
}

// peer is another node alive.
type peer struct {
	id, addr string
	node     *actor.PID
	q        *queue // what is queued for it, kept while it stays alive
}

// queue follows the bytes this node queued for another node that the
// other node is not known to have received, against the bound
// (actorio.ClusterOptions.MaxQueueBytes). A NodeQueueMark, sent once a
// quarter of the bound is unconfirmed, comes back as a NodeQueueMarkAck
// once everything queued before it reached that node.
type queue struct {
	sent      atomic.Int64 // bytes queued since the node joined
	confirmed atomic.Int64 // of those, the bytes known to have reached it
	marked    atomic.Int64 // when the mark in flight left (UnixNano), 0 with none
	dropped   atomic.Int64 // messages dropped since the last warning
	warned    atomic.Int64 // when the last warning was logged (UnixNano)
}

// startNode starts a node whose membership comes from provider; static is
// provider when it is a Static one.
func startNode(o clusterlink.Config, log *slog.Logger, recv clusterlink.Receiver, provider cluster.ClusterProvider, static *staticProvider) (n *node, err error) {
	if log == nil {
		log = slog.Default()
	}
	if o.Name == "" {
		o.Name = "actorio"
	}
	if o.Address == "" {
		o.Address = "127.0.0.1:0"
	}
	host, portText, err := net.SplitHostPort(o.Address)
	if err != nil {
		return nil, fmt.Errorf("cluster address %q: %w", o.Address, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("cluster address %q: bad port", o.Address)
	}
	if ip := net.ParseIP(host); (host == "" || ip != nil && ip.IsUnspecified()) && o.AdvertisedAddress == "" {
		return nil, fmt.Errorf("cluster address %q listens on every interface: set AdvertisedAddress to the one the other nodes reach", o.Address)
	}
	secure, sec, err := linkOptions(o, log.With("cluster", o.Name))
	if err != nil {
		return nil, err
	}

	quiet := new(atomic.Bool)
	plog := slog.New(protoactorLog{Handler: log.Handler(), quiet: quiet}).With("lib", "protoactor")
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return plog }),
		// Its dead-letter log throttle holds a goroutine for this long after
		// each dead letter (the default is a second), Close or not.
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	ropts := []remote.ConfigOption{
		remote.WithEndpointWriterQueueSize(writerQueue),
		remote.WithEndpointManagerQueueSize(writerQueue),
	}
	if o.AdvertisedAddress != "" {
		ropts = append(ropts, remote.WithAdvertisedHost(o.AdvertisedAddress))
	}
	ropts = append(ropts, secure...)
	rc := remote.Configure(host, port, ropts...)
	// One connection attempt, then the messages queued for that node are
	// dropped (protoactor waits 2 s between attempts, with the queue
	// growing): the next message tries again.
	rc.MaxRetryCount = 1
	cfg := cluster.Configure(o.Name, provider, disthash.New(), rc)
	// protoactor's gossip spreads heartbeats and grain placement, which
	// actorio does not use: membership is the provider's alone. Each round
	// of it also leaves timer goroutines behind for a minute, past Close.
	cfg.GossipInterval = gossipOff

	n = &node{
		name:      o.Name,
		log:       log.With("cluster", o.Name),
		recv:      recv,
		sys:       sys,
		static:    static,
		id:        sys.ID,
		left:      map[string]bool{},
		dropped:   map[string]time.Time{},
		quiet:     quiet,
		maxQueue:  queueBound(o.MaxQueueBytes),
		sec:       sec,
		links:     map[string]*link{},
		inbound:   map[net.Conn]struct{}{},
		leaveAcks: map[string]chan struct{}{},
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.peers.Store(&[]peer{})
	if static != nil {
		static.n = n
	}
	n.c = cluster.New(sys, cfg)
	sec.accept.set(n)

	// The two actors exist before the remote starts, so that no message
	// from another node finds them missing.
	props := actor.PropsFromProducer(func() actor.Actor { return &nodeActor{n: n} })
	if _, err := sys.Root.SpawnNamed(props, nodeActorName); err != nil {
		sys.Shutdown()
		return nil, fmt.Errorf("spawn %s: %w", nodeActorName, err)
	}
	props = actor.PropsFromProducer(func() actor.Actor { return &eventsActor{n: n} })
	if n.events, err = sys.Root.SpawnNamed(props, eventsActorName); err != nil {
		sys.Shutdown()
		return nil, fmt.Errorf("spawn %s: %w", eventsActorName, err)
	}
	if static == nil {
		// The static membership reports to the node itself (setMembers).
		n.subs = append(n.subs, sys.EventStream.Subscribe(n.onTopology))
	}
	n.subs = append(n.subs,
		sys.EventStream.SubscribeWithPredicate(n.onEndpoint, func(evt any) bool {
			switch evt.(type) {
			case *remote.EndpointTerminatedEvent, *remote.EndpointConnectedEvent:
				return true
			}
			return false
		}))

	if err := n.startMember(); err != nil {
		_ = n.teardown(false)
		return nil, err
	}
	n.linkWG.Add(1)
	go n.checkLinks()
	n.log.Info("actorio: cluster node started", "address", n.address(), "member", n.id)
	return n, nil
}

// queueBound reads ClusterOptions.MaxQueueBytes: zero is the default,
// negative no bound (-1).
func queueBound(v int64) int64 {
	switch {
	case v == 0:
		return DefaultMaxQueueBytes
	case v < 0:
		return -1
	}
	return v
}

// address is the address the other nodes reach this one at, once the
// remote has started. (protoactor sets it before the remote serves, so
// whatever a message from another node runs reads it safely.)
func (n *node) address() string { return n.sys.Address() }

// startMember starts protoactor's remote and cluster member as
// cluster.Cluster.StartMember does, but for the second that one sleeps at
// its end (for the grains of a cluster to settle; actorio has none): the
// remote, the identity lookup, the gossip (which never ticks), pubsub and
// the provider. The cluster kinds stay empty: actorio spawns nothing
// through the cluster. It turns panics (a port in use, a provider that
// fails) into an error.
func (n *node) startMember() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("start cluster member: %v", r)
		}
	}()
	c := n.c
	c.Remote = remote.NewRemote(n.sys, c.Config.RemoteConfig)
	c.Remote.Start()
	c.IdentityLookup = c.Config.IdentityLookup
	c.IdentityLookup.Setup(c, c.GetClusterKinds(), false)
	if err := c.Gossip.StartGossiping(); err != nil {
		return fmt.Errorf("start cluster member: gossip: %w", err)
	}
	c.PubSub.Start()
	c.MemberList.InitializeTopologyConsensus()
	if err := c.Config.ClusterProvider.StartMember(c); err != nil {
		return fmt.Errorf("start cluster member: provider: %w", err)
	}
	return nil
}

// onTopology follows protoactor's member list, which a provider of
// Protoactor updates: every topology it publishes replaces the list of
// peers. A topology in which this very node left means the provider
// dropped it: protoactor blocks its member id for good, so the other
// nodes take it back only under another member id, which cluster/etcd's
// provider gives a node that registers again (see Protoactor).
func (n *node) onTopology(evt any) {
	t, ok := evt.(*cluster.ClusterTopology)
	if !ok {
		return
	}
	n.mu.Lock()
	prev := n.member()
	n.selfLocked(t.Members)
	self := n.member()
	has := func(ms []*cluster.Member, id string) bool {
		return slices.ContainsFunc(ms, func(m *cluster.Member) bool { return m.Id == id })
	}
	if !n.cutOff && has(t.Left, prev) {
		n.cutOff, n.cutID = true, prev
	}
	was := n.cutID
	cut := n.cutOff && self == was // dropped, and not (yet) back
	back := n.cutOff && self != was && has(t.Members, self)
	if back {
		n.cutOff = false
	}
	n.members = t.Members
	n.refreshLocked()
	n.mu.Unlock()
	if n.closed.Load() {
		return
	}
	switch {
	case cut && !n.cutLogged.Swap(true):
		n.log.Warn("actorio: the cluster membership dropped this node: the other nodes block its member id and no longer send to it; it rejoins if its provider registers it again under another (cluster/etcd does), else restart the server",
			"address", n.address(), "member", self)
	case back:
		n.cutLogged.Store(false)
		n.log.Warn("actorio: this node rejoined the cluster under a new member id",
			"address", n.address(), "member", self, "was", was)
	}
}

// member returns this node's member id as the other nodes know it.
func (n *node) member() string {
	if id := n.memberID.Load(); id != nil {
		return *id
	}
	return n.id
}

// selfLocked finds this node among members, the topology of a Protoactor
// provider, and keeps its member id: the one whose id is the actor
// system's id, or holds it, or else the only one at this node's address.
func (n *node) selfLocked(members []*cluster.Member) {
	addr := n.address()
	var found, byAddr *cluster.Member
	atAddr := 0
	for _, m := range members {
		if m.Id == n.id || strings.Contains(m.Id, n.id) {
			found = m
			break
		}
		if m.Address() == addr {
			byAddr = m
			atAddr++
		}
	}
	if found == nil && atAddr == 1 {
		found = byAddr
	}
	if found != nil && found.Id != n.member() {
		n.memberID.Store(&found.Id)
	}
}

// setMembers makes members the topology: the static membership's report
// of the nodes it holds alive. It does not go through protoactor's member
// list, which would block the member id of every node it drops for good:
// a node dropped because it stalled or was cut off is taken back, with its
// member id, as soon as it answers again. The connection to a node
// dropped is ended, and with it what was queued for it.
func (n *node) setMembers(members []*cluster.Member) {
	n.mu.Lock()
	old := *n.peers.Load()
	n.members = members
	n.refreshLocked()
	next := *n.peers.Load()
	n.mu.Unlock()
	if n.closed.Load() {
		return
	}
	for _, p := range old {
		if !slices.ContainsFunc(next, func(q peer) bool { return q.addr == p.addr }) {
			n.sys.EventStream.Publish(&remote.EndpointTerminatedEvent{Address: p.addr})
		}
	}
}

// onEndpoint hears that the connection to a node opened, or that it ended
// (an attempt failed, or the connection was lost): what was queued for it
// is gone. For a node alive, the calls waiting for its answers stop
// waiting (with ErrNodeUnreachable), the next ones do not wait for it
// until a connection opens again, and the static membership probes at
// once rather than at its next round. (The connections to nodes dropped,
// which it still probes, end too: they change nothing.)
func (n *node) onEndpoint(evt any) {
	if e, ok := evt.(*remote.EndpointConnectedEvent); ok {
		n.unreachable.Delete(e.Address)
		return
	}
	addr := evt.(*remote.EndpointTerminatedEvent).Address
	if n.closed.Load() {
		return
	}
	var ids []string
	for _, p := range *n.peers.Load() {
		if p.addr == addr {
			ids = append(ids, p.id)
		}
	}
	if len(ids) == 0 {
		return
	}
	n.unreachable.Store(addr, true)
	n.waiters.Range(func(_, v any) bool {
		v.(keeper).lose(ids)
		return true
	})
	if n.static != nil {
		n.static.probeSoon()
	}
}

// reachable reports whether no connection to the node at addr failed
// since the last one opened.
func (n *node) reachable(addr string) bool {
	_, bad := n.unreachable.Load(addr)
	return !bad
}

// leaving drops a node that said it was closing.
func (n *node) leaving(id, addr string) {
	n.mu.Lock()
	n.left[id] = true
	n.refreshLocked()
	n.mu.Unlock()
	if n.static != nil {
		n.static.forget(addr, id)
	}
}

// refreshLocked recomputes the peers from the last topology, logs who
// joined, rejoined, left and was dropped, and stops waiting for
// acknowledgements from nodes that are gone.
func (n *node) refreshLocked() {
	old := *n.peers.Load()
	next := make([]peer, 0, len(n.members))
	self, selfAddr := n.member(), n.address()
	for _, m := range n.members {
		// A member at this node's address is this node, or one that held
		// the address before it: messages to either reach this node.
		if m.Id == self || m.Address() == selfAddr || n.left[m.Id] {
			continue
		}
		addr := m.Address()
		q := new(queue)
		if i := slices.IndexFunc(old, func(p peer) bool { return p.id == m.Id && p.addr == addr }); i >= 0 {
			q = old[i].q
		}
		next = append(next, peer{id: m.Id, addr: addr,
			node: actor.NewPID(addr, nodeActorName), q: q})
	}
	slices.SortFunc(next, func(a, b peer) int {
		switch {
		case a.addr < b.addr:
			return -1
		case a.addr > b.addr:
			return 1
		}
		return 0
	})
	has := func(ps []peer, id string) bool {
		return slices.ContainsFunc(ps, func(p peer) bool { return p.id == id })
	}
	now := time.Now()
	for _, p := range next {
		if has(old, p.id) {
			continue
		}
		if since, ok := n.dropped[p.id]; ok {
			delete(n.dropped, p.id)
			n.log.Info("actorio: cluster node rejoined: it answers again and gets what is sent from now on",
				"address", p.addr, "member", p.id, "after", now.Sub(since).Round(time.Millisecond))
			continue
		}
		n.log.Info("actorio: cluster node joined", "address", p.addr, "member", p.id)
	}
	for _, p := range old {
		switch {
		case has(next, p.id):
		case n.left[p.id]:
			n.log.Info("actorio: cluster node left", "address", p.addr, "member", p.id)
		default:
			n.dropped[p.id] = now
			n.log.Warn("actorio: cluster node dropped: the membership no longer holds it alive", "address", p.addr, "member", p.id)
		}
	}
	for id, since := range n.dropped {
		if now.Sub(since) > forgetAfter {
			delete(n.dropped, id)
		}
	}
	n.peers.Store(&next)
	alive := make(map[string]bool, len(next))
	addrs := make(map[string]bool, len(next))
	for _, p := range next {
		alive[p.id] = true
		addrs[p.addr] = true
	}
	n.unreachable.Range(func(k, _ any) bool {
		if !addrs[k.(string)] {
			n.unreachable.Delete(k)
		}
		return true
	})
	dropped := func(id string) bool { return !n.left[id] }
	n.waiters.Range(func(_, v any) bool {
		v.(keeper).keep(alive, dropped)
		return true
	})
}

// Nodes implements clusterlink.Node.
func (n *node) Nodes() []string {
	ps := *n.peers.Load()
	out := make([]string, 0, len(ps)+1)
	out = append(out, n.address())
	for _, p := range ps {
		out = append(out, p.addr)
	}
	return out
}

// Broadcast implements clusterlink.Node: one message per other node,
// all sharing b, each queued for the connection to that node without
// waiting. Messages to one node leave on one connection in the order they
// were queued, which keeps each sender's order.
func (n *node) Broadcast(nsp string, b *pb.Broadcast) {
	if ps := n.others(); len(ps) > 0 {
		n.send(ps, &pb.NodeBroadcast{Namespace: nsp, Broadcast: b})
	}
}

// ServerSideEmit implements clusterlink.Node.
func (n *node) ServerSideEmit(data []byte, atts [][]byte) {
	if ps := n.others(); len(ps) > 0 {
		n.send(ps, &pb.NodeEvent{Data: data, Attachments: atts})
	}
}

// ServerSideEmitWithAck implements clusterlink.Node.
func (n *node) ServerSideEmitWithAck(ctx context.Context, data []byte, atts [][]byte) ([]*pb.NodeEventAck, error) {
	ps := n.others()
	if len(ps) == 0 {
		return nil, nil
	}
	return collectReplies[*pb.NodeEventAck](ctx, n, ps, "acknowledgements", func(id uint64) []string {
		return n.send(ps, &pb.NodeEvent{Data: data, Attachments: atts, AckId: id, ReplyTo: n.address()})
	})
}

// collectReplies registers a replyWaiter for one reply from each node of
// ps under a fresh id, lets send ask them (it returns those it could not:
// their queue was full), and waits until each replied,
// left, was dropped or became unreachable, or ctx ends; what names the
// replies in its errors.
func collectReplies[T interface{ GetMemberId() string }](ctx context.Context, n *node, ps []peer, what string, send func(id uint64) (dropped []string)) ([]T, error) {
	id := n.ackSeq.Add(1)
	w := &replyWaiter[T]{}
	w.await(ps, n.reachable)
	n.watch(id, w, &w.awaiting, ps)
	defer n.waiters.Delete(id)
	if dropped := send(id); len(dropped) > 0 {
		w.lose(dropped) // their queue is full
	}
	select {
	case <-w.done:
		replies, _, lost := w.result()
		if n.closed.Load() {
			return replies, fmt.Errorf("the node closed while waiting for %s", what)
		}
		if lost > 0 {
			return replies, fmt.Errorf("%d of %d other nodes did not send their %s: %w", lost, len(ps), what, ErrNodeUnreachable)
		}
		return replies, nil
	case <-ctx.Done():
		replies, missing, lost := w.result()
		if lost > 0 {
			return replies, fmt.Errorf("%d of %d other nodes did not send their %s: %w; %d of them: %w", missing+lost, len(ps), what, ctx.Err(), lost, ErrNodeUnreachable)
		}
		return replies, fmt.Errorf("%d of %d other nodes did not send their %s: %w", missing, len(ps), what, ctx.Err())
	}
}

// ChangeRooms implements clusterlink.Node.
func (n *node) ChangeRooms(nsp string, t *pb.Target, rooms []string, leave bool) {
	n.sendAll(&pb.NodeRoomChange{Namespace: nsp, Target: t, Rooms: rooms, Leave: leave})
}

// DisconnectSockets implements clusterlink.Node.
func (n *node) DisconnectSockets(nsp string, t *pb.Target, closeTransport bool) {
	n.sendAll(&pb.NodeDisconnect{Namespace: nsp, Target: t, Close: closeTransport})
}

// sendAll queues msg for the node actor of every other node alive, after
// the broadcasts queued before it.
func (n *node) sendAll(msg proto.Message) {
	n.send(n.others(), msg)
}

// others returns the other nodes alive, none once the node is closed.
func (n *node) others() []peer {
	ps := *n.peers.Load()
	if n.closed.Load() {
		return nil
	}
	return ps
}

// send queues msg on the link to each node of ps whose queue has room
// for it (see admit), encoded once, and returns the member ids of the
// others.
func (n *node) send(ps []peer, msg proto.Message) (dropped []string) {
	if len(ps) == 0 {
		return nil
	}
	frame, err := appendLinkFrame(nil, msg)
	if err != nil {
		// (A string that is not UTF-8, which protobuf refuses.) Reported
		// as dropped: calls waiting for answers do not wait for them.
		n.log.Error("actorio: cluster link", "err", err)
		for _, p := range ps {
			dropped = append(dropped, p.id)
		}
		return dropped
	}
	for i := range ps {
		if n.maxQueue < 0 || n.admit(&ps[i], int64(len(frame))) {
			if l := n.linkTo(ps[i].addr); l != nil {
				l.queue(frame)
			}
		} else {
			dropped = append(dropped, ps[i].id)
		}
	}
	return dropped
}

// admit counts size more bytes queued for p and reports whether they fit
// the bound: past it, the message is dropped (but for the only one
// queued) and a warning logged, once per warnEvery and node. Once a
// quarter of the bound is unconfirmed, it marks the queue (see queue).
// Two goroutines that send to one node at once may have the mark of one
// counted before the message of the other: the bound holds within one
// message per sending goroutine.
func (n *node) admit(p *peer, size int64) bool {
	q := p.q
	queued := q.sent.Load() - q.confirmed.Load()
	if queued >= n.maxQueue/4 {
		n.mark(p)
	}
	if queued > 0 && queued+size > n.maxQueue {
		q.dropped.Add(1)
		now, last := time.Now().UnixNano(), q.warned.Load()
		if (last == 0 || now-last >= int64(warnEvery)) && q.warned.CompareAndSwap(last, now) {
			n.log.Warn("actorio: cluster node too slow or unreachable: what is sent to it past MaxQueueBytes is dropped",
				"address", p.addr, "member", p.id, "queued", queued, "max", n.maxQueue, "dropped", q.dropped.Swap(0))
		}
		return false
	}
	q.sent.Add(size)
	return true
}

// mark sends p a NodeQueueMark, unless one left less than markRetry ago
// and is still unanswered (a mark can be lost with its connection).
func (n *node) mark(p *peer) {
	q := p.q
	now, last := time.Now().UnixNano(), q.marked.Load()
	if last != 0 && now-last < int64(markRetry) || !q.marked.CompareAndSwap(last, now) {
		return
	}
	n.sendControl(p.addr, &pb.NodeQueueMark{ReplyTo: n.address(), Sent: q.sent.Load()})
}

// markAck takes the answer to a mark: what was queued before it reached
// that node.
func (n *node) markAck(m *pb.NodeQueueMarkAck) {
	for _, p := range *n.peers.Load() {
		if p.id != m.MemberId {
			continue
		}
		q := p.q
		// Clamped: an answer to a mark of a queue that a drop replaced
		// counts no more than was sent on this one.
		sent := min(m.Sent, q.sent.Load())
		for {
			c := q.confirmed.Load()
			if sent <= c || q.confirmed.CompareAndSwap(c, sent) {
				break
			}
		}
		q.marked.Store(0)
		n.markAnswered(p.addr)
	}
}

// timeoutMs is what is left of ctx's deadline in milliseconds, for a
// request's TimeoutMs: at least 1 (0 would mean no timeout), 0 without a
// deadline.
func timeoutMs(ctx context.Context) int64 {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d).Milliseconds(), 1)
	}
	return 0
}

// BroadcastWithAck implements clusterlink.Node: every other node alive
// gets one NodeBroadcastWithAck, streams back one NodeBroadcastAck per
// acknowledgement, and ends with a NodeBroadcastAckDone. No goroutine
// waits: the answer that ends the wait, the node's leaving or ctx's end
// calls done from the goroutine that saw it.
func (n *node) BroadcastWithAck(ctx context.Context, nsp string, t *pb.Target, f clusterlink.EmitFlags, data []byte, atts [][]byte, onAck func([]byte, [][]byte), done func(missing int, err error)) {
	ps := n.others()
	if len(ps) == 0 {
		done(0, nil)
		return
	}
	id := n.ackSeq.Add(1)
	w := &broadcastWaiter{onAck: onAck}
	var stop func() bool // ends the wait on ctx; under w.mu
	w.then = func() {    // under w.mu, once nothing is awaited
		n.waiters.Delete(id)
		if stop != nil {
			stop()
		}
		done(w.missing, n.ackErr(w.missing, w.lost, len(ps)))
	}
	w.await(ps, n.reachable)
	if w.over {
		return // none reachable: done was called
	}
	n.watch(id, w, &w.awaiting, ps)
	if dropped := n.send(ps, &pb.NodeBroadcastWithAck{Namespace: nsp, Target: t, Data: data, Attachments: atts, Volatile: f.Volatile, Uncompressed: f.Uncompressed,
		AckId: id, ReplyTo: n.address(), TimeoutMs: timeoutMs(ctx)}); len(dropped) > 0 {
		w.lose(dropped) // their queue is full
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.over {
		return
	}
	stop = context.AfterFunc(ctx, func() {
		w.mu.Lock()
		if w.over {
			w.mu.Unlock()
			return
		}
		w.over = true
		missing, nodes, lost := w.missing, len(w.want), w.lost
		w.mu.Unlock()
		n.waiters.Delete(id)
		// Those still running it stop waiting for their sockets.
		n.send(ps, &pb.NodeBroadcastCancel{AckId: id, ReplyTo: n.address()})
		if lost > 0 {
			done(missing, fmt.Errorf("%d of %d other nodes did not finish: %w; %d of them: %w", nodes+lost, len(ps), ctx.Err(), lost, ErrNodeUnreachable))
			return
		}
		done(missing, fmt.Errorf("%d of %d other nodes did not finish: %w", nodes, len(ps), ctx.Err()))
	})
}

// ackErr is the error of a broadcast with acks to total other nodes that
// every node finished, lost ones included, with missing receivers that
// did not answer on those that finished.
func (n *node) ackErr(missing, lost, total int) error {
	switch {
	case n.closed.Load():
		return errors.New("the node closed while waiting for acknowledgements")
	case lost > 0 && missing > 0:
		return fmt.Errorf("other nodes: %w; %d of %d other nodes did not finish: %w", context.DeadlineExceeded, lost, total, ErrNodeUnreachable)
	case lost > 0:
		return fmt.Errorf("%d of %d other nodes did not finish: %w", lost, total, ErrNodeUnreachable)
	case missing > 0:
		return fmt.Errorf("other nodes: %w", context.DeadlineExceeded)
	}
	return nil
}

// ackKey names a broadcast with acks that the node replyTo asked for.
type ackKey struct {
	replyTo string
	id      uint64
}

// FetchSockets implements clusterlink.Node: every other node alive gets
// one NodeFetchSockets and answers with one NodeFetchSocketsReply.
func (n *node) FetchSockets(ctx context.Context, nsp string, t *pb.Target) ([]*pb.NodeFetchSocketsReply, error) {
	ps := n.others()
	if len(ps) == 0 {
		return nil, nil
	}
	timeout := timeoutMs(ctx)
	return collectReplies[*pb.NodeFetchSocketsReply](ctx, n, ps, "sockets", func(id uint64) []string {
		return n.send(ps, &pb.NodeFetchSockets{Namespace: nsp, Target: t, RequestId: id, ReplyTo: n.address(), TimeoutMs: timeout})
	})
}

// fetchSockets answers, for another node, a NodeFetchSockets.
func (n *node) fetchSockets(m *pb.NodeFetchSockets) {
	ctx, cancel := n.ctx, context.CancelFunc(func() {})
	if m.TimeoutMs > 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(m.TimeoutMs)*time.Millisecond)
	}
	defer cancel()
	socks := n.recv.FetchSockets(ctx, m.Namespace, m.Target)
	if !n.closed.Load() {
		n.sendTo(m.ReplyTo, &pb.NodeFetchSocketsReply{RequestId: m.RequestId, MemberId: n.member(), Sockets: socks})
	}
}

// SocketCommand implements clusterlink.Node: one message to the node
// actor of that node, after what this node queued for it before.
func (n *node) SocketCommand(member string, c *pb.NodeSocketCommand) {
	if p, ok := n.peer(member); ok {
		n.send([]peer{p}, c)
	}
}

// startWork adds one to work, and to each of also, unless the node is
// closing.
func (n *node) startWork(also ...*sync.WaitGroup) bool {
	n.workMu.Lock()
	defer n.workMu.Unlock()
	if n.closed.Load() {
		return false
	}
	n.work.Add(1)
	for _, wg := range also {
		wg.Add(1)
	}
	return true
}

// broadcastWithAck runs, for another node, a broadcast with acks on this
// node's sockets and streams the acks back until they all answered or
// ctx ends, then calls finish. It returns once the event is queued for
// the sockets: no goroutine waits for their acks, the last ack (or ctx's
// end) sends the answer's end from the goroutine that saw it.
// ctx ends at the asking node's deadline, or when it cancels
// (NodeBroadcastCancel).
//
// Acknowledgements go back in batches: those that come within ackBatch of
// the first one not sent yet leave together, and those still held when
// every receiver answered ride with the NodeBroadcastAckDone. A round
// whose receivers all answer at once costs one message back, not one per
// receiver, and one whose only receiver here answers costs no timer.
func (n *node) broadcastWithAck(ctx context.Context, m *pb.NodeBroadcastWithAck, finish func()) {
	to, id, self := m.ReplyTo, m.AckId, n.member()
	var (
		mu      sync.Mutex // acks go out in order, before the end
		held    []*pb.NodeBroadcastAck
		timer   *time.Timer
		flushed bool // the end went out: nothing more
	)
	flush := func() {
		mu.Lock()
		defer mu.Unlock()
		if len(held) > 0 && !flushed && !n.closed.Load() {
			n.sendTo(to, &pb.NodeBroadcastAcks{AckId: id, MemberId: self, Acks: held})
		}
		held = nil
	}
	n.recv.BroadcastWithAck(ctx, m.Namespace, m.Target, clusterlink.EmitFlags{Volatile: m.Volatile, Uncompressed: m.Uncompressed}, m.Data, m.Attachments,
		func(data []byte, atts [][]byte, last bool) {
			mu.Lock()
			defer mu.Unlock()
			if flushed {
				return // came after the end (ctx ended meanwhile)
			}
			held = append(held, &pb.NodeBroadcastAck{Data: data, Attachments: atts})
			// The last ack rides with the end, which follows at once: no
			// timer, whose start wakes the runtime's netpoller (a round
			// with one receiver on this node paid that every time).
			if len(held) == 1 && !last {
				if timer == nil {
					timer = time.AfterFunc(ackBatch, flush)
				} else {
					timer.Reset(ackBatch)
				}
			}
		},
		func(missing int) {
			mu.Lock()
			if timer != nil {
				timer.Stop()
			}
			flushed = true
			if !n.closed.Load() {
				n.sendTo(to, &pb.NodeBroadcastAckDone{AckId: id, MemberId: self, Missing: int32(missing), Acks: held})
			}
			held = nil
			mu.Unlock()
			finish()
		})
}

// ackBatch is how long a node holds the acknowledgements of a broadcast
// with acks for another node before it sends them together.
const ackBatch = 2 * time.Millisecond

// broadcastAck hands an acknowledgement, or the end of a node's answer, to
// the broadcast waiting for it, if any.
func (n *node) broadcastAck(id uint64, member string, ack *pb.NodeBroadcastAck, end *pb.NodeBroadcastAckDone) {
	if w, ok := waiterOf[*broadcastWaiter](n, id); ok {
		w.add(member, ack, end)
	}
}

// waiterOf returns the waiter of request id if there is one and it is a W
// (an answer may come after its call gave up, or name another's id).
func waiterOf[W any](n *node, id uint64) (W, bool) {
	v, _ := n.waiters.Load(id)
	w, ok := v.(W)
	return w, ok
}

// ack hands an acknowledgement to the call waiting for it, if any.
func (n *node) ack(m *pb.NodeEventAck) {
	if w, ok := waiterOf[*ackWaiter](n, m.AckId); ok {
		w.add(m)
	}
}

// runEvent runs this server's handlers of a server-side event; a panic in
// one is logged with its stack and ends that event only.
func (n *node) runEvent(m *pb.NodeEvent) {
	var ack func([]byte, [][]byte)
	if m.AckId != 0 && m.ReplyTo != "" {
		to, id, self := m.ReplyTo, m.AckId, n.member()
		ack = func(data []byte, atts [][]byte) {
			if n.closed.Load() {
				return
			}
			n.sendTo(to, &pb.NodeEventAck{AckId: id, MemberId: self, Data: data, Attachments: atts})
		}
	}
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("actorio: server-side event handler panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	n.recv.ServerSideEmit(m.Data, m.Attachments, ack)
}

// pong answers a probe of the static membership.
func (n *node) pong(m *pb.NodePing) *pb.NodePong {
	if n.static != nil && m.Cluster == n.name && m.Address != "" {
		n.static.pinged(m.Address, m.MemberId, m.Known)
	}
	return &pb.NodePong{Cluster: n.name, MemberId: n.id, Address: n.address(), Kinds: n.c.GetClusterKinds(), Known: n.known()}
}

// known returns the addresses of the other nodes alive.
func (n *node) known() []string {
	ps := *n.peers.Load()
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.addr
	}
	return out
}

// Close implements clusterlink.Node: it tells the other nodes that this
// one leaves (they drop it at once and confirm, up to leaveTimeout), then
// stops the membership, the cluster and the remote.
func (n *node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.teardown(true) })
	return n.closeErr
}

// teardown stops what startNode started; started says whether the cluster
// member had started.
func (n *node) teardown(started bool) (err error) {
	n.closed.Store(true)
	// From here on, protoactor reports the connections it loses as errors:
	// they are the ones this teardown closes.
	n.quiet.Store(true)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("leave cluster: %v", r)
		}
		n.sys.Shutdown()
	}()
	n.endHandOvers()
	if started {
		n.sayGoodbye()
	}
	n.peers.Store(&[]peer{})
	n.workMu.Lock()
	n.workMu.Unlock() //nolint:staticcheck // a barrier: every startWork that saw the node open has added
	n.cancel()
	n.work.Wait()
	n.closeLinks()
	for _, s := range n.subs {
		n.sys.EventStream.Unsubscribe(s)
	}
	var errs []error
	if n.static != nil {
		_ = n.static.Shutdown(true)
	} else if started {
		if err := n.c.Config.ClusterProvider.Shutdown(true); err != nil {
			errs = append(errs, fmt.Errorf("cluster provider: %w", err))
		}
	}
	if n.c.Gossip != nil {
		n.c.Gossip.Shutdown()
	}
	if n.c.IdentityLookup != nil {
		n.c.IdentityLookup.Shutdown()
	}
	if n.c.Remote != nil && n.address() != localAddress {
		// Not protoactor's graceful Remote.Shutdown: it sets flags that its
		// connection goroutines read without synchronization, and it can
		// send on a channel that one of them has closed. Stopping the
		// endpoint supervisor stops its children, the writers, which close
		// the connections to the other nodes; stopping the gRPC server
		// closes theirs to this node and waits for its goroutines. The
		// writers are not waited for: one that tries to reach a node that
		// has gone sleeps 2 s after its attempt, and one blocked sending
		// to a node that stalled stays so until that node reads again.
		n.sys.Root.Stop(n.sys.NewLocalPID(endpointSupervisor))
		n.c.Remote.Shutdown(false)
	}
	n.waiters.Range(func(_, v any) bool {
		v.(keeper).keep(nil, nil)
		return true
	})
	return errors.Join(errs...)
}

// sayGoodbye tells every other node alive that this one leaves, on its
// link, behind everything sent to it before, and waits for their answers,
// up to leaveTimeout: an answer means the node handled all of it.
func (n *node) sayGoodbye() {
	frame, err := appendLinkFrame(nil, &pb.NodeLeaving{MemberId: n.member(), Address: n.address()})
	if err != nil {
		return
	}
	var acks []chan struct{}
	for _, p := range *n.peers.Load() {
		l := n.linkTo(p.addr)
		if l == nil {
			continue
		}
		ch := make(chan struct{})
		n.linkMu.Lock()
		n.leaveAcks[p.addr] = ch
		n.linkMu.Unlock()
		l.queue(frame)
		acks = append(acks, ch)
	}
	timeout := time.NewTimer(leaveTimeout)
	defer timeout.Stop()
	for _, ch := range acks {
		select {
		case <-ch:
		case <-timeout.C:
			return
		}
	}
}

// ErrNodeUnreachable is what the error of a call that waits for the
// answers of the other nodes (ServerSideEmitWithAck, EmitWithAck,
// FetchRemoteSockets) wraps when some did not answer because they were
// dropped from the membership, or their connection failed, before they
// did, or because their queue was full (ClusterOptions.MaxQueueBytes),
// or because what the call sends could not be encoded (a string that is
// not UTF-8, which protobuf refuses).
// The call returns what the others answered.
var ErrNodeUnreachable = errors.New("cluster: node dropped or unreachable")

// keeper is a call waiting for answers from other nodes.
type keeper interface {
	// keep stops waiting for the nodes not in alive; those for which lost
	// (if not nil) is true count as lost.
	keep(alive map[string]bool, lost func(id string) bool)
	// lose stops waiting for the nodes of ids, which count as lost.
	lose(ids []string)
}

// awaiting is the set of nodes a call still waits for; once it is empty,
// done is closed and then, if set, is called. The waiter that embeds it
// guards it with its mu.
type awaiting struct {
	mu   sync.Mutex
	want map[string]bool // member ids not finished
	lost int             // nodes dropped or unreachable before they finished
	done chan struct{}
	// then, if set, is called under mu when nothing is awaited any more,
	// unless over was set before.
	then func()
	over bool // the wait ended
}

// await starts waiting for every peer of ps that reachable reports
// reachable; the others count as lost.
func (a *awaiting) await(ps []peer, reachable func(addr string) bool) {
	a.want = make(map[string]bool, len(ps))
	a.done = make(chan struct{})
	for _, p := range ps {
		if reachable(p.addr) {
			a.want[p.id] = true
		} else {
			a.lost++
		}
	}
	a.check()
}

// watch registers w, which waits on a, as the waiter of request id, then
// stops a's wait for the peers of ps lost since a.await (recheck).
func (n *node) watch(id uint64, w any, a *awaiting, ps []peer) {
	n.waiters.Store(id, w)
	a.recheck(ps, n.reachable)
}

// recheck stops waiting for the peers of ps that reachable no longer
// reports reachable. A call registers its waiter (node.waiters) after
// await: a connection lost in between was announced (onEndpoint) only to
// the waiters registered then, and the call would have waited for that
// node until it was dropped.
func (a *awaiting) recheck(ps []peer, reachable func(addr string) bool) {
	var ids []string
	for _, p := range ps {
		if !reachable(p.addr) {
			ids = append(ids, p.id)
		}
	}
	if len(ids) > 0 {
		a.lose(ids)
	}
}

// finish ends the wait for member and reports whether it was awaited;
// a.mu must be held.
func (a *awaiting) finish(member string) bool {
	if !a.want[member] {
		return false
	}
	delete(a.want, member)
	a.check()
	return true
}

// keep implements keeper.
func (a *awaiting) keep(alive map[string]bool, lost func(id string) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id := range a.want {
		if !alive[id] {
			delete(a.want, id)
			if lost != nil && lost(id) {
				a.lost++
			}
		}
	}
	a.check()
}

// lose implements keeper.
func (a *awaiting) lose(ids []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		if a.want[id] {
			delete(a.want, id)
			a.lost++
		}
	}
	a.check()
}

// check ends the wait once nothing is awaited; a.mu must be held.
func (a *awaiting) check() {
	if len(a.want) == 0 && !a.over {
		a.over = true
		close(a.done)
		if a.then != nil {
			a.then()
		}
	}
}

// broadcastWaiter collects the acknowledgements of one broadcast with
// acks from the other nodes.
type broadcastWaiter struct {
	awaiting
	onAck   func([]byte, [][]byte)
	missing int // receivers that did not answer, on the nodes that finished
}

// add takes one ack (ack) or the end of a node's answer (end). Acks from a
// node that finished or is no longer waited for are dropped.
func (w *broadcastWaiter) add(member string, ack *pb.NodeBroadcastAck, end *pb.NodeBroadcastAckDone) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.want[member] {
		return
	}
	if ack != nil {
		w.onAck(ack.Data, ack.Attachments)
		return
	}
	w.missing += int(end.Missing)
	w.finish(member)
}

// replyWaiter collects one reply from each other node to a call: the
// acknowledgements of a ServerSideEmitWithAck (ackWaiter) or the answers
// to a FetchSockets (fetchWaiter).
type replyWaiter[T interface{ GetMemberId() string }] struct {
	awaiting
	replies []T
}

type (
	ackWaiter   = replyWaiter[*pb.NodeEventAck]
	fetchWaiter = replyWaiter[*pb.NodeFetchSocketsReply]
)

// add takes the reply of a node still awaited, and drops any other.
func (w *replyWaiter[T]) add(m T) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.want[m.GetMemberId()] {
		w.replies = append(w.replies, m)
		w.finish(m.GetMemberId())
	}
}

// result returns the replies received, the nodes not heard from and the
// nodes lost.
func (w *replyWaiter[T]) result() (replies []T, missing, lost int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.replies), len(w.want), w.lost
}

// nodeActor answers the probes of Static membership and goodbyes that
// come through protoactor, and handles what else comes that way as what
// comes on a link (see handle).
type nodeActor struct{ n *node }

func (a *nodeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pb.NodePing:
		ctx.Respond(a.n.pong(m))
	case *pb.NodeLeaving:
		a.n.leaving(m.MemberId, m.Address)
		ctx.Respond(&pb.NodeLeavingAck{})
	case proto.Message:
		a.n.handle(m, nil)
	}
}

// handle handles what another node sent to this node's actorio-node, on
// its link or (from an older node) through protoactor: a node's messages
// one after the other, in the order it sent them. held, when not nil,
// keeps back the writers a broadcast starts (see serveLink).
func (n *node) handle(m proto.Message, held *gateway.Held) {
	switch m := m.(type) {
	case *pb.NodeBroadcast:
		if m.Broadcast != nil && !n.closed.Load() {
			n.recv.Broadcast(m.Namespace, m.Broadcast, held)
		}
	case *pb.NodeRouteQuery:
		n.routeReply(m)
	case *pb.NodeRouteReply:
		if m.Address != "" {
			n.oldHandOver.Store(m.Address, !m.HandOverLinks)
		}
		if w, ok := waiterOf[*routeWaiter](n, m.RequestId); ok {
			w.add(m)
		}
	case *pb.NodeEvent:
		// Run on the events actor: a handler that takes its time holds up
		// the next server-side events, not what comes after on the link.
		n.sys.Root.Send(n.events, m)
	case *pb.NodeEventAck:
		n.ack(m)
	case *pb.NodeRoomChange:
		if !n.closed.Load() {
			n.recv.ChangeRooms(m.Namespace, m.Target, m.Rooms, m.Leave)
		}
	case *pb.NodeDisconnect:
		if !n.closed.Load() {
			n.recv.DisconnectSockets(m.Namespace, m.Target, m.Close)
		}
	case *pb.NodeBroadcastWithAck:
		// Its acks may take until the caller's deadline: it must not hold
		// up what comes next, and does not (see broadcastWithAck).
		if m.ReplyTo == "" || !n.startWork() {
			break
		}
		// Registered here, so that a cancel, which comes after it from
		// the same node, finds it.
		var ctx context.Context
		var cancel context.CancelFunc
		if m.TimeoutMs > 0 {
			ctx, cancel = context.WithTimeout(n.ctx, time.Duration(m.TimeoutMs)*time.Millisecond)
		} else {
			ctx, cancel = context.WithCancel(n.ctx)
		}
		key := ackKey{m.ReplyTo, m.AckId}
		n.acking.Store(key, cancel)
		n.broadcastWithAck(ctx, m, func() {
			n.acking.Delete(key)
			cancel()
			n.work.Done()
		})
	case *pb.NodeBroadcastCancel:
		if cancel, ok := n.acking.Load(ackKey{m.ReplyTo, m.AckId}); ok {
			cancel.(context.CancelFunc)()
		}
	case *pb.NodeFetchSockets:
		// Off the actor, as its answer waits for the namespace; its
		// request still reaches the namespace after what came before.
		if m.ReplyTo == "" || !n.startWork() {
			break
		}
		go func() {
			defer n.work.Done()
			n.fetchSockets(m)
		}()
	case *pb.NodeFetchSocketsReply:
		if w, ok := waiterOf[*fetchWaiter](n, m.RequestId); ok {
			w.add(m)
		}
	case *pb.NodeSession:
		if !n.closed.Load() {
			n.recv.SessionState(m)
		}
	case *pb.NodeSessionClaim:
		// Off the actor: the answer waits for the socket to end.
		if m.ReplyTo == "" || !n.startWork() {
			break
		}
		go func() {
			defer n.work.Done()
			n.claimSession(m)
		}()
	case *pb.NodeSessionClaimReply:
		if w, ok := waiterOf[*claimWaiter](n, m.RequestId); ok {
			w.add(m)
		}
	case *pb.NodeHandOver:
		n.serveHandOver(m)
	case *pb.NodeHandOverCancel:
		if cancel, ok := n.handing.Load(ackKey{m.ReplyTo, m.RequestId}); ok {
			cancel.(context.CancelFunc)()
		}
	case *pb.NodeHandOverReply:
		if w, ok := waiterOf[*handOverWaiter](n, m.RequestId); ok {
			w.add(m)
		}
	case *pb.NodeQueueMark:
		if m.ReplyTo != "" && !n.closed.Load() {
			n.sendControl(m.ReplyTo, &pb.NodeQueueMarkAck{MemberId: n.member(), Sent: m.Sent})
		}
	case *pb.NodeQueueMarkAck:
		n.markAck(m)
	case *pb.NodeSocketCommand:
		if !n.closed.Load() {
			n.recv.SocketCommand(m)
		}
	case *pb.NodeBroadcastAck:
		n.broadcastAck(m.AckId, m.MemberId, m, nil)
	case *pb.NodeBroadcastAcks:
		for _, ack := range m.Acks {
			n.broadcastAck(m.AckId, m.MemberId, ack, nil)
		}
	case *pb.NodeBroadcastAckDone:
		for _, ack := range m.Acks {
			n.broadcastAck(m.AckId, m.MemberId, ack, nil)
		}
		n.broadcastAck(m.AckId, m.MemberId, nil, m)
	}
}

// eventsActor runs the server-side event handlers, one event at a time,
// apart from the links' readers, which a slow handler must not hold up.
type eventsActor struct{ n *node }

func (a *eventsActor) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*pb.NodeEvent); ok && !a.n.closed.Load() {
		a.n.runEvent(m)
	}
}
