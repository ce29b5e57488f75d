package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/node"
)

// nodeScript is a Node.js socket.io v4 server for the interop tests, run
// through internal/node. It prints lines with out() (the first one is
// "listening" with its port) and obeys JSON commands on stdin. Buffers
// travel as {"$bin": base64} both ways. RECOVERY=1 in its environment
// turns connection state recovery on, PARSER=msgpack the npm
// socket.io-msgpack-parser.
const nodeScript = `
const http = require('node:http');
const { Server } = require('socket.io');

const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval: Number(process.env.PING_INTERVAL || 25000),
  pingTimeout: Number(process.env.PING_TIMEOUT || 20000),
  connectionStateRecovery: process.env.RECOVERY ? { maxDisconnectionDuration: 120000 } : undefined,
  // An undefined transports would override the default: set it only when given.
  ...(process.env.TRANSPORTS ? { transports: process.env.TRANSPORTS.split(',') } : {}),
  ...(process.env.PARSER === 'msgpack' ? { parser: require('socket.io-msgpack-parser') } : {}),
});

const onConnection = (socket) => {
  const nsp = socket.nsp.name;
  out('connection', nsp, socket.id, socket.conn.id, socket.handshake.auth,
    socket.handshake.query.foo || null, socket.handshake.headers['x-test'] || null, socket.conn.transport.name,
    socket.recovered, [...socket.rooms]);
  socket.conn.once('upgrade', (t) => out('upgrade', nsp, t.name));
  socket.onAny((ev, ...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    out('event', nsp, ev, ...args);
    if (ack) ack(...args);
  });
  socket.on('disconnect', (reason) => out('disconnect', nsp, reason, socket.id));
};
io.on('connection', onConnection);
io.of('/admin').on('connection', onConnection);
io.of('/private').use((socket, next) => {
  const err = new Error('not authorized');
  err.data = { code: 42, why: 'test' };
  next(err);
});
io.of('/private').on('connection', onConnection);

const sockets = (nsp) => [...io.of(nsp || '/').sockets.values()];
const obey = (c) => {
  const args = c.args || [];
  switch (c.cmd) {
    case 'emit':
      for (const s of sockets(c.nsp)) {
        if (c.ack) s.emit(c.ev, ...args, (...resp) => out('ack', ...resp));
        else s.emit(c.ev, ...args);
      }
      break;
    case 'send':
      for (const s of sockets(c.nsp)) {
        if (c.ack) s.send(...args, (...resp) => out('ack', ...resp));
        else s.send(...args);
      }
      break;
    case 'disconnect':
      for (const s of sockets(c.nsp)) s.disconnect();
      break;
    case 'drop':
      for (const s of sockets(c.nsp)) s.conn.close();
      break;
    case 'join':
      for (const s of sockets(c.nsp)) s.join(c.room);
      break;
    case 'to':
      io.of(c.nsp || '/').to(c.room).emit(c.ev, ...args);
      break;
    case 'stream': {
      // Emits ev with 1..n, one every c.every ms, to the room of each socket
      // connected now, whether connected or not meanwhile; then "end".
      // "missed" (once per outage) tells a number was emitted while the
      // socket was away.
      const ns = io.of(c.nsp || '/');
      for (const id of sockets(c.nsp).map((s) => s.id)) {
        let i = 0, away = false;
        const timer = setInterval(() => {
          i++;
          ns.to(id).emit(c.ev, i);
          const here = (ns.adapter.rooms.get(id) || new Set()).size > 0;
          if (!here && !away) out('missed', id, i);
          away = !here;
          if (i === c.n) {
            clearInterval(timer);
            ns.to(id).emit('end');
            out('streamed', id, i);
          }
        }, c.every);
      }
      break;
    }
    case 'exit':
      process.exit(0);
  }
  out('done', c.cmd);
};
httpServer.listen(Number(process.env.PORT || 0), '127.0.0.1', () => out('listening', httpServer.address().port));
for await (const c of input()) obey(c);
exit(0);
`

// nodeLine is one line printed by the Node server.
type nodeLine struct {
	Ev   string            `json:"ev"`
	Args []json.RawMessage `json:"args"`
}

// str returns argument i as a string ("" if it is not one).
func (l nodeLine) str(i int) string {
	var s string
	if i < len(l.Args) {
		_ = json.Unmarshal(l.Args[i], &s)
	}
	return s
}

// raw returns argument i as compact JSON text.
func (l nodeLine) raw(i int) string {
	if i >= len(l.Args) {
		return ""
	}
	return string(l.Args[i])
}

// nodeServer is a running Node.js socket.io server.
type nodeServer struct {
	t      testing.TB
	p      *node.Proc
	lines  chan nodeLine
	exited chan struct{} // closed once every line of p is in lines
	port   int
	URL    string
	env    map[string]string
	script string
}

// startNode starts the Node server on port (0: any) and waits until it listens.
func startNode(t testing.TB, port int, env map[string]string) *nodeServer {
	t.Helper()
	return startNodeScript(t, nodeScript, port, env)
}

// startNodeScript runs script with internal/node, a Node server that
// prints "listening" with its port (PORT in its environment, 0: any) as
// nodeScript does, and waits until it listens.
func startNodeScript(t testing.TB, script string, port int, env map[string]string) *nodeServer {
	t.Helper()
	node.RequirePackage(t, "socket.io")
	penv := map[string]string{"PORT": strconv.Itoa(port)}
	for k, v := range env {
		penv[k] = v
	}
	p := node.Run(t, nil, script, penv)
	n := &nodeServer{t: t, p: p, lines: make(chan nodeLine, 1000), exited: make(chan struct{}), env: env, script: script}
	ctx := t.Context()
	go func() {
		defer close(n.exited)
		for {
			l, err := p.Next(node.MaxTimeout)
			if errors.Is(err, node.ErrClosed) || ctx.Err() != nil {
				return
			}
			if err != nil {
				continue // a line that is not out()'s, or a long quiet spell
			}
			select {
			case n.lines <- nodeLine{Ev: l.Ev, Args: l.Args}:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(n.kill)
	l := n.expect("listening")
	var pt int
	if err := json.Unmarshal(l.Args[0], &pt); err != nil {
		t.Fatalf("bad port line: %v", err)
	}
	n.port = pt
	n.URL = "http://127.0.0.1:" + strconv.Itoa(pt)
	return n
}

// restart kills the server and starts a new one on the same port.
func (n *nodeServer) restart() *nodeServer {
	n.t.Helper()
	n.kill()
	return startNodeScript(n.t, n.script, n.port, n.env)
}

// kill kills the server process (this test's own child) and waits for it.
func (n *nodeServer) kill() {
	n.p.Kill()
	select {
	case <-n.exited:
	case <-time.After(5 * time.Second):
	}
}

// send writes one command.
func (n *nodeServer) send(cmd map[string]any) {
	n.t.Helper()
	if err := n.p.Send(cmd); err != nil {
		n.t.Fatalf("%v\n%s", err, n.p.Stderr())
	}
}

// expect returns the next line named ev, skipping others.
func (n *nodeServer) expect(ev string) nodeLine {
	n.t.Helper()
	return n.expectFunc(ev, nil)
}

// expectFunc returns the next line named ev that ok accepts, skipping others.
func (n *nodeServer) expectFunc(ev string, ok func(nodeLine) bool) nodeLine {
	n.t.Helper()
	deadline := time.After(waitTimeout)
	var skipped []string
	for {
		select {
		case l := <-n.lines:
			if l.Ev == ev && (ok == nil || ok(l)) {
				return l
			}
			skipped = append(skipped, fmt.Sprintf("%s%s", l.Ev, l.Args))
		case <-n.exited:
			n.t.Fatalf("node exited while waiting for %q; skipped %q\nstderr:\n%s", ev, skipped, n.p.Stderr())
		case <-deadline:
			n.t.Fatalf("node: no %q line within %v; skipped %q\nstderr:\n%s", ev, waitTimeout, skipped, n.p.Stderr())
		}
	}
}

// bin encodes b the way the Node script decodes buffers.
func bin(b []byte) map[string]string {
	return map[string]string{"$bin": base64.StdEncoding.EncodeToString(b)}
}
