// Package tests holds actorio's integration tests: each test starts the real
// server on 127.0.0.1 and drives it with the official socket.io-client v4
// running in Node (see internal/node), or with a raw WebSocket.
//
// The tests do not call t.Parallel: every test checks that Server.Close
// leaves no goroutine behind by counting runtime.NumGoroutine, a
// process-wide number that parallel tests would blur.
package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/leakcheck"
	"github.com/actorio/actorio/internal/node"
	"github.com/actorio/actorio/internal/testkit"
	"github.com/actorio/actorio/internal/testwait"
)

// step bounds every single wait of a test: a connect, an event, an ack.
const step = 5 * time.Second

// leakWait is how long Close may take to let the goroutine count settle.
const leakWait = 2 * time.Second

// testServer is an actorio server mounted on an httptest server listening
// on 127.0.0.1: Srv, HTTP and URL (the base URL, such as
// http://127.0.0.1:43210) come from testkit.Server.
type testServer struct {
	*testkit.Server
	t testing.TB

	conns testkit.Conns // every TCP connection not yet closed
}

// startServer starts an actorio server with opts (a quiet logger unless
// opts.Logger is set), lets setup register its handlers, and serves it on
// 127.0.0.1. At cleanup it closes the server and fails the test unless
// the goroutine count is back where it was before the server started.
func startServer(t testing.TB, opts actorio.Options, setup func(srv *actorio.Server)) *testServer {
	t.Helper()
	return startServerWrapped(t, opts, setup, nil)
}

// startServerWrapped is startServer with the endpoint wrapped by wrap
// (when not nil), for tests that meddle with the HTTP requests.
func startServerWrapped(t testing.TB, opts actorio.Options, setup func(srv *actorio.Server), wrap func(http.Handler) http.Handler) *testServer {
	t.Helper()
	log := newTestLogger(t)
	t.Cleanup(log.stop) // after the goroutine check: the server may log until then
	if opts.Logger == nil {
		opts.Logger = log.logger
	}
	path := opts.Path
	if path == "" {
		path = "/socket.io/"
	}
	ts := &testServer{t: t}
	ts.Server = testkit.StartServer(t, testkit.ServerConfig{
		Options: opts,
		Setup:   setup,
		Wrap: func(h http.Handler) http.Handler {
			if wrap != nil {
				h = wrap(h)
			}
			mux := http.NewServeMux()
			mux.Handle(path, h)
			return mux
		},
		ConnState:  ts.conns.Track,
		LeakWait:   leakWait,
		CheckClose: true,
	})
	return ts
}

// DropConnections waits until a request is in flight or a WebSocket open
// (a polling client is between two GETs for a moment), then closes, from
// the server side, every TCP connection the HTTP server accepted: the
// transports die without any Socket.IO or Engine.IO packet, as when a
// proxy or the network drops them. It returns how many it closed. When
// the polling request it waited for ended, and its connection closed,
// between the wait and the close (seen once in CI: "no connection to
// drop"), it waits for the next one, within step in all.
func (ts *testServer) DropConnections() int {
	deadline := time.Now().Add(step)
	for {
		waitUntil(ts.t, max(time.Until(deadline), 0), "an active client connection", ts.conns.Busy)
		if n := ts.conns.CloseAll(); n > 0 || time.Now().After(deadline) {
			return n
		}
	}
}

// checkGoroutines waits up to leakWait for the goroutine count to come
// back to baseline and fails the test with a goroutine dump if it does not.
func checkGoroutines(t testing.TB, baseline int) {
	t.Helper()
	if n, dump := leakcheck.Settle(baseline, leakWait); dump != "" {
		t.Errorf("goroutine leak: %d goroutines before the server started, %d %v after Close\n%s",
			baseline, n, leakWait, dump)
	}
}

// testLogger is a Warn-level slog logger writing to t.Log, silenced once
// the test's server is closed (t.Log must not be called after the test).
type testLogger struct {
	logger *slog.Logger
	w      *tWriter
}

type tWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log("server: " + strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

func newTestLogger(t testing.TB) *testLogger {
	w := &tWriter{t: t}
	return &testLogger{w: w, logger: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))}
}

func (l *testLogger) stop() {
	l.w.mu.Lock()
	l.w.done = true
	l.w.mu.Unlock()
}

// recv waits up to timeout for the next value on ch, failing t, saying
// what it waited for, when none comes.
func recv[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	return testwait.Receive(t, ch, timeout, what)
}

// waitUntil polls cond until it holds or fails the test after timeout.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// disconnectLog records the OnDisconnect calls of every socket, to check
// that each socket gets exactly one, with the expected reason.
type disconnectLog struct {
	mu      sync.Mutex
	reasons map[string][]string // socket id -> reasons, in call order
	ch      chan disconnectEvent
}

type disconnectEvent struct {
	ID, Nsp, Reason string
}

func newDisconnectLog() *disconnectLog {
	return &disconnectLog{reasons: map[string][]string{}, ch: make(chan disconnectEvent, 64)}
}

// watch registers the log's OnDisconnect handler on s.
func (d *disconnectLog) watch(s *actorio.Socket) {
	s.OnDisconnect(func(s *actorio.Socket, reason string) {
		d.mu.Lock()
		d.reasons[s.ID()] = append(d.reasons[s.ID()], reason)
		d.mu.Unlock()
		d.ch <- disconnectEvent{ID: s.ID(), Nsp: s.Namespace().Name(), Reason: reason}
	})
}

// next returns the next OnDisconnect call.
func (d *disconnectLog) next(t testing.TB) disconnectEvent {
	t.Helper()
	return recv(t, d.ch, step, "a server-side OnDisconnect")
}

// waitID waits for the first OnDisconnect call of socket id and returns
// it; unlike next it leaves the calls channel alone.
func (d *disconnectLog) waitID(t testing.TB, id string) disconnectEvent {
	t.Helper()
	var reason string
	waitUntil(t, step, "the OnDisconnect of "+id, func() bool {
		if r := d.of(id); len(r) > 0 {
			reason = r[0]
			return true
		}
		return false
	})
	return disconnectEvent{ID: id, Reason: reason}
}

func (d *disconnectLog) snapshot() map[string][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string][]string, len(d.reasons))
	for k, v := range d.reasons {
		out[k] = slices.Clone(v)
	}
	return out
}

// of returns the reasons socket id was disconnected with so far.
func (d *disconnectLog) of(id string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.reasons[id])
}

// expectOnce fails the test unless socket id got exactly one OnDisconnect
// call, with reason.
func (d *disconnectLog) expectOnce(t testing.TB, id, reason string) {
	t.Helper()
	if got := d.of(id); !reflect.DeepEqual(got, []string{reason}) {
		t.Errorf("OnDisconnect calls of socket %s = %q, want exactly [%q]", id, got, reason)
	}
}

// jsonEq reports whether two JSON texts hold the same value.
func jsonEq(t testing.TB, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("bad JSON %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad JSON %q: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// ctxStep returns a context that ends after d or with the test.
func ctxStep(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// echoHandler acks an event with its arguments unchanged, as the demo's
// "echo" does: key order, number text and binary attachments kept.
func echoHandler(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
	if ack != nil {
		_ = ack(args.Values()...)
	}
}

// ---------------------------------------------------------------------------
// Node clients

// clientLib is prepended to the driver scripts: open(name, nsp, opts, mode)
// opens a socket.io-client socket and reports everything it sees:
//
//	connect       name, socket.id, engine transport name
//	connect_error name, error {message, data}
//	disconnect    name, reason
//	event         name, event, hasAck, ...args   (onAny)
//	reconnect     name, attempt                  (manager)
//
// An event the server sent with an ack id is acked with (name, ...args)
// unless the socket's mode is "noack".
const clientLib = `
import { io } from 'socket.io-client';
const URL = process.env.SERVER_URL;
const sockets = {};
const modes = {};
function open(name, nsp, opts, mode) {
  const s = io(URL + (nsp || '/'), opts || {});
  sockets[name] = s;
  modes[name] = mode || 'reply';
  s.on('connect', () => out('connect', name, s.id, s.io.engine.transport.name));
  s.on('connect_error', (err) => out('connect_error', name, err));
  s.on('disconnect', (reason) => out('disconnect', name, reason));
  s.onAny((ev, ...args) => {
    let ack = null;
    if (args.length > 0 && typeof args[args.length - 1] === 'function') ack = args.pop();
    out('event', name, ev, ack !== null, ...args);
    if (ack !== null && modes[name] === 'reply') ack(name, ...args);
  });
  s.io.on('reconnect', (n) => out('reconnect', name, n));
  return s;
}
`

// driverScript runs the commands the Go test sends (see nodeClients).
const driverScript = clientLib + `
for await (const c of input()) {
  const s = sockets[c.name];
  switch (c.op) {
    case 'open':
      open(c.name, c.nsp, c.opts, c.mode);
      break;
    case 'emit':
      if (c.tag) s.emit(c.ev, ...(c.args || []), (...r) => out('ack', c.name, c.tag, ...r));
      else s.emit(c.ev, ...(c.args || []));
      break;
    case 'disconnect':
      s.disconnect();
      break;
    case 'pid':
      out('pid', process.pid);
      break;
    case 'info':
      out('info', c.name, {
        id: s.id ?? null,
        connected: s.connected,
        transport: s.io.engine ? s.io.engine.transport.name : null,
        sharesManagerWith: Object.keys(sockets).filter((n) => n !== c.name && sockets[n].io === s.io),
      });
      break;
  }
}
`

// nodeClients follows the lines a Node script prints, in any order: tests
// with several sockets cannot predict how their events interleave.
type nodeClients struct {
	t testing.TB
	P *node.Proc
	*lineBuf
}

// lineBuf holds the lines read from a script and not yet consumed.
type lineBuf struct {
	mu      sync.Mutex
	lines   []node.Line
	ended   error
	changed chan struct{}
}

// on returns a view of c that reports failures to t, for subtests.
func (c *nodeClients) on(t testing.TB) *nodeClients {
	return &nodeClients{t: t, P: c.P, lineBuf: c.lineBuf}
}

// startClients runs the command-driven driver script against ts.
func startClients(t testing.TB, ts *testServer) *nodeClients {
	t.Helper()
	return runScript(t, ts.URL, driverScript, nil)
}

// runScript runs script (which may use clientLib's open) with SERVER_URL
// set to url and follows its lines.
func runScript(t testing.TB, url, script string, env map[string]string) *nodeClients {
	t.Helper()
	e := map[string]string{"SERVER_URL": url}
	for k, v := range env {
		e[k] = v
	}
	p := node.Run(t, nil, script, e)
	c := &nodeClients{t: t, P: p, lineBuf: &lineBuf{changed: make(chan struct{})}}
	// The pump ends when the script's stdout closes or the test's context
	// ends, whichever comes first.
	go c.pump()
	return c
}

func (c *nodeClients) pump() {
	for {
		l, err := c.P.Next(node.MaxTimeout)
		if err != nil && l.Raw == "" && strings.Contains(err.Error(), "no line") {
			continue // a long silence: keep following
		}
		c.mu.Lock()
		if err != nil && l.Raw == "" {
			c.ended = err
		} else {
			c.lines = append(c.lines, l)
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		if err != nil && l.Raw == "" {
			return
		}
	}
}

// send writes one command to the driver.
func (c *nodeClients) send(cmd map[string]any) {
	c.t.Helper()
	if err := c.P.Send(cmd); err != nil {
		c.t.Fatalf("sending %v to the script: %v", cmd, err)
	}
}

// open opens socket name on namespace nsp with the client options opts.
func (c *nodeClients) open(name, nsp string, opts map[string]any) {
	c.t.Helper()
	c.send(map[string]any{"op": "open", "name": name, "nsp": nsp, "opts": opts})
}

// openNoAck is open for a socket that never acks the server's events.
func (c *nodeClients) openNoAck(name, nsp string, opts map[string]any) {
	c.t.Helper()
	c.send(map[string]any{"op": "open", "name": name, "nsp": nsp, "opts": opts, "mode": "noack"})
}

// connect opens socket name and waits for its connect line, returning its id.
func (c *nodeClients) connect(name, nsp string, opts map[string]any) string {
	c.t.Helper()
	c.open(name, nsp, opts)
	return c.expect("connect", name).Arg(1).(string)
}

// emit makes socket name emit ev with args, without ack.
func (c *nodeClients) emit(name, ev string, args ...any) {
	c.t.Helper()
	c.send(map[string]any{"op": "emit", "name": name, "ev": ev, "args": nonNil(args)})
}

// emitAck makes socket name emit ev with args and an ack callback, and
// waits for the ack; the returned line's args are (name, tag, ...ack args).
func (c *nodeClients) emitAck(name, ev string, args ...any) node.Line {
	c.t.Helper()
	tag := fmt.Sprintf("%s-%d", ev, time.Now().UnixNano())
	c.send(map[string]any{"op": "emit", "name": name, "ev": ev, "args": nonNil(args), "tag": tag})
	return c.waitFor(fmt.Sprintf("ack %s of %s", tag, name), func(l node.Line) bool {
		return l.Ev == "ack" && l.Arg(0) == name && l.Arg(1) == tag
	})
}

func nonNil(args []any) []any {
	if args == nil {
		return []any{}
	}
	return args
}

// expect waits for the next line ev of socket name (its first arg).
func (c *nodeClients) expect(ev, name string) node.Line {
	c.t.Helper()
	return c.waitFor(ev+" of "+name, func(l node.Line) bool { return l.Ev == ev && l.Arg(0) == name })
}

// expectEvent waits for the event line of socket name for event ev; the
// line's args are (name, ev, hasAck, ...event args).
func (c *nodeClients) expectEvent(name, ev string) node.Line {
	c.t.Helper()
	return c.waitFor(fmt.Sprintf("event %q at %s", ev, name), func(l node.Line) bool {
		return l.Ev == "event" && l.Arg(0) == name && l.Arg(1) == ev
	})
}

// waitFor waits for the first line that match accepts, removes it and
// returns it. Other lines stay for later waits. A "$error" or "$timeout"
// line from the prelude fails the test.
func (c *nodeClients) waitFor(what string, match func(node.Line) bool) node.Line {
	c.t.Helper()
	l, err := c.waitForTimeout(what, step, match)
	if err != nil {
		c.t.Fatal(err)
	}
	return l
}

func (c *nodeClients) waitForTimeout(what string, timeout time.Duration, match func(node.Line) bool) (node.Line, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		for i, l := range c.lines {
			if l.Ev == "$error" || l.Ev == "$timeout" {
				c.mu.Unlock()
				return node.Line{}, fmt.Errorf("waiting for %s: the script failed: %s\nstderr:\n%s", what, l.Raw, c.P.Stderr())
			}
			if match(l) {
				c.lines = slices.Delete(c.lines, i, i+1)
				c.mu.Unlock()
				return l, nil
			}
		}
		changed, ended := c.changed, c.ended
		c.mu.Unlock()
		if ended != nil {
			return node.Line{}, fmt.Errorf("waiting for %s: %v\nlines left: %s\nstderr:\n%s", what, ended, c.dump(), c.P.Stderr())
		}
		select {
		case <-changed:
		case <-timer.C:
			return node.Line{}, fmt.Errorf("waiting for %s: nothing within %v\nlines left: %s\nstderr:\n%s", what, timeout, c.dump(), c.P.Stderr())
		}
	}
}

// none fails the test if a line that match accepts has been received. Call
// it after a barrier that proves such a line would already be here.
func (c *nodeClients) none(what string, match func(node.Line) bool) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lines {
		if match(l) {
			c.t.Fatalf("unexpected %s: %s", what, l.Raw)
		}
	}
}

// noEvent fails the test if socket name received event ev.
func (c *nodeClients) noEvent(name, ev string) {
	c.t.Helper()
	c.none(fmt.Sprintf("event %q at %s", ev, name), func(l node.Line) bool {
		return l.Ev == "event" && l.Arg(0) == name && l.Arg(1) == ev
	})
}

// quiet fails the test if a line that match accepts arrives within d.
func (c *nodeClients) quiet(what string, d time.Duration, match func(node.Line) bool) {
	c.t.Helper()
	if l, err := c.waitForTimeout(what, d, match); err == nil {
		c.t.Fatalf("unexpected %s: %s", what, l.Raw)
	}
}

func (c *nodeClients) dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, l := range c.lines {
		b.WriteString("\n  ")
		b.WriteString(l.Raw)
	}
	return b.String()
}

// wsOnly and pollingOnly are client options selecting one transport.
var (
	wsOnly      = map[string]any{"transports": []string{"websocket"}}
	pollingOnly = map[string]any{"transports": []string{"polling"}}
)

// with returns a copy of opts with the extra options added.
func with(opts map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(opts)+len(kv)/2)
	for k, v := range opts {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// nodeLine is one line a script printed.
type nodeLine = node.Line
