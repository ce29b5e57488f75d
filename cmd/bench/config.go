//go:build linux

package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Server kinds.
const (
	kindActorio = "actorio"
	kindNode    = "node"
	kindRaw     = "raw"
	// kindFloor is sioServer: Socket.IO over WebSocket on gorilla with
	// actorio's codec and nothing else, for echo and echorate only.
	kindFloor = "sio-floor"
)

// Deployments of several processes, for the cross-node scenarios.
const (
	// kindCluster is three actorio nodes in one cluster with TLS links;
	// clients use WebSocket, each to its node.
	kindCluster = "actorio-cluster"
	// kindClusterPoll is the same cluster with long-polling clients that
	// send each request to the next node in turn: two requests in three
	// reach a node that hands them over to the session's owner.
	kindClusterPoll = "actorio-cluster-poll"
	// kindNodeRedis is three Node socket.io processes sharing a
	// redis-server through @socket.io/redis-adapter; WebSocket clients.
	kindNodeRedis = "node-redis"
)

// Parsers (-parser).
const (
	parserJSON    = "json"
	parserMsgpack = "msgpack"
)

// Scenario names.
const (
	scenEcho = "echo"
	// scenPacedEcho is echo at a pace the clients keep (-echo-rate in
	// all, spread evenly), below every server's capacity: latency at an
	// equal load, as a game's clients send at their tick rate.
	scenPacedEcho = "echorate"
	scenFanout    = "fanout"
	scenIdle      = "idle"
	// scenPollEcho is echo with long-polling clients (no WebSocket), for
	// actorio and node: raw gorilla has no long-polling.
	scenPollEcho = "pecho"
	// scenPollFanout is fan-out with long-polling clients only, receivers
	// and sender, for actorio and node.
	scenPollFanout = "pfanout"
	// scenStorm and scenPollStorm: as many clients as the file limit
	// allows connect at once, by WebSocket, or by long-polling then the
	// upgrade.
	scenStorm     = "storm"
	scenPollStorm = "pstorm"
	// scenRStorm: official clients (Node processes) connect, then the
	// server is killed and restarted on the same port under their
	// reconnections.
	scenRStorm = "rstorm"
	// scenXFanout: receivers spread over the nodes, a sender on the first
	// broadcasts to their room (a blast, then a paced phase).
	scenXFanout = "xfanout"
	// scenXAck: rounds of a broadcast with ack to receivers spread over
	// the nodes.
	scenXAck = "xack"
)

var (
	// allKinds are the single-process servers of the first table.
	allKinds = []string{kindActorio, kindNode, kindRaw, kindFloor}
	// xKinds are the columns of the cross-node table, in its order: the
	// single-process servers last, as references.
	xKinds = []string{kindCluster, kindClusterPoll, kindNodeRedis, kindActorio, kindNode}
	// knownKinds are the names -servers accepts.
	knownKinds = []string{kindActorio, kindNode, kindRaw, kindFloor, kindCluster, kindClusterPoll, kindNodeRedis}
	// allScenarios are the names -scenarios accepts; defaultScenarios
	// those run without it.
	allScenarios     = []string{scenEcho, scenPacedEcho, scenFanout, scenIdle, scenPollEcho, scenPollFanout, scenStorm, scenPollStorm, scenRStorm, scenXFanout, scenXAck}
	defaultScenarios = []string{scenEcho, scenFanout, scenIdle}
)

// applies reports whether scenario scen runs against server kind with
// the parser: the first three against the single processes (sio-floor
// only echoes, and speaks JSON only), the cross-node ones against the
// deployments and, as references, actorio and node alone.
func applies(scen, kind, parser string) bool {
	switch scen {
	case scenXFanout, scenXAck:
		return kind != kindRaw && kind != kindFloor
	case scenPollEcho, scenPollFanout, scenStorm, scenPollStorm, scenRStorm:
		return kind == kindActorio || kind == kindNode
	}
	if kind == kindFloor {
		return parser == parserJSON && (scen == scenEcho || scen == scenPacedEcho)
	}
	return slices.Contains(allKinds, kind)
}

// isXScenario reports whether scen is one of the cross-node scenarios.
func isXScenario(scen string) bool { return scen == scenXFanout || scen == scenXAck }

// config holds every flag of both modes.
type config struct {
	// serve mode
	serve      string
	addr       string
	cpuProfile string
	memProfile string
	pprofAddr  string

	// shared by both modes
	pingInterval time.Duration
	// parser is the Socket.IO parser of actorio, node and the clients:
	// parserJSON or parserMsgpack.
	parser string
	// compress turns on WebSocket compression (-compress).
	compress bool
	// serverProcs is the GOMAXPROCS of the Go servers (-server-procs); 0:
	// the runtime's default.
	serverProcs int
	// clusterProcs is the GOMAXPROCS of each node of actorio's clusters
	// (-cluster-procs); 0: the machine's cores shared out (nodeProcs).
	clusterProcs int

	// load generator
	servers    []string
	scenarios  []string
	nodeScript string
	nodeBin    string
	profileDir string
	verbose    bool
	// repeat is how many times the scenarios run (-repeat), alternated;
	// the tables give medians and ranges.
	repeat int

	echoClients int
	echoTime    time.Duration
	echoWarmup  time.Duration
	echoRate    int
	echoSize    int

	fanReceivers int
	fanMessages  int
	fanSize      int
	fanTimeout   time.Duration
	fanDelay     time.Duration

	idleConns int
	// stormConns is the clients of a storm; 0: as many as the file
	// limit allows.
	stormConns int
	idleHold   time.Duration

	// rstormConns is the official clients of rstorm; 0: as many as the
	// file limit allows. rstormTimeout bounds each of its phases.
	rstormConns   int
	rstormTimeout time.Duration

	// cross-node scenarios
	nodes          int
	redisBin       string
	clusterTLS     bool
	xReceivers     int
	xPollReceivers int
	xMessages      int
	xSize          int
	xRate          int
	xPaced         time.Duration
	xAckReceivers  int
	xRounds        int
	xWarmRounds    int
	xAckTimeout    time.Duration
	xTimeout       time.Duration
	xHomes         []int // 0-based nodes receivers are spread over; nil: every node

	// serve mode, in a cluster
	clusterSeeds string
	clusterSize  int
	clusterCert  string
	clusterKey   string
	clusterCA    string

	dialConcurrency int
	startTimeout    time.Duration
	settle          time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var servers, scenarios string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)

	fs.StringVar(&c.serve, "serve", "", "run as a bench server: actorio or raw (node runs cmd/bench/node/server.cjs)")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "serve mode: listen address (port 0 picks one; printed as READY <addr>)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "serve mode: write a CPU profile of the whole run to this file")
	fs.StringVar(&c.memProfile, "memprofile", "", "serve mode: write a heap profile to this file at exit")
	fs.StringVar(&c.pprofAddr, "pprof", "", "serve mode: serve net/http/pprof on this address (e.g. 127.0.0.1:6060)")

	fs.DurationVar(&c.pingInterval, "ping-interval", 2*time.Second, "heartbeat interval of every server (Engine.IO pingInterval; WebSocket pings for raw)")
	fs.StringVar(&c.parser, "parser", parserJSON, "echo, fanout, idle: the Socket.IO parser of actorio, node and their clients, json or msgpack (the npm socket.io-msgpack-parser); raw has none, and sio-floor runs with json only")

	fs.BoolVar(&c.compress, "compress", false, "actorio and the load generator's clients: WebSocket compression, Options.PerMessageDeflate (threshold 1024) accepted by the server and offered by the clients, which send uncompressed")
	fs.StringVar(&servers, "servers", strings.Join(knownKinds, ","), "servers to compare, among "+strings.Join(knownKinds, ",")+" (each scenario runs against those it applies to)")
	fs.StringVar(&scenarios, "scenarios", strings.Join(defaultScenarios, ","), "scenarios to run, among "+strings.Join(allScenarios, ","))
	fs.StringVar(&c.nodeScript, "node-script", "", "Node bench server script (default <module root>/cmd/bench/node/server.cjs)")
	fs.StringVar(&c.nodeBin, "node", "node", "Node.js executable")
	fs.IntVar(&c.repeat, "repeat", 1, "run the scenarios this many times, each run's servers one after the other, scenario by scenario, and print the medians of the runs with their ranges")
	fs.StringVar(&c.profileDir, "profile", "", "write CPU and heap profiles of the actorio (and raw) server of each scenario into this directory")
	fs.BoolVar(&c.verbose, "v", false, "show the servers' stderr")
	fs.IntVar(&c.serverProcs, "server-procs", 0, "GOMAXPROCS of the single-process Go servers (actorio, raw, sio-floor), as Node's one thread; 0: the runtime's default, every core")

	fs.IntVar(&c.echoClients, "c", 50, "echo: concurrent clients, each in a closed loop")
	fs.DurationVar(&c.echoTime, "t", 8*time.Second, "echo: measured duration per server")
	fs.DurationVar(&c.echoWarmup, "warmup", time.Second, "echo: unmeasured warm-up before T")
	fs.IntVar(&c.echoRate, "echo-rate", 20000, "echorate: echoes per second the C echo clients send in all, each at an even pace")
	fs.IntVar(&c.echoSize, "echo-size", 64, "echo: bytes of the string argument")

	fs.IntVar(&c.fanReceivers, "r", 500, "fanout: receivers in the room")
	fs.IntVar(&c.fanMessages, "m", 1000, "fanout: messages per blast")
	fs.IntVar(&c.fanSize, "size", 256, "fanout: bytes of each message's string")
	fs.DurationVar(&c.fanTimeout, "fanout-timeout", 60*time.Second, "fanout: give up after this long")
	fs.DurationVar(&c.fanDelay, "recv-delay", 0, "fanout: each receiver pauses this long after every message (slow clients)")

	fs.IntVar(&c.stormConns, "storm-n", 0, "storm, pstorm: clients connecting at once (0: as many as the file limit allows, at most 19900)")
	fs.IntVar(&c.rstormConns, "rstorm-n", 0, "rstorm: official socket.io-client instances (Node processes) reconnecting to the restarted server (0: as many as the file limit allows, a WebSocket and a polling request each, at most 9850)")
	fs.DurationVar(&c.rstormTimeout, "rstorm-timeout", 3*time.Minute, "rstorm: give up when the clients are not all connected, or all reconnected after the restart, within this")
	fs.IntVar(&c.idleConns, "n", 2000, "idle: connected sockets (the 16 KB/conn target is judged at 10000)")
	fs.DurationVar(&c.idleHold, "hold", 5*time.Second, "idle: how long the sockets are held (cover >= 2 ping intervals)")

	fs.IntVar(&c.nodes, "nodes", 3, "xfanout, xack: processes of actorio-cluster and node-redis")
	fs.StringVar(&c.redisBin, "redis-server", "redis-server", "xfanout, xack: redis-server executable for node-redis")
	fs.IntVar(&c.clusterProcs, "cluster-procs", 0, "xfanout, xack: GOMAXPROCS of each node of actorio-cluster and actorio-cluster-poll; 0: the machine's cores shared out among the nodes, at least 1 each (as an operator sets it for nodes sharing a machine)")
	fs.BoolVar(&c.clusterTLS, "cluster-tls", true, "xfanout, xack: secure actorio's links between nodes (mutual TLS and a secret); false: Insecure")
	fs.IntVar(&c.xReceivers, "xr", 300, "xfanout: receivers, spread round-robin over the nodes")
	fs.IntVar(&c.xPollReceivers, "xr-poll", 0, "xfanout: receivers of actorio-cluster-poll (0: -xr)")
	fs.IntVar(&c.xMessages, "xm", 2000, "xfanout: messages of the blast")
	fs.IntVar(&c.xSize, "xsize", 256, "xfanout: bytes of each message (a timestamp, then padding; at least 24)")
	fs.IntVar(&c.xRate, "xrate", 200, "xfanout: messages per second of the paced phase (0: none)")
	fs.DurationVar(&c.xPaced, "xpaced", 3*time.Second, "xfanout: duration of the paced phase")
	fs.IntVar(&c.xAckReceivers, "xack-r", 60, "xack: receivers, spread round-robin over the nodes, each acking")
	fs.IntVar(&c.xRounds, "xrounds", 1500, "xack: measured rounds (emit with ack, then every ack)")
	fs.IntVar(&c.xWarmRounds, "xwarm", 50, "xack: unmeasured rounds before them")
	fs.DurationVar(&c.xAckTimeout, "xack-timeout", 10*time.Second, "xack: timeout of one round")
	fs.Func("xhomes", "xfanout, xack: spread the receivers over these nodes only, comma-separated, 1 being the sender's (default: every node; for finding where time goes)", func(v string) error {
		c.xHomes = nil
		for _, f := range strings.Split(v, ",") {
			i, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || i < 1 {
				return fmt.Errorf("node numbers from 1, not %q", f)
			}
			c.xHomes = append(c.xHomes, i-1)
		}
		return nil
	})
	fs.DurationVar(&c.xTimeout, "xtimeout", 120*time.Second, "xfanout, xack: give up a run after this long")

	fs.StringVar(&c.clusterSeeds, "cluster-seeds", "", "serve mode: join a cluster: comma-separated cluster addresses of other nodes (\"-\": none, the first node)")
	fs.IntVar(&c.clusterSize, "cluster-size", 0, "serve mode: print JOINED once this many nodes are in the cluster")
	fs.StringVar(&c.clusterCert, "cluster-cert", "", "serve mode: TLS certificate of the node (PEM); the secret comes from $"+secretEnv)
	fs.StringVar(&c.clusterKey, "cluster-key", "", "serve mode: its private key (PEM)")
	fs.StringVar(&c.clusterCA, "cluster-ca", "", "serve mode: the cluster's CA (PEM)")

	fs.IntVar(&c.dialConcurrency, "dial-concurrency", 32, "connections opened in parallel")
	fs.DurationVar(&c.startTimeout, "start-timeout", 20*time.Second, "how long a server may take to print READY")
	fs.DurationVar(&c.settle, "settle", 400*time.Millisecond, "pause after each run, and before the idle scenario's first RSS reading")

	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments %q", fs.Args())
		fmt.Fprintln(stderr, err)
		return c, err
	}
	var err error
	if c.servers, err = list(servers, knownKinds); err != nil {
		fmt.Fprintln(stderr, "-servers:", err)
		return c, err
	}
	if c.scenarios, err = list(scenarios, allScenarios); err != nil {
		fmt.Fprintln(stderr, "-scenarios:", err)
		return c, err
	}
	if c.parser != parserJSON && c.parser != parserMsgpack {
		err := fmt.Errorf("-parser must be json or msgpack, not %q", c.parser)
		fmt.Fprintln(stderr, err)
		return c, err
	}
	if c.parser == parserMsgpack && c.serve == "" {
		for _, s := range c.scenarios {
			if s != scenEcho && s != scenPacedEcho && s != scenFanout && s != scenIdle {
				err := fmt.Errorf("-parser msgpack: scenario %s speaks JSON only", s)
				fmt.Fprintln(stderr, err)
				return c, err
			}
		}
	}
	if c.serve != "" && c.serve != kindActorio && c.serve != kindRaw && c.serve != kindFloor {
		err := fmt.Errorf("-serve must be actorio, raw or %s, not %q", kindFloor, c.serve)
		fmt.Fprintln(stderr, err)
		return c, err
	}
	if c.echoClients < 1 || c.repeat < 1 || c.echoRate < 1 || c.fanReceivers < 1 || c.fanMessages < 1 || c.idleConns < 1 || c.dialConcurrency < 1 ||
		c.echoSize < 0 || c.fanSize < 0 || c.rstormConns < 0 || c.rstormTimeout <= 0 || c.echoTime <= 0 || c.pingInterval <= 0 ||
		c.serverProcs < 0 || c.clusterProcs < 0 || c.nodes < 1 || c.xReceivers < 1 || c.xPollReceivers < 0 || c.xMessages < 1 || c.xRate < 0 || c.xAckReceivers < 1 || c.xRounds < 1 || c.xWarmRounds < 0 {
		err := fmt.Errorf("sizes and durations must be positive")
		fmt.Fprintln(stderr, err)
		return c, err
	}
	if c.xSize < minXSize {
		err := fmt.Errorf("-xsize must be at least %d", minXSize)
		fmt.Fprintln(stderr, err)
		return c, err
	}
	for _, h := range c.xHomes {
		if h >= c.nodes {
			err := fmt.Errorf("-xhomes: node %d of %d", h+1, c.nodes)
			fmt.Fprintln(stderr, err)
			return c, err
		}
	}
	if c.xPollReceivers == 0 {
		c.xPollReceivers = c.xReceivers
	}
	return c, nil
}

// list splits a comma-separated flag value, keeping known names only, in
// the order of known.
func list(v string, known []string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(known, s) {
			return nil, fmt.Errorf("unknown name %q (known: %s)", s, strings.Join(known, ","))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list")
	}
	slices.SortFunc(out, func(a, b string) int { return slices.Index(known, a) - slices.Index(known, b) })
	return out, nil
}
