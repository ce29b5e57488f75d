// Package etcd keeps the membership of an actorio cluster in etcd: a
// protoactor-go cluster provider for cluster.Protoactor.
//
// Each node puts a key of its own under Prefix/<cluster name>/, bound to a
// lease it renews; the others list the keys, then watch the prefix from
// the revision of that list, so that no node that registers meanwhile is
// missed. A node that closes deletes its key and is dropped at once; one
// that dies (or loses etcd) is dropped when its lease expires, TTL after
// its last renewal.
//
// A node's member id is its actor system's id and a generation
// ("<id>#1"), which grows each time the node registers again after its
// lease was lost (it stalled, or could not reach etcd, for longer than
// TTL): protoactor-go blocks the member id of a node it drops for good, on
// every node, so the node comes back under a new one, with its sockets
// and rooms, as soon as it reaches etcd again.
//
// "As soon as" is bounded: the etcd client reconnects within
// reconnectTimeout (5 s) plus Retry of etcd becoming reachable again, as
// it waits at most Retry between two attempts and gives up an attempt
// that hangs (one made into a partition that drops packets) after
// reconnectTimeout; gRPC's defaults would wait up to two minutes after a
// long outage. A node then registers again within Retry, and the others
// see it at once through their watch. A connection that stalls without
// being closed (a route that drops its packets, a NAT that forgot it) is
// given up keepAliveTime plus keepAliveTimeout (15 s) after the client
// last heard from etcd, by the client's keepalive pings, and the same
// bound follows; without the pings the client would wait on that
// connection for as long as the kernel keeps it.
//
// protoactor-go's own etcd provider (cluster/clusterproviders/etcd) lists
// the members, then starts a watch with no revision: a node that registers
// between the two is never seen by the one starting (nodes started
// together, as a deployment starts them, could stay apart for good).
package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Config configures a Provider.
type Config struct {
	// Client is the etcd client's configuration (endpoints, TLS, auth).
	// DialKeepAliveTime and DialKeepAliveTimeout left zero become 10 s
	// and 5 s (see keepAliveTime).
	Client clientv3.Config
	// Prefix is the key prefix of every cluster's members; default
	// "/actorio".
	Prefix string
	// TTL is the lease of a node's key: a node that dies is dropped
	// within TTL (and the half second etcd takes to expire leases).
	// Default 3 s; etcd rounds it to whole seconds.
	TTL time.Duration
	// Retry is how long a node waits before it tries etcd again, after
	// it lost its lease or its watch, and the longest wait of its client
	// between two attempts to reconnect; default 1 s. DialOptions in
	// Client that set grpc.WithConnectParams replace the latter.
	Retry time.Duration
}

// reconnectTimeout bounds one attempt of the etcd client to connect
// (gRPC's default is 20 s), so that an attempt made into a partition that
// drops packets ends soon after the partition does.
const reconnectTimeout = 5 * time.Second

// keepAliveTime and keepAliveTimeout are the etcd client's keepalive
// pings, unless Config.Client sets them: after keepAliveTime without
// hearing from etcd the client pings, and gives the connection up when
// keepAliveTimeout passes without an answer. 10 s is the least gRPC
// allows a client, and etcd's servers accept pings every 5 s
// (--grpc-keepalive-min-time).
const (
	keepAliveTime    = 10 * time.Second
	keepAliveTimeout = 5 * time.Second
)

// Provider keeps one node's membership in etcd; make it with New, and give
// each node its own.
type Provider struct {
	cfg    Config
	client *clientv3.Client

	log *slog.Logger
	// topology takes each new list of members (the cluster's MemberList).
	topology func(cluster.Members)
	// afterList, if set, runs between the first list and the watch (for
	// tests: what registers then must not be missed).
	afterList func()
	dir       string // Prefix/<cluster name>/
	key       string // dir + the node's id; empty for a client
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	// self is the node's member (nil for a client); gen its generation.
	self *member
	gen  int

	pubMu sync.Mutex

	mu      sync.Mutex
	members map[string]*cluster.Member // by key
	lease   clientv3.LeaseID
	// mine is the node's member as last registered, at revision mineRev.
	mine    *cluster.Member
	mineRev int64
	// rewatch ends the watch in progress, which then lists the members
	// again and watches on from there.
	rewatch context.CancelFunc
	done    bool
}

// New returns a provider that reaches etcd with an etcd client made from
// cfg.Client; Shutdown closes that client.
func New(cfg Config) (*Provider, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "/actorio"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 3 * time.Second
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	// gRPC's default backoff grows to 2 min between two attempts to
	// reconnect: after a long outage the node would stay out that long
	// once etcd is back. The user's dial options come after, and win.
	cfg.Client.DialOptions = append([]grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: min(cfg.Retry, time.Second), Multiplier: 1.6, Jitter: 0.2, MaxDelay: cfg.Retry},
		MinConnectTimeout: reconnectTimeout,
	})}, cfg.Client.DialOptions...)
	// Without keepalive pings, a connection that stalls without being
	// closed (a route that drops its packets, a NAT that forgot it) is
	// waited on for as long as the kernel keeps it, and the node stays
	// out of the cluster all that time: gRPC reconnects only once a
	// connection fails.
	if cfg.Client.DialKeepAliveTime <= 0 {
		cfg.Client.DialKeepAliveTime = keepAliveTime
	}
	if cfg.Client.DialKeepAliveTimeout <= 0 {
		cfg.Client.DialKeepAliveTimeout = keepAliveTimeout
	}
	client, err := clientv3.New(cfg.Client)
	if err != nil {
		return nil, fmt.Errorf("etcd: client: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Provider{cfg: cfg, client: client, ctx: ctx, cancel: cancel, members: map[string]*cluster.Member{}}, nil
}

// member is a node's value in etcd.
type member struct {
	Host  string   `json:"host"`
	Port  int32    `json:"port"`
	ID    string   `json:"id"`
	Kinds []string `json:"kinds,omitempty"`
}

// StartMember implements cluster.ClusterProvider: it registers the node,
// lists the members and watches for changes. When it fails it leaves
// nothing behind: it removes what it registered and closes the client,
// and the provider cannot be started again.
func (p *Provider) StartMember(c *cluster.Cluster) error { return p.start(c, true) }

// StartClient implements cluster.ClusterProvider: it lists the members and
// watches for changes, without registering; it fails as StartMember does.
func (p *Provider) StartClient(c *cluster.Cluster) error { return p.start(c, false) }

func (p *Provider) start(c *cluster.Cluster, register bool) error {
	var self *member
	if register {
		host, port, err := splitHostPort(c.ActorSystem.Address())
		if err != nil {
			return fmt.Errorf("etcd: the node's address: %w", err)
		}
		self = &member{Host: host, Port: port, ID: c.ActorSystem.ID, Kinds: c.GetClusterKinds()}
	}
	return p.begin(c.Config.Name, self, c.Logger(), c.MemberList.UpdateClusterTopology)
}

// begin starts the membership of cluster name: registers self unless nil,
// lists the members and watches them, handing each list to topology.
func (p *Provider) begin(name string, self *member, log *slog.Logger, topology func(cluster.Members)) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done {
		return errors.New("etcd: the provider was shut down, or failed to start: make a new one")
	}
	p.log, p.topology = log, topology
	p.dir = strings.TrimSuffix(p.cfg.Prefix, "/") + "/" + name + "/"
	register := self != nil
	if register {
		p.self, p.key = self, p.dir+self.ID
		// Registered first, then listed: a node that registers later
		// than the list's revision comes with the watch.
		if err := p.register(); err != nil {
			// Nothing to remove: a lease granted before the put failed
			// expires within TTL, and its key (if the put was applied
			// after all) with it.
			_ = p.stop(false)
			return err
		}
	}
	rev, err := p.list()
	if err != nil {
		_ = p.stop(register) // the list's error says more
		return err
	}
	if p.afterList != nil {
		p.afterList()
	}
	if register {
		p.wg.Add(1)
		go p.keepAlive()
	}
	p.wg.Add(1)
	go p.watch(rev)
	return nil
}

// register grants a lease and puts the node's key under it, as the node's
// next generation.
func (p *Provider) register() error {
	m := *p.self
	m.ID = fmt.Sprintf("%s#%d", p.self.ID, p.gen+1)
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("etcd: encode the node: %w", err)
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.Client.DialTimeout+5*time.Second)
	defer cancel()
	g, err := p.client.Grant(ctx, int64(max(1, (p.cfg.TTL+time.Second/2)/time.Second)))
	if err != nil {
		return fmt.Errorf("etcd: grant a lease: %w", err)
	}
	put, err := p.client.Put(ctx, p.key, string(v), clientv3.WithLease(g.ID))
	if err != nil {
		return fmt.Errorf("etcd: put %s: %w", p.key, err)
	}
	p.gen++
	p.mu.Lock()
	p.lease = g.ID
	// The node knows its new member id at once, whenever its watch (which
	// may still be catching up with etcd) brings the change.
	p.mine = &cluster.Member{Host: m.Host, Port: m.Port, Id: m.ID, Kinds: m.Kinds}
	p.mineRev = put.Header.Revision
	again := p.gen > 1 // a registration after the first: begin lists next
	if again {
		p.members[p.key] = p.mine
		if p.rewatch != nil {
			p.rewatch() // what the watch missed meanwhile comes with a new list
		}
	}
	p.mu.Unlock()
	if again {
		p.publish()
	}
	return nil
}

// list reads the members and publishes them; it returns the revision the
// list is at.
func (p *Provider) list() (int64, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.Client.DialTimeout+5*time.Second)
	defer cancel()
	resp, err := p.client.Get(ctx, p.dir, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("etcd: list %s: %w", p.dir, err)
	}
	p.mu.Lock()
	clear(p.members)
	for _, kv := range resp.Kvs {
		if m, ok := p.decode(kv.Key, kv.Value); ok {
			p.members[string(kv.Key)] = m
		}
	}
	if p.mine != nil && resp.Header.Revision < p.mineRev {
		p.members[p.key] = p.mine // registered after this list was read
	}
	p.mu.Unlock()
	p.publish()
	return resp.Header.Revision, nil
}

// decode reads a member's value; a value it cannot read is logged and
// skipped.
func (p *Provider) decode(key, value []byte) (*cluster.Member, bool) {
	var m member
	if err := json.Unmarshal(value, &m); err != nil || m.ID == "" {
		p.log.Warn("etcd: a member's key holds no member", slog.String("key", string(key)), slog.Any("err", err))
		return nil, false
	}
	return &cluster.Member{Host: m.Host, Port: m.Port, Id: m.ID, Kinds: m.Kinds}, true
}

// publish hands the members to the cluster, ordered by id. pubMu keeps
// the lists in the order they were taken (the watch and a registration
// after a lost lease both publish).
func (p *Provider) publish() {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	p.mu.Lock()
	ms := make([]*cluster.Member, 0, len(p.members))
	for _, m := range p.members {
		ms = append(ms, m)
	}
	p.mu.Unlock()
	sort.Slice(ms, func(i, j int) bool { return ms[i].Id < ms[j].Id })
	p.topology(ms)
}

// watch applies the changes under the members' prefix from revision
// rev+1 on; when the watch fails (etcd lost, the revision compacted), or
// the node registered again after losing its lease (its watch was cut off
// from etcd as long), it lists the members again and watches from there.
func (p *Provider) watch(rev int64) {
	defer p.wg.Done()
	for p.ctx.Err() == nil {
		wctx, restart := context.WithCancel(p.ctx)
		p.mu.Lock()
		p.rewatch = restart
		p.mu.Unlock()
		ch := p.client.Watch(clientv3.WithRequireLeader(wctx), p.dir, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for resp := range ch {
			if err := resp.Err(); err != nil {
				if wctx.Err() == nil {
					p.log.Warn("etcd: the members' watch failed; listing them again", slog.Any("err", err))
				}
				break
			}
			p.mu.Lock()
			for _, ev := range resp.Events {
				key := string(ev.Kv.Key)
				if key == p.key && ev.Kv.ModRevision < p.mineRev {
					continue // older than the node's own last registration
				}
				switch ev.Type {
				case clientv3.EventTypePut:
					if m, ok := p.decode(ev.Kv.Key, ev.Kv.Value); ok {
						p.members[key] = m
					}
				case clientv3.EventTypeDelete:
					delete(p.members, key)
				}
			}
			p.mu.Unlock()
			rev = resp.Header.Revision
			if len(resp.Events) > 0 {
				p.publish()
			}
		}
		restart()
		for p.ctx.Err() == nil {
			r, err := p.list()
			if err == nil {
				rev = r
				break
			}
			p.log.Warn("etcd: cannot list the members", slog.Any("err", err))
			p.sleep(p.cfg.Retry)
		}
	}
}

// keepAlive renews the node's lease; when the lease is lost (etcd was out
// of reach for longer than TTL, say), it registers the node again.
func (p *Provider) keepAlive() {
	defer p.wg.Done()
	for p.ctx.Err() == nil {
		p.mu.Lock()
		lease := p.lease
		p.mu.Unlock()
		ch, err := p.client.KeepAlive(p.ctx, lease)
		if err == nil {
			for range ch {
			}
		}
		if p.ctx.Err() != nil {
			return
		}
		p.log.Warn("etcd: the node's lease was lost; registering it again under a new member id", slog.String("key", p.key), slog.Any("err", err))
		for p.ctx.Err() == nil {
			p.sleep(p.cfg.Retry)
			if err := p.register(); err == nil {
				p.log.Warn("etcd: the node registered again", slog.String("key", p.key), slog.Int("generation", p.gen))
				break
			} else if p.ctx.Err() == nil {
				p.log.Warn("etcd: cannot register the node", slog.Any("err", err))
			}
		}
	}
}

// sleep waits d, or until the provider shuts down.
func (p *Provider) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.ctx.Done():
	}
}

// deregister removes the node's key and revokes its lease, for a node
// that leaves.
func (p *Provider) deregister() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Client.DialTimeout+5*time.Second)
	defer cancel()
	p.mu.Lock()
	lease := p.lease
	p.mu.Unlock()
	_, err := p.client.Delete(ctx, p.key)
	if lease != 0 {
		_, rerr := p.client.Revoke(ctx, lease)
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return fmt.Errorf("etcd: remove %s: %w", p.key, err)
	}
	return nil
}

// Shutdown implements cluster.ClusterProvider: it stops the watch and the
// renewals, removes the node's key (the others drop it at once) and
// closes the etcd client.
func (p *Provider) Shutdown(bool) error { return p.stop(p.key != "") }

// stop ends the provider once: it stops the watch and the renewals,
// removes the node's key if deregister and closes the etcd client. Later
// calls return nil.
func (p *Provider) stop(deregister bool) error {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return nil
	}
	p.done = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	var err error
	if deregister {
		err = p.deregister()
	}
	return errors.Join(err, p.client.Close())
}

func splitHostPort(addr string) (string, int32, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		return "", 0, fmt.Errorf("port of %s: %w", addr, err)
	}
	return host, int32(n), nil
}
