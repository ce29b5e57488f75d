package defaults

import (
	_ "embed"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/node"
)

//go:embed node-server.mjs
var nodeServerScript string

// nodeServer is node-server.mjs: Node socket.io with its default options.
type nodeServer struct {
	p   *node.Proc
	url string

	acks chan node.Line
	ups  chan node.Line

	mu  sync.Mutex
	bad []string // disconnects and lines not expected
	ok  bool     // a disconnect is expected from now on
	end chan node.Line
}

// startNodeServer starts node-server.mjs and waits until it listens; it
// ends with the test, or after lifetime.
func startNodeServer(t *testing.T, lifetime time.Duration) *nodeServer {
	t.Helper()
	node.RequirePackage(t, "socket.io")
	p := node.Run(t, t.Context(), nodeServerScript, map[string]string{
		"ACTORIO_SCRIPT_TIMEOUT_MS": fmt.Sprint(lifetime.Milliseconds()),
	})
	l := p.Expect(t, "listening", 3*step)
	port, _ := l.Arg(0).(float64)
	n := &nodeServer{p: p, url: fmt.Sprintf("http://127.0.0.1:%d", int(port)),
		acks: make(chan node.Line, 4), ups: make(chan node.Line, 4), end: make(chan node.Line, 4)}
	go n.pump()
	return n
}

// pump sorts the server's lines until it exits.
func (n *nodeServer) pump() {
	for {
		l, err := n.p.Next(node.MaxTimeout)
		if err != nil {
			if !errors.Is(err, node.ErrClosed) {
				n.fault(err.Error())
			}
			return
		}
		switch l.Ev {
		case "connection":
		case "ack":
			n.acks <- l
		case "upgrade":
			n.ups <- l
		case "disconnect":
			n.mu.Lock()
			ok := n.ok
			n.mu.Unlock()
			if ok {
				n.end <- l
				continue
			}
			n.fault(l.Raw)
		default:
			n.fault(l.Raw)
		}
	}
}

func (n *nodeServer) fault(s string) {
	n.mu.Lock()
	n.bad = append(n.bad, time.Now().Format("15:04:05.000")+" "+s)
	n.mu.Unlock()
}

func (n *nodeServer) faults() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.bad...)
}

func (n *nodeServer) send(t *testing.T, cmd map[string]any) {
	t.Helper()
	if err := n.p.Send(cmd); err != nil {
		t.Fatal(err)
	}
}

// nodeAction is an action of TestIdleGaps' scenarios with Node as the
// server.
type nodeAction struct {
	at   time.Duration
	what string
	do   func(t *testing.T, n *nodeServer, p *goPeer)
}

// nodeScenarios are TestIdleGaps' scenarios with Node as the server.
var nodeScenarios = []struct {
	name    string
	actions []nodeAction
}{
	{"acks", []nodeAction{
		{atFirst, "echo with ack", func(t *testing.T, _ *nodeServer, p *goPeer) { p.echo(t, 1) }},
		{atGap, "echo with ack", func(t *testing.T, _ *nodeServer, p *goPeer) { p.echo(t, 2) }},
		{atPing1, "echo with ack", func(t *testing.T, _ *nodeServer, p *goPeer) { p.echo(t, 3) }},
		{atPing2, "echo with ack", func(t *testing.T, _ *nodeServer, p *goPeer) { p.echo(t, 4) }},
	}},
	{"server-emits", []nodeAction{
		{13 * time.Second, "socket.emit", func(t *testing.T, n *nodeServer, p *goPeer) {
			n.send(t, map[string]any{"op": "emit", "ev": "direct", "n": 1})
			p.expect(t, "direct", 1)
		}},
		{atPing1, "broadcast to a room", func(t *testing.T, n *nodeServer, p *goPeer) {
			n.send(t, map[string]any{"op": "room", "ev": "room", "n": 2})
			p.expect(t, "room", 2)
		}},
		{atPing2, "socket.emit with an ack", func(t *testing.T, n *nodeServer, p *goPeer) {
			n.send(t, map[string]any{"op": "emit", "ev": "ask", "n": 3, "ack": true})
			p.expect(t, "ask", 3)
			select {
			case l := <-n.acks:
				if len(l.Args) != 2 || l.Arg(0) != "ok" || l.Arg(1) != float64(3) {
					t.Fatalf("Node got the ack %s, want [ok 3]", l.Raw)
				}
			case <-time.After(step):
				t.Fatalf("no ack reached Node within %v", step)
			}
		}},
	}},
	{"idle", []nodeAction{
		{atPing2, "echo with ack, the first packet since the connection", func(t *testing.T, _ *nodeServer, p *goPeer) { p.echo(t, 1) }},
	}},
}

// TestGoClientIdleAgainstNode is TestIdleGaps for the Go client against
// Node socket.io, both with their default options (but for the client's
// transports): every action works after gaps longer than every timeout
// but the heartbeat, the session lives through Node's pings at about 25
// and 50 s, and neither side sees a disconnect until the client leaves.
func TestGoClientIdleAgainstNode(t *testing.T) {
	t.Parallel()
	for _, tr := range allTransports {
		for _, sc := range nodeScenarios {
			t.Run(tr.name+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				n := startNodeServer(t, peerLife)
				p := dialGoURL(t, n.url, tr)
				start := time.Now()
				for _, a := range sc.actions {
					time.Sleep(time.Until(start.Add(a.at)))
					if f := append(p.faults(), n.faults()...); len(f) > 0 {
						t.Fatalf("faults before %s at %v: %q\nNode's stderr: %s", a.what, a.at, f, n.p.Stderr())
					}
					a.do(t, n, p)
					t.Logf("%v: %s done", time.Since(start).Round(time.Millisecond), a.what)
				}
				if f := append(p.faults(), n.faults()...); len(f) > 0 {
					t.Errorf("faults: %q", f)
				}
				if tr.list == nil {
					select {
					case l := <-n.ups:
						if l.Arg(1) != "websocket" {
							t.Errorf("upgraded to %s, want websocket", l.Raw)
						}
					default:
						t.Error("the session was never upgraded")
					}
				}
				n.mu.Lock()
				n.ok = true
				n.mu.Unlock()
				p.close(t)
				select {
				case l := <-n.end:
					if l.Arg(1) != "client namespace disconnect" {
						t.Errorf("Node's reason %s after the client closed, want client namespace disconnect", l.Raw)
					}
				case <-time.After(step):
					t.Errorf("Node saw no disconnect within %v of the client's", step)
				}
			})
		}
	}
}
