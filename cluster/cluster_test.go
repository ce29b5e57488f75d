package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/admin"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/cluster"
	"github.com/actorio/actorio/disconnect"
)

// Probe settings of the test cluster: a node that stops answering is
// dropped within MaxFailures × (ProbeInterval + ProbeTimeout) = 2.4 s.
const (
	probeInterval = 200 * time.Millisecond
	probeTimeout  = time.Second
	maxFailures   = 2
	dropBound     = maxFailures * (probeInterval + probeTimeout)
)

// clusterRuns counts the runs of TestCluster in this process (-count).
var clusterRuns atomic.Int32

// TestCluster starts three nodes on 127.0.0.1, each with its own actor
// system, cluster port and HTTP server, connects Go clients to different
// nodes and checks, one rule per subtest, what crosses nodes. The nodes
// are shared by the subtests, which run in order: the last ones close and
// kill nodes. (One test function starts them all: see cluster.WarmUp for
// why nodes cannot start once others have talked, under -race.)
func TestCluster(t *testing.T) {
	if clusterRuns.Add(1) > 1 && raceEnabled {
		t.Skip("under -race, nodes can start in the first run of a process only (see cluster.WarmUp)")
	}
	checkGoroutines(t)

	t.Run("NewServer fails on a cluster address in use", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		srv, err := actorio.NewServer(actorio.Options{
			Logger:  testLog(),
			Cluster: &actorio.ClusterOptions{Insecure: true, Address: l.Addr().String(), Provider: &cluster.Static{}},
		})
		if err == nil {
			_ = srv.Close()
			t.Fatal("NewServer succeeded on a port in use")
		}
	})

	static := func(seeds ...string) *cluster.Static {
		return &cluster.Static{Seeds: seeds, ProbeInterval: probeInterval, ProbeTimeout: probeTimeout, MaxFailures: maxFailures}
	}
	start := time.Now()
	a := startNode(t, "A", "127.0.0.1:0", static(), true)
	b := startNode(t, "B", "127.0.0.1:0", static(), true)
	c := startNode(t, "C", "127.0.0.1:0", static(a.addr, b.addr), false)
	waitMembers(t, 10*time.Second, a, b, c)
	t.Logf("three nodes started and saw each other in %v", time.Since(start).Round(time.Millisecond))

	// Clients on every node: room r everywhere, vip on B, other on C, and
	// the namespace /chat on A and C.
	ca := connect(t, "ca", a.url, "r")
	cb := connect(t, "cb", b.url, "r")
	cbVIP := connect(t, "cbVIP", b.url, "r", "vip")
	cc := connect(t, "cc", c.url, "r")
	ccOther := connect(t, "ccOther", c.url, "other")
	xa := connect(t, "xa", a.url+"/chat", "r")
	xc := connect(t, "xc", c.url+"/chat", "r")
	inR := []*testClient{ca, cb, cbVIP, cc}
	root := []*testClient{ca, cb, cbVIP, cc, ccOther}
	all := append(slices.Clone(root), xa, xc)
	nodes := []*testNode{a, b, c}

	t.Run("room broadcast reaches every node once and in order per sender", func(t *testing.T) {
		const n = 200
		var wg sync.WaitGroup
		for _, node := range nodes {
			wg.Go(func() {
				for i := range n {
					if err := node.srv.To("r").Emit("seq", node.name, i); err != nil {
						t.Errorf("node %s: Emit: %v", node.name, err)
						return
					}
				}
				// After its numbers, each sender fences r and other: a
				// client that has the three fences has everything.
				_ = node.srv.To("r", "other").Emit("fence1", node.name)
			})
		}
		wg.Wait()
		for _, cl := range append(slices.Clone(inR), ccOther) {
			cl.waitEvents(t, "fence1", len(nodes), 20*time.Second)
		}
		time.Sleep(50 * time.Millisecond) // room for a duplicate to show
		for _, cl := range inR {
			checkSequences(t, cl, "seq", []string{"A", "B", "C"}, n)
		}
		if got := ccOther.events("seq"); len(got) != 0 {
			t.Errorf("ccOther, not in r, got %d of r's events", len(got))
		}
		for _, cl := range []*testClient{xa, xc} {
			if got := cl.events("seq"); len(got) != 0 {
				t.Errorf("%s, in /chat, got %d events of / 's room r", cl.name, len(got))
			}
		}
	})

	t.Run("Except skips the sockets in its rooms on every node", func(t *testing.T) {
		_ = a.srv.To("r").Except("vip").Emit("exc", 1)
		_ = a.srv.To("r").Emit("fence2")
		for _, cl := range inR {
			cl.waitEvents(t, "fence2", 1, 10*time.Second)
		}
		for _, cl := range []*testClient{ca, cb, cc} {
			if got := len(cl.events("exc")); got != 1 {
				t.Errorf("%s: %d exc events, want 1", cl.name, got)
			}
		}
		if got := len(cbVIP.events("exc")); got != 0 {
			t.Errorf("cbVIP, in vip on another node than the sender, got %d exc events", got)
		}
	})

	t.Run("Local stays on its node", func(t *testing.T) {
		_ = b.srv.To("r").Local().Emit("local1")
		_ = b.srv.Local().Emit("local2")
		_ = b.srv.Emit("fence3")
		for _, cl := range root {
			cl.waitEvents(t, "fence3", 1, 10*time.Second)
		}
		for _, cl := range root {
			want := 0
			if cl == cb || cl == cbVIP {
				want = 1
			}
			if got := len(cl.events("local1")); got != want {
				t.Errorf("%s: %d local1 events, want %d", cl.name, got, want)
			}
			if got := len(cl.events("local2")); got != want {
				t.Errorf("%s: %d local2 events, want %d", cl.name, got, want)
			}
		}
	})

	t.Run("a socket's Broadcast skips that socket only, on every node", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := ca.s.EmitWithAck(ctx, "shout", "hi"); err != nil {
			t.Fatal(err)
		}
		_ = a.srv.Emit("fence4")
		for _, cl := range root {
			cl.waitEvents(t, "fence4", 1, 10*time.Second)
		}
		for _, cl := range root {
			want := 1
			if cl == ca {
				want = 0
			}
			if got := len(cl.events("shout")); got != want {
				t.Errorf("%s: %d shout events, want %d", cl.name, got, want)
			}
		}
	})

	t.Run("Compress(false) crosses nodes with broadcasts and broadcasts with acks", func(t *testing.T) {
		before := len(b.rec.received())
		_ = a.srv.To("nobody").Emit("x")
		_ = a.srv.To("nobody").Compress(false).Emit("x")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := a.srv.To("nobody").EmitWithAck(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.srv.To("nobody").Compress(false).EmitWithAck(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		var got []receivedFlags
		eventually(t, 10*time.Second, "node B to get the four broadcasts", func() bool {
			got = b.rec.received()[before:]
			return len(got) >= 4
		})
		want := []receivedFlags{{}, {uncompressed: true}, {withAck: true}, {withAck: true, uncompressed: true}}
		if !slices.Equal(got, want) {
			t.Errorf("node B received %+v, want %+v", got, want)
		}
	})

	t.Run("namespace Emit reaches that namespace on every node and only it", func(t *testing.T) {
		_ = b.srv.Of("/chat").Emit("news", "n")
		_ = c.srv.Emit("everyone", "e", []byte("bin"))
		_ = b.srv.Of("/chat").Emit("fence5")
		_ = c.srv.Emit("fence5")
		for _, cl := range all {
			cl.waitEvents(t, "fence5", 1, 10*time.Second)
		}
		for _, cl := range all {
			chat := cl == xa || cl == xc
			if got, want := len(cl.events("news")), b2i(chat); got != want {
				t.Errorf("%s: %d news events, want %d", cl.name, got, want)
			}
			got := cl.events("everyone")
			if want := b2i(!chat); len(got) != want {
				t.Errorf("%s: %d everyone events, want %d", cl.name, len(got), want)
			}
			if len(got) == 1 && (len(got[0].args) != 2 || got[0].args[1] != "bytes:bin") {
				t.Errorf("%s: everyone with %v, want its binary attachment", cl.name, got[0].args)
			}
		}
	})

	t.Run("ServerSideEmit reaches the other nodes in order, not its own", func(t *testing.T) {
		const n = 100
		for i := range n {
			if err := a.srv.ServerSideEmit("ping", i, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		for _, node := range []*testNode{b, c} {
			eventually(t, 10*time.Second, "node "+node.name+" gets the server-side events", func() bool {
				return len(node.sideEvents()) >= n
			})
			got := node.sideEvents()
			if len(got) != n {
				t.Fatalf("node %s: %d server-side events, want %d", node.name, len(got), n)
			}
			for i, r := range got {
				if len(r.args) != 2 || r.args[0] != strconv.Itoa(i) || r.args[1] != "bytes:x" {
					t.Fatalf("node %s: server-side event %d is %v, want [%d bytes:x]", node.name, i, r.args, i)
				}
			}
		}
		if got := a.sideEvents(); len(got) != 0 {
			t.Errorf("the sending node got %d of its own server-side events", len(got))
		}
	})

	t.Run("ServerSideEmitWithAck collects one ack per other node", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		acks, err := a.srv.ServerSideEmitWithAck(ctx, "ask", "q")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, ack := range acks {
			if ack.String(1) != "q" {
				t.Errorf("ack %v does not echo the argument", ack.Values())
			}
			names = append(names, ack.String(0))
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"B", "C"}) {
			t.Errorf("acks from %v, want [B C]", names)
		}
	})

	t.Run("ServerSideEmitWithAck ends with ctx when no handler acks", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		acks, err := b.srv.ServerSideEmitWithAck(ctx, "nobody-listens")
		if !errors.Is(err, context.DeadlineExceeded) || len(acks) != 0 {
			t.Fatalf("got %d acks, %v; want none and a deadline error", len(acks), err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("returned %v after its deadline", took)
		}
	})

	t.Run("SocketsJoin, SocketsLeave and DisconnectSockets reach the sockets of every node", func(t *testing.T) {
		ja := connect(t, "ja", a.url, "a")
		jb := connect(t, "jb", b.url, "a")
		jc := connect(t, "jc", c.url, "a")
		nb := connect(t, "nb", b.url, "nothing")
		inA := []*testClient{ja, jb, jc}
		reasons := map[*testClient]chan string{}
		for _, cl := range append(slices.Clone(inA), nb) {
			ch := make(chan string, 1)
			reasons[cl] = ch
			cl.s.OnEvent(func(e client.Event) {
				if e.Name == client.EventDisconnect {
					select {
					case ch <- e.Reason:
					default:
					}
				}
			})
		}

		a.srv.To("a").SocketsJoin("b")
		waitRoomSizes(t, "b", nodes, 1)
		_ = c.srv.To("b").Emit("to-b")
		_ = c.srv.To("b", "nothing").Emit("fence-b")
		for _, cl := range append(slices.Clone(inA), nb) {
			cl.waitEvents(t, "fence-b", 1, 10*time.Second)
		}
		for _, cl := range inA {
			if got := len(cl.events("to-b")); got != 1 {
				t.Errorf("%s, in a: %d broadcasts to b from node C, want 1", cl.name, got)
			}
		}
		if got := len(nb.events("to-b")); got != 0 {
			t.Errorf("nb, not in a: %d broadcasts to b, want 0", got)
		}

		a.srv.To("a").SocketsLeave("b")
		waitRoomSizes(t, "b", nodes, 0)

		a.srv.To("a").DisconnectSockets(false)
		for _, cl := range inA {
			select {
			case r := <-reasons[cl]:
				if r != disconnect.IOServerDisconnect {
					t.Errorf("%s disconnected with %q, want %q", cl.name, r, disconnect.IOServerDisconnect)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("%s, in a on node %s, not disconnected", cl.name, cl.name[1:])
			}
		}
		_ = b.srv.To("nothing").Emit("fence-b2")
		nb.waitEvents(t, "fence-b2", 1, 10*time.Second)
		select {
		case r := <-reasons[nb]:
			t.Errorf("nb, not in a, disconnected too (%q)", r)
		default:
		}
	})

	t.Run("EmitWithAck collects the acks of the sockets of every node", func(t *testing.T) {
		connectAcker(t, "ka", a.url, "acks")
		connectAcker(t, "kb", b.url, "acks")
		connectAcker(t, "kc", c.url, "acks")
		connect(t, "silent", b.url, "silent") // never acks q
		names := func(acks []actorio.Args) []string {
			var out []string
			for _, ack := range acks {
				if ack.String(1) != "x" {
					t.Errorf("ack %v does not echo the argument", ack.Values())
				}
				out = append(out, ack.String(0))
			}
			slices.Sort(out)
			return out
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		acks, err := a.srv.To("acks").EmitWithAck(ctx, "q", "x")
		if err != nil {
			t.Fatal(err)
		}
		if got := names(acks); !slices.Equal(got, []string{"ka", "kb", "kc"}) {
			t.Errorf("acks from %v, want [ka kb kc]", got)
		}

		acks, err = c.srv.To("acks").Local().EmitWithAck(ctx, "q", "x")
		if got := names(acks); err != nil || !slices.Equal(got, []string{"kc"}) {
			t.Errorf("Local: acks from %v, %v; want [kc]", got, err)
		}

		short, cancelShort := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancelShort()
		start := time.Now()
		acks, err = c.srv.To("acks", "silent").EmitWithAck(short, "q", "x")
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("with a socket that never acks: error %v, want a deadline error", err)
		}
		if got := names(acks); !slices.Equal(got, []string{"ka", "kb", "kc"}) {
			t.Errorf("with a socket that never acks: acks from %v, want [ka kb kc]", got)
		}
		if took < 400*time.Millisecond || took > 2*time.Second {
			t.Errorf("with a socket that never acks: returned after %v, deadline 500ms", took)
		}

		// A room name that is not UTF-8 cannot cross nodes (protobuf's
		// strings are UTF-8): the call does not wait for the other nodes,
		// and says so; this node's sockets still get it.
		bad, cancelBad := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelBad()
		start = time.Now()
		if _, err := a.srv.To("acks", "\xff").EmitWithAck(bad, "q", "x"); !errors.Is(err, cluster.ErrNodeUnreachable) || time.Since(start) > 2*time.Second {
			t.Errorf("a room that is not UTF-8: %v after %v, want ErrNodeUnreachable at once", err, time.Since(start))
		}

		// A context canceled, not timed out: the node with the silent
		// socket has no deadline to stop at, and must stop when told.
		cctx, cancelAll := context.WithCancel(context.Background())
		ended := make(chan error, 1)
		go func() {
			_, err := c.srv.To("silent").EmitWithAck(cctx, "q", "x")
			ended <- err
		}()
		eventually(t, 10*time.Second, "B to wait for the silent socket", func() bool {
			return cluster.WaitingBroadcasts(b.rec.node) == 1
		})
		cancelAll()
		if err := <-ended; !errors.Is(err, context.Canceled) {
			t.Errorf("canceled EmitWithAck: %v, want context.Canceled", err)
		}
		eventually(t, 5*time.Second, "B to stop waiting once the caller canceled", func() bool {
			return cluster.WaitingBroadcasts(b.rec.node) == 0
		})
	})

	t.Run("a dashboard on one node gets the admin stats and feed of every node", func(t *testing.T) {
		onB := connect(t, "admin-b", b.url, "watched") // before the dashboard
		for _, n := range []*testNode{a, b, c} {
			ad, err := admin.Instrument(n.srv, admin.Options{NoAuth: true, ServerID: "node-" + n.name,
				StatsInterval: 100 * time.Millisecond, Logger: testLog()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(ad.Close)
		}
		dash, err := client.New(a.url+"/admin", client.Options{Transports: []string{client.TransportWebSocket},
			DisableReconnection: true, Logger: testLog()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dash.Close() })
		var mu sync.Mutex
		servers, connected := map[string]bool{}, map[string]bool{}
		listed := make(chan []struct {
			ID, Nsp string
			Rooms   []string
		}, 1)
		dash.On("all_sockets", func(args client.Args, _ client.AckFunc) {
			var socks []struct {
				ID, Nsp string
				Rooms   []string
			}
			_ = args.Decode(0, &socks)
			listed <- socks
		})
		dash.On("server_stats", func(args client.Args, _ client.AckFunc) {
			var st struct {
				ServerID string `json:"serverId"`
			}
			if args.Decode(0, &st) == nil {
				mu.Lock()
				servers[st.ServerID] = true
				mu.Unlock()
			}
		})
		dash.On("socket_connected", func(args client.Args, _ client.AckFunc) {
			var sock struct{ ID, Nsp string }
			if args.Decode(0, &sock) == nil {
				mu.Lock()
				connected[sock.Nsp+" "+sock.ID] = true
				mu.Unlock()
			}
		})
		if err := dash.Connect(); err != nil {
			t.Fatal(err)
		}
		select {
		case socks := <-listed:
			found := false
			for _, sk := range socks {
				if sk.ID == onB.s.ID() {
					found = sk.Nsp == "/" && slices.Contains(sk.Rooms, "watched")
				}
			}
			if !found {
				t.Errorf("all_sockets at A's dashboard %+v lacks B's socket %s in room watched", socks, onB.s.ID())
			}
		case <-time.After(10 * time.Second):
			t.Error("no all_sockets")
		}
		eventually(t, 10*time.Second, "server_stats of the three nodes at A's dashboard", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return servers["node-A"] && servers["node-B"] && servers["node-C"]
		})
		onC := connect(t, "admin-c", c.url)
		eventually(t, 10*time.Second, "socket_connected of C's socket at A's dashboard", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return connected["/ "+onC.s.ID()]
		})
	})

	t.Run("FetchRemoteSockets returns the sockets of every node, whose handles reach them", func(t *testing.T) {
		fa := connect(t, "fa", a.url, "f")
		fb := connect(t, "fb", b.url, "f")
		fc := connect(t, "fc", c.url, "f")
		fbReason := make(chan string, 1)
		fb.s.OnEvent(func(e client.Event) {
			if e.Name == client.EventDisconnect {
				select {
				case fbReason <- e.Reason:
				default:
				}
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		onC, err := c.srv.To("f").Local().FetchSockets(ctx)
		if err != nil || len(onC) != 1 {
			t.Fatalf("C's own sockets in f: %v, %v", onC, err)
		}
		onC[0].SetData(map[string]any{"n": "fc"})

		got, err := a.srv.To("f").FetchRemoteSockets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]actorio.RemoteSocket{}
		for _, s := range got {
			byID[s.ID()] = s
		}
		if len(got) != 3 || len(byID) != 3 {
			t.Fatalf("FetchRemoteSockets from A: %d sockets, %d ids; want fa, fb, fc", len(got), len(byID))
		}
		for _, cl := range []*testClient{fa, fb, fc} {
			s := byID[cl.s.ID()]
			if s == nil {
				t.Fatalf("%s (id %s) missing from FetchRemoteSockets", cl.name, cl.s.ID())
			}
			want := []string{cl.s.ID(), "f"}
			slices.Sort(want)
			if !slices.Equal(s.Rooms(), want) {
				t.Errorf("%s: rooms %v, want %v", cl.name, s.Rooms(), want)
			}
			if _, local := s.(*actorio.Socket); local != (cl == fa) {
				t.Errorf("%s: a *Socket: %v, want only for A's own socket", cl.name, local)
			}
		}
		if d, ok := byID[fc.s.ID()].Data().(map[string]any); !ok || d["n"] != "fc" {
			t.Errorf("fc's Data from A: %#v, want map[n:fc]", byID[fc.s.ID()].Data())
		}

		localOnly, err := a.srv.To("f").Local().FetchRemoteSockets(ctx)
		if err != nil || len(localOnly) != 1 || localOnly[0].ID() != fa.s.ID() {
			t.Errorf("Local().FetchRemoteSockets from A: %d sockets, %v; want fa only", len(localOnly), err)
		}

		rc, rb := byID[fc.s.ID()], byID[fb.s.ID()]
		if err := rc.Emit("direct", "hi"); err != nil {
			t.Fatal(err)
		}
		if got := fc.waitEvents(t, "direct", 1, 10*time.Second); !slices.Equal(got[0].args, []string{`"hi"`}) {
			t.Errorf("fc: direct with %v, want [\"hi\"]", got[0].args)
		}

		rc.Join("g")
		waitRoomSizes(t, "g", []*testNode{c}, 1)
		_ = b.srv.To("g").Emit("to-g")
		_ = b.srv.To("f").Emit("fence-f")
		for _, cl := range []*testClient{fa, fb, fc} {
			cl.waitEvents(t, "fence-f", 1, 10*time.Second)
		}
		if got := len(fc.events("to-g")); got != 1 {
			t.Errorf("fc, joined g from A: %d broadcasts to g from B, want 1", got)
		}
		for _, cl := range []*testClient{fa, fb} {
			if n := len(cl.events("direct")) + len(cl.events("to-g")); n != 0 {
				t.Errorf("%s got %d events meant for fc", cl.name, n)
			}
		}
		rc.Leave("g")
		waitRoomSizes(t, "g", []*testNode{c}, 0)

		rb.Disconnect(false)
		select {
		case r := <-fbReason:
			if r != disconnect.IOServerDisconnect {
				t.Errorf("fb disconnected with %q, want %q", r, disconnect.IOServerDisconnect)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("fb, disconnected through its handle on A, still connected")
		}
		eventually(t, 10*time.Second, "A fetches fa and fc once fb left", func() bool {
			got, err := a.srv.To("f").FetchRemoteSockets(ctx)
			return err == nil && len(got) == 2
		})
		_ = rb.Emit("direct", "gone") // ignored by B: no such socket
		if !fa.s.Connected() || !fc.s.Connected() {
			t.Error("fa or fc disconnected with fb")
		}
	})

	t.Run("any node serves a session of another node, on both transports", func(t *testing.T) {
		testForwarding(t, a, b, c)
	})
	t.Run("long-polling requests handed over, at their edges", func(t *testing.T) {
		testHandedOverPolls(t, a, b, c)
	})
	t.Run("long-polling requests for a node of an older build go as HTTP", func(t *testing.T) {
		for _, n := range []*testNode{b, c} {
			cluster.SetOldHandOver(n.rec.node, a.addr, true)
		}
		before := cluster.HandedOver(a.rec.node)
		testOldHandOver(t, a, b, c)
		if n := cluster.HandedOver(a.rec.node) - before; n != 0 {
			t.Errorf("A served %d requests on the links, want none", n)
		}
		for _, n := range []*testNode{b, c} {
			cluster.SetOldHandOver(n.rec.node, a.addr, false)
		}
		testOldHandOver(t, a, b, c)
		if n := cluster.HandedOver(a.rec.node) - before; n == 0 {
			t.Error("A served no request on the links once B and C took it for a node of this build")
		}
		// And the other way: a node of an older build sends its polls as
		// HTTP/2 on the cluster port.
		testOlderAsker(t, a, b)
	})

	t.Run("a closed node is dropped at once and the others keep broadcasting", func(t *testing.T) {
		// A GET pending on C directly and one handed over to it by A
		// both get C's close packet (C sends the answer it hands back
		// before its goodbye).
		sidDirect, sidVia := pollingHandshake(t, c.url), pollingHandshake(t, c.url)
		for _, sid := range []string{sidDirect, sidVia} {
			if st, got := pollingRequest(t, "POST", c.url, sid, "40"); st != 200 || got != "ok" {
				t.Fatalf("CONNECT: %d %q", st, got)
			}
			if st, got := pollingRequest(t, "GET", c.url, sid, ""); st != 200 || !strings.HasPrefix(got, "40") {
				t.Fatalf("CONNECT's answer: %d %q", st, got)
			}
		}
		answers := make(chan string, 2)
		for _, via := range []struct {
			name, url, sid string
		}{{"directly", c.url, sidDirect}, {"through A", a.url, sidVia}} {
			go func() {
				st, got := pollingRequest(t, "GET", via.url, via.sid, "")
				answers <- fmt.Sprintf("%s: %d %q", via.name, st, got)
			}()
		}
		time.Sleep(200 * time.Millisecond) // both wait on C
		c.close(t)
		for range 2 {
			select {
			case got := <-answers:
				if !strings.HasSuffix(got, `: 200 "1"`) {
					t.Errorf("a GET pending on C when it closed, %s, want 200 \"1\"", got)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a GET pending on C was not answered once it closed")
			}
		}
		t.Logf("node C closed in %v", c.closeTook.Round(time.Millisecond))
		// C waited for A and B to confirm its leaving: no delay here.
		for _, node := range []*testNode{a, b} {
			if got := node.srv.ClusterNodes(); len(got) != 2 {
				t.Errorf("node %s still sees %v right after C closed", node.name, got)
			}
		}
		const n = 200
		start := time.Now()
		for i := range n {
			_ = a.srv.To("r").Emit("after", "A", i)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("%d broadcasts took %v: something blocks", n, took)
		}
		_ = a.srv.To("r").Emit("fence6", "A")
		for _, cl := range []*testClient{ca, cb, cbVIP} {
			cl.waitEvents(t, "fence6", 1, 10*time.Second)
			checkSequences(t, cl, "after", []string{"A"}, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		acks, err := a.srv.ServerSideEmitWithAck(ctx, "ask", "q")
		if err != nil || len(acks) != 1 || acks[0].String(0) != "B" {
			t.Errorf("after C closed, acks %v, %v; want B's alone", acks, err)
		}
	})

	t.Run("a node restarted at its address joins again", func(t *testing.T) {
		if raceEnabled {
			t.Skip("under -race a node cannot start once others have talked (see cluster.WarmUp)")
		}
		c2 := startNode(t, "C2", c.addr, static(a.addr), false)
		waitMembers(t, 10*time.Second, a, b, c2)
		cc2 := connect(t, "cc2", c2.url, "r")
		_ = a.srv.To("r").Emit("again")
		cc2.waitEvents(t, "again", 1, 10*time.Second)
		c2.close(t)
	})

	t.Run("a node that dies is dropped within the probe bound, without blocking broadcasts; calls waiting for it return at once", func(t *testing.T) {
		// A broadcast with acks waiting for silent, on B, when B dies.
		connectAcker(t, "da", a.url, "dying")
		connectAcker(t, "db", b.url, "dying")
		connect(t, "silent2", b.url, "dying")
		type result struct {
			acks []actorio.Args
			err  error
			took time.Duration
		}
		waiting := make(chan result, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		go func() {
			start := time.Now()
			acks, err := a.srv.To("dying").EmitWithAck(ctx, "q", "x")
			waiting <- result{acks, err, time.Since(start)}
		}()
		time.Sleep(200 * time.Millisecond) // B has the broadcast, db acked
		cluster.Kill(b.rec.node)
		start := time.Now()
		// FetchRemoteSockets meanwhile, with a short ctx and a long one:
		// B's connection is lost, so neither waits for B to be dropped;
		// both return A's socket and ErrNodeUnreachable.
		type fetched struct {
			socks []actorio.RemoteSocket
			err   error
			took  time.Duration
		}
		fetching := make(chan fetched, 1)
		go func() {
			socks, err := a.srv.To("dying").FetchRemoteSockets(ctx)
			fetching <- fetched{socks, err, time.Since(start)}
		}()
		short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
		socks, err := a.srv.To("dying").FetchRemoteSockets(short)
		cancelShort()
		if !errors.Is(err, cluster.ErrNodeUnreachable) || len(socks) != 1 {
			t.Errorf("FetchRemoteSockets with B dead, not dropped, 300ms ctx: %d sockets, %v; want da and ErrNodeUnreachable", len(socks), err)
		}
		var slowest time.Duration
		for len(a.srv.ClusterNodes()) != 1 {
			if time.Since(start) > 3*dropBound {
				t.Fatalf("node A still sees %v %v after B stopped answering", a.srv.ClusterNodes(), time.Since(start))
			}
			// Broadcasting meanwhile never waits for B.
			t0 := time.Now()
			_ = a.srv.To("r").Emit("during")
			slowest = max(slowest, time.Since(t0))
			time.Sleep(5 * time.Millisecond)
		}
		took := time.Since(start)
		t.Logf("B dropped by A after %v (bound %v); slowest broadcast meanwhile %v", took.Round(time.Millisecond), dropBound, slowest)
		if took > dropBound+time.Second {
			t.Errorf("B dropped after %v, bound %v", took, dropBound)
		}
		if slowest > 100*time.Millisecond {
			t.Errorf("a broadcast took %v while B was dead but still a member", slowest)
		}
		_ = a.srv.To("r").Emit("fence7")
		ca.waitEvents(t, "fence7", 1, 10*time.Second)

		select {
		case f := <-fetching:
			t.Logf("FetchRemoteSockets waiting for B returned %v after B died", f.took.Round(time.Millisecond))
			if !errors.Is(f.err, cluster.ErrNodeUnreachable) || len(f.socks) != 1 || f.took > dropBound/2 {
				t.Errorf("FetchRemoteSockets waiting for B when it died: %d sockets, %v after %v; want da and ErrNodeUnreachable before B is dropped", len(f.socks), f.err, f.took)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("FetchRemoteSockets still waits for B, dropped 5 s ago")
		}

		select {
		case r := <-waiting:
			var names []string
			for _, ack := range r.acks {
				names = append(names, ack.String(0))
			}
			slices.Sort(names)
			t.Logf("EmitWithAck waiting for B returned after %v: %v, %v", r.took.Round(time.Millisecond), names, r.err)
			if !errors.Is(r.err, cluster.ErrNodeUnreachable) || !slices.Equal(names, []string{"da", "db"}) || r.took > dropBound/2 {
				t.Errorf("EmitWithAck waiting for B when it died: acks %v, %v after %v; want [da db] and ErrNodeUnreachable before B is dropped", names, r.err, r.took)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("EmitWithAck still waits for B, dropped 5 s ago")
		}
	})
}

// TestNewServerFailsWithoutProvider: Options.Cluster needs a provider.
func TestNewServerFailsWithoutProvider(t *testing.T) {
	checkGoroutines(t)
	if _, err := actorio.NewServer(actorio.Options{Logger: testLog(), Cluster: &actorio.ClusterOptions{Insecure: true}}); err == nil {
		t.Fatal("NewServer succeeded without a provider")
	}
}

// TestNewServerFailsOnWildcardAddressWithoutAdvertisedAddress: a node that
// listens on every interface cannot tell the others where to reach it.
func TestNewServerFailsOnWildcardAddressWithoutAdvertisedAddress(t *testing.T) {
	checkGoroutines(t)
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0"} {
		srv, err := actorio.NewServer(actorio.Options{Logger: testLog(), Cluster: &actorio.ClusterOptions{Insecure: true, Address: addr, Provider: &cluster.Static{}}})
		if err == nil {
			_ = srv.Close()
			t.Errorf("NewServer succeeded with Address %q and no AdvertisedAddress", addr)
		}
	}
}

// connectAcker connects a client as connect does that acknowledges the
// event "q" with its name and q's first argument.
func connectAcker(t *testing.T, name, url string, rooms ...string) *testClient {
	t.Helper()
	cl := connect(t, name, url, rooms...)
	cl.s.On("q", func(args client.Args, ack client.AckFunc) {
		if ack != nil {
			_ = ack(name, args.String(0))
		}
	})
	return cl
}

// waitRoomSizes waits until every node has n sockets of "/" in room.
func waitRoomSizes(t *testing.T, room string, nodes []*testNode, n int) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("room %s has %d sockets on every node", room, n), func() bool {
		for _, node := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			got, err := node.srv.To(room).Local().FetchSockets(ctx)
			cancel()
			if err != nil || len(got) != n {
				return false
			}
		}
		return true
	})
}

// checkSequences checks that cl got, for every sender, the events named
// event numbered 0 to n-1, each once and in order, and nothing else.
func checkSequences(t *testing.T, cl *testClient, event string, senders []string, n int) {
	t.Helper()
	next := map[string]int{}
	for _, s := range senders {
		next[strconv.Quote(s)] = 0
	}
	for _, r := range cl.events(event) {
		if len(r.args) != 2 {
			t.Errorf("%s: %s with args %v", cl.name, event, r.args)
			return
		}
		want, ok := next[r.args[0]]
		if !ok {
			t.Errorf("%s: %s from unknown sender %s", cl.name, event, r.args[0])
			return
		}
		if r.args[1] != strconv.Itoa(want) {
			t.Errorf("%s: from %s got %s after %d: lost, duplicated or out of order", cl.name, r.args[0], r.args[1], want-1)
			return
		}
		next[r.args[0]] = want + 1
	}
	var short []string
	for s, got := range next {
		if got != n {
			short = append(short, fmt.Sprintf("%s: %d", s, got))
		}
	}
	if len(short) > 0 {
		slices.Sort(short)
		t.Errorf("%s: %s events per sender, want %d each: %s", cl.name, event, n, strings.Join(short, ", "))
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
