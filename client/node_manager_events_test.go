package client

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/node"
)

// The Manager's events and the disconnect description, side by side with
// socket.io-client: managerEventsJS runs each scenario with the official
// client against Node's server, and the Go client must record the same
// sequences against Node's server and ours.

// managerEventsJS runs the scenarios with socket.io-client against a Node
// server of its own (ping every 200 ms) and prints, per scenario, a "seq"
// line: its name, the Manager's events, the socket's events, and the
// number of pings before the first close.
const managerEventsJS = `
import http from 'node:http';
import { Server } from 'socket.io';
import { Manager } from 'socket.io-client';

const fmt = (name, args) => {
  const parts = [name];
  for (const a of args) {
    if (a === undefined || a === null) continue;
    if (a instanceof Error) {
      // A transport error's description is the TransportError: its
      // message, and its HTTP status when there is one. Error events
      // are compared by name.
      if (name === 'close' || name === 'disconnect') {
        parts.push(a.message);
        if (typeof a.description === 'number' && a.description) parts.push(String(a.description));
      }
      continue;
    }
    if (typeof a === 'object') {
      parts.push(a.description);
      const code = a.context && a.context.code;
      if (code) parts.push(String(code));
    } else parts.push(String(a));
  }
  return parts.join(':');
};
const record = (m, s) => {
  const r = { mgr: [], sock: [], pings: 0, closed: false };
  for (const ev of ['open', 'close', 'ping', 'error', 'reconnect_attempt', 'reconnect', 'reconnect_error', 'reconnect_failed']) {
    m.on(ev, (...a) => {
      if (ev === 'ping') { if (!r.closed) r.pings++; return; }
      if (ev === 'close') r.closed = true;
      r.mgr.push(fmt(ev, a));
    });
  }
  if (s) {
    s.on('connect', () => r.sock.push('connect'));
    s.on('disconnect', (...a) => r.sock.push(fmt('disconnect', a)));
  }
  return r;
};
const until = (cond) => new Promise((resolve) => { const t = setInterval(() => { if (cond()) { clearInterval(t); resolve(); } }, 5); });

const httpServer = http.createServer();
const io = new Server(httpServer, { pingInterval: 200, pingTimeout: 2000 });
await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
const url = 'http://127.0.0.1:' + httpServer.address().port;
const opts = { reconnectionDelay: 20, reconnectionDelayMax: 80, autoConnect: false };

for (const tr of ['websocket', 'polling']) {
  const m = new Manager(url, { ...opts, transports: [tr] });
  const s = m.socket('/');
  const r = record(m, s);
  s.connect();
  await until(() => s.connected && r.pings > 0);
  await sleep(50); // the pong's POST done: the cut hits the GET only
  for (const x of io.of('/').sockets.values()) x.conn.close();
  await until(() => r.sock.length === 3);
  for (const x of io.of('/').sockets.values()) x.disconnect();
  await until(() => r.mgr.length === 6);
  s.connect();
  await until(() => r.sock.length === 5);
  s.disconnect();
  await until(() => r.mgr.length === 8);
  out('seq', 'lifecycle ' + tr, r.mgr, r.sock, r.pings);
}

{
  // The polling connections cut: the pending GET fails.
  const m = new Manager(url, { ...opts, transports: ['polling'] });
  const s = m.socket('/');
  const r = record(m, s);
  s.connect();
  await until(() => s.connected && r.pings > 0);
  await sleep(50);
  httpServer.closeAllConnections();
  await until(() => r.sock.length === 3);
  s.disconnect();
  await until(() => r.mgr[r.mgr.length - 1] === 'close:forced close');
  out('seq', 'cut polling', r.mgr, r.sock, r.pings);
}

{
  const m = new Manager(process.env.REFUSED, { ...opts, transports: ['websocket'], reconnectionAttempts: 2 });
  const s = m.socket('/');
  const r = record(m, null);
  s.connect();
  await until(() => r.mgr.includes('reconnect_failed') && r.mgr[r.mgr.length - 1] === 'reconnect_error');
  await sleep(200);
  out('seq', 'refused', r.mgr, [], 0);
  s.disconnect();
}
io.close();
exit(0);
`

// managerSeq is what one scenario recorded.
type managerSeq struct {
	mgr, sock []string
	pings     int
}

// managerRecorder records a Manager's and a Socket's events as
// managerEventsJS does.
type managerRecorder struct {
	mu     sync.Mutex
	seq    managerSeq
	closed bool
}

func describe(name string, e Event) string {
	parts := []string{name}
	switch name {
	case EventClose, EventDisconnect:
		parts = append(parts, e.Reason)
		if d := e.Description; d != nil {
			parts = append(parts, d.Description)
			if d.Code != 0 {
				parts = append(parts, fmt.Sprint(d.Code))
			}
		}
	case EventReconnectAttempt, EventReconnect:
		parts = append(parts, fmt.Sprint(e.Attempt))
	}
	return strings.Join(parts, ":")
}

func recordManager(m *Manager, s *Socket) *managerRecorder {
	r := &managerRecorder{}
	m.OnEvent(func(e Event) {
		r.mu.Lock()
		defer r.mu.Unlock()
		switch e.Name {
		case EventPing:
			if !r.closed {
				r.seq.pings++
			}
			return
		case EventClose:
			r.closed = true
		}
		r.seq.mgr = append(r.seq.mgr, describe(e.Name, e))
	})
	if s != nil {
		s.OnEvent(func(e Event) {
			if e.Name != EventConnect && e.Name != EventDisconnect {
				return
			}
			r.mu.Lock()
			r.seq.sock = append(r.seq.sock, describe(e.Name, e))
			r.mu.Unlock()
		})
	}
	return r
}

func (r *managerRecorder) get() managerSeq {
	r.mu.Lock()
	defer r.mu.Unlock()
	return managerSeq{slices.Clone(r.seq.mgr), slices.Clone(r.seq.sock), r.seq.pings}
}

// until waits for cond on the record, failing after waitTimeout.
func (r *managerRecorder) until(t *testing.T, what string, cond func(managerSeq) bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond(r.get()) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %+v", what, r.get())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// jsManagerSeqs runs managerEventsJS and returns its sequences by scenario.
func jsManagerSeqs(t *testing.T, refused string) map[string]managerSeq {
	t.Helper()
	node.RequirePackage(t, "socket.io")
	p := node.Run(t, nil, managerEventsJS, map[string]string{"REFUSED": refused})
	out := map[string]managerSeq{}
	for range 4 {
		l := p.Expect(t, "seq", 30*time.Second)
		var name string
		var seq managerSeq
		for i, v := range []any{&name, &seq.mgr, &seq.sock, &seq.pings} {
			if err := l.Decode(i, v); err != nil {
				t.Fatalf("%s: %v", l.Raw, err)
			}
		}
		out[name] = seq
	}
	return out
}

// serverControl drops or namespace-disconnects the sockets of a server.
type serverControl struct {
	url              string
	drop, disconnect func()
}

func nodeControl(t *testing.T) serverControl {
	n := startNode(t, 0, map[string]string{"PING_INTERVAL": "200", "PING_TIMEOUT": "2000"})
	return serverControl{
		url:        n.URL,
		drop:       func() { n.send(map[string]any{"cmd": "drop"}) },
		disconnect: func() { n.send(map[string]any{"cmd": "disconnect"}) },
	}
}

func goControl(t *testing.T) serverControl {
	var mu sync.Mutex
	var socks []*actorio.Socket
	g := startGo(t, actorio.Options{PingInterval: 200 * time.Millisecond, PingTimeout: 2 * time.Second}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			mu.Lock()
			socks = append(socks, s)
			mu.Unlock()
		})
	})
	// each applies fn to the sockets connected since its last call. The
	// client sees its CONNECT answered before the server's connection
	// handlers run (with Node too), so a call right after the client's
	// connect event waits for the handler to have recorded the socket.
	each := func(fn func(s *actorio.Socket)) func() {
		return func() {
			deadline := time.Now().Add(waitTimeout)
			var list []*actorio.Socket
			for {
				mu.Lock()
				list, socks = socks, nil
				mu.Unlock()
				if len(list) > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			for _, s := range list {
				fn(s)
			}
		}
	}
	return serverControl{
		url:        g.URL,
		drop:       each(func(s *actorio.Socket) { s.CloseConn() }),
		disconnect: each(func(s *actorio.Socket) { s.Disconnect(false) }),
	}
}

func TestNodeManagerEventsAndDisconnectDescription(t *testing.T) {
	refused := freePort(t)
	want := jsManagerSeqs(t, refused)
	for name, seq := range want {
		t.Logf("socket.io-client, %s: Manager %q, Socket %q, %d pings before the first close", name, seq.mgr, seq.sock, seq.pings)
	}
	for _, srv := range []struct {
		name  string
		start func(*testing.T) serverControl
	}{{"node", nodeControl}, {"go", goControl}} {
		for _, tr := range []string{TransportWebSocket, TransportPolling} {
			t.Run(srv.name+"/"+tr, func(t *testing.T) {
				c := srv.start(t)
				m, err := NewManager(c.url, fast(Options{Transports: []string{tr}}))
				must(t, err)
				t.Cleanup(func() { _ = m.Close() })
				s := m.Socket("/")
				r := recordManager(m, s)
				must(t, s.Connect())
				r.until(t, "connect and a ping", func(q managerSeq) bool { return len(q.sock) == 1 && q.pings > 0 })
				time.Sleep(50 * time.Millisecond) // as the script: the pong's POST done
				c.drop()
				r.until(t, "the reconnection", func(q managerSeq) bool { return len(q.sock) == 3 })
				c.disconnect()
				r.until(t, "the forced close", func(q managerSeq) bool { return count(q.mgr, "close:forced close") == 1 })
				must(t, s.Connect())
				r.until(t, "connect", func(q managerSeq) bool { return len(q.sock) == 5 })
				s.Disconnect()
				r.until(t, "the forced close", func(q managerSeq) bool { return count(q.mgr, "close:forced close") == 2 })
				time.Sleep(50 * time.Millisecond) // nothing more comes
				got, w := r.get(), want["lifecycle "+tr]
				expectSeq(t, "Manager", got.mgr, w.mgr)
				expectSeq(t, "Socket", got.sock, w.sock)
			})
		}
	}
	for _, srv := range []struct {
		name  string
		start func(*testing.T) serverControl
	}{{"node", nodeControl}, {"go", goControl}} {
		t.Run(srv.name+"/cut polling", func(t *testing.T) {
			c := srv.start(t)
			p := newCutProxy(t, c.url)
			m, err := NewManager(p.URL, fast(Options{Transports: []string{TransportPolling}}))
			must(t, err)
			t.Cleanup(func() { _ = m.Close() })
			s := m.Socket("/")
			r := recordManager(m, s)
			must(t, s.Connect())
			r.until(t, "connect and a ping", func(q managerSeq) bool { return len(q.sock) == 1 && q.pings > 0 })
			time.Sleep(50 * time.Millisecond)
			p.cut()
			r.until(t, "the reconnection", func(q managerSeq) bool { return len(q.sock) == 3 })
			s.Disconnect()
			r.until(t, "the forced close", func(q managerSeq) bool { return count(q.mgr, "close:forced close") == 1 })
			time.Sleep(50 * time.Millisecond)
			// Which of the pending GET and the POST of the pong fails
			// first is a race, with either client.
			xhr := func(seq []string) []string {
				out := slices.Clone(seq)
				for i, e := range out {
					out[i] = strings.Replace(e, "xhr post error", "xhr poll error", 1)
				}
				return out
			}
			got, w := r.get(), want["cut polling"]
			expectSeq(t, "Manager", xhr(got.mgr), xhr(w.mgr))
			expectSeq(t, "Socket", xhr(got.sock), xhr(w.sock))
		})
	}
	t.Run("refused", func(t *testing.T) {
		m, err := NewManager(refused, fast(Options{Transports: []string{TransportWebSocket}, ReconnectionAttempts: 2}))
		must(t, err)
		t.Cleanup(func() { _ = m.Close() })
		s := m.Socket("/")
		r := recordManager(m, nil)
		must(t, s.Connect())
		r.until(t, "reconnect_failed", func(q managerSeq) bool { return slices.Contains(q.mgr, EventReconnectFailed) })
		time.Sleep(200 * time.Millisecond)
		expectSeq(t, "Manager", r.get().mgr, want["refused"].mgr)
	})
}
