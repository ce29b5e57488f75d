package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/cluster"
	"github.com/actorio/actorio/internal/leakcheck"
	"github.com/actorio/actorio/internal/node"
	"github.com/actorio/actorio/internal/testkit"
	pb "github.com/actorio/actorio/proto"
)

// clusterJSRuns counts the runs of TestClusterJS in this process (-count).
var clusterJSRuns atomic.Int32

// clusterLeakWait is how long the goroutine count may take to settle once
// the nodes are closed: protoactor's connection to a node that has gone may
// still be sleeping out its 2 s before giving up (as in cluster's tests).
const clusterLeakWait = 8 * time.Second

// warmEvent is the server-side event the warm-up connection delivers.
const warmEvent = "tests-warm-up"

// jsNode is one actorio server of a test cluster, served on 127.0.0.1.
type jsNode struct {
	name   string
	srv    *actorio.Server
	http   *httptest.Server
	url    string
	addr   string        // the cluster address
	warmed chan struct{} // gets a value when warmEvent arrives
	// unwarm closes the warm-up connection (warmUpJS), once the node
	// has closed: closed from the client side earlier, the node's
	// serving goroutine would read grpc's logger with nothing ordering
	// the read after a later node's start.
	unwarm func()
}

// startJSNode starts a cluster node on 127.0.0.1:0 whose static membership
// has seeds. Every socket handles "join" (join the rooms given, ack "ok")
// and "relay" (emit the event's arguments as "relayed" to room r but the
// sender, ack "ok"). Cleanup closes the server, then its HTTP server.
func startJSNode(t *testing.T, name string, log *slog.Logger, seeds ...string) *jsNode {
	t.Helper()
	ts := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{
			Logger: log,
			Cluster: &actorio.ClusterOptions{
				Insecure: true,
				Name:     "js",
				Address:  "127.0.0.1:0",
				Provider: &cluster.Static{
					Seeds:         seeds,
					ProbeInterval: 200 * time.Millisecond,
					ProbeTimeout:  time.Second,
					MaxFailures:   2,
				},
			},
		},
		Setup: func(srv *actorio.Server) {
			srv.OnConnection(func(s *actorio.Socket) {
				s.On("join", testkit.JoinRooms)
				s.On("relay", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
					err := s.To("r").Emit("relayed", args.Values()...)
					if ack != nil {
						_ = ack(fmt.Sprint(err))
					}
				})
			})
		},
		Name: "node " + name,
	})
	srv := ts.Srv
	n := &jsNode{name: name, srv: srv, http: ts.HTTP, url: ts.URL, warmed: make(chan struct{}, 1)}
	n.addr = srv.ClusterNodes()[0]
	srv.OnServerSideEmit(warmEvent, func(actorio.Args, actorio.AckFunc) {
		select {
		case n.warmed <- struct{}{}:
		default:
		}
	})
	// Runs before the cleanup of StartServer, which then finds both closed.
	t.Cleanup(func() {
		start := time.Now()
		if err := srv.Close(); err != nil {
			t.Errorf("node %s: Close: %v", name, err)
		}
		if n.unwarm != nil {
			n.unwarm()
		}
		t.Logf("node %s: Close took %v", name, time.Since(start).Round(time.Millisecond))
		n.http.Close()
	})
	return n
}

// warmUpJS makes n's gRPC server serve one connection and waits until a
// server-side event sent on it has reached n's handler; the connection
// stays open until the node has closed (n.unwarm, run by startJSNode's
// cleanup), so that it ends from the node's side. It is cluster's own test helper WarmUp, redone
// with public API: protoactor's Remote.Start rewrites grpc's global logger,
// which the first node's serving goroutine reads; the chain from that
// goroutine through the connection's handler and the node's actors to the
// handler's channel orders that read before the next node's start, for
// the race detector.
func warmUpJS(t *testing.T, n *jsNode) (done func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, n.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithBlock())
	if err != nil {
		t.Fatalf("node %s: warm-up dial: %v", n.name, err)
	}
	stream, err := remote.NewRemotingClient(conn).Receive(context.Background())
	if err != nil {
		_ = conn.Close()
		t.Fatalf("node %s: warm-up stream: %v", n.name, err)
	}
	done = sync.OnceFunc(func() {
		_ = stream.CloseSend()
		_ = conn.Close()
	})
	n.unwarm = done // closed once the node has closed, not before
	err = stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{
		ConnectRequest: &remote.ConnectRequest{ConnectionType: &remote.ConnectRequest_ServerConnection{
			ServerConnection: &remote.ServerConnection{SystemId: warmEvent, Address: warmEvent},
		}},
	}})
	if err == nil {
		_, err = stream.Recv()
	}
	var data []byte
	if err == nil {
		data, err = proto.Marshal(&pb.NodeEvent{Data: []byte(`["` + warmEvent + `"]`)})
	}
	if err == nil {
		// "actorio-events" is the actor of a node that runs the
		// server-side event handlers (cluster/node.go).
		err = stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{
			MessageBatch: &remote.MessageBatch{
				TypeNames: []string{string(proto.MessageName(&pb.NodeEvent{}))},
				Targets:   []*actor.PID{actor.NewPID(n.addr, "actorio-events")},
				Envelopes: []*remote.MessageEnvelope{{MessageData: data}},
			},
		}})
	}
	if err == nil {
		select {
		case <-n.warmed:
		case <-ctx.Done():
			err = errors.New("the warm-up event did not arrive")
		}
	}
	if err == nil && conn.GetState() != connectivity.Ready {
		err = errors.New("the warm-up connection is not ready")
	}
	if err != nil {
		done()
		t.Fatalf("node %s: warm up: %v", n.name, err)
	}
	return done
}

// waitJSMembers waits until every node sees exactly the others.
func waitJSMembers(t *testing.T, within time.Duration, nodes ...*jsNode) {
	t.Helper()
	var want []string
	for _, n := range nodes {
		want = append(want, n.addr)
	}
	slices.Sort(want)
	var seen []string
	waitUntil(t, within, "the three nodes to see each other", func() bool {
		seen = seen[:0]
		ok := true
		for _, n := range nodes {
			got := n.srv.ClusterNodes()
			seen = append(seen, fmt.Sprintf("%s: %v", n.name, got))
			slices.Sort(got)
			ok = ok && slices.Equal(got, want)
		}
		return ok
	})
	t.Logf("membership: %s", strings.Join(seen, "; "))
}

// TestClusterJS starts three cluster nodes, each with its own HTTP server,
// connects official socket.io-client sockets to every node (one Node
// script per node) and checks, one rule per subtest, that room
// broadcasts, Except, broadcasts with acks and binary payloads cross
// nodes. The subtests share the nodes and run in order.
func TestClusterJS(t *testing.T) {
	if clusterJSRuns.Add(1) > 1 && raceEnabled {
		t.Skip("under -race, cluster nodes can start in the first run of a process only (see cluster.WarmUp)")
	}
	baseline := runtime.NumGoroutine()
	log := newTestLogger(t)
	t.Cleanup(func() {
		start := time.Now()
		if n, dump := leakcheck.Settle(baseline, clusterLeakWait); dump != "" {
			t.Errorf("goroutine leak: %d goroutines before the nodes started, %d %v after Close\n%s",
				baseline, n, clusterLeakWait, dump)
		} else {
			t.Logf("goroutines back to %d, %v after the last Close", baseline, time.Since(start).Round(time.Millisecond))
		}
		log.stop()
	})

	// One after the other, each warmed up before the next starts (but the
	// last): see warmUpJS. C knows A and B, which learn of C from its probes.
	start := time.Now()
	a := startJSNode(t, "A", log.logger)
	warmUpJS(t, a)
	b := startJSNode(t, "B", log.logger)
	warmUpJS(t, b)
	c := startJSNode(t, "C", log.logger, a.addr, b.addr)
	waitJSMembers(t, 10*time.Second, a, b, c)
	t.Logf("three nodes started and saw each other in %v", time.Since(start).Round(time.Millisecond))

	// Sockets: a1 on A, b1 and b2 on B, c1 and c2 on C; all in room r but
	// c2 (in other); b2 in vip too. Each node's clients use a different
	// transport setup.
	ja := runScript(t, a.url, driverScript, nil)
	jb := runScript(t, b.url, driverScript, nil)
	jc := runScript(t, c.url, driverScript, nil)
	type sock struct {
		c     *nodeClients
		name  string
		opts  map[string]any
		rooms []any
	}
	socks := []sock{
		{ja, "a1", nil, []any{"r"}},
		{jb, "b1", wsOnly, []any{"r"}},
		{jb, "b2", wsOnly, []any{"r", "vip"}},
		{jc, "c1", pollingOnly, []any{"r"}},
		{jc, "c2", pollingOnly, []any{"other"}},
	}
	for _, s := range socks {
		s.c.connect(s.name, "/", s.opts)
		if l := s.c.emitAck(s.name, "join", s.rooms...); l.Arg(2) != "ok" {
			t.Fatalf("%s: join acked %s", s.name, l.Raw)
		}
	}
	inR := slices.DeleteFunc(slices.Clone(socks), func(s sock) bool { return s.name == "c2" })
	c2 := socks[4]

	t.Run("room broadcast from A reaches B and C once, in order, and no one outside", func(t *testing.T) {
		const n = 50
		for i := range n {
			if err := a.srv.To("r").Emit("seq", i); err != nil {
				t.Fatalf("Emit %d: %v", i, err)
			}
		}
		// The fence follows the numbers on the same ordered path: once a
		// socket has it, every number (and any duplicate) is there.
		if err := a.srv.To("r", "other").Emit("fence1"); err != nil {
			t.Fatal(err)
		}
		for _, s := range inR {
			cl := s.c.on(t)
			cl.expectEvent(s.name, "fence1")
			for i := range n {
				l := cl.expectEvent(s.name, "seq")
				if got := l.Arg(3); got != float64(i) {
					t.Fatalf("%s: seq #%d carries %v, want %d (%s)", s.name, i, got, i, l.Raw)
				}
			}
			cl.noEvent(s.name, "seq")
		}
		c2.c.on(t).expectEvent("c2", "fence1")
		c2.c.on(t).noEvent("c2", "seq")
	})

	t.Run("Except from A skips vip on B and no one else", func(t *testing.T) {
		if err := a.srv.To("r").Except("vip").Emit("exc", "x"); err != nil {
			t.Fatal(err)
		}
		if err := a.srv.To("r", "other").Emit("fence2"); err != nil {
			t.Fatal(err)
		}
		for _, s := range socks {
			cl := s.c.on(t)
			cl.expectEvent(s.name, "fence2")
			if s.name == "b2" || s.name == "c2" {
				cl.noEvent(s.name, "exc")
				continue
			}
			if l := cl.expectEvent(s.name, "exc"); l.Arg(3) != "x" {
				t.Errorf("%s: exc carries %s", s.name, l.Raw)
			}
			cl.noEvent(s.name, "exc")
		}
	})

	t.Run("EmitWithAck from B collects the acks of the sockets on every node", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*step)
		defer cancel()
		begin := time.Now()
		acks, err := b.srv.To("r").EmitWithAck(ctx, "ask", "q", []byte{1, 2, 3})
		if err != nil {
			t.Fatalf("EmitWithAck: %v (after %v, %d acks)", err, time.Since(begin), len(acks))
		}
		t.Logf("%d acks in %v", len(acks), time.Since(begin).Round(time.Millisecond))
		var names []string
		for _, ack := range acks {
			// The driver acks with (name, ...event args).
			if ack.Len() != 3 || ack.String(1) != "q" || !bytes.Equal(ack.Bytes(2), []byte{1, 2, 3}) {
				t.Errorf("ack %v, want (name, \"q\", <01 02 03>)", ack.Values())
			}
			names = append(names, ack.String(0))
		}
		slices.Sort(names)
		if want := []string{"a1", "b1", "b2", "c1"}; !slices.Equal(names, want) {
			t.Errorf("acks from %q, want exactly one from each of %q", names, want)
		}
		for _, s := range inR {
			l := s.c.on(t).expectEvent(s.name, "ask")
			if l.Arg(2) != true {
				t.Errorf("%s: ask arrived without an ack id: %s", s.name, l.Raw)
			}
		}
		c2.c.on(t).noEvent("c2", "ask")
	})

	t.Run("binary payloads cross nodes", func(t *testing.T) {
		// From a JS client on A through A's handler to r on every node.
		sent := []any{node.Bin{0, 1, 0xff}, map[string]any{"k": node.Bin{7}, "n": 1, "list": []any{node.Bin{}, "s"}}}
		want := []any{[]byte{0, 1, 0xff}, map[string]any{"k": []byte{7}, "n": float64(1), "list": []any{[]byte{}, "s"}}}
		if l := ja.on(t).emitAck("a1", "relay", sent...); l.Arg(2) != "<nil>" {
			t.Fatalf("relay acked %s", l.Raw)
		}
		// From C's server to r.
		if err := c.srv.To("r").Emit("blob", []byte("cluster"), map[string]any{"b": []byte{9, 8}}); err != nil {
			t.Fatal(err)
		}
		for _, s := range inR {
			cl := s.c.on(t)
			if s.name != "a1" {
				if got := cl.expectEvent(s.name, "relayed").Values()[3:]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s: relayed %#v\nwant %#v", s.name, got, want)
				}
			}
			got := cl.expectEvent(s.name, "blob").Values()[3:]
			if w := []any{[]byte("cluster"), map[string]any{"b": []byte{9, 8}}}; !reflect.DeepEqual(got, w) {
				t.Errorf("%s: blob %#v\nwant %#v", s.name, got, w)
			}
		}
		// a1 sent the relay: its socket's broadcast skips it. c2 is not in
		// r. A fence from each sender, A and C, proves their events in.
		for _, n := range []*jsNode{a, c} {
			if err := n.srv.To("r", "other").Emit("fence4", n.name); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			ja.on(t).expectEvent("a1", "fence4")
			c2.c.on(t).expectEvent("c2", "fence4")
		}
		ja.on(t).noEvent("a1", "relayed")
		c2.c.on(t).noEvent("c2", "relayed")
		c2.c.on(t).noEvent("c2", "blob")
	})
}
