package client

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/logbuf"
)

// reservedNodeScript is a Node.js socket.io v4 server that writes EVENT
// packets with any name, reserved ones included, past socket.emit (which
// refuses some of them): command {"cmd":"raw","id":<socket id>,"ev":name,
// "ack":bool,"bin":bool} sends [name, "fake"] (plus a Buffer when bin),
// with an acknowledgement request when ack, then the ordinary event
// "after" with the name. An acknowledgement the client sends prints
// "ack"; every event the client emits prints "event" and is acknowledged.
const reservedNodeScript = `
const http = require('node:http');
const { Server } = require('socket.io');

const httpServer = http.createServer();
const io = new Server(httpServer);
io.on('connection', (socket) => {
  out('connection', socket.id);
  socket.onAny((ev, ...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    out('event', ev, ...args);
    if (ack) ack('ok');
  });
});
const obey = (c) => {
  const socket = io.of('/').sockets.get(c.id);
  if (!socket) { out('nosocket', c.id); return; }
  const data = [c.ev, 'fake'];
  if (c.bin) data.push(Buffer.from([1, 2, 3]));
  const packet = { type: 2, data };
  if (c.ack) {
    // What socket.emit does for a callback, for a name it would refuse.
    const id = socket.nsp._ids++;
    socket.acks.set(id, (...args) => out('ack', c.ev, ...args.map((a) => Buffer.isBuffer(a) ? 'buffer' : a)));
    packet.id = id;
  }
  socket.packet(packet);
  socket.emit('after', c.ev);
  out('sent', c.ev);
};
httpServer.listen(Number(process.env.PORT || 0), '127.0.0.1', () => out('listening', httpServer.address().port));
for await (const c of input()) obey(c);
exit(0);
`

// TestNodeServerCannotFakeLifecycleEvents has the Node server emit every
// name the client fires itself or JavaScript reserves, with and without an
// acknowledgement request, each followed by an ordinary event: no handler
// (On, OnAny, OnEvent) may see the fake, no acknowledgement may go back,
// and the ordinary event must arrive. "message" is the server's send, an
// ordinary event, and is delivered.
func TestNodeServerCannotFakeLifecycleEvents(t *testing.T) {
	n := startNodeScript(t, reservedNodeScript, 0, nil)
	names := []string{
		EventConnecting, EventConnect, EventDisconnect, EventConnectFailed, EventError,
		EventReconnecting, EventReconnect, EventReconnectFailed,
		EventConnectError, EventReconnectAttempt, EventReconnectError,
		"disconnecting", "newListener", "removeListener",
	}
	type tc struct {
		ev        string
		ack, bin  bool
		delivered bool
	}
	var cases []tc
	for _, name := range names {
		cases = append(cases, tc{ev: name}, tc{ev: name, ack: true}, tc{ev: name, ack: true, bin: true})
	}
	cases = append(cases, tc{ev: EventMessage, delivered: true}, tc{ev: EventMessage, ack: true, delivered: true})

	for _, c := range cases {
		t.Run(c.ev+"/ack="+strconv.FormatBool(c.ack)+"/bin="+strconv.FormatBool(c.bin), func(t *testing.T) {
			logs := &logbuf.Buffer{}
			s := mustNew(t, n.URL, Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			var mu sync.Mutex
			var seen []string // what On and OnAny handlers saw
			saw := func(what string, ack AckFunc) {
				mu.Lock()
				seen = append(seen, what)
				mu.Unlock()
				if ack != nil {
					_ = ack("from client")
				}
			}
			for _, name := range append(names, EventMessage) {
				s.On(name, func(a Args, ack AckFunc) {
					if a.Len() > 0 && a.String(0) == "fake" {
						saw("On("+name+")", ack)
					}
				})
			}
			s.OnAny(func(ev string, a Args, ack AckFunc) {
				if ev != "after" {
					saw("OnAny("+ev+")", ack)
				}
			})
			after := make(chan string, 1)
			s.On("after", func(a Args, _ AckFunc) { after <- a.String(0) })
			r := record(s)
			mustConnect(t, s, r)
			n.expectFunc("connection", func(l nodeLine) bool { return l.str(0) == s.ID() })

			n.send(map[string]any{"cmd": "raw", "id": s.ID(), "ev": c.ev, "ack": c.ack, "bin": c.bin})
			select {
			case got := <-after:
				if got != c.ev {
					t.Fatalf("after carried %q", got)
				}
			case <-time.After(waitTimeout):
				t.Fatal("the ordinary event after the fake one never arrived")
			}
			// Everything the client sent before this event reaches Node
			// before it, on the same connection.
			_, err := s.EmitWithAck(ctxT(t), "sync")
			must(t, err)
			var acks []string
			for done := false; !done; {
				select {
				case l := <-n.lines:
					switch {
					case l.Ev == "ack":
						acks = append(acks, fmt.Sprintf("%s", l.Args))
					case l.Ev == "event" && l.str(0) == "sync":
						done = true
					}
				case <-time.After(waitTimeout):
					t.Fatal("node never saw the sync event")
				}
			}

			mu.Lock()
			got := strings.Join(seen, " ")
			mu.Unlock()
			if c.delivered {
				want := "OnAny(" + c.ev + ") On(" + c.ev + ")"
				if got != want {
					t.Fatalf("handlers saw %q, want %q", got, want)
				}
				if c.ack && len(acks) != 1 {
					t.Fatalf("acks %q, want one", acks)
				}
			} else {
				if got != "" {
					t.Fatalf("a server event named %q reached %s", c.ev, got)
				}
				if len(acks) > 0 {
					t.Fatalf("the client acknowledged a server event named %q: %q", c.ev, acks)
				}
				if !strings.Contains(logs.String(), "event="+c.ev) {
					t.Fatalf("the dropped %q was not logged:\n%s", c.ev, logs.String())
				}
			}
			expectSeq(t, "lifecycle", r.all(), []string{"connecting", "connect"})
			must(t, s.Close())
		})
	}
}

// TestLifecycleEventSetIsComplete checks that every Event the package
// posts is named in lifecycleEvents, and that every Event… constant but
// EventMessage is: the set the receiver drops is the set the client fires.
// The events only a Manager fires (managerEvents) are not a socket's.
func TestLifecycleEventSetIsComplete(t *testing.T) {
	files, err := filepath.Glob("*.go")
	must(t, err)
	fset := token.NewFileSet()
	consts := map[string]string{} // Event… constant → its value
	var posted []string           // Event… constants used as Event.Name
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		must(t, err)
		file, err := parser.ParseFile(fset, f, src, 0)
		must(t, err)
		ast.Inspect(file, func(nd ast.Node) bool {
			switch x := nd.(type) {
			case *ast.ValueSpec:
				for i, id := range x.Names {
					if lit, ok := valueAt(x, i).(*ast.BasicLit); ok && strings.HasPrefix(id.Name, "Event") && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						consts[id.Name] = v
					}
				}
			case *ast.CompositeLit:
				if typ, ok := x.Type.(*ast.Ident); ok && typ.Name == "Event" {
					for _, el := range x.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok {
							if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
								id, ok := kv.Value.(*ast.Ident)
								if !ok {
									t.Errorf("%s: an Event named by %T, not by a constant", fset.Position(kv.Pos()), kv.Value)
									continue
								}
								posted = append(posted, id.Name)
							}
						}
					}
				}
			}
			return true
		})
	}
	if len(posted) == 0 || len(consts) == 0 {
		t.Fatalf("found %d posted events and %d constants", len(posted), len(consts))
	}
	for _, id := range posted {
		if !lifecycleEvents[consts[id]] && !managerEvents[consts[id]] {
			t.Errorf("the client posts %s (%q), which lifecycleEvents lacks", id, consts[id])
		}
	}
	for id, v := range consts {
		if managerEvents[v] {
			if lifecycleEvents[v] {
				t.Errorf("%s (%q): a Manager's event in lifecycleEvents", id, v)
			}
			continue
		}
		if lifecycleEvents[v] == (v == EventMessage) {
			t.Errorf("%s (%q): in lifecycleEvents = %v", id, v, lifecycleEvents[v])
		}
	}
	b, _ := json.Marshal(lifecycleEvents)
	t.Logf("lifecycle events: %s", b)
}

// valueAt returns the i-th value of spec, nil when it has none.
func valueAt(spec *ast.ValueSpec, i int) ast.Expr {
	if i < len(spec.Values) {
		return spec.Values[i]
	}
	return nil
}
