package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/actorio/actorio/internal/leakcheck"
	"github.com/actorio/actorio/internal/testkit"
)

// topologies records the lists of members a provider hands on.
type topologies struct {
	mu   sync.Mutex
	last []string // ids
	n    int
}

func (tp *topologies) take(ms cluster.Members) {
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.Id)
	}
	tp.mu.Lock()
	tp.last, tp.n = ids, tp.n+1
	tp.mu.Unlock()
}

// waitFor waits up to 10 s for the last list to be want.
func (tp *topologies) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tp.mu.Lock()
		got := slices.Clone(tp.last)
		tp.mu.Unlock()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func clientConfig(endpoint string) clientv3.Config {
	return clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startEtcd starts an etcd for t and returns its endpoint, a client of
// the test's own and a context that ends with t (or after 30 s).
func startEtcd(t *testing.T) (string, *clientv3.Client, context.Context) {
	t.Helper()
	endpoint := testkit.StartEtcd(t)
	raw, err := clientv3.New(clientConfig(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	// clientv3.New connects in the background. A request now waits for
	// the connection, so that its goroutines run before a subtest counts
	// goroutines for its leak check: connecting later adds one (gRPC's
	// reader and writer replace its connecting goroutine), a leak the
	// subtest did not make.
	if _, err := raw.Get(ctx, "/"); err != nil {
		t.Fatalf("the test's etcd client: %v", err)
	}
	return endpoint, raw, ctx
}

// TestMembership: a node registers and sees itself; a node whose key is
// put between a provider's list and the start of its watch (the gap of a
// watch started without the list's revision) is seen, and dropped when
// its key goes; a node that shuts down removes its key and revokes its
// lease.
func TestMembership(t *testing.T) {
	endpoint, raw, ctx := startEtcd(t)

	p, err := New(Config{Client: clientConfig(endpoint), TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	late, err := json.Marshal(member{Host: "127.0.0.1", Port: 2, ID: "late"})
	if err != nil {
		t.Fatal(err)
	}
	p.afterList = func() {
		if _, err := raw.Put(ctx, "/actorio/c/late", string(late)); err != nil {
			t.Errorf("put: %v", err)
		}
	}
	var tp topologies
	if err := p.begin("c", &member{Host: "127.0.0.1", Port: 1, ID: "self"}, quiet, tp.take); err != nil {
		t.Fatal(err)
	}
	tp.waitFor(t, "late", "self#1")

	if _, err := raw.Delete(ctx, "/actorio/c/late"); err != nil {
		t.Fatal(err)
	}
	tp.waitFor(t, "self#1")

	// Another cluster's members are not this one's.
	if _, err := raw.Put(ctx, "/actorio/other/x", string(late)); err != nil {
		t.Fatal(err)
	}
	// A key this provider cannot read is skipped.
	if _, err := raw.Put(ctx, "/actorio/c/garbage", "{"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	tp.waitFor(t, "self#1")

	resp, err := raw.Get(ctx, "/actorio/c/self")
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
		t.Fatalf("the node's key: %v, %v; want one, with a lease", resp, err)
	}
	lease := clientv3.LeaseID(resp.Kvs[0].Lease)
	if err := p.Shutdown(true); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if resp, err := raw.Get(ctx, "/actorio/c/self"); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("after Shutdown the node's key is still there: %v, %v", resp, err)
	}
	if ttl, err := raw.TimeToLive(ctx, lease); err != nil || ttl.TTL != -1 {
		t.Fatalf("after Shutdown the node's lease lives on: %v, %v", ttl, err)
	}
}

// TestLeaseLost: a node whose lease is revoked (as etcd does when the
// node could not renew it within TTL) registers again, with a new lease
// and the next generation of its member id (protoactor-go blocks the id
// of a member it dropped).
func TestLeaseLost(t *testing.T) {
	endpoint, raw, ctx := startEtcd(t)
	p, err := New(Config{Client: clientConfig(endpoint), Prefix: "/x/", Retry: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Shutdown(true) }()
	var tp topologies
	if err := p.begin("c", &member{Host: "127.0.0.1", Port: 1, ID: "self"}, quiet, tp.take); err != nil {
		t.Fatal(err)
	}
	tp.waitFor(t, "self#1")
	resp, err := raw.Get(ctx, "/x/c/self")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the node's key: %v, %v", resp, err)
	}
	first := resp.Kvs[0].Lease
	if _, err := raw.Revoke(ctx, clientv3.LeaseID(first)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := raw.Get(ctx, "/x/c/self")
		if err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].Lease != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not register again after its lease was revoked: %v, %v", resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tp.waitFor(t, "self#2")
	if !strings.HasPrefix(p.key, "/x/c/") {
		t.Fatalf("key %q, want it under the prefix without a doubled slash", p.key)
	}
}

// TestStartFails: a start that fails leaves nothing behind, neither the
// etcd client's goroutines nor the node's key, and the provider refuses
// to start again.
func TestStartFails(t *testing.T) {
	endpoint, raw, ctx := startEtcd(t)
	tests := []struct {
		name string
		// prepare readies etcd and the provider's configuration so that
		// begin fails at the step under test.
		prepare func(t *testing.T, cfg *Config)
		group   string // the cluster's name
		self    member
		want    string // in the error
	}{{
		name: "the node's put is refused",
		// Above the bound on a request the client sends (2 MiB) and
		// etcd's (1.5 MiB): the lease is granted, the put refused.
		group: "big",
		self:  member{Host: "127.0.0.1", Port: 1, ID: "big", Kinds: []string{strings.Repeat("k", 2<<20)}},
		want:  "put /actorio/big/big",
	}, {
		name: "the list is too large for the client",
		prepare: func(t *testing.T, cfg *Config) {
			// Registered, then listed: the list's answer exceeds what
			// the client takes, so the node must remove its key again.
			cfg.Client.MaxCallRecvMsgSize = 4 << 10
			for i := range 4 {
				if _, err := raw.Put(ctx, fmt.Sprintf("/actorio/list/pad%d", i), strings.Repeat("x", 2<<10)); err != nil {
					t.Fatal(err)
				}
			}
		},
		group: "list",
		self:  member{Host: "127.0.0.1", Port: 1, ID: "self"},
		want:  "list /actorio/list/",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t, 5*time.Second)
			cfg := Config{Client: clientConfig(endpoint)}
			if tc.prepare != nil {
				tc.prepare(t, &cfg)
			}
			p, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var tp topologies
			err = p.begin(tc.group, &tc.self, quiet, tp.take)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("begin: %v, want an error about %q", err, tc.want)
			}
			key := "/actorio/" + tc.group + "/" + tc.self.ID
			if resp, err := raw.Get(ctx, key); err != nil || len(resp.Kvs) != 0 {
				t.Fatalf("after the failed start the node's key is there: %v, %v", resp, err)
			}
			if err := p.begin(tc.group, &tc.self, quiet, tp.take); err == nil || !strings.Contains(err.Error(), "make a new one") {
				t.Fatalf("begin again: %v, want it refused", err)
			}
			if err := p.Shutdown(true); err != nil {
				t.Fatalf("Shutdown after the failed start: %v", err)
			}
		})
	}
}
