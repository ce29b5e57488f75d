package client

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeScript is a Node.js socket.io v4 server for the interop tests. It
// prints JSON lines {"ev": ..., "args": [...]} (the first one is
// "listening" with its port) and obeys JSON commands on stdin. Buffers
// travel as {"$bin": base64} both ways. RECOVERY=1 in its environment
// turns connection state recovery on.
const nodeScript = `
const http = require('node:http');
const readline = require('node:readline');
const { Server } = require('socket.io');

const enc = (v) => {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { $bin: Buffer.from(v).toString('base64') };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString('base64') };
  if (Array.isArray(v)) return v.map(enc);
  if (v && typeof v === 'object') { const o = {}; for (const k of Object.keys(v)) o[k] = enc(v[k]); return o; }
  return v === undefined ? null : v;
};
const dec = (v) => {
  if (Array.isArray(v)) return v.map(dec);
  if (v && typeof v === 'object') {
    const ks = Object.keys(v);
    if (ks.length === 1 && ks[0] === '$bin') return Buffer.from(v.$bin, 'base64');
    const o = {}; for (const k of ks) o[k] = dec(v[k]); return o;
  }
  return v;
};
const out = (ev, ...args) => process.stdout.write(JSON.stringify({ ev, args: args.map(enc) }) + '\n');

const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval: Number(process.env.PING_INTERVAL || 25000),
  pingTimeout: Number(process.env.PING_TIMEOUT || 20000),
  connectionStateRecovery: process.env.RECOVERY ? { maxDisconnectionDuration: 120000 } : undefined,
  // An undefined transports would override the default: set it only when given.
  ...(process.env.TRANSPORTS ? { transports: process.env.TRANSPORTS.split(',') } : {}),
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
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line);
  const args = dec(c.args || []);
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
});
process.stdin.on('end', () => process.exit(0));
httpServer.listen(Number(process.env.PORT || 0), '127.0.0.1', () => out('listening', httpServer.address().port));
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
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan nodeLine
	exited chan struct{}
	stderr *lockedBuffer
	port   int
	URL    string
	env    map[string]string
	script string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// moduleRoot returns the directory holding go.mod, above the test's directory.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// startNode starts the Node server on port (0: any) and waits until it listens.
func startNode(t testing.TB, port int, env map[string]string) *nodeServer {
	t.Helper()
	return startNodeScript(t, nodeScript, port, env)
}

// startNodeScript runs script, a Node server that prints "listening" with
// its port (PORT in its environment, 0: any) as nodeScript does, and waits
// until it listens.
func startNodeScript(t testing.TB, script string, port int, env map[string]string) *nodeServer {
	t.Helper()
	root := moduleRoot(t)
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is required: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "socket.io", "package.json")); err != nil {
		t.Fatalf("npm package socket.io is missing (run npm ci in %s): %v", root, err)
	}
	file := filepath.Join(t.TempDir(), "server.cjs")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", file)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(root, "node_modules"), "PORT="+strconv.Itoa(port))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	n := &nodeServer{t: t, cmd: cmd, lines: make(chan nodeLine, 1000), exited: make(chan struct{}), stderr: &lockedBuffer{}, env: env, script: script}
	cmd.Stderr = n.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var l nodeLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				n.lines <- l
			}
		}
		_ = cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(n.kill)
	l := n.expect("listening")
	var p int
	if err := json.Unmarshal(l.Args[0], &p); err != nil {
		t.Fatalf("bad port line: %v", err)
	}
	n.port = p
	n.URL = "http://127.0.0.1:" + strconv.Itoa(p)
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
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Kill()
	select {
	case <-n.exited:
	case <-time.After(5 * time.Second):
	}
}

// send writes one command.
func (n *nodeServer) send(cmd map[string]any) {
	n.t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		n.t.Fatal(err)
	}
	if _, err := n.stdin.Write(append(b, '\n')); err != nil {
		n.t.Fatalf("node: %v\n%s", err, n.stderr.String())
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
			n.t.Fatalf("node exited while waiting for %q; skipped %q\nstderr:\n%s", ev, skipped, n.stderr.String())
		case <-deadline:
			n.t.Fatalf("node: no %q line within %v; skipped %q\nstderr:\n%s", ev, waitTimeout, skipped, n.stderr.String())
		}
	}
}

// bin encodes b the way the Node script decodes buffers.
func bin(b []byte) map[string]string {
	return map[string]string{"$bin": base64.StdEncoding.EncodeToString(b)}
}
