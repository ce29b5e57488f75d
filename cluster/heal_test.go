package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
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

// The environment of a node process (TestHealNodeProcess).
const (
	envNode  = "ACTORIO_HEAL_NODE"  // the node's name; set only in a node process
	envAddr  = "ACTORIO_HEAL_ADDR"  // ClusterOptions.Address
	envAdv   = "ACTORIO_HEAL_ADV"   // ClusterOptions.AdvertisedAddress
	envSeeds = "ACTORIO_HEAL_SEEDS" // Static.Seeds, comma-separated
	envProbe = "ACTORIO_HEAL_PROBE" // ProbeInterval,ProbeTimeout,MaxFailures; empty for the defaults
	envEtcd  = "ACTORIO_HEAL_ETCD"  // an etcd's URL: the membership is cluster/etcd's, not Static
	envQueue = "ACTORIO_HEAL_QUEUE" // the bound on what is queued for one node, in bytes; empty for the default
)

// probing is a Static's probe settings; the zero value is the defaults.
type probing struct {
	interval, timeout time.Duration
	maxFailures       int
}

// effective returns p with the defaults filled in.
func (p probing) effective() probing {
	if p.interval == 0 {
		p.interval = cluster.DefaultProbeInterval
	}
	if p.timeout == 0 {
		p.timeout = cluster.DefaultProbeTimeout
	}
	if p.maxFailures == 0 {
		p.maxFailures = cluster.DefaultMaxFailures
	}
	return p
}

// detection is the time the others take at most to drop a node that
// stopped answering (cluster/doc.go, Membership).
func (p probing) detection() time.Duration {
	e := p.effective()
	return time.Duration(e.maxFailures) * (e.interval + e.timeout)
}

// heal is the time within which, once a partition ends or a stalled node
// runs again, every node sends to every other again (cluster/doc.go,
// Membership): one round of probes in flight, the pause, and the next
// round's answer.
func (p probing) heal() time.Duration {
	e := p.effective()
	return e.interval + e.timeout
}

func (p probing) String() string {
	e := p.effective()
	return fmt.Sprintf("ProbeInterval %v, ProbeTimeout %v, MaxFailures %d: detection %v, heal %v",
		e.interval, e.timeout, e.maxFailures, p.detection(), p.heal())
}

// deliverySlack is what the tests allow beyond a bound for messages to
// cross and for the scheduling of a loaded machine.
const deliverySlack = time.Second

// TestHealNodeProcess is not a test: run by nodeProcess in a process of
// its own (this test binary, with envNode set), it runs one node of a
// cluster, served over HTTP on 127.0.0.1, until its standard input closes.
// It prints "READY <http url> <cluster address>" once it serves, and logs
// to its standard error. GET /nodes answers the server's ClusterNodes in
// JSON. Sockets handle "join" (join rooms, ack), "shout" (broadcast to the
// namespace but itself), "toRoom" (broadcast "room" with the second
// argument to the room the first names), "flood" (broadcast "blob", a
// string of the second argument's length, as many times as the first
// says; acks) and "fetch" (FetchRemoteSockets of "/" with a 30 s ctx; acks
// the number of sockets, the error's text and the milliseconds it took).
func TestHealNodeProcess(t *testing.T) {
	name := os.Getenv(envNode)
	if name == "" {
		t.Skip("runs in a node process only")
	}
	static := &cluster.Static{}
	if s := os.Getenv(envSeeds); s != "" {
		static.Seeds = strings.Split(s, ",")
	}
	if s := os.Getenv(envProbe); s != "" {
		parts := strings.Split(s, ",")
		if len(parts) != 3 {
			t.Fatalf("%s=%q", envProbe, s)
		}
		var err1, err2, err3 error
		static.ProbeInterval, err1 = time.ParseDuration(parts[0])
		static.ProbeTimeout, err2 = time.ParseDuration(parts[1])
		static.MaxFailures, err3 = strconv.Atoi(parts[2])
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("%s=%q: %v", envProbe, s, err)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", name)
	rec := &recorder{p: static}
	if url := os.Getenv(envEtcd); url != "" {
		members, err := etcd.New(etcd.Config{Client: clientv3.Config{
			Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}})
		if err != nil {
			t.Fatalf("etcd provider: %v", err)
		}
		rec = &recorder{p: &cluster.Protoactor{Provider: members, ShutdownTimeout: etcdShutdownTimeout}}
	}
	var srv *actorio.Server
	ts := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{
			Logger: log,
			Cluster: &actorio.ClusterOptions{
				Name: "heal", Address: os.Getenv(envAddr), AdvertisedAddress: os.Getenv(envAdv), Provider: rec,
				Insecure: true,
			},
		},
		Setup: func(s *actorio.Server) {
			srv = s
			srv.OnConnection(func(s *actorio.Socket) {
				s.On("join", testkit.JoinRooms)
				s.On("shout", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
					_ = s.Broadcast().Emit("shout", args.String(0))
				})
				s.On("toRoom", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
					_ = srv.To(args.String(0)).Emit("room", args.String(1))
				})
				s.On("flood", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
					var count, size int
					_ = args.Decode(0, &count)
					_ = args.Decode(1, &size)
					blob := strings.Repeat("x", size)
					for range count {
						_ = srv.Of("/").Emit("blob", blob)
					}
					if ack != nil {
						_ = ack("ok")
					}
				})
				s.On("fetch", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
					go func() {
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						defer cancel()
						start := time.Now()
						socks, err := srv.Of("/").FetchRemoteSockets(ctx)
						msg := ""
						if err != nil {
							msg = err.Error()
						}
						if ack != nil {
							_ = ack(len(socks), msg, time.Since(start).Milliseconds())
						}
					}()
				})
			})
		},
		Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/nodes" {
					h.ServeHTTP(w, r)
					return
				}
				_ = json.NewEncoder(w).Encode(srv.ClusterNodes())
			})
		},
		CheckClose: true,
		Name:       "node " + name,
	})
	if s := os.Getenv(envQueue); s != "" {
		bytes, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envQueue, s, err)
		}
		cluster.SetMaxQueue(rec.node, bytes)
	}
	fmt.Printf("READY %s %s\n", ts.URL, ts.Srv.ClusterNodes()[0])
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// procNode is a node running in a process of its own (TestHealNodeProcess).
type procNode struct {
	name string
	url  string // HTTP
	addr string // the cluster address the others reach it at
	cmd  *exec.Cmd
	log  *logbuf.Buffer
}

// nodeProcess starts a node process named name that listens for the
// cluster on addr, is reached at adv (when not empty), probes seeds with
// the settings p, and stops it when the test ends. env adds to its
// environment.
func nodeProcess(t *testing.T, name, addr, adv string, seeds []string, p probing, env ...string) *procNode {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHealNodeProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		envNode+"="+name, envAddr+"="+addr, envAdv+"="+adv, envSeeds+"="+strings.Join(seeds, ","))
	cmd.Env = append(cmd.Env, env...)
	if p != (probing{}) {
		cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%v,%v,%d", envProbe, p.interval, p.timeout, p.maxFailures))
	}
	n := &procNode{name: name, cmd: cmd, log: &logbuf.Buffer{}}
	cmd.Stderr = n.log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		n.resume()
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("node %s did not exit 10 s after its input closed", name)
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() || os.Getenv("CLUSTER_LOG") != "" {
			t.Logf("node %s's log:\n%s", name, n.log)
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "READY ") {
				ready <- line
			} else {
				// The node's test output (a failure to start, say).
				fmt.Fprintln(n.log, line)
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case line := <-ready:
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("node %s: %q", name, line)
		}
		n.url, n.addr = f[1], f[2]
	case <-exited:
		t.Fatalf("node %s exited before it served:\n%s", name, n.log)
	case <-time.After(20 * time.Second):
		t.Fatalf("node %s not ready after 20 s:\n%s", name, n.log)
	}
	return n
}

// nodes returns the cluster addresses the node sends to, its own first,
// or nil if it does not answer within a second (a stopped process).
func (n *procNode) nodes() []string {
	c := http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get(n.url + "/nodes")
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	var out []string
	if json.NewDecoder(res.Body).Decode(&out) != nil {
		return nil
	}
	return out
}

// logged counts the node's log lines holding every one of parts.
func (n *procNode) logged(parts ...string) int {
	count := 0
	for line := range strings.SplitSeq(n.log.String(), "\n") {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			count++
		}
	}
	return count
}

// waitLog waits until the node logged a line holding every one of parts,
// and fails t with what otherwise.
func (n *procNode) waitLog(t *testing.T, within time.Duration, what string, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for n.logged(parts...) == 0 {
		if time.Now().After(deadline) {
			t.Errorf("node %s did not log that %s within %v", n.name, what, within)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sends reports whether n sends to exactly the nodes of to, all
// answering its /nodes.
func (n *procNode) sends(to ...*procNode) bool {
	got := n.nodes()
	if len(got) == 0 || got[0] != n.addr {
		return false
	}
	var want []string
	for _, o := range to {
		want = append(want, o.addr)
	}
	slices.Sort(want)
	return slices.Equal(got[1:], want)
}

// waitNodes waits until every node sends to exactly the others, and
// returns how long that took.
func waitNodes(t *testing.T, within time.Duration, nodes ...*procNode) time.Duration {
	t.Helper()
	var want []string
	for _, n := range nodes {
		want = append(want, n.addr)
	}
	slices.Sort(want)
	return eventually(t, within, "every node sends to every other", func() bool {
		for _, n := range nodes {
			got := n.nodes()
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return false
			}
		}
		return true
	})
}

// meshClient is a client on one node of a mesh check.
type meshClient struct {
	*testClient
	node *procNode
}

// whole emits, every 50 ms, a round of "shout" broadcasts (one per
// client, tagged with prefix and the round) until every client received,
// in one round, the broadcast of every client on another node, and
// returns when that round was emitted. It fails t past within.
func whole(t *testing.T, within time.Duration, prefix string, clients []meshClient) time.Duration {
	t.Helper()
	start := time.Now()
	var emitted []time.Duration
	complete := func(round int) bool {
		for _, rcv := range clients {
			got := rcv.events("shout")
			for _, snd := range clients {
				if snd.node == rcv.node {
					continue
				}
				want := strconv.Quote(fmt.Sprintf("%s%d/%s", prefix, round, snd.name))
				if !slices.ContainsFunc(got, func(r received) bool { return len(r.args) == 1 && r.args[0] == want }) {
					return false
				}
			}
		}
		return true
	}
	for {
		for round := range emitted {
			if complete(round) {
				return emitted[round]
			}
		}
		if time.Since(start) > within {
			t.Fatalf("broadcasts do not reach every node %v after the %s rounds began", within, prefix)
		}
		round := len(emitted)
		emitted = append(emitted, time.Since(start))
		for _, c := range clients {
			_ = c.s.Emit("shout", fmt.Sprintf("%s%d/%s", prefix, round, c.name))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// proxy forwards TCP connections from a listener on 127.0.0.1 to target;
// cut stalls every connection through it, as a network partition does (no
// byte goes through, nothing is closed), and restore lets them flow again.
type proxy struct {
	ln     net.Listener
	target string
	done   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	open  chan struct{} // closed while bytes flow
	conns []net.Conn
}

// startProxy starts a proxy to target, closed when the test ends.
func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, done: make(chan struct{}), open: make(chan struct{})}
	close(p.open)
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(up, c) })
		p.wg.Go(func() { p.pipe(c, up) })
	}
}

// pipe copies from src to dst, holding what it read while cut.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		open := p.open
		p.mu.Unlock()
		select {
		case <-open:
		case <-p.done:
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				_ = src.Close()
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

func (p *proxy) cut() {
	p.mu.Lock()
	p.open = make(chan struct{})
	p.mu.Unlock()
}

func (p *proxy) restore() {
	p.mu.Lock()
	close(p.open)
	p.mu.Unlock()
}

func (p *proxy) close() {
	close(p.done)
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestPartitionHeals runs three node processes, each reached through a
// proxy, cuts every connection to C for longer than the failure
// detection, and checks that each side drops the other (and says so),
// then that once the partition ends every node sends to every other again
// within the bound cluster/doc.go states, and that each side says the
// other rejoined.
func TestPartitionHeals(t *testing.T) {
	if testing.Short() {
		t.Skip("a partition takes seconds")
	}
	checkGoroutines(t)
	p := probing{interval: 200 * time.Millisecond, timeout: 500 * time.Millisecond, maxFailures: 2}
	t.Log(p)
	names := []string{"A", "B", "C"}
	real := make([]string, len(names))
	proxies := make([]*proxy, len(names))
	for i := range names {
		real[i] = testkit.FreeAddr(t)
		proxies[i] = startProxy(t, real[i])
	}
	// A is the seed of every node: B and C are nodes the others learnt.
	seeds := []string{proxies[0].addr()}
	var nodes []*procNode
	var clients []meshClient
	for i, name := range names {
		n := nodeProcess(t, name, real[i], proxies[i].addr(), seeds, p)
		nodes = append(nodes, n)
	}
	waitNodes(t, 10*time.Second, nodes...)
	for _, n := range nodes {
		clients = append(clients, meshClient{connect(t, "c"+n.name, n.url, "r"), n})
	}
	whole(t, 5*time.Second, "before", clients)
	a, b, c := nodes[0], nodes[1], nodes[2]

	proxies[2].cut()
	cut := time.Now()
	// C gets no answer to its probes (they come back through its proxy)
	// and nobody's probes reach it: each side drops the other.
	took := eventually(t, p.detection()+deliverySlack, "A and B drop C, and C drops A and B", func() bool {
		return a.sends(b) && b.sends(a) && c.sends()
	})
	t.Logf("each side dropped the other %v after the cut (detection bound %v)", took.Round(time.Millisecond), p.detection())
	time.Sleep(time.Until(cut.Add(p.detection() + 2*time.Second)))

	proxies[2].restore()
	healed := whole(t, p.heal()+deliverySlack+5*time.Second, "after", clients)
	t.Logf("broadcasts flow both ways between all nodes %v after the partition ended (bound %v)", healed.Round(time.Millisecond), p.heal())
	if healed > p.heal()+deliverySlack {
		t.Errorf("whole again %v after the partition ended, bound %v", healed, p.heal())
	}
	waitNodes(t, 2*time.Second, nodes...)

	for _, n := range []*procNode{a, b} {
		n.waitLog(t, time.Second, "it dropped C", "level=WARN", "cluster node dropped:", "address="+c.addr)
		n.waitLog(t, time.Second, "C rejoined", "level=INFO", "cluster node rejoined", "address="+c.addr)
		c.waitLog(t, time.Second, "it dropped "+n.name, "level=WARN", "cluster node dropped:", "address="+n.addr)
		c.waitLog(t, time.Second, n.name+" rejoined", "level=INFO", "cluster node rejoined", "address="+n.addr)
	}
}
