package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/actorio/actorio/internal/clusterlink"
	"github.com/asynkron/protoactor-go/cluster"
)

// Defaults of Static.
const (
	DefaultProbeInterval = time.Second
	DefaultProbeTimeout  = time.Second
	DefaultMaxFailures   = 3
)

// Static is a membership that needs no external service: each node probes
// the nodes it knows over the cluster connection itself, and learns of
// more from every answer and every probe it receives. It suits one
// machine, tests, and small fixed deployments.
//
// A node is alive from its first answer; it is dropped after MaxFailures
// probes in a row went unanswered, which with the defaults takes at most
// MaxFailures × (ProbeInterval + ProbeTimeout) = 6 s after it died (a
// node that Server.Close stops says so and is dropped at once). A node
// dropped without leaving, because it stalled or a partition cut it off,
// is still probed and taken back, with its member id, sockets and rooms,
// as soon as it answers again: within ProbeInterval + ProbeTimeout = 2 s
// with the defaults once it can be reached (see the package doc,
// Healing). A node that restarts, at the same address or not, has a new
// id and joins again.
//
// One Static value may serve several servers: each gets its own state.
type Static struct {
	// Seeds are cluster addresses (host:port, ClusterOptions.Address) of
	// nodes to probe. One live seed is enough to find every node; this
	// node's own address may be listed. With none, the node waits for
	// others to probe it. Seeds are probed for as long as the node runs:
	// at every round, also while they do not answer, for ten minutes,
	// then every tenth round. The nodes learnt from others are probed for
	// ten minutes after they were dropped, then forgotten (at once, those
	// that said they were leaving).
	Seeds []string
	// ProbeInterval is the pause between two rounds of probes. Default 1s.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe waits for its answer. Default 1s.
	ProbeTimeout time.Duration
	// MaxFailures is the number of probes in a row a node may leave
	// unanswered before it is dropped. Default 3.
	MaxFailures int
}

// JoinCluster implements clusterlink.Provider.
func (s *Static) JoinCluster(o clusterlink.Config, log *slog.Logger, recv clusterlink.Receiver) (clusterlink.Node, error) {
	cfg := *s
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	p := newStaticProvider(cfg)
	n, err := startNode(o, log, recv, p, p)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// DefaultShutdownTimeout is how long a Protoactor node's Close waits, by
// default, for its provider's Shutdown.
const DefaultShutdownTimeout = 5 * time.Second

// Protoactor takes the membership from a protoactor-go cluster provider,
// for production: this module's etcd one (cluster/etcd), or one of
// protoactor-go's: Consul
// (github.com/asynkron/protoactor-go/cluster/clusterproviders/consul),
// Kubernetes (…/k8s), ZooKeeper (…/zk) or automanaged (…/automanaged).
// The provider decides when a node is alive and when it is dead (a Consul
// TTL check, an etcd lease, a Kubernetes pod's status), and so how long a
// dead node takes to be dropped. This package tests cluster/etcd against
// a real etcd (etcd_test.go): with it a node that closes is dropped at
// once, one that dies within about 3.5 s, when its lease expires.
// (protoactor-go's own etcd provider can miss for good a node that
// registers while it starts.)
//
// A node that its provider drops without it leaving (its lease expired
// while it stalled, say) is blocked by protoactor-go, by member id, on
// every node. With cluster/etcd it rejoins under a new member id once it
// reaches etcd again; with other providers it stays out, logs so at Warn,
// and rejoins only once restarted.
//
// A provider holds the state of one node: give each server its own
// Protoactor value and provider.
type Protoactor struct {
	Provider cluster.ClusterProvider
	// ShutdownTimeout bounds the wait, in Server.Close, for the provider's
	// Shutdown, which removes the node from the membership service: past
	// it Close returns an error and leaves that Shutdown running. (The etcd
	// provider's waits for as long as etcd is unreachable.) Default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

// JoinCluster implements clusterlink.Provider.
func (p *Protoactor) JoinCluster(o clusterlink.Config, log *slog.Logger, recv clusterlink.Receiver) (clusterlink.Node, error) {
	if p.Provider == nil {
		return nil, errors.New("cluster: Protoactor.Provider is nil")
	}
	timeout := p.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	n, err := startNode(o, log, recv, boundedShutdown{p.Provider, timeout}, nil)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// boundedShutdown is a protoactor provider whose Shutdown returns after
// timeout at the latest.
type boundedShutdown struct {
	cluster.ClusterProvider
	timeout time.Duration
}

// Shutdown runs the provider's Shutdown and waits for it up to timeout.
func (b boundedShutdown) Shutdown(graceful bool) error {
	done := make(chan error, 1)
	go func() { done <- b.ClusterProvider.Shutdown(graceful) }()
	t := time.NewTimer(b.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("provider %T did not shut down within %v: is its membership service reachable?", b.ClusterProvider, b.timeout)
	}
}
