package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Server kinds.
const (
	kindActorio = "actorio"
	kindNode    = "node"
	kindRaw     = "raw"
)

// Scenario names.
const (
	scenEcho   = "echo"
	scenFanout = "fanout"
	scenIdle   = "idle"
)

var (
	allKinds     = []string{kindActorio, kindNode, kindRaw}
	allScenarios = []string{scenEcho, scenFanout, scenIdle}
)

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

	// load generator
	servers    []string
	scenarios  []string
	nodeScript string
	nodeBin    string
	profileDir string
	verbose    bool

	echoClients int
	echoTime    time.Duration
	echoWarmup  time.Duration
	echoSize    int

	fanReceivers int
	fanMessages  int
	fanSize      int
	fanTimeout   time.Duration
	fanDelay     time.Duration

	idleConns int
	idleHold  time.Duration

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

	fs.StringVar(&servers, "servers", strings.Join(allKinds, ","), "servers to compare, among actorio,node,raw")
	fs.StringVar(&scenarios, "scenarios", strings.Join(allScenarios, ","), "scenarios to run, among echo,fanout,idle")
	fs.StringVar(&c.nodeScript, "node-script", "", "Node bench server script (default <module root>/cmd/bench/node/server.cjs)")
	fs.StringVar(&c.nodeBin, "node", "node", "Node.js executable")
	fs.StringVar(&c.profileDir, "profile", "", "write CPU and heap profiles of the actorio (and raw) server of each scenario into this directory")
	fs.BoolVar(&c.verbose, "v", false, "show the servers' stderr")

	fs.IntVar(&c.echoClients, "c", 50, "echo: concurrent clients, each in a closed loop")
	fs.DurationVar(&c.echoTime, "t", 8*time.Second, "echo: measured duration per server")
	fs.DurationVar(&c.echoWarmup, "warmup", time.Second, "echo: unmeasured warm-up before T")
	fs.IntVar(&c.echoSize, "echo-size", 64, "echo: bytes of the string argument")

	fs.IntVar(&c.fanReceivers, "r", 500, "fanout: receivers in the room")
	fs.IntVar(&c.fanMessages, "m", 1000, "fanout: messages per blast")
	fs.IntVar(&c.fanSize, "size", 256, "fanout: bytes of each message's string")
	fs.DurationVar(&c.fanTimeout, "fanout-timeout", 60*time.Second, "fanout: give up after this long")
	fs.DurationVar(&c.fanDelay, "recv-delay", 0, "fanout: each receiver pauses this long after every message (slow clients)")

	fs.IntVar(&c.idleConns, "n", 2000, "idle: connected sockets (the 16 KB/conn target is judged at 10000)")
	fs.DurationVar(&c.idleHold, "hold", 5*time.Second, "idle: how long the sockets are held (cover >= 2 ping intervals)")

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
	if c.servers, err = list(servers, allKinds); err != nil {
		fmt.Fprintln(stderr, "-servers:", err)
		return c, err
	}
	if c.scenarios, err = list(scenarios, allScenarios); err != nil {
		fmt.Fprintln(stderr, "-scenarios:", err)
		return c, err
	}
	if c.serve != "" && c.serve != kindActorio && c.serve != kindRaw {
		err := fmt.Errorf("-serve must be actorio or raw, not %q", c.serve)
		fmt.Fprintln(stderr, err)
		return c, err
	}
	if c.echoClients < 1 || c.fanReceivers < 1 || c.fanMessages < 1 || c.idleConns < 1 || c.dialConcurrency < 1 ||
		c.echoSize < 0 || c.fanSize < 0 || c.echoTime <= 0 || c.pingInterval <= 0 {
		err := fmt.Errorf("sizes and durations must be positive")
		fmt.Fprintln(stderr, err)
		return c, err
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
