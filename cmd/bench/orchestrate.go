//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"
)

// results gathers every scenario's outcome per server kind.
type results struct {
	echo   map[string]echoResult
	pecho  map[string]echoResult  // echo over long-polling
	recho  map[string]echoResult  // echo at a pace (echorate)
	storm  map[string]stormResult // by scenario and kind, "<scen>\x00<kind>"
	rstorm map[string]rstormResult
	fanout map[string]fanResult
	pfan   map[string]fanResult // fan-out over long-polling
	idle   map[string]idleResult
	errs   []string // "scenario/kind: error"

	// The cross-node scenarios.
	xfan  map[string]xfanResult
	xack  map[string]xackResult
	xerrs []string
}

// orchestrate runs every selected scenario against every selected server,
// each in a fresh server process, and prints the table.
func orchestrate(cfg config, stdout, stderr io.Writer) error {
	// The load generator's heap is not what is measured: trade memory for
	// less GC work on the cores it shares with the server under test.
	debug.SetGCPercent(400)
	need := 256 + max(cfg.echoClients, cfg.fanReceivers+1)
	if slices.Contains(cfg.scenarios, scenIdle) {
		need = max(need, cfg.idleConns+256)
	}
	if slices.Contains(cfg.scenarios, scenPollFanout) {
		// A long-polling client may hold a GET and a POST.
		need = max(need, 256+2*(cfg.fanReceivers+1))
	}
	if slices.ContainsFunc(cfg.scenarios, isXScenario) {
		// A polling client may hold a GET and a POST to every node.
		need = max(need, 256+max(cfg.xReceivers, cfg.xAckReceivers)+2*cfg.nodes*max(cfg.xPollReceivers, cfg.xAckReceivers))
	}
	if _, err := raiseNoFile(need); err != nil {
		return err
	}
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var logw io.Writer
	if cfg.verbose {
		logw = stderr
	}
	newResults := func() *results {
		return &results{echo: map[string]echoResult{}, pecho: map[string]echoResult{}, recho: map[string]echoResult{}, storm: map[string]stormResult{}, rstorm: map[string]rstormResult{}, fanout: map[string]fanResult{}, pfan: map[string]fanResult{}, idle: map[string]idleResult{},
			xfan: map[string]xfanResult{}, xack: map[string]xackResult{}}
	}
	// runs[i] is the i-th run of the scenarios (-repeat).
	runs := make([]*results, cfg.repeat)
	for i := range runs {
		runs[i] = newResults()
	}
	start := time.Now()
	for _, scen := range cfg.scenarios {
		for i := range cfg.repeat {
			for _, kind := range cfg.servers {
				if !applies(scen, kind, cfg.parser) {
					continue
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				run := ""
				if cfg.repeat > 1 {
					run = fmt.Sprintf(" (run %d of %d)", i+1, cfg.repeat)
				}
				fmt.Fprintf(stderr, "bench: %-6s vs %-7s%s ... ", scen, kind, run)
				t0 := time.Now()
				var err error
				if isXScenario(scen) {
					err = runX(ctx, cfg, scen, kind, logw, runs[i])
				} else {
					err = runOne(ctx, cfg, scen, kind, i, logw, runs[i])
				}
				if err != nil {
					fmt.Fprintf(stderr, "FAILED after %v: %v\n", time.Since(t0).Round(time.Millisecond), err)
					line := fmt.Sprintf("%s/%s: %v", scen, kind, firstLine(err.Error()))
					if isXScenario(scen) {
						runs[i].xerrs = append(runs[i].xerrs, line)
					} else {
						runs[i].errs = append(runs[i].errs, line)
					}
					continue
				}
				fmt.Fprintf(stderr, "done in %v\n", time.Since(t0).Round(time.Millisecond))
			}
		}
	}
	took := time.Since(start)
	single := slices.ContainsFunc(cfg.scenarios, func(s string) bool { return !isXScenario(s) })
	if single {
		writeReport(stdout, cfg, runs, took)
	}
	if slices.ContainsFunc(cfg.scenarios, isXScenario) {
		if single {
			fmt.Fprintln(stdout)
		}
		writeXReport(stdout, cfg, runs, took)
	}
	return nil
}

// runX runs a cross-node scenario against kind's deployment, started
// afresh.
func runX(ctx context.Context, cfg config, scen, kind string, logw io.Writer, res *results) error {
	d, err := startDeployment(ctx, cfg, scen, kind, logw)
	if err != nil {
		return err
	}
	defer d.stop()
	switch scen {
	case scenXFanout:
		r, err := runXFanout(ctx, cfg, d)
		if err != nil {
			return err
		}
		res.xfan[kind] = r
	case scenXAck:
		r, err := runXAck(ctx, cfg, d)
		if err != nil {
			return err
		}
		res.xack[kind] = r
	}
	d.stop()
	return sleepCtx(ctx, cfg.settle)
}

// runOne runs a single-process scenario against kind's server, started
// afresh; run numbers its profiles after the first (-repeat).
func runOne(ctx context.Context, cfg config, scen, kind string, run int, logw io.Writer, res *results) error {
	l := launch{kind: kind}
	if cfg.profileDir != "" && kind != kindNode {
		name := kind + "-" + scen
		if run > 0 {
			name += fmt.Sprintf("-run%d", run+1)
		}
		l.cpuProfile = filepath.Join(cfg.profileDir, name+".cpu.pprof")
		l.memProfile = filepath.Join(cfg.profileDir, name+".heap.pprof")
	}
	s, err := startServer(ctx, cfg, l, logw)
	if err != nil {
		return err
	}
	defer s.stop()
	switch scen {
	case scenEcho:
		r, err := runEcho(ctx, cfg, s, 0)
		if err != nil {
			return err
		}
		res.echo[kind] = r
	case scenPacedEcho:
		r, err := runEcho(ctx, cfg, s, cfg.echoRate)
		if err != nil {
			return err
		}
		res.recho[kind] = r
	case scenPollEcho:
		r, err := runPollEcho(ctx, cfg, s)
		if err != nil {
			return err
		}
		res.pecho[kind] = r
	case scenStorm, scenPollStorm:
		r, err := runStorm(ctx, cfg, s, scen == scenPollStorm)
		if err != nil {
			return err
		}
		if r.failed > 0 {
			return fmt.Errorf("%d of %d clients did not connect; first: %w", r.failed, r.n, r.firstErr)
		}
		res.storm[scen+"\x00"+kind] = r
	case scenRStorm:
		r, err := runRStorm(ctx, cfg, s, l, logw)
		if err != nil {
			return err
		}
		res.rstorm[kind] = r
		if err := r.errRefused(); err != nil {
			return err
		}
	case scenFanout, scenPollFanout:
		run, into := runFanout, res.fanout
		if scen == scenPollFanout {
			run, into = runPollFanout, res.pfan
		}
		r, err := run(ctx, cfg, s)
		if err != nil {
			return err
		}
		if !r.complete {
			err := fmt.Errorf("incomplete after %v: %d of %d messages delivered", r.elapsed.Round(time.Millisecond), r.delivered, r.want)
			if r.recvErr != nil {
				err = fmt.Errorf("%w (%w)", err, r.recvErr)
			}
			return err
		}
		into[kind] = r
	case scenIdle:
		r, err := runIdle(ctx, cfg, s)
		if err != nil {
			return err
		}
		res.idle[kind] = r
	}
	// Let the closed sockets and the exiting process settle before the
	// next server starts.
	s.stop()
	return sleepCtx(ctx, cfg.settle)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
