package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/cluster"
	"github.com/actorio/actorio/cluster/etcd"
	"github.com/actorio/actorio/internal/logbuf"
	"github.com/actorio/actorio/internal/testkit"
)

// Bounds of TestEtcdMembership, each well above what it measures (see the
// test's log; on a loaded 2-core machine): a node started is seen by every
// other at once (its provider's StartMember registers it), a node that
// closes is dropped within milliseconds (it says goodbye and removes its
// key), and a node that crashes once its etcd lease expires.
// The etcd provider (cluster/etcd) grants leases of 3 s by default, which
// its client renews every third of that; etcd revokes expired leases
// every 0.5 s: a crashed node was dropped 3.0 to 3.5 s after it lost etcd.
const (
	etcdJoinBound  = 10 * time.Second
	etcdLeaveBound = 2 * time.Second
	etcdCrashBound = 8 * time.Second
	// etcdRejoinBound: a node that got etcd back registers again once its
	// client has noticed its lease is gone (TTL after its last renewal)
	// and reconnected, and its next try comes (Retry, 1 s).
	etcdRejoinBound = 15 * time.Second
	// etcdLongCut and etcdLongRejoinBound: a node partitioned from etcd
	// for etcdLongCut (its attempts to connect hang, unanswered) is back
	// within etcdLongRejoinBound of the partition's end: its client gives
	// an attempt up after 5 s and retries at least every Retry (1 s), then
	// registers again within Retry. With gRPC's defaults an attempt hangs
	// for 20 s and the waits between attempts grow to 2 min.
	etcdLongCut         = 30 * time.Second
	etcdLongRejoinBound = 10 * time.Second
	// etcdStall and etcdStallRejoinBound: a node whose connection to etcd
	// stalls for etcdStall (nothing closed, nothing carried) is back
	// within etcdStallRejoinBound of the stall's end: its client gives
	// the connection up once a keepalive ping has gone unanswered for
	// 5 s, 10 s after it last heard from etcd, and reconnects. Without
	// the pings it would wait on that connection for good.
	etcdStall            = 10 * time.Second
	etcdStallRejoinBound = 15 * time.Second
)

// etcdShutdownTimeout is the test nodes' Protoactor.ShutdownTimeout:
// removing a node's key takes milliseconds while etcd is reachable.
const etcdShutdownTimeout = 2 * time.Second

// etcdMember is one node's membership through the etcd provider
// (cluster/etcd), whose etcd client reaches etcd through a proxy of its
// own.
type etcdMember struct {
	m *cluster.Protoactor
	// proxy is cut to make the node lose etcd, as a crash would.
	proxy *cutProxy
	// stop ends the calls of the provider's etcd client, whose Shutdown
	// waits for etcd while removing the node's key. t's cleanup calls it,
	// after the node closed.
	stop context.CancelFunc
}

// newEtcdMember returns a membership on the etcd at endpoint (a URL).
func newEtcdMember(t *testing.T, endpoint string) *etcdMember {
	t.Helper()
	return newEtcdMemberDelayed(t, endpoint, 0)
}

// newEtcdMemberDelayed is newEtcdMember with what its client sends
// delayed by delay, as a network would.
func newEtcdMemberDelayed(t *testing.T, endpoint string, delay time.Duration) *etcdMember {
	t.Helper()
	px := startCutProxy(t, strings.TrimPrefix(endpoint, "http://"))
	px.delay = delay
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p, err := etcd.New(etcd.Config{Client: clientv3.Config{
		Endpoints:   []string{"http://" + px.addr()},
		DialTimeout: 5 * time.Second,
		Context:     ctx,
		Logger:      zap.NewNop(),
	}})
	if err != nil {
		t.Fatalf("etcd provider: %v", err)
	}
	return &etcdMember{
		m:     &cluster.Protoactor{Provider: p, ShutdownTimeout: etcdShutdownTimeout},
		proxy: px,
		stop:  cancel,
	}
}

// cutProxy forwards TCP connections to target. Cut (setCut), it closes
// them and refuses new ones until it is restored. Silent (setSilent), it
// closes them too, but accepts new ones and never answers them, even once
// restored, as a partition that drops packets leaves a connection attempt
// made into it: the client must give the attempt up. Stalled
// (setStalled), it closes nothing: the connections it forwards stop
// carrying anything either way, for good, as a route that black-holes
// them (or a NAT that lost them) would leave them, and new ones are
// accepted and never answered, as while silent.
type cutProxy struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup
	// delay holds back each chunk sent to target (set before use).
	delay time.Duration

	mu      sync.Mutex
	cut     bool
	silent  bool
	stalled bool
	conns   map[net.Conn]bool // the ends of the connections forwarded; false: stalled
	held    []net.Conn        // accepted while silent or stalled, never answered
}

// startCutProxy starts a proxy to target on 127.0.0.1, closed when t ends.
func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, target: target, conns: map[net.Conn]bool{}}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

func (p *cutProxy) addr() string { return p.l.Addr().String() }

func (p *cutProxy) serve() {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		if p.hold(in) {
			continue
		}
		out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil || !p.track(in, out) {
			_ = in.Close()
			if out != nil {
				_ = out.Close()
			}
			continue
		}
		pipe := func(dst, src net.Conn) {
			var delay time.Duration
			if dst == out {
				delay = p.delay
			}
			p.forward(dst, src, delay)
			_ = dst.Close()
			_ = src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		p.wg.Go(func() { pipe(out, in) })
		p.wg.Go(func() { pipe(in, out) })
	}
}

// forward copies src to dst, each chunk read held back for delay, until
// either fails; once src is stalled, what it reads is dropped.
func (p *cutProxy) forward(dst, src net.Conn, delay time.Duration) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.live(src) {
			time.Sleep(delay)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// live reports whether the connection end c still carries data.
func (p *cutProxy) live(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns[c]
}

// track records the two ends of a connection, unless the proxy is cut.
func (p *cutProxy) track(in, out net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[in], p.conns[out] = true, true
	return true
}

// hold keeps in, unanswered, if the proxy is silent or stalled.
func (p *cutProxy) hold(in net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.silent && !p.stalled {
		return false
	}
	p.held = append(p.held, in)
	return true
}

// setSilent makes the proxy silent (closing its connections) or restores
// it; the connections it held while silent stay unanswered.
func (p *cutProxy) setSilent(silent bool) { p.set(&p.silent, silent) }

// setCut cuts the proxy (closing its connections) or restores it.
func (p *cutProxy) setCut(cut bool) { p.set(&p.cut, cut) }

// setStalled stalls the connections the proxy forwards, for good, or lets
// new ones through again.
func (p *cutProxy) setStalled(stalled bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = stalled
	if stalled {
		for c := range p.conns {
			p.conns[c] = false
		}
	}
}

// set turns one of the proxy's modes on or off; turned on, it closes the
// connections the proxy forwards.
func (p *cutProxy) set(mode *bool, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	*mode = on
	if on {
		p.dropLocked()
	}
}

// dropLocked closes the connections the proxy forwards; p.mu must be held.
func (p *cutProxy) dropLocked() {
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *cutProxy) close() {
	_ = p.l.Close()
	p.setCut(true)
	p.mu.Lock()
	for _, c := range p.held {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestEtcdLinkStall runs two nodes whose membership is the etcd provider,
// both reaching etcd all along, and stalls the connections from A to B,
// protoactor's with the link's (nothing closed, nothing carried, as a
// route that black-holes them would leave them): etcd still holds B
// alive, so only the link can tell A that B hears nothing. During the
// stall, a ServerSideEmitWithAck from A and then a broadcast with acks
// must each return with B unreachable within linkStallBound, not at their
// context's end, A logging why; then A goes on emitting, on connections
// it opens during the stall, and once the stall ends its broadcasts and
// its server-side events must reach B again within linkStallHealBound,
// and A must hand a long-polling request over to B (a route query, on
// the link too). Before A watched its links' answers (see
// cluster's checkLinks), the calls waited for their context, and nothing
// A sent reached B again: the stalled connections stayed A's.
func TestEtcdLinkStall(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race, nodes start in TestCluster only (see cluster.WarmUp)")
	}
	// A link that carried something is marked within a LinkCheck; the mark
	// unanswered for LinkAnswerTimeout is seen at the next LinkCheck.
	detect := cluster.LinkAnswerTimeout + 2*cluster.LinkCheck
	// Once the stall ends: the connection A holds then (one it opened during
	// the stall, which the proxy never answers) is closed as above, and
	// A's next frame opens one that carries.
	linkStallBound, linkStallHealBound := detect+3*time.Second, detect+5*time.Second

	endpoint := testkit.StartEtcd(t)
	var alog logbuf.Buffer
	a := startNodeAt(t, "A", "127.0.0.1:0", "", slog.New(slog.NewTextHandler(&alog, nil)), newEtcdMember(t, endpoint).m, false)
	real := testkit.FreeAddr(t)
	px := startCutProxy(t, real)
	b := startNodeAt(t, "B", real, px.addr(), testLog(), newEtcdMember(t, endpoint).m, false)
	waitMembersTook(t, etcdJoinBound, a, b)
	defer func() {
		if t.Failed() {
			t.Logf("A's log:\n%s", alog.String())
		}
	}()
	connectAcker(t, "ca", a.url, "r")
	cb := connectAcker(t, "cb", b.url, "r")
	// Both connections open before the stall.
	if err := a.srv.To("r").Emit("before"); err != nil {
		t.Fatal(err)
	}
	cb.waitEvents(t, "before", 1, 10*time.Second)
	a.srv.ServerSideEmit("ping", "before")
	eventually(t, 10*time.Second, "B gets A's server-side event", func() bool { return len(b.sideEvents()) == 1 })
	// Quiet links are not marked: once A's marks for what it sent are
	// answered, no more go out (an answer is not something to ask about).
	time.Sleep(2 * cluster.LinkCheck)
	marks := cluster.LinkMarks(a.rec.node) + cluster.LinkMarks(b.rec.node)
	time.Sleep(3 * cluster.LinkCheck)
	if more := cluster.LinkMarks(a.rec.node) + cluster.LinkMarks(b.rec.node) - marks; more > 0 {
		t.Errorf("%d more marks on links that carried nothing for %v", more, 3*cluster.LinkCheck)
	}

	px.setStalled(true)
	// unreachable checks that a call during the stall returned with B
	// unreachable within linkStallBound of start.
	unreachable := func(what string, start time.Time, err error) {
		t.Helper()
		took := time.Since(start)
		t.Logf("%s returned %v after it began: %v", what, took.Round(time.Millisecond), err)
		if !errors.Is(err, cluster.ErrNodeUnreachable) {
			t.Errorf("%s during the stall: %v, want ErrNodeUnreachable", what, err)
		}
		if took > linkStallBound {
			t.Errorf("%s returned %v after it began, bound %v", what, took, linkStallBound)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*linkStallBound)
	defer cancel()
	start := time.Now()
	_, err := a.srv.ServerSideEmitWithAck(ctx, "ask", "q")
	unreachable("ServerSideEmitWithAck", start, err)
	if log := alog.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "answered nothing on its link") {
		t.Errorf("A did not log the link it closed")
	}
	// B is unreachable, or A has opened a connection into the stall that
	// it must find out about again.
	start = time.Now()
	acks, err := a.srv.To("r").EmitWithAck(ctx, "q", "x")
	unreachable("EmitWithAck", start, err)
	if got := ackNames(acks); !slices.Equal(got, []string{"ca"}) {
		t.Errorf("acks from %v, want [ca]", got)
	}
	// A goes on emitting during the stall: its next messages open new
	// connections, which the proxy takes and never answers, even once the
	// stall ends.
	for i, until := 0, time.Now().Add(3*time.Second); time.Now().Before(until); i++ {
		a.srv.ServerSideEmit("ping", "during")
		if err := a.srv.To("r").Emit("during", i); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	px.setStalled(false)
	ended := time.Now()
	for i := 0; len(cb.events("after")) == 0 || len(b.sideEvents()) == 1; i++ {
		if time.Since(ended) > 2*linkStallHealBound {
			t.Fatalf("%v after the stall ended, B got %d broadcasts and %d server-side events from A since",
				time.Since(ended), len(cb.events("after")), len(b.sideEvents())-1)
		}
		if err := a.srv.To("r").Emit("after", i); err != nil {
			t.Fatal(err)
		}
		a.srv.ServerSideEmit("ping", "after")
		time.Sleep(100 * time.Millisecond)
	}
	healed := time.Since(ended)
	t.Logf("A's broadcasts and server-side events reached B again %v after the stall ended (bound %v)", healed.Round(time.Millisecond), linkStallHealBound)
	if healed > linkStallHealBound {
		t.Errorf("A's messages reached B again %v after the stall ended, bound %v", healed, linkStallHealBound)
	}
	// A asks B for its HTTP address (a route query, for B's sessions the
	// first time here).
	sid := pollingHandshake(t, b.url)
	if st, got := pollingRequest(t, http.MethodPost, a.url, sid, "40"); st != http.StatusOK || got != "ok" {
		t.Errorf("a long-polling CONNECT for B's session, through A after the stall: %d %q, want 200 \"ok\"", st, got)
	}
	waitMembers(t, time.Second, a, b)
}

// TestEtcdMembership runs three nodes whose membership is the etcd
// provider (cluster/etcd) on a real etcd that the test starts, checks that
// broadcasts, room changes and broadcasts with acknowledgements cross
// every node, then that a node that closes and a node that crashes are
// dropped, and that a node started afterwards joins. It logs how long each
// change of membership takes.
//
// It does not check for goroutines left behind: C's Close gives up on its
// provider's Shutdown while etcd is out of reach, and that Shutdown ends
// only at the cleanup (which cancels the client's context).
func TestEtcdMembership(t *testing.T) {
	if raceEnabled {
		// Nodes start after others have talked (see cluster.WarmUp); CI runs
		// this test in its pass without -race.
		t.Skip("under -race, nodes start in TestCluster only (see cluster.WarmUp)")
	}
	endpoint := testkit.StartEtcd(t)

	start := time.Now()
	var nodes []*testNode
	members := map[*testNode]*etcdMember{}
	for _, name := range []string{"A", "B", "C"} {
		em := newEtcdMember(t, endpoint)
		n := startNode(t, name, "127.0.0.1:0", em.m, false)
		nodes = append(nodes, n)
		members[n] = em
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	took := waitMembersTook(t, etcdJoinBound, a, b, c)
	t.Logf("three nodes started one after the other in %v; all saw each other %v after the last one started",
		time.Since(start).Round(time.Millisecond)-took.Round(time.Millisecond), took.Round(time.Millisecond))

	ca := connectAcker(t, "ca", a.url, "r")
	cb := connectAcker(t, "cb", b.url, "r")
	cc := connectAcker(t, "cc", c.url, "r", "other")
	all := []*testClient{ca, cb, cc}

	ok := t.Run("broadcasts from every node reach every node", func(t *testing.T) {
		for _, n := range nodes {
			if err := n.srv.To("r").Emit("news", n.name); err != nil {
				t.Fatalf("node %s: Emit: %v", n.name, err)
			}
		}
		for _, cl := range all {
			got := cl.waitEvents(t, "news", len(nodes), 10*time.Second)
			var from []string
			for _, r := range got {
				from = append(from, strings.Trim(r.args[0], `"`))
			}
			slices.Sort(from)
			if !slices.Equal(from, []string{"A", "B", "C"}) {
				t.Errorf("%s got news from %v, want [A B C] once each", cl.name, from)
			}
		}
	})

	ok = t.Run("SocketsJoin reaches the sockets of every node", func(t *testing.T) {
		b.srv.To("r").Except("other").SocketsJoin("vip")
		waitRoomSizes(t, "vip", []*testNode{a, b}, 1)
		// Sent by C after B's room change reached it: C's broadcast to vip
		// reaches the members on A and B, and not cc, which stayed out.
		_ = c.srv.To("vip").Emit("vip-news")
		_ = c.srv.To("r").Emit("fence-vip")
		for _, cl := range all {
			cl.waitEvents(t, "fence-vip", 1, 10*time.Second)
		}
		for cl, want := range map[*testClient]int{ca: 1, cb: 1, cc: 0} {
			if got := len(cl.events("vip-news")); got != want {
				t.Errorf("%s: %d vip-news, want %d", cl.name, got, want)
			}
		}
	}) && ok

	ok = t.Run("EmitWithAck collects the acks of the sockets of every node", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		acks, err := c.srv.To("r").EmitWithAck(ctx, "q", "x")
		if err != nil {
			t.Fatalf("EmitWithAck: %v", err)
		}
		if got := ackNames(acks); !slices.Equal(got, []string{"ca", "cb", "cc"}) {
			t.Errorf("acks from %v, want [ca cb cc]", got)
		}
	}) && ok

	ok = t.Run("ServerSideEmitWithAck collects one ack per other node", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		acks, err := a.srv.ServerSideEmitWithAck(ctx, "ask", "q")
		if err != nil {
			t.Fatalf("ServerSideEmitWithAck: %v", err)
		}
		if got := ackNames(acks); !slices.Equal(got, []string{"B", "C"}) {
			t.Errorf("acks from %v, want [B C]", got)
		}
	}) && ok
	if !ok {
		return
	}

	if !t.Run("a node that closes is dropped", func(t *testing.T) {
		start := time.Now()
		b.close(t)
		took := waitMembersTook(t, etcdLeaveBound, a, c)
		t.Logf("B's Close took %v; A and C had dropped B %v after Close began",
			b.closeTook.Round(time.Millisecond), (time.Since(start)-took).Round(time.Millisecond)+took.Round(time.Millisecond))
	}) {
		return
	}

	if !t.Run("a node that crashes is dropped once its lease expires", func(t *testing.T) {
		// C stops serving and loses etcd, as if its process had died:
		// nobody is told, its lease is no longer renewed, and etcd deletes
		// its key once the lease expires.
		start := time.Now()
		cluster.Kill(c.rec.node)
		members[c].proxy.setCut(true)
		took := waitMembersTook(t, etcdCrashBound, a)
		t.Logf("A dropped C %v after it crashed", (time.Since(start)-took).Round(time.Millisecond)+took.Round(time.Millisecond))

		// Without etcd, C's provider cannot remove its key: Close gives up
		// after the provider's ShutdownTimeout and says so.
		c.closeOnce.Do(func() {
			start := time.Now()
			err := c.srv.Close()
			c.http.Close()
			took := time.Since(start)
			t.Logf("C's Close without etcd took %v: %v", took.Round(time.Millisecond), err)
			if err == nil || !strings.Contains(err.Error(), "did not shut down") {
				t.Errorf("C's Close without etcd: %v, want the provider's shutdown timeout", err)
			}
			if took > etcdShutdownTimeout+2*time.Second {
				t.Errorf("C's Close without etcd took %v, want about %v", took, etcdShutdownTimeout)
			}
		})
	}) {
		return
	}
	// At the end, C's etcd client stops renewing, then gets etcd back: the
	// calls its provider left waiting for etcd return.
	t.Cleanup(func() {
		members[c].stop()
		members[c].proxy.setCut(false)
	})

	// D lives on after the subtest that starts it: its membership and
	// node are the test's, not the subtest's.
	start = time.Now()
	dm := newEtcdMember(t, endpoint)
	d := startNode(t, "D", "127.0.0.1:0", dm.m, false)
	cd := connectAcker(t, "cd", d.url, "r")
	if !t.Run("a node started later joins", func(t *testing.T) {
		took := waitMembersTook(t, etcdJoinBound, a, d)
		t.Logf("D started in %v; A and D saw each other %v later",
			(time.Since(start) - took).Round(time.Millisecond), took.Round(time.Millisecond))
		_ = d.srv.To("r").Emit("late", "D")
		_ = a.srv.To("r").Emit("late", "A")
		for _, cl := range []*testClient{ca, cd} {
			cl.waitEvents(t, "late", 2, 10*time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		acks, err := d.srv.To("r").EmitWithAck(ctx, "q", "x")
		if got := ackNames(acks); err != nil || !slices.Equal(got, []string{"ca", "cd"}) {
			t.Errorf("EmitWithAck from D: acks from %v, %v; want [ca cd]", got, err)
		}
	}) {
		return
	}

	t.Run("a node cut off from etcd for longer than its lease rejoins", func(t *testing.T) {
		// D loses etcd for longer than its lease, as a node that stalled
		// or was partitioned would: A drops D, whose member id protoactor
		// then blocks on every node. Once D reaches etcd again, its
		// provider registers it under its member id's next generation and
		// both take each other back; D's client, connected all along,
		// keeps its room.
		start := time.Now()
		dm.proxy.setCut(true)
		waitMembers(t, etcdCrashBound, a)
		dropped := time.Since(start)
		dm.proxy.setCut(false)
		took := waitMembersTook(t, etcdRejoinBound, a, d)
		t.Logf("A dropped D %v after D lost etcd; D had etcd back for %v when both saw each other again",
			dropped.Round(time.Millisecond), took.Round(time.Millisecond))
		_ = d.srv.To("r").Emit("again", "D")
		_ = a.srv.To("r").Emit("again", "A")
		for _, cl := range []*testClient{ca, cd} {
			cl.waitEvents(t, "again", 2, 10*time.Second)
		}
		// Answers carry the answering node's member id: D answers under
		// its new one, which A knows it by.
		for from, want := range map[*testNode]string{a: "D", d: "A"} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			acks, err := from.srv.ServerSideEmitWithAck(ctx, "ask", "q")
			cancel()
			if got := ackNames(acks); err != nil || !slices.Equal(got, []string{want}) {
				t.Errorf("ServerSideEmitWithAck from %s: acks from %v, %v; want [%s]", from.name, got, err, want)
			}
		}
	})

	// Outages after which the node must give up by itself what it was
	// waiting on: attempts to connect that hang, or connections that
	// carry nothing.
	for _, o := range []struct {
		name   string
		set    func(bool)
		length time.Duration
		bound  time.Duration // from the outage's end until A and D see each other
		event  string        // each outage's own: a client counts every one it got
	}{
		// Connections closed; attempts made meanwhile hang, unanswered.
		{"a node partitioned from etcd for long rejoins soon after the partition ends", dm.proxy.setSilent, etcdLongCut, etcdLongRejoinBound, "long"},
		// Connections open, carrying nothing, for good.
		{"a node whose connection to etcd stalls rejoins soon after the stall ends", dm.proxy.setStalled, etcdStall, etcdStallRejoinBound, "stalled"},
	} {
		t.Run(o.name, func(t *testing.T) {
			start := time.Now()
			o.set(true)
			waitMembers(t, etcdCrashBound, a)
			time.Sleep(time.Until(start.Add(o.length)))
			o.set(false)
			took := waitMembersTook(t, o.bound, a, d)
			t.Logf("D's outage lasted %v; it had ended %v before A and D saw each other again",
				o.length, took.Round(time.Millisecond))
			_ = d.srv.To("r").Emit(o.event, "D")
			_ = a.srv.To("r").Emit(o.event, "A")
			for _, cl := range []*testClient{ca, cd} {
				cl.waitEvents(t, o.event, 2, 10*time.Second)
			}
		})
	}
}

// waitMembersTook waits as waitMembers does and returns how long it
// waited.
func waitMembersTook(t *testing.T, within time.Duration, nodes ...*testNode) time.Duration {
	t.Helper()
	start := time.Now()
	waitMembers(t, within, nodes...)
	return time.Since(start)
}

// ackNames returns the sorted first arguments of acks.
func ackNames(acks []actorio.Args) []string {
	out := make([]string, 0, len(acks))
	for _, a := range acks {
		out = append(out, a.String(0))
	}
	slices.Sort(out)
	return out
}

// TestEtcdNodesStartedTogether: nodes started at the same moment, as a
// deployment starts its replicas, all see each other. Each registers,
// then lists the members and watches from the list's revision; a
// provider that lists, then watches from whenever its watch begins
// (protoactor-go's etcd provider), misses the nodes that register in
// between, for good.
func TestEtcdNodesStartedTogether(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race, nodes start in TestCluster only (see cluster.WarmUp)")
	}
	endpoint := testkit.StartEtcd(t)
	const rounds, size = 3, 4
	for round := range rounds {
		name := fmt.Sprintf("together-%d", round)
		servers := make([]*actorio.Server, size)
		errs := make([]error, size)
		var wg sync.WaitGroup
		for i := range size {
			// A millisecond each way on the way to etcd, as across a
			// network: a list and the watch after it are then a little
			// apart, as they are in a deployment.
			em := newEtcdMemberDelayed(t, endpoint, time.Millisecond)
			wg.Go(func() {
				servers[i], errs[i] = actorio.NewServer(actorio.Options{
					Logger:  testLog(),
					Cluster: &actorio.ClusterOptions{Insecure: true, Name: name, Address: "127.0.0.1:0", Provider: em.m},
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: node %d: %v", round, i, err)
			}
		}
		var want []string
		for _, srv := range servers {
			want = append(want, srv.ClusterNodes()[0])
		}
		slices.Sort(want)
		deadline := time.Now().Add(etcdJoinBound)
		for {
			var seen []string
			ok := true
			for i, srv := range servers {
				got := srv.ClusterNodes()
				slices.Sort(got)
				seen = append(seen, fmt.Sprintf("node %d: %v", i, got))
				ok = ok && slices.Equal(got, want)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d nodes started together did not all see each other within %v:\n%s",
					round, size, etcdJoinBound, strings.Join(seen, "\n"))
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, srv := range servers {
			if err := srv.Close(); err != nil {
				t.Errorf("round %d: Close: %v", round, err)
			}
		}
	}
}
