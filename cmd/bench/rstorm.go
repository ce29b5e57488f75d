//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/actorio/actorio/internal/logbuf"
)

// The rstorm scenario: thousands of official socket.io-client instances,
// in a few Node processes (cmd/bench/node/rstorm-clients.cjs), connect to
// the storm namespace with their default options (long-polling, then the
// upgrade); the server is killed and a fresh one started on the same
// port, and the clients' default backoff brings them back.
const (
	// rstormClientScript is the Node client script, beside server.cjs.
	rstormClientScript = "rstorm-clients.cjs"
	// rstormMax caps the clients when the file limit is larger: a client
	// may hold a polling request and its WebSocket at once, and the server
	// holds every client's, within the 20 000 files of the limit.
	rstormMax = (20000 - stormHeadroom) / 2
	// rstormPerProc is the clients of one Node client process, of which
	// there are at most rstormProcs.
	rstormPerProc = 2500
	rstormProcs   = 4
	// rstormWindow is how many clients of a process connect at once the
	// first time (the reconnections after the restart are not paced).
	rstormWindow = 250
	// rstormGrace is how much longer than a phase's timeout the load
	// generator waits for the clients' own report of it.
	rstormGrace = 10 * time.Second
)

// rstormResult is the outcome of the rstorm scenario for one server.
type rstormResult struct {
	n, procs int
	initial  time.Duration // the clients' start until all connected once
	gone     time.Duration // the kill until the old server's exit was seen
	ready    time.Duration // the kill until the fresh server listened
	all      time.Duration // the kill until the last client reconnected
	p50, p99 time.Duration // one client's disconnection until its reconnection
	// upP50, upP99: one client's CONNECT answered until its upgrade done.
	upP50, upP99 time.Duration
	// The clients' connection errors after the kill.
	// refused: the server refused a connection (a CONNECT_ERROR, an HTTP
	// error status), failed: those refused for good (CONNECT_ERROR: the
	// client gives up); upgradeFailed: upgrades that failed, leaving the
	// client on long-polling.
	refused, upgradeFailed, failed int
	whileDown, transport, timeouts int // before the fresh server listened, and after
	firstRefusal                   string
	// initialRefused: the refusals the clients saw when they first
	// connected, before the restart; initialFirst the first of them.
	initialRefused int
	initialFirst   string
	firstUpgrade   string        // the first failed upgrade after the restart
	cpu            time.Duration // the fresh server's, from listening until all reconnected
	clientCPU      time.Duration // the client processes', from the kill until all reconnected
	before, after  memStat       // the fresh server's, when listening and at the end (VmHWM: the peak)
}

// rstormCounts are a Node client process's connection errors of a phase.
type rstormCounts struct {
	Refused       int    `json:"refused"`
	UpgradeFailed int    `json:"upgradeFailed"`
	Timeouts      int    `json:"timeouts"`
	Transport     int    `json:"transport"`
	WhileDown     int    `json:"whileDown"`
	First         string `json:"first"`
	FirstUpgrade  string `json:"firstUpgrade"`
}

// rstormUp is a client process's UP line.
type rstormUp struct {
	LastAt     float64      `json:"lastAt"` // wall clock, ms
	Incomplete bool         `json:"incomplete"`
	Connected  int          `json:"connected"`
	Errors     rstormCounts `json:"errors"`
	Stragglers []string     `json:"stragglers"`
}

// rstormDone is a client process's DONE line.
type rstormDone struct {
	N           int          `json:"n"`
	Reconnected int          `json:"reconnected"`
	Failed      int          `json:"failed"`
	Incomplete  bool         `json:"incomplete"`
	LastAt      float64      `json:"lastAt"`
	Times       []float64    `json:"times"`        // ms
	UpWaits     []float64    `json:"upgradeWaits"` // ms
	Errors      rstormCounts `json:"errors"`
	Stragglers  []string     `json:"stragglers"`
}

// rstormClients returns how many clients rstorm runs: -rstorm-n, or as
// many as the file limit allows (within rstormMax).
func rstormClients(cfg config) (int, error) {
	if cfg.rstormConns > 0 {
		return cfg.rstormConns, nil
	}
	limit, err := raiseNoFile(0)
	if err != nil {
		return 0, err
	}
	return int(min((limit-stormHeadroom)/2, rstormMax)), nil
}

// clientProc is one Node process of rstorm clients.
type clientProc struct {
	name   string
	n      int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // its stdout, closed at its end
	stderr *logbuf.Buffer
}

// startClientProc starts n clients, the first numbered first, against
// url.
func startClientProc(cfg config, root, url string, first, n int, logw io.Writer) (*clientProc, error) {
	script := filepath.Join(root, "cmd", "bench", "node", rstormClientScript)
	if cfg.nodeScript != "" {
		script = filepath.Join(filepath.Dir(cfg.nodeScript), rstormClientScript)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "socket.io-client", "package.json")); err != nil {
		return nil, fmt.Errorf("socket.io-client is not installed in %s/node_modules: run npm ci there", root)
	}
	p := &clientProc{name: fmt.Sprintf("clients %d-%d", first, first+n-1), n: n, lines: make(chan string, 16), stderr: &logbuf.Buffer{}}
	p.cmd = exec.Command(cfg.nodeBin, script, "--url", url, "--n", strconv.Itoa(n), "--first", strconv.Itoa(first),
		"--token", stormToken, "--timeout", strconv.FormatInt(cfg.rstormTimeout.Milliseconds(), 10), "--window", strconv.Itoa(rstormWindow))
	p.cmd.Dir = root
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stderr = p.stderr
	if logw != nil {
		p.cmd.Stderr = io.MultiWriter(p.stderr, prefixWriter{w: logw, prefix: "  [" + p.name + "] "})
	}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	return p, nil
}

// prefixWriter writes each Write to w after prefix (the Node clients
// write their stderr a line at a time).
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := fmt.Fprintf(p.w, "%s%s", p.prefix, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// expect waits until p prints a line starting with word and a space (or
// being word), and returns the rest.
func (p *clientProc) expect(ctx context.Context, word string, deadline time.Time) (string, error) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				err := p.cmd.Wait()
				return "", fmt.Errorf("%s exited before %s: %v\n%s", p.name, word, err, tail(p.stderr.String(), 4<<10))
			}
			if line == word {
				return "", nil
			}
			if rest, ok := strings.CutPrefix(line, word+" "); ok {
				return rest, nil
			}
		case <-t.C:
			return "", fmt.Errorf("%s: no %s in time\n%s", p.name, word, tail(p.stderr.String(), 4<<10))
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func (p *clientProc) send(line string) error {
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	return nil
}

// stop closes p's stdin (it exits then) and kills it if it is still
// there a moment later.
func (p *clientProc) stop() {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() {
		for range p.lines {
		}
		_ = p.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// wallMS converts t to the Node clients' wall clock, ms since the epoch.
func wallMS(t time.Time) float64 { return float64(t.UnixMicro()) / 1000 }

// sinceWall returns the time from t to the wall clock ms.
func sinceWall(t time.Time, ms float64) time.Duration {
	return time.Duration((ms - wallMS(t)) * float64(time.Millisecond))
}

// restartServer starts a fresh server of l's kind listening on addr.
func restartServer(ctx context.Context, cfg config, l launch, addr string, logw io.Writer) (*serverProc, error) {
	if l.kind != kindNode {
		l.args = append(slices.Clone(l.args), "-addr="+addr) // the last -addr wins
		return startServer(ctx, cfg, l, logw)
	}
	script, root, err := nodeScript(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(cfg.nodeBin, append([]string{script, "--addr", addr,
		"--ping-interval", strconv.FormatInt(cfg.pingInterval.Milliseconds(), 10), "--parser", cfg.parser}, l.args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), l.env...)
	return spawn(ctx, cfg, l.kind, cmd, logw, nil)
}

// runRStorm: the clients connect to s and, once all are, s is killed and
// a fresh server of the same kind started on its address at once; the
// clients reconnect with their backoff, and each reports how long its
// reconnection took and which errors it saw.
func runRStorm(ctx context.Context, cfg config, s *serverProc, l launch, logw io.Writer) (rstormResult, error) {
	var res rstormResult
	n, err := rstormClients(cfg)
	if err != nil {
		return res, err
	}
	root, err := moduleRoot()
	if err != nil {
		return res, err
	}
	res.n = n
	res.procs = min(max((n+rstormPerProc-1)/rstormPerProc, 1), rstormProcs)

	var procs []*clientProc
	stopClients := func() {
		for _, p := range procs {
			p.stop()
		}
		procs = nil
	}
	defer stopClients()
	t0 := time.Now()
	for i, first := 0, 0; i < res.procs; i++ {
		share := n / res.procs
		if i < n%res.procs {
			share++
		}
		p, err := startClientProc(cfg, root, "http://"+s.addr, first, share, logw)
		if err != nil {
			return res, err
		}
		procs = append(procs, p)
		first += share
	}
	deadline := time.Now().Add(cfg.rstormTimeout + rstormGrace)
	var lastUp float64
	for _, p := range procs {
		line, err := p.expect(ctx, "UP", deadline)
		if err != nil {
			return res, err
		}
		var up rstormUp
		if err := json.Unmarshal([]byte(line), &up); err != nil {
			return res, fmt.Errorf("%s: UP %.200q: %w", p.name, line, err)
		}
		if up.Incomplete {
			return res, fmt.Errorf("%s: %d of %d connected in %v (errors %+v); not connected: %s",
				p.name, up.Connected, p.n, cfg.rstormTimeout, up.Errors, strings.Join(up.Stragglers, "; "))
		}
		lastUp = max(lastUp, up.LastAt)
		res.initialRefused += up.Errors.Refused
		if res.initialFirst == "" {
			res.initialFirst = up.Errors.First
		}
	}
	res.initial = sinceWall(t0, lastUp)
	if err := sleepCtx(ctx, cfg.settle); err != nil {
		return res, err
	}
	for _, p := range procs {
		if err := p.send("arm"); err != nil {
			return res, err
		}
	}
	for _, p := range procs {
		if _, err := p.expect(ctx, "ARMED", time.Now().Add(rstormGrace)); err != nil {
			return res, err
		}
	}
	clientCPU0, err := clientsCPU(procs)
	if err != nil {
		return res, err
	}

	// The restart: SIGKILL, then a fresh server on the same address.
	tKill := time.Now()
	if err := s.cmd.Process.Kill(); err != nil {
		return res, fmt.Errorf("kill %s server: %w", s.kind, err)
	}
	select {
	case <-s.exited:
	case <-time.After(rstormGrace):
		return res, fmt.Errorf("%s server still there %v after SIGKILL", s.kind, rstormGrace)
	}
	res.gone = time.Since(tKill)
	s2, err := restartServer(ctx, cfg, l, s.addr, logw)
	if err != nil {
		return res, fmt.Errorf("restart on %s: %w", s.addr, err)
	}
	defer s2.stop()
	tUp := time.Now()
	res.ready = tUp.Sub(tKill)
	if res.before, err = s2.mem(); err != nil {
		return res, err
	}
	cpu0, err := s2.cpu()
	if err != nil {
		return res, err
	}
	for _, p := range procs {
		if err := p.send(fmt.Sprintf("up %.3f", wallMS(tUp))); err != nil {
			return res, err
		}
	}

	deadline = time.Now().Add(cfg.rstormTimeout + rstormGrace)
	var times, upWaits []float64
	var lastAt float64
	var incomplete []string
	for _, p := range procs {
		line, err := p.expect(ctx, "DONE", deadline)
		if err != nil {
			return res, err
		}
		var d rstormDone
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			return res, fmt.Errorf("%s: DONE %.200q: %w", p.name, line, err)
		}
		times = append(times, d.Times...)
		upWaits = append(upWaits, d.UpWaits...)
		lastAt = max(lastAt, d.LastAt)
		res.failed += d.Failed
		res.refused += d.Errors.Refused
		res.upgradeFailed += d.Errors.UpgradeFailed
		res.timeouts += d.Errors.Timeouts
		res.transport += d.Errors.Transport
		res.whileDown += d.Errors.WhileDown
		if res.firstRefusal == "" {
			res.firstRefusal = d.Errors.First
		}
		if res.firstUpgrade == "" {
			res.firstUpgrade = d.Errors.FirstUpgrade
		}
		if d.Incomplete {
			incomplete = append(incomplete, fmt.Sprintf("%s: %d of %d reconnected, %d refused for good (%s)", p.name, d.Reconnected, d.N, d.Failed, strings.Join(d.Stragglers, "; ")))
		}
	}
	cpu1, err := s2.cpu()
	if err != nil {
		return res, err
	}
	res.cpu = cpu1 - cpu0
	if res.after, err = s2.mem(); err != nil {
		return res, err
	}
	clientCPU1, err := clientsCPU(procs)
	if err != nil {
		return res, err
	}
	res.clientCPU = clientCPU1 - clientCPU0
	res.all = sinceWall(tKill, lastAt)
	res.p50, res.p99 = percentilesMS(times)
	res.upP50, res.upP99 = percentilesMS(upWaits)
	if len(incomplete) > 0 {
		return res, fmt.Errorf("not all reconnected in %v: %s (refusals %d, failed upgrades %d, timeouts %d, transport errors %d; first refusal: %s)",
			cfg.rstormTimeout, strings.Join(incomplete, "; "), res.refused, res.upgradeFailed, res.timeouts, res.transport, res.firstRefusal)
	}
	stopClients()
	return res, s2.alive()
}

// percentilesMS returns the 50th and 99th percentiles of v, in ms.
func percentilesMS(v []float64) (p50, p99 time.Duration) {
	if len(v) == 0 {
		return 0, 0
	}
	slices.Sort(v)
	ms := func(x float64) time.Duration { return time.Duration(x * float64(time.Millisecond)) }
	return ms(v[len(v)*50/100]), ms(v[min(len(v)*99/100, len(v)-1)])
}

// clientsCPU returns the CPU time of the client processes together.
func clientsCPU(procs []*clientProc) (time.Duration, error) {
	var sum time.Duration
	for _, p := range procs {
		c, err := procCPU(p.cmd.Process.Pid)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", p.name, err)
		}
		sum += c
	}
	return sum, nil
}

// errRefused reports the refusals of r, if any: nothing may be refused.
// (Failed upgrades are in the table; the client stays connected.)
func (r rstormResult) errRefused() error {
	if r.refused == 0 && r.initialRefused == 0 {
		return nil
	}
	return fmt.Errorf("the restarted server refused %d connections (CONNECT_ERROR or HTTP error; %d clients for good; first: %q), and %d at the first connection (first: %q)",
		r.refused, r.failed, r.firstRefusal, r.initialRefused, r.initialFirst)
}
