//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
// (100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// raiseNoFile raises the soft RLIMIT_NOFILE to the hard limit and reports
// the new soft limit; need > 0 makes it an error when that is not enough.
func raiseNoFile(need int) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	if need > 0 && lim.Cur < uint64(need) {
		return lim.Cur, fmt.Errorf("RLIMIT_NOFILE is %d, %d needed: raise the hard limit (ulimit -Hn)", lim.Cur, need)
	}
	return lim.Cur, nil
}

// procCPU returns the user+system CPU time of process pid, all threads.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * clockTick, nil
}

// selfCPU returns the CPU time of this process (the load generator).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy returns the CPU time all processes used, machine-wide
// (/proc/stat: user, nice, system, irq, softirq and steal).
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, err
		}
		busy += v
	}
	return time.Duration(busy) * clockTick, nil
}

// memStat holds the memory fields of /proc/<pid>/status, in bytes.
type memStat struct {
	RSS, HWM int64
}

func procMem(pid int) (memStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStat{}, err
	}
	var m memStat
	for line := range strings.SplitSeq(string(b), "\n") {
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &m.RSS
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &m.HWM
		default:
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return m, err
		}
		*dst = kb * 1024
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return m, nil
}

// serverProc is one bench server process.
type serverProc struct {
	kind string
	addr string
	// info are the words after the address on the READY line (a node's
	// cluster address).
	info []string
	cmd  *exec.Cmd
	// joined is closed when the server prints JOINED (its cluster is
	// complete).
	joined chan struct{}

	exited chan struct{}
	err    error // the process's exit status, once exited is closed
	// marks is set for a Go server writing a heap profile: mem sends it
	// SIGUSR1 (see peakMem.Mark). Never for Node, where SIGUSR1 starts
	// the inspector.
	marks bool

	mu     sync.Mutex
	stderr bytes.Buffer // the last few KB of its stderr
}

// launch describes how to start one server.
type launch struct {
	kind       string
	cpuProfile string
	memProfile string
	// args are more arguments (a node of a cluster), env more variables.
	args []string
	env  []string
	// name labels the server in errors and logs (default kind).
	name string
}

// startServer starts a server process and waits for its READY line.
func startServer(ctx context.Context, cfg config, l launch, logw io.Writer) (*serverProc, error) {
	var cmd *exec.Cmd
	switch l.kind {
	case kindNode:
		script, root, err := nodeScript(cfg)
		if err != nil {
			return nil, err
		}
		cmd = exec.Command(cfg.nodeBin, append([]string{script, "--addr", "127.0.0.1:0",
			"--ping-interval", strconv.FormatInt(cfg.pingInterval.Milliseconds(), 10), "--parser", cfg.parser}, l.args...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), l.env...)
	default:
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		args := []string{"-serve=" + l.kind, "-addr=127.0.0.1:0", "-ping-interval=" + cfg.pingInterval.String(), "-parser=" + cfg.parser,
			"-compress=" + strconv.FormatBool(cfg.compress)}
		if l.cpuProfile != "" {
			args = append(args, "-cpuprofile="+l.cpuProfile)
		}
		if l.memProfile != "" {
			args = append(args, "-memprofile="+l.memProfile)
		}
		cmd = exec.Command(exe, append(args, l.args...)...)
		cmd.Env = append(os.Environ(), childEnv+"=1")
		if os.Getenv("GORACE") == "" {
			// A race-enabled binary (the smoke test under -race) would
			// otherwise sleep a second at exit.
			cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
		}
		if cfg.serverProcs > 0 {
			cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(cfg.serverProcs))
		}
		cmd.Env = append(cmd.Env, l.env...)
	}
	name := l.name
	if name == "" {
		name = l.kind
	}
	s, err := spawn(ctx, cfg, name, cmd, logw, nil)
	if s != nil {
		s.marks = l.kind != kindNode && l.memProfile != ""
	}
	return s, err
}

// spawn starts cmd, a bench server, and waits for its READY line, or,
// with probe, until probe reports the server's address. The process is
// killed if this one dies first.
func spawn(ctx context.Context, cfg config, name string, cmd *exec.Cmd, logw io.Writer, probe func() (string, bool)) (*serverProc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &serverProc{kind: name, cmd: cmd, exited: make(chan struct{}), joined: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s server: %w", name, err)
	}
	go s.keepStderr(stderr, logw)
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		joined := false
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "READY "); ok {
				select {
				case ready <- strings.Fields(a):
				default:
				}
			}
			if strings.HasPrefix(line, "JOINED ") && !joined {
				joined = true
				close(s.joined)
			}
		}
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	if probe != nil {
		go func() {
			for {
				select {
				case <-s.exited:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if a, ok := probe(); ok {
					ready <- []string{a}
					return
				}
			}
		}()
	}
	select {
	case f := <-ready:
		if len(f) == 0 {
			s.stop()
			return nil, fmt.Errorf("%s server: READY without an address", name)
		}
		s.addr, s.info = f[0], f[1:]
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("%s server exited before READY: %v\n%s", name, s.err, s.stderrTail())
	case <-time.After(cfg.startTimeout):
	case <-ctx.Done():
	}
	s.stop()
	return nil, fmt.Errorf("%s server not READY in %v\n%s", name, cfg.startTimeout, s.stderrTail())
}

func (s *serverProc) keepStderr(r io.Reader, logw io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if logw != nil {
			fmt.Fprintf(logw, "  [%s] %s\n", s.kind, line)
		}
		s.mu.Lock()
		s.stderr.WriteString(line + "\n")
		if s.stderr.Len() > 16<<10 {
			tail := bytes.Clone(s.stderr.Bytes()[s.stderr.Len()-8<<10:])
			s.stderr.Reset()
			s.stderr.Write(tail)
		}
		s.mu.Unlock()
	}
}

func (s *serverProc) stderrTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

func (s *serverProc) pid() int { return s.cmd.Process.Pid }

// alive reports an error when the process has exited.
func (s *serverProc) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("%s server exited: %v\n%s", s.kind, s.err, s.stderrTail())
	default:
		return nil
	}
}

func (s *serverProc) cpu() (time.Duration, error) { return procCPU(s.pid()) }

func (s *serverProc) mem() (memStat, error) {
	if s.marks {
		// Its peakMem keeps what its peak was made of until now.
		_ = s.cmd.Process.Signal(syscall.SIGUSR1)
	}
	return procMem(s.pid())
}

// stop sends SIGTERM (the Go servers write their profiles then) and kills
// the process if it is still there 10 seconds later.
func (s *serverProc) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// nodeScript returns the Node server script and the module root.
func nodeScript(cfg config) (script, root string, err error) {
	root, err = moduleRoot()
	if err != nil {
		return "", "", err
	}
	script = cfg.nodeScript
	if script == "" {
		script = filepath.Join(root, "cmd", "bench", "node", "server.cjs")
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "socket.io", "package.json")); err != nil {
		return "", "", fmt.Errorf("socket.io is not installed in %s/node_modules: run npm ci there", root)
	}
	return script, root, nil
}

// moduleRoot finds the directory of actorio's go.mod from the working
// directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/actorio/actorio\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the actorio module (no go.mod of github.com/actorio/actorio above the working directory)")
		}
		dir = parent
	}
}

// childEnv is set in the environment of the server processes this binary
// re-executes; the smoke test's TestMain uses it to run them.
const childEnv = "ACTORIO_BENCH_CHILD"
