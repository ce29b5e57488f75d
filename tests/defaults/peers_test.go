package defaults

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/internal/logbuf"
	"github.com/actorio/actorio/internal/node"
)

// peer is one client connected to "/" with its library's default options
// but for the transports: the official socket.io-client in Node, or the Go
// client.
type peer interface {
	// id is the socket's id.
	id() string
	// echo emits echo(n) with an ack and waits for the reply [n].
	echo(t *testing.T, n int)
	// expect waits for the server event ev(n); an event that asks for an
	// ack is acknowledged with ("ok", n).
	expect(t *testing.T, ev string, n int)
	// faults returns what went wrong on the client's side so far: any
	// disconnect, connection error, reconnection attempt or warning.
	faults() []string
	// close disconnects the socket and closes the client.
	close(t *testing.T)
}

// transports is how a peer connects: by WebSocket only, by polling only,
// or as the libraries do by default (polling, then the upgrade).
type transports struct {
	name string
	list []string // nil: the library's default
	// final is the transport the session must end up on.
	final string
}

var allTransports = []transports{
	{"websocket", []string{"websocket"}, "websocket"},
	{"polling", []string{"polling"}, "polling"},
	{"default", nil, "websocket"},
}

// peerKind makes a connected peer of one library.
type peerKind struct {
	name string
	dial func(t *testing.T, s *server, tr transports, lifetime time.Duration) peer
	// opts are the server's options for this kind: the defaults, but for
	// AllowEIO3 for a Socket.IO v2 client.
	opts actorio.Options
}

var allKinds = []peerKind{
	{name: "js", dial: dialJS(peerScript)},
	{name: "go", dial: dialGo},
	// Engine.IO v3: the client pings, the server answers, and the server
	// drops a session silent for PingInterval + PingTimeout.
	{name: "js-v2", dial: dialJS(peerV2Script), opts: actorio.Options{AllowEIO3: true}},
}

var (
	//go:embed peer.mjs
	peerJS string
	//go:embed peer-v2.mjs
	peerV2JS string
	// peerCommands is the command loop both scripts end with.
	//go:embed peer-commands.js
	peerCommands string

	peerScript   = peerJS + peerCommands
	peerV2Script = peerV2JS + peerCommands
)

// jsPeer is peer.mjs running in Node.
type jsPeer struct {
	p   *node.Proc
	sid string

	mu     sync.Mutex
	lines  map[string]chan node.Line
	bad    []string
	closed bool
}

// dialJS returns a dial that starts script (peer.mjs or peer-v2.mjs) and
// waits for it to connect; the script ends by itself after lifetime.
func dialJS(script string) func(t *testing.T, s *server, tr transports, lifetime time.Duration) peer {
	return func(t *testing.T, s *server, tr transports, lifetime time.Duration) peer {
		t.Helper()
		p := node.Run(t, t.Context(), script, map[string]string{
			"SERVER_URL":                s.url,
			"TRANSPORTS":                strings.Join(tr.list, ","),
			"LIFETIME_MS":               fmt.Sprint(lifetime.Milliseconds()),
			"ACTORIO_SCRIPT_TIMEOUT_MS": fmt.Sprint(lifetime.Milliseconds()),
		})
		c := &jsPeer{p: p, lines: map[string]chan node.Line{}}
		for _, ev := range []string{"connect", "ack", "event", "closed"} {
			c.lines[ev] = make(chan node.Line, 16)
		}
		go c.pump()
		l := c.wait(t, "connect", 3*step)
		c.sid, _ = l.Arg(0).(string)
		return c
	}
}

// pump sorts the script's lines until it exits: the expected ones to their
// channels, anything else to the faults ("upgrade" only to the log).
func (c *jsPeer) pump() {
	for {
		l, err := c.p.Next(node.MaxTimeout)
		if err != nil {
			c.mu.Lock()
			if !c.closed && !errors.Is(err, node.ErrClosed) {
				c.bad = append(c.bad, err.Error())
			}
			c.mu.Unlock()
			return
		}
		if ch, ok := c.lines[l.Ev]; ok {
			ch <- l
			continue
		}
		if l.Ev == "upgrade" {
			continue
		}
		c.mu.Lock()
		c.bad = append(c.bad, time.Now().Format("15:04:05.000")+" "+l.Raw)
		c.mu.Unlock()
	}
}

func (c *jsPeer) wait(t *testing.T, ev string, d time.Duration) node.Line {
	t.Helper()
	select {
	case l := <-c.lines[ev]:
		return l
	case <-time.After(d):
		t.Fatalf("js: no %q line within %v; faults %q\nstderr: %s", ev, d, c.faults(), c.p.Stderr())
		return node.Line{}
	}
}

func (c *jsPeer) id() string { return c.sid }

func (c *jsPeer) echo(t *testing.T, n int) {
	t.Helper()
	if err := c.p.Send(map[string]any{"op": "echo", "n": n}); err != nil {
		t.Fatal(err)
	}
	l := c.wait(t, "ack", step)
	if got := l.Raw; len(l.Args) != 2 || l.Arg(0) != float64(n) || l.Arg(1) != float64(n) {
		t.Fatalf("js: echo(%d) acknowledged with %s", n, got)
	}
}

func (c *jsPeer) expect(t *testing.T, ev string, n int) {
	t.Helper()
	l := c.wait(t, "event", step)
	if len(l.Args) != 2 || l.Arg(0) != ev || l.Arg(1) != float64(n) {
		t.Fatalf("js: got %s, want event %s(%d)", l.Raw, ev, n)
	}
}

func (c *jsPeer) faults() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bad...)
}

func (c *jsPeer) close(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	if err := c.p.Send(map[string]any{"op": "close"}); err != nil {
		t.Fatal(err)
	}
	c.wait(t, "closed", step)
	if code := c.p.WaitExit(t, step); code != 0 {
		t.Errorf("js: exit code %d\nstderr: %s", code, c.p.Stderr())
	}
}

// goPeer is the Go client (package client).
type goPeer struct {
	s   *client.Socket
	log *logbuf.Buffer

	mu     sync.Mutex
	events chan goEvent
	bad    []string
	closed bool
}

type goEvent struct {
	name string
	args client.Args
}

// dialGo connects a Go client to s with client.Options{} but for the
// transports (and a logger at Warn, to see its complaints).
func dialGo(t *testing.T, s *server, tr transports, _ time.Duration) peer {
	t.Helper()
	return dialGoURL(t, s.url, tr)
}

// dialGoURL is dialGo to the server at url, ours or Node's.
func dialGoURL(t *testing.T, url string, tr transports) *goPeer {
	t.Helper()
	c := &goPeer{log: &logbuf.Buffer{}, events: make(chan goEvent, 16)}
	sock, err := client.New(url, client.Options{
		Transports: tr.list,
		Logger:     slog.New(slog.NewTextHandler(c.log, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.s = sock
	connected := make(chan struct{}, 1)
	sock.OnEvent(func(e client.Event) {
		if e.Name == client.EventConnect {
			select {
			case connected <- struct{}{}:
			default:
			}
		}
		switch e.Name {
		case client.EventConnect, client.EventConnecting:
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.closed {
			c.bad = append(c.bad, fmt.Sprintf("%s %s reason=%q err=%v", time.Now().Format("15:04:05.000"), e.Name, e.Reason, e.Err))
		}
	})
	sock.OnAny(func(event string, args client.Args, ack client.AckFunc) {
		if ack != nil {
			_ = ack(append([]any{"ok"}, args.Values()...)...)
		}
		c.events <- goEvent{event, args}
	})
	if err := sock.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sock.Close() })
	select {
	case <-connected:
	case <-time.After(3 * step):
		t.Fatalf("go: not connected within %v; faults %q", 3*step, c.faults())
	}
	return c
}

func (c *goPeer) id() string { return c.s.ID() }

func (c *goPeer) echo(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), step)
	defer cancel()
	args, err := c.s.EmitWithAck(ctx, "echo", n)
	if err != nil {
		t.Fatalf("go: echo(%d): %v; faults %q", n, err, c.faults())
	}
	var got int
	if args.Len() != 1 || args.Decode(0, &got) != nil || got != n {
		t.Fatalf("go: echo(%d) acknowledged with %v", n, args.Values())
	}
}

func (c *goPeer) expect(t *testing.T, ev string, n int) {
	t.Helper()
	select {
	case e := <-c.events:
		var got int
		if e.name != ev || e.args.Len() != 1 || e.args.Decode(0, &got) != nil || got != n {
			t.Fatalf("go: got event %s%v, want %s(%d)", e.name, e.args.Values(), ev, n)
		}
	case <-time.After(step):
		t.Fatalf("go: no event %s within %v; faults %q", ev, step, c.faults())
	}
}

func (c *goPeer) faults() []string {
	c.mu.Lock()
	bad := append([]string(nil), c.bad...)
	c.mu.Unlock()
	for line := range strings.Lines(c.log.String()) {
		bad = append(bad, "log: "+strings.TrimSpace(line))
	}
	return bad
}

func (c *goPeer) close(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.s.Disconnect()
	if err := c.s.Close(); err != nil {
		t.Errorf("go: Close: %v", err)
	}
}
