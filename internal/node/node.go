package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/logbuf"
)

const (
	// DefaultTimeout replaces a zero or negative timeout given to
	// Next, Expect, WaitExit and Send.
	DefaultTimeout = 10 * time.Second
	// MaxTimeout caps every timeout given to those methods.
	MaxTimeout = 5 * time.Minute
	// DefaultScriptTimeout arms the prelude's exitAfter safety timer when
	// neither the context nor the test has an earlier deadline.
	DefaultScriptTimeout = 60 * time.Second
	// MinNodeMajor is the oldest Node.js major version Require accepts.
	MinNodeMajor = 18

	killWait     = 5 * time.Second
	failureGrace = 500 * time.Millisecond
	historyLines = 100
	stderrShown  = 8 << 10
)

// TmpDir is where Run writes scripts, relative to the module root. It is
// inside the module so that imports resolve from <root>/node_modules, and
// it is listed in .gitignore.
const TmpDir = "tests/.tmp"

var (
	rootOnce = sync.OnceValues(findRoot)
	nodeOnce = sync.OnceValues(findNode)
)

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found in the working directory or any parent")
		}
		dir = parent
	}
}

type nodeInfo struct {
	path    string
	version string
}

func findNode() (nodeInfo, error) {
	path, err := exec.LookPath("node")
	if err != nil {
		return nodeInfo{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	b, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return nodeInfo{}, fmt.Errorf("%s --version: %w", path, err)
	}
	v := strings.TrimSpace(string(b))
	major, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < MinNodeMajor {
		return nodeInfo{}, fmt.Errorf("%s is version %s, need >= %d", path, v, MinNodeMajor)
	}
	return nodeInfo{path: path, version: v}, nil
}

// Root returns the module root: the nearest directory holding go.mod,
// walking up from the test's working directory.
func Root(t testing.TB) string {
	t.Helper()
	root, err := rootOnce()
	if err != nil {
		t.Fatalf("node: cannot locate the module root: %v", err)
	}
	return root
}

// Require fails the test (it never skips) unless `node` (>= MinNodeMajor)
// is on PATH and socket.io-client is installed in <root>/node_modules.
func Require(t testing.TB) {
	t.Helper()
	RequirePackage(t, "socket.io-client")
}

// RequirePackage is Require for another npm package of package.json,
// e.g. "socket.io" for tests that start the Node server.
func RequirePackage(t testing.TB, pkg string) {
	t.Helper()
	root := Root(t)
	if _, err := nodeOnce(); err != nil {
		t.Fatalf("node: Node.js is required by this test but unusable: %v\n"+
			"install Node.js >= %d, then run `npm ci` in %s", err, MinNodeMajor, root)
	}
	manifest := filepath.Join(root, "node_modules", filepath.FromSlash(pkg), "package.json")
	if _, err := os.Stat(manifest); err != nil {
		t.Fatalf("node: npm package %q is missing (%v)\nrun `npm ci` in %s to install the test dependencies", pkg, err, root)
	}
}

// NodeVersion returns the version of the node binary Require found.
func NodeVersion(t testing.TB) string {
	t.Helper()
	Require(t)
	info, _ := nodeOnce()
	return info.version
}

// Proc is a running script. Its methods may be called from any goroutine,
// but Expect and WaitExit call t.Fatal and so belong on the test's own.
type Proc struct {
	ctx    context.Context
	cmd    *exec.Cmd
	path   string
	stdin  io.WriteCloser
	stderr logbuf.Buffer

	sendMu sync.Mutex

	mu       sync.Mutex
	queue    []Line
	history  []string
	readDone bool
	reported string        // last diag shown in a failure message
	changed  chan struct{} // closed and replaced whenever queue/readDone change

	exited   chan struct{}
	exitCode int

	killOnce sync.Once
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// Run writes Prelude+script to <root>/tests/.tmp/<test name>-*.mjs and
// starts `node` on it with the working directory set to the module root.
//
// The script's environment is the test's, plus NODE_PATH, NO_COLOR,
// ACTORIO_ROOT, ACTORIO_SCRIPT_TIMEOUT_MS (the prelude's safety timer,
// derived from ctx's and the test's deadlines), plus env (which wins).
// A nil ctx means t.Context(). Cancelling ctx kills the script; so does
// the end of the test (t.Cleanup). The script file is removed at the end
// of a passing test and kept, for inspection, when the test fails.
func Run(t testing.TB, ctx context.Context, script string, env map[string]string) *Proc {
	t.Helper()
	Require(t)
	root := Root(t)
	info, _ := nodeOnce()
	if ctx == nil {
		ctx = t.Context()
	}

	dir := filepath.Join(root, filepath.FromSlash(TmpDir))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("node: %v", err)
	}
	name := unsafeName.ReplaceAllString(t.Name(), "_")
	if len(name) > 60 {
		name = name[:60]
	}
	f, err := os.CreateTemp(dir, name+"-*.mjs")
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	_, werr := io.WriteString(f, Prelude+script+"\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(f.Name())
		t.Fatalf("node: writing script: %v", werr)
	}

	p := &Proc{
		ctx:      ctx,
		path:     f.Name(),
		changed:  make(chan struct{}),
		exited:   make(chan struct{}),
		exitCode: -1,
	}

	cmd := exec.CommandContext(ctx, info.path, p.path)
	cmd.Dir = root
	cmd.Env = buildEnv(t, ctx, root, env)
	setProcessGroup(cmd)
	cmd.Cancel = func() error { return killProcess(cmd) }
	cmd.WaitDelay = 2 * time.Second
	cmd.Stderr = &p.stderr
	p.cmd = cmd

	stdin, err := cmd.StdinPipe()
	if err != nil {
		os.Remove(p.path)
		t.Fatalf("node: %v", err)
	}
	p.stdin = stdin
	// Our own pipe rather than StdoutPipe: Wait then does not close the
	// read end under the reader, so no trailing line is ever lost.
	outR, outW, err := os.Pipe()
	if err != nil {
		os.Remove(p.path)
		t.Fatalf("node: %v", err)
	}
	cmd.Stdout = outW
	if err := cmd.Start(); err != nil {
		outR.Close()
		outW.Close()
		os.Remove(p.path)
		t.Fatalf("node: starting %s: %v", info.path, err)
	}
	outW.Close()

	go p.readStdout(outR)
	go func() {
		_ = cmd.Wait()
		if cmd.ProcessState != nil {
			p.exitCode = cmd.ProcessState.ExitCode()
		}
		close(p.exited)
	}()

	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			if d := p.diag(); d != p.lastDiag() {
				t.Logf("%s", d)
			}
			return
		}
		os.Remove(p.path)
	})
	return p
}

func buildEnv(t testing.TB, ctx context.Context, root string, extra map[string]string) []string {
	timeout := DefaultScriptTimeout
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl) + 2*time.Second; d < timeout {
			timeout = d
		}
	}
	if td, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := td.Deadline(); ok {
			if d := time.Until(dl); d < timeout {
				timeout = d
			}
		}
	}
	timeout = max(timeout, time.Second)

	env := append(os.Environ(),
		"NODE_PATH="+filepath.Join(root, "node_modules"),
		"NO_COLOR=1",
		"ACTORIO_ROOT="+root,
		"ACTORIO_SCRIPT_TIMEOUT_MS="+strconv.FormatInt(timeout.Milliseconds(), 10),
	)
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	return env
}

func (p *Proc) readStdout(r *os.File) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		b, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			p.push(parseLine(b))
		}
		if err != nil {
			break
		}
	}
	p.mu.Lock()
	p.readDone = true
	p.broadcastLocked()
	p.mu.Unlock()
}

func parseLine(b []byte) Line {
	raw := strings.TrimRight(string(b), "\r\n")
	var v struct {
		Ev   *string           `json:"ev"`
		Args []json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Ev == nil {
		return Line{Raw: raw, bad: true}
	}
	return Line{Ev: *v.Ev, Args: v.Args, Raw: raw}
}

func (p *Proc) push(l Line) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(p.queue, l)
	p.history = append(p.history, l.Raw)
	if len(p.history) > historyLines {
		p.history = p.history[len(p.history)-historyLines:]
	}
	p.broadcastLocked()
}

func (p *Proc) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func bound(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTimeout
	}
	return min(d, MaxTimeout)
}

// ErrClosed is returned by Next (wrapped) when the script's stdout has
// closed, normally because the script exited, and no line is left.
var ErrClosed = errors.New("script stdout closed")

// Next returns the next line the script printed, waiting at most timeout
// (DefaultTimeout if <= 0). A line that is not a JSON object with an "ev"
// field is returned together with an error.
func (p *Proc) Next(timeout time.Duration) (Line, error) {
	timeout = bound(timeout)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		p.mu.Lock()
		if len(p.queue) > 0 {
			l := p.queue[0]
			p.queue = p.queue[1:]
			p.mu.Unlock()
			if l.bad {
				return l, fmt.Errorf("node: script printed a line that is not {\"ev\":...,\"args\":[...]}: %q", l.Raw)
			}
			return l, nil
		}
		done, changed := p.readDone, p.changed
		p.mu.Unlock()
		if done {
			select {
			case <-p.exited:
			case <-time.After(time.Second):
			}
			return Line{}, fmt.Errorf("node: %w (%s) with no further line", ErrClosed, p.exitStatus())
		}
		select {
		case <-changed:
		case <-timer.C:
			return Line{}, fmt.Errorf("node: no line from the script within %v (%s)", timeout, p.exitStatus())
		case <-p.ctx.Done():
			return Line{}, fmt.Errorf("node: waiting for a line: %w", p.ctx.Err())
		}
	}
}

// Expect returns the next line and fails the test unless it is an ev line.
// Nothing is skipped: a different next line fails the test, showing it.
func (p *Proc) Expect(t testing.TB, ev string, timeout time.Duration) Line {
	t.Helper()
	l, err := p.Next(timeout)
	if err != nil {
		t.Fatalf("node: expecting %q: %v\n%s", ev, err, p.failureDiag())
	}
	if l.Ev != ev {
		t.Fatalf("node: expected %q, got line %s\n%s", ev, l.Raw, p.failureDiag())
	}
	return l
}

// WaitExit waits at most timeout (DefaultTimeout if <= 0) for the script
// to exit and returns its exit code (-1 if it died from a signal, e.g. was
// killed). On timeout it kills the script and fails the test.
func (p *Proc) WaitExit(t testing.TB, timeout time.Duration) int {
	t.Helper()
	timeout = bound(timeout)
	select {
	case <-p.exited:
		return p.exitCode
	case <-time.After(timeout):
		p.Kill()
		t.Fatalf("node: script still running after %v; killed it\n%s", timeout, p.failureDiag())
		return -1
	}
}

// Exited is closed once the script has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Send writes v as one JSON line to the script's stdin, where the
// prelude's next()/input() yield it (Bin values arrive as Buffers). It
// fails if the write does not complete within DefaultTimeout.
func (p *Proc) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("node: Send: %w", err)
	}
	b = append(b, '\n')
	errc := make(chan error, 1)
	go func() {
		p.sendMu.Lock()
		defer p.sendMu.Unlock()
		_, err := p.stdin.Write(b)
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("node: Send (%s): %w", p.exitStatus(), err)
		}
		return nil
	case <-time.After(DefaultTimeout):
		return fmt.Errorf("node: Send: script did not read its stdin within %v", DefaultTimeout)
	}
}

// CloseStdin closes the script's stdin: next() then rejects and input()
// ends once the lines already sent are consumed.
func (p *Proc) CloseStdin() error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return p.stdin.Close()
}

// Kill kills the script (and its process group) if it is still running
// and waits, boundedly, for it to be reaped. It is safe to call repeatedly.
func (p *Proc) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.killOnce.Do(func() { _ = killProcess(p.cmd) })
	select {
	case <-p.exited:
	case <-time.After(killWait):
	}
}

// Stderr returns everything the script wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Path returns the script file node runs (prelude included).
func (p *Proc) Path() string { return p.path }

func (p *Proc) exitStatus() string {
	select {
	case <-p.exited:
		return "script exited with code " + strconv.Itoa(p.exitCode)
	default:
		return "script still running"
	}
}

// failureDiag gives a script that is about to be failed a moment to finish
// writing (a crash often explains the unexpected line), then returns diag
// and remembers it so that the cleanup does not log the same text again.
func (p *Proc) failureDiag() string {
	select {
	case <-p.exited:
	case <-time.After(failureGrace):
	}
	d := p.diag()
	p.mu.Lock()
	p.reported = d
	p.mu.Unlock()
	return d
}

func (p *Proc) lastDiag() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reported
}

// diag describes the script's state for failure messages.
func (p *Proc) diag() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- node script %s (%s; its own line 1 is line %d of the file)\n",
		p.path, p.exitStatus(), preludeLines+1)
	p.mu.Lock()
	hist := append([]string(nil), p.history...)
	p.mu.Unlock()
	const shown = 20
	if len(hist) > shown {
		fmt.Fprintf(&sb, "--- last %d of %d+ stdout lines:\n", shown, len(hist))
		hist = hist[len(hist)-shown:]
	} else {
		fmt.Fprintf(&sb, "--- stdout lines (%d):\n", len(hist))
	}
	for _, h := range hist {
		if len(h) > 500 {
			h = h[:500] + "…"
		}
		sb.WriteString(h + "\n")
	}
	se := p.stderr.String()
	if len(se) > stderrShown {
		se = "…" + se[len(se)-stderrShown:]
	}
	if se == "" {
		sb.WriteString("--- stderr: (empty)\n")
	} else {
		sb.WriteString("--- stderr:\n" + se)
		if !strings.HasSuffix(se, "\n") {
			sb.WriteString("\n")
		}
	}
	return sb.String()
}
