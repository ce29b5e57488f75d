package cluster_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/cluster"
	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/internal/clusterlink"
	"github.com/actorio/actorio/internal/leakcheck"
	"github.com/actorio/actorio/internal/testkit"
	pb "github.com/actorio/actorio/proto"
)

// testLog is where the servers log: nowhere, unless CLUSTER_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("CLUSTER_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// checkGoroutines fails t when, once every cleanup has run, more goroutines
// run than before. protoactor's connection to a node that has gone may
// still be sleeping out its 2 s before giving up, hence the long wait.
func checkGoroutines(t *testing.T) {
	t.Helper()
	leakcheck.Check(t, 8*time.Second)
}

// recorder keeps the node its provider started, for tests that kill it,
// and the flags of the broadcasts the other nodes sent it.
type recorder struct {
	p    actorio.ClusterProvider
	node clusterlink.Node

	mu    sync.Mutex
	flags []receivedFlags
}

// receivedFlags are the flags of one broadcast that reached a node.
type receivedFlags struct {
	withAck, uncompressed bool
}

func (r *recorder) JoinCluster(o clusterlink.Config, log *slog.Logger, recv clusterlink.Receiver) (clusterlink.Node, error) {
	n, err := r.p.JoinCluster(o, log, flagRecorder{Receiver: recv, r: r})
	r.node = n
	return n, err
}

// received returns the flags of the broadcasts received so far.
func (r *recorder) received() []receivedFlags {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.flags)
}

// flagRecorder is a node's receiver that records the flags of broadcasts.
type flagRecorder struct {
	clusterlink.Receiver
	r *recorder
}

func (f flagRecorder) Broadcast(nsp string, b *pb.Broadcast, held *gateway.Held) {
	f.r.mu.Lock()
	f.r.flags = append(f.r.flags, receivedFlags{uncompressed: b.Uncompressed})
	f.r.mu.Unlock()
	f.Receiver.Broadcast(nsp, b, held)
}

func (f flagRecorder) BroadcastWithAck(ctx context.Context, nsp string, t *pb.Target, fl clusterlink.EmitFlags, data []byte, atts [][]byte, onAck func([]byte, [][]byte, bool), done func(int)) {
	f.r.mu.Lock()
	f.r.flags = append(f.r.flags, receivedFlags{withAck: true, uncompressed: fl.Uncompressed})
	f.r.mu.Unlock()
	f.Receiver.BroadcastWithAck(ctx, nsp, t, fl, data, atts, onAck, done)
}

// testNode is one actorio server of a cluster with its HTTP server on
// 127.0.0.1.
type testNode struct {
	name string
	srv  *actorio.Server
	http *httptest.Server
	url  string
	addr string // the cluster address
	rec  *recorder

	closeOnce sync.Once
	closeErr  error
	closeTook time.Duration

	// warmDone ends the warm-up connection (cluster.WarmUp), if any.
	warmDone func()

	// side records the "ping" server-side events this node received.
	sideMu sync.Mutex
	side   []received
}

// sideEvents returns the "ping" server-side events received so far.
func (n *testNode) sideEvents() []received {
	n.sideMu.Lock()
	defer n.sideMu.Unlock()
	return slices.Clone(n.side)
}

// startNode starts a server whose cluster node listens on addr (host:0
// for any port) with the membership m, and warms it up (see
// cluster.WarmUp) if warm. Every socket handles "join" (join rooms, ack)
// and "shout" (broadcast to the namespace but itself); "/chat" exists; the
// server records the server-side event "ping" and acknowledges "ask" with
// its name.
func startNode(t *testing.T, name, addr string, m actorio.ClusterProvider, warm bool) *testNode {
	t.Helper()
	return startNodeAt(t, name, addr, "", testLog(), m, warm)
}

// startNodeAt is startNode with the node's AdvertisedAddress adv (none
// when empty), logging to log.
func startNodeAt(t *testing.T, name, addr, adv string, log *slog.Logger, m actorio.ClusterProvider, warm bool) *testNode {
	t.Helper()
	rec := &recorder{p: m}
	onConn := func(s *actorio.Socket) {
		s.On("join", testkit.JoinRooms)
		s.On("shout", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			_ = s.Broadcast().Emit("shout", args.String(0))
			if ack != nil {
				_ = ack("ok")
			}
		})
	}
	web, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{
			Logger:  log,
			Cluster: &actorio.ClusterOptions{Insecure: true, Name: "test", Address: addr, AdvertisedAddress: adv, Provider: rec},
		},
		Listener: web,
		Setup: func(srv *actorio.Server) {
			srv.OnConnection(onConn)
			srv.Of("/chat").OnConnection(onConn)
		},
		Name: "node " + name,
	})
	srv := ts.Srv
	n := &testNode{name: name, srv: srv, http: ts.HTTP, url: ts.URL, rec: rec}
	n.addr = srv.ClusterNodes()[0]
	// Runs before the cleanup of StartServer, which then finds both closed.
	t.Cleanup(func() { n.close(t) })
	srv.OnServerSideEmit("ping", func(args actorio.Args, ack actorio.AckFunc) {
		r := received{event: "ping"}
		for i := range args.Len() {
			r.args = append(r.args, string(args.Raw(i)))
		}
		if b := args.Bytes(args.Len() - 1); b != nil {
			r.args[len(r.args)-1] = "bytes:" + string(b)
		}
		n.sideMu.Lock()
		n.side = append(n.side, r)
		n.sideMu.Unlock()
	})
	srv.OnServerSideEmit("ask", func(args actorio.Args, ack actorio.AckFunc) {
		if ack != nil {
			_ = ack(name, args.String(0))
		}
	})
	if warm {
		done, err := cluster.WarmUp(rec.node)
		if err != nil {
			t.Fatalf("node %s: warm up: %v", name, err)
		}
		n.warmDone = done
	}
	return n
}

// close closes the server, then its HTTP server, once.
func (n *testNode) close(t *testing.T) {
	n.closeOnce.Do(func() {
		start := time.Now()
		n.closeErr = n.srv.Close()
		n.closeTook = time.Since(start)
		if n.warmDone != nil {
			// Only now: the server side of the warm-up connection, which
			// the node's Close closed, read grpc's logger in this goroutine
			// (see cluster.WarmUp).
			n.warmDone()
		}
		t.Logf("node %s: Close took %v", n.name, n.closeTook.Round(time.Millisecond))
		n.http.Close()
		if n.closeErr != nil {
			t.Errorf("node %s: Close: %v", n.name, n.closeErr)
		}
	})
}

// waitMembers waits until every node sees exactly the others.
func waitMembers(t *testing.T, within time.Duration, nodes ...*testNode) {
	t.Helper()
	want := make([]string, 0, len(nodes))
	for _, n := range nodes {
		want = append(want, n.addr)
	}
	slices.Sort(want)
	deadline := time.Now().Add(within)
	for {
		ok := true
		var seen []string
		for _, n := range nodes {
			got := n.srv.ClusterNodes()
			seen = append(seen, fmt.Sprintf("%s: %v", n.name, got))
			slices.Sort(got)
			if !slices.Equal(got, want) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("membership did not converge to %v within %v:\n%s", want, within, strings.Join(seen, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// received is one event a test client got.
type received struct {
	event string
	args  []string
}

// testClient is a Go client on WebSocket that records every event.
type testClient struct {
	name string
	s    *client.Socket

	mu  sync.Mutex
	got []received
}

// connect connects a client to url (a node's HTTP URL plus the namespace
// path) and joins rooms.
func connect(t *testing.T, name, url string, rooms ...string) *testClient {
	t.Helper()
	s, err := client.New(url, client.Options{
		Transports:          []string{client.TransportWebSocket},
		DisableReconnection: true,
		Logger:              testLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &testClient{name: name, s: s}
	s.OnAny(func(event string, args client.Args, _ client.AckFunc) {
		r := received{event: event}
		for i := range args.Len() {
			if b := args.Bytes(i); b != nil {
				r.args = append(r.args, "bytes:"+string(b))
				continue
			}
			r.args = append(r.args, string(args.Raw(i)))
		}
		c.mu.Lock()
		c.got = append(c.got, r)
		c.mu.Unlock()
	})
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Connect(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	joinArgs := make([]any, len(rooms))
	for i, r := range rooms {
		joinArgs[i] = r
	}
	if _, err := s.EmitWithAck(ctx, "join", joinArgs...); err != nil {
		t.Fatalf("client %s: join %v: %v", name, rooms, err)
	}
	return c
}

// events returns the events named event received so far.
func (c *testClient) events(event string) []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []received
	for _, r := range c.got {
		if r.event == event {
			out = append(out, r)
		}
	}
	return out
}

// waitEvents waits until the client has n events named event.
func (c *testClient) waitEvents(t *testing.T, event string, n int, within time.Duration) []received {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := c.events(event)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("client %s: %d %q events after %v, want %d", c.name, len(got), event, within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventually polls cond until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}
