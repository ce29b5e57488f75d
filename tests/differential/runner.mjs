// The scenario runner: the same script runs against Node's socket.io and
// against actorio (differential_test.go runs it once per server). It is run
// through internal/node, whose prelude provides out() and sleep().
//
// Environment: URLS, a JSON object {profile: "http://127.0.0.1:port"} (see
// refserver.mjs for the profiles); SCENARIOS, an optional comma-separated
// list of scenario names to run (default: all); CONCURRENCY (default 8).
//
// Output: one line per scenario, {"ev":"result","args":[name, {client:
// [record, ...]}]}, each record the JSON text of one observation in the
// order that client made it; then {"ev":"end","args":[count]}. Ids are
// normalised (see Recorder): a value the server made up (Engine.IO session
// id, socket id, private session id, recovery offset) becomes a
// placeholder named for the client that first learnt it and the order in
// which it did, such as "<a:id2>".
import net from 'node:net';
import { io as ioc, Manager } from 'socket.io-client';
import WebSocket from 'ws';

const URLS = JSON.parse(process.env.URLS);
const STEP = 3000; // the longest wait for one expected observation

// ---- normalisation and recording ----

class Recorder {
  constructor() {
    this.ids = new Map(); // raw id -> placeholder
    this.counts = new Map(); // "<client>:<kind>" -> count
    this.logs = new Map(); // client -> [raw record]
    this.offsets = new Map(); // client -> Map(raw offset -> placeholder)
    this.waiters = [];
    this.closed = false;
  }

  // id registers raw, a value the server chose, as the next placeholder
  // of its kind for client; a value seen before keeps its placeholder.
  id(client, kind, raw) {
    if (typeof raw !== 'string' || raw === '' || this.ids.has(raw)) return;
    const k = client + ':' + kind;
    const n = (this.counts.get(k) || 0) + 1;
    this.counts.set(k, n);
    this.ids.set(raw, '<' + k + n + '>');
  }

  // offset registers a recovery offset as client saw it. Offsets are
  // numbered per client: each client sees its own sequence of them.
  offset(client, raw) {
    if (typeof raw !== 'string' || raw === '') return;
    const m = this.offsets.get(client) || new Map();
    this.offsets.set(client, m);
    if (!m.has(raw)) m.set(raw, '<off' + (m.size + 1) + '>');
  }

  log(client, ...rec) {
    if (this.closed) return;
    const list = this.logs.get(client) || [];
    this.logs.set(client, list);
    list.push(rec);
    for (const w of [...this.waiters]) w();
  }

  // wait resolves with the nth (default first) record of client at index
  // >= from that pred accepts, or logs ["timeout", what] and resolves
  // with null.
  wait(client, from, pred, what, ms = STEP, nth = 1) {
    return new Promise((resolve) => {
      let timer = null;
      const check = () => {
        const list = this.logs.get(client) || [];
        let n = 0;
        for (let i = from; i < list.length; i++) {
          if (pred(list[i]) && ++n === nth) {
            this.waiters = this.waiters.filter((w) => w !== check);
            if (timer) clearTimeout(timer);
            resolve(list[i]);
            return true;
          }
        }
        return false;
      };
      if (check()) return;
      this.waiters.push(check);
      timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        this.log(client, 'timeout', what);
        resolve(null);
      }, ms);
    });
  }

  size(client) {
    return (this.logs.get(client) || []).length;
  }

  normalise(client, v) {
    const offs = this.offsets.get(client) || new Map();
    const walk = (x) => {
      if (x === undefined || x === null) return null;
      if (typeof x === 'string') {
        if (offs.has(x)) return offs.get(x);
        if (this.ids.has(x)) return this.ids.get(x);
        // raw packets carry ids inside their text
        let t = x;
        for (const [raw, ph] of this.ids) if (raw.length >= 8 && t.includes(raw)) t = t.split(raw).join(ph);
        // long strings (payloads near a limit) are shown by their length
        return t.length > 120 ? t.slice(0, 20) + '…(' + t.length + ' chars)' : t;
      }
      if (typeof x === 'function') return '<ack>';
      if (typeof x !== 'object') return x;
      if (Buffer.isBuffer(x) || ArrayBuffer.isView(x)) return { $bin: Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex') };
      if (x instanceof ArrayBuffer) return { $bin: Buffer.from(x).toString('hex') };
      if (Array.isArray(x)) return x.map(walk);
      if (x instanceof Error) {
        const o = { message: x.message };
        if (x.data !== undefined) o.data = walk(x.data);
        return o;
      }
      const o = {};
      for (const k of Object.keys(x)) if (x[k] !== undefined) o[k] = walk(x[k]);
      return o;
    };
    return walk(v);
  }

  result() {
    this.closed = true;
    const res = {};
    for (const [client, list] of [...this.logs].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      res[client] = list.map((rec) => {
        const n = this.normalise(client, rec);
        // a socket's rooms are a set: compare them sorted, once normalised
        if (n[0] === 'event' && n[1] === 'rooms' && Array.isArray(n[2])) n[2].sort();
        return JSON.stringify(n);
      });
    }
    return res;
  }
}

// ---- the official client ----

// Client wraps one socket.io-client Socket and records, under its name,
// what it receives: connect, connect_error, disconnect (reason), every
// event (an ack request shows as a trailing "<ack>"), and the acks of its
// own emits. It answers an ack request with ["answer", ...args].
class Client {
  constructor(rec, name, url, nsp, opts = {}) {
    this.rec = rec;
    this.name = name;
    this.socket = ioc(url + nsp, {
      forceNew: true,
      reconnection: false,
      transports: ['websocket'],
      ...opts,
    });
    const s = this.socket;
    s.on('connect', () => {
      rec.id(name, 'sid', s.io.engine.id);
      rec.id(name, 'id', s.id);
      rec.id(name, 'pid', s._pid);
      rec.log(name, 'connect', { id: s.id, sid: s.io.engine.id, pid: s._pid || null, recovered: s.recovered });
    });
    s.on('connect_error', (err) => rec.log(name, 'connect_error', err));
    s.on('disconnect', (reason) => rec.log(name, 'disconnect', reason));
    s.onAny((ev, ...args) => {
      const last = args[args.length - 1];
      // the client takes a trailing string as the offset when it has a pid
      if (s._pid && typeof last === 'string') rec.offset(name, last);
      if (typeof last === 'function') last('answer', ...args.slice(0, -1));
      rec.log(name, 'event', ev, ...args);
    });
  }

  // connected waits for the connect (or connect_error) of this client.
  connected() {
    return this.rec.wait(this.name, 0, (r) => r[0] === 'connect' || r[0] === 'connect_error', 'connect');
  }

  mark() {
    return this.rec.size(this.name);
  }

  // next waits for the nth (default first) event named ev recorded
  // after mark m.
  next(m, ev, ms, nth = 1) {
    return this.rec.wait(this.name, m, (r) => r[0] === 'event' && r[1] === ev, 'event ' + ev + ' #' + nth, ms, nth);
  }

  // until waits for a record of kind kind after mark m.
  until(m, kind, ms) {
    return this.rec.wait(this.name, m, (r) => r[0] === kind, kind, ms);
  }

  emit(ev, ...args) {
    this.socket.emit(ev, ...args);
  }

  // call emits ev with an ack, records ["ack", ...response] and resolves
  // with the response, or records a timeout.
  call(ev, ...args) {
    return new Promise((resolve) => {
      this.socket.timeout(STEP).emit(ev, ...args, (err, ...resp) => {
        if (err) {
          this.rec.log(this.name, 'timeout', 'ack of ' + ev);
          resolve(null);
          return;
        }
        this.rec.log(this.name, 'ack', ...resp);
        resolve(resp);
      });
    });
  }

  // run asks the server to run ops (see refserver.mjs) and waits for its ack.
  run(...ops) {
    return this.call('run', ops);
  }

  close() {
    this.socket.disconnect();
  }
}

// ---- raw Engine.IO over HTTP and WebSocket ----

// learn registers the socket ids and private session ids that CONNECT
// answers in text (one or several packets) carry.
const learn = (rec, client, text) => {
  for (const m of text.matchAll(/"sid":"([^"]+)"/g)) rec.id(client, 'id', m[1]);
  for (const m of text.matchAll(/"pid":"([^"]+)"/g)) rec.id(client, 'pid', m[1]);
};

// httpReq sends one HTTP request to profile's endpoint (query appended to
// /socket.io/) and records ["http", method, status, body] for client; an
// open packet's body is parsed so that its sid becomes a placeholder.
const httpReq = async (rec, client, base, query, { method = 'GET', body, headers, record } = {}) => {
  const res = await fetch(base + '/socket.io/?' + query, { method, body, headers });
  let text = await res.text();
  let shown = text;
  if (text.startsWith('0{')) {
    const open = JSON.parse(text.slice(1));
    rec.id(client, 'sid', open.sid);
    shown = ['0', open];
  } else if (text.startsWith('{')) {
    try { shown = JSON.parse(text); } catch (_) { /* keep the text */ }
  } else {
    learn(rec, client, text);
  }
  rec.log(client, 'http', method, res.status, res.headers.get('content-type'), shown);
  if (record) rec.log(client, 'headers', Object.fromEntries(record.map((h) => [h, res.headers.get(h)])));
  return { status: res.status, text, sid: Array.isArray(shown) ? shown[1].sid : undefined };
};

// RawWS is a WebSocket speaking Engine.IO by hand. It records ["ws-open"],
// every message received as ["recv", text] (an open packet parsed, binary
// as bytes), ["close", code] and, for a refused upgrade, ["refused",
// status]. It answers pings unless mute is set.
class RawWS {
  constructor(rec, client, base, query, { mute = false } = {}) {
    this.rec = rec;
    this.client = client;
    this.mute = mute;
    this.ws = new WebSocket(base.replace(/^http/, 'ws') + '/socket.io/?' + query);
    this.ws.on('open', () => rec.log(client, 'ws-open'));
    this.ws.on('unexpected-response', (req, res) => {
      rec.log(client, 'refused', res.statusCode);
      res.resume();
      this.ws.terminate();
    });
    this.ws.on('error', () => {}); // the close record tells the outcome
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) {
        rec.log(client, 'recv', Buffer.from(data));
        return;
      }
      const text = data.toString();
      if (text.startsWith('0{')) {
        const open = JSON.parse(text.slice(1));
        rec.id(client, 'sid', open.sid);
        rec.log(client, 'recv', '0', open);
        return;
      }
      if (text.startsWith('40')) learn(rec, client, text);
      rec.log(client, 'recv', text);
      if (text === '2' && !this.mute) this.ws.send('3');
    });
    this.ws.on('close', (code) => rec.log(client, 'close', code));
  }

  send(data) {
    this.ws.send(data);
  }

  // next waits for a record after mark m whose first field is kind and,
  // for "recv", whose text starts with prefix.
  next(m, kind, prefix = '') {
    return this.rec.wait(this.client, m, (r) => r[0] === kind && (prefix === '' || (typeof r[1] === 'string' && r[1].startsWith(prefix))), kind + ' ' + prefix);
  }

  mark() {
    return this.rec.size(this.client);
  }

  close() {
    this.ws.terminate();
  }

  // endConnection shuts the client's side of the TCP connection without a
  // close frame (a client that hangs up); what the server then sends, a
  // close frame or none, shows in the close record's code (1005 or 1006).
  endConnection() {
    this.ws._socket.end();
  }

  // closeFrame sends a close frame with code.
  closeFrame(code) {
    this.ws.close(code);
  }
}

// rawUpgrade sends a WebSocket upgrade request for query, written by hand,
// on a TCP connection of its own, and records ["upgrade-answer", status,
// closed]: the status of the server's answer and whether the server closed
// the connection within STEP.
const rawUpgrade = (rec, client, base, query) => new Promise((resolve) => {
  const u = new URL(base);
  const s = net.connect(Number(u.port), u.hostname);
  let head = '';
  let status = 0;
  const done = (closed) => {
    clearTimeout(timer);
    rec.log(client, 'upgrade-answer', status, closed);
    s.destroy();
    resolve();
  };
  const timer = setTimeout(() => done(false), STEP);
  s.on('connect', () => s.write('GET /socket.io/?' + query + ' HTTP/1.1\r\nHost: ' + u.host +
    '\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'));
  s.on('data', (b) => {
    head += b.toString('latin1');
    const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
    if (m) status = Number(m[1]);
  });
  s.on('error', () => {});
  s.on('close', () => done(true));
});

// ---- scenarios ----

// Each scenario gets ctx: rec (its Recorder), client(name, nsp, opts,
// profile), raw(name, query, opts, profile), http(name, query, opts,
// profile), upgrade(name, query, profile) (see rawUpgrade), ns(prefix) (a
// namespace name of its own) and room() (a room name of its own);
// profile defaults to the scenario's. serverReasons
// reads back the server's disconnect reasons for sockets connected with
// auth.tag.
const scenarios = new Map();
const scenario = (name, profile, fn) => scenarios.set(name, { profile, fn });

const bin = (...b) => Buffer.from(b);

// ---- connect and auth ----

scenario('connect/default-namespace', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  await a.run({ op: 'whoami' });
});

scenario('connect/auth-payload', 'main', async (c) => {
  const a = c.client('a', '/', { auth: { token: 'abc', n: 1, nested: { x: [1, 2] } } });
  await a.connected();
  await a.run({ op: 'whoami' });
});

scenario('connect/middleware-accepts-token', 'main', async (c) => {
  const a = c.client('a', '/auth', { auth: { token: 'secret' } });
  await a.connected();
  await a.run({ op: 'whoami' });
});

scenario('connect/middleware-refuses-with-data', 'main', async (c) => {
  const a = c.client('a', '/auth', { auth: { token: 'wrong' } });
  await a.connected();
  const b = c.client('b', '/private');
  await b.connected();
});

scenario('connect/retry-after-refusal', 'main', async (c) => {
  const a = c.client('a', '/auth', { auth: { token: 'wrong' } });
  await a.connected();
  a.socket.auth = { token: 'secret' };
  a.socket.connect();
  await a.until(1, 'connect');
  await a.call('echo', 'in');
});

scenario('connect/greeting-in-connection-handler', 'main', async (c) => {
  const a = c.client('a', '/', { auth: { greet: true } });
  await a.connected();
  await a.next(0, 'welcome');
});

scenario('connect/polling-handshake-raw', 'main', async (c) => {
  await c.http('a', 'EIO=4&transport=polling');
});

scenario('connect/websocket-handshake-raw', 'main', async (c) => {
  const w = c.raw('a', 'EIO=4&transport=websocket');
  await w.next(0, 'recv', '0');
  const m = w.mark();
  w.send('40');
  await w.next(m, 'recv', '40');
  const m2 = w.mark();
  w.send('40/admin,{"tag":"x"}');
  await w.next(m2, 'recv', '40/admin');
});

scenario('connect/polling-connect-raw', 'main', async (c) => {
  const r = await c.http('a', 'EIO=4&transport=polling');
  const q = 'EIO=4&transport=polling&sid=' + encodeURIComponent(r.sid);
  await c.http('a', q, { method: 'POST', body: '40{"token":"t"}' });
  await c.http('a', q);
});

// A POST carrying a CONNECT is answered once read, before the
// namespace's middleware has decided: the CONNECT's answer comes on a GET.
scenario('connect/polling-post-before-middleware-raw', 'main', async (c) => {
  const r = await c.http('a', 'EIO=4&transport=polling');
  const q = 'EIO=4&transport=polling&sid=' + encodeURIComponent(r.sid);
  const get = c.http('a', q);
  const t0 = Date.now();
  await c.http('a', q, { method: 'POST', body: '40/slow,' });
  // The middleware takes a second: an answer within half of it did not wait.
  c.rec.log('a', 'post-answered-before-middleware', Date.now() - t0 < 500);
  await get;
});

// ---- namespaces ----

scenario('namespace/static-multiplexed', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  const b = c.client('b', '/admin', {});
  await b.connected();
  // Two namespaces of one Manager share one Engine.IO session.
  const m = a.socket.io;
  const adm = m.socket('/admin');
  adm.on('connect', () => {
    c.rec.id('a', 'id', adm.id);
    c.rec.log('a', 'admin-connect', adm.io.engine.id === a.socket.io.engine.id);
  });
  adm.onAny((...args) => c.rec.log('a', 'admin-event', ...args));
  await c.rec.wait('a', 0, (r) => r[0] === 'admin-connect', 'admin connect');
  await new Promise((resolve) => adm.emit('run', [{ op: 'whoami' }], (x) => { c.rec.log('a', 'admin-ack', x); resolve(); }));
  await c.rec.wait('a', 0, (r) => r[0] === 'admin-event' && r[1] === 'whoami', 'whoami');
});

scenario('namespace/invalid', 'main', async (c) => {
  const a = c.client('a', '/nope');
  await a.connected();
});

scenario('namespace/invalid-raw', 'main', async (c) => {
  const w = c.raw('a', 'EIO=4&transport=websocket');
  await w.next(0, 'recv', '0');
  const m = w.mark();
  w.send('40/nope,');
  await w.next(m, 'recv', '44');
  const m2 = w.mark();
  w.send('40');
  await w.next(m2, 'recv', '40');
});

scenario('namespace/dynamic-child', 'main', async (c) => {
  const name = c.ns('/dyn-');
  const a = c.client('a', name);
  await a.connected();
  await a.run({ op: 'whoami' });
});

scenario('namespace/dynamic-parent-middleware-refuses', 'main', async (c) => {
  const a = c.client('a', c.ns('/dyn-'), { auth: { refuse: true } });
  await a.connected();
});

scenario('namespace/dynamic-no-match', 'main', async (c) => {
  const a = c.client('a', '/dyn-x1');
  await a.connected();
});

scenario('namespace/dynamic-parent-broadcast', 'main', async (c) => {
  const n1 = c.ns('/pdyn-');
  const n2 = c.ns('/pdyn-');
  const a = c.client('a', n1);
  await a.connected();
  const b = c.client('b', n2);
  await b.connected();
  const s = c.client('s', '/');
  await s.connected();
  const ma = a.mark();
  const mb = b.mark();
  await s.run({ op: 'to', from: 'parent', parent: 'pdyn', ev: 'all', args: ['x'] });
  await a.next(ma, 'all');
  await b.next(mb, 'all');
});

// childAgain: a client uses a dynamic child namespace and leaves it, and
// after pause another connects to the same name: its connection count
// (the 'seq' op) tells whether the child was kept or made again.
async function childAgain(c, pause) {
  const name = c.ns('/dyn-');
  const a = c.client('a', name);
  await a.connected();
  await a.run({ op: 'seq' });
  a.close();
  await sleep(pause);
  const b = c.client('b', name);
  await b.connected();
  await b.run({ op: 'seq' });
}

scenario('namespace/dynamic-child-kept-when-empty', 'main', (c) => childAgain(c, 100));

// The same on actorio with KeepEmptyChildNamespaces, Node at its default.
scenario('namespace/dynamic-child-kept-with-option', 'keep', (c) => childAgain(c, 100));

scenario('namespace/dynamic-child-cleanup-when-empty', 'cleanup', (c) => childAgain(c, 200));

// ---- rooms, except, broadcast, volatile ----

// group connects clients named names to a namespace of the scenario's
// own, so that namespace-wide broadcasts reach only them.
const group = async (c, names, opts = {}) => {
  const nsp = c.ns('/dyn-');
  const cs = {};
  for (const n of names) {
    cs[n] = c.client(n, nsp, opts);
    await cs[n].connected();
  }
  return cs;
};

// fenced runs ops on sender, then a namespace-wide "fence" event, and
// waits for every client to get the fence: what a client did not get
// before it, it will not get.
const fenced = async (sender, cs, ...ops) => {
  const marks = Object.fromEntries(Object.entries(cs).map(([n, x]) => [n, x.mark()]));
  await sender.run(...ops, { op: 'to', from: 'nsp', ev: 'fence' });
  for (const [n, x] of Object.entries(cs)) await x.next(marks[n], 'fence');
};

scenario('rooms/join-and-room-broadcast', 'main', async (c) => {
  const cs = await group(c, ['a', 'b', 'c']);
  await cs.a.run({ op: 'join', rooms: ['r1'] });
  await cs.b.run({ op: 'join', rooms: ['r1', 'r2'] });
  await fenced(cs.c, cs, { op: 'to', from: 'nsp', to: ['r1'], ev: 'news', args: [1] });
});

scenario('rooms/multiple-rooms-delivered-once', 'main', async (c) => {
  const cs = await group(c, ['a', 'b']);
  await cs.a.run({ op: 'join', rooms: ['r1', 'r2'] });
  await fenced(cs.b, cs, { op: 'to', from: 'nsp', to: ['r1', 'r2'], ev: 'news' });
});

scenario('rooms/leave', 'main', async (c) => {
  const cs = await group(c, ['a', 'b']);
  await cs.a.run({ op: 'join', rooms: ['r1', 'r2'] }, { op: 'leave', room: 'r1' }, { op: 'rooms' });
  await fenced(cs.b, cs, { op: 'to', from: 'nsp', to: ['r1'], ev: 'news1' }, { op: 'to', from: 'nsp', to: ['r2'], ev: 'news2' });
});

scenario('rooms/rooms-list', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  await a.run({ op: 'rooms' }, { op: 'join', rooms: ['x', 'y'] }, { op: 'rooms' }, { op: 'leave', room: 'x' }, { op: 'rooms' });
});

scenario('rooms/join-on-connect', 'main', async (c) => {
  const cs = await group(c, ['a', 'b'], { auth: { join: ['lobby'] } });
  await fenced(cs.a, cs, { op: 'to', from: 'nsp', to: ['lobby'], ev: 'news' });
});

scenario('rooms/socket-to-excludes-sender', 'main', async (c) => {
  const cs = await group(c, ['a', 'b']);
  await cs.a.run({ op: 'join', rooms: ['r'] });
  await cs.b.run({ op: 'join', rooms: ['r'] });
  await fenced(cs.a, cs, { op: 'to', from: 'socket', to: ['r'], ev: 'news' });
});

scenario('broadcast/socket-broadcast', 'main', async (c) => {
  const cs = await group(c, ['a', 'b', 'c']);
  await fenced(cs.a, cs, { op: 'to', from: 'socket', ev: 'news', args: ['hi', { n: 1 }] });
});

scenario('broadcast/namespace-emit', 'main', async (c) => {
  const cs = await group(c, ['a', 'b']);
  await fenced(cs.a, cs, { op: 'to', from: 'nsp', ev: 'news', args: [null, true, 1.5, 'x'] });
});

scenario('broadcast/except-room', 'main', async (c) => {
  const cs = await group(c, ['a', 'b', 'c']);
  await cs.b.run({ op: 'join', rooms: ['muted'] });
  await fenced(cs.a, cs, { op: 'to', from: 'nsp', except: ['muted'], ev: 'news' });
});

scenario('broadcast/to-and-except', 'main', async (c) => {
  const cs = await group(c, ['a', 'b', 'c']);
  await cs.a.run({ op: 'join', rooms: ['r'] });
  await cs.b.run({ op: 'join', rooms: ['r', 'muted'] });
  await cs.c.run({ op: 'join', rooms: ['muted'] });
  await fenced(cs.c, cs, { op: 'to', from: 'nsp', to: ['r'], except: ['muted'], ev: 'news' });
});

scenario('broadcast/socket-except', 'main', async (c) => {
  const cs = await group(c, ['a', 'b', 'c']);
  await cs.c.run({ op: 'join', rooms: ['muted'] });
  await fenced(cs.a, cs, { op: 'to', from: 'socket', except: ['muted'], ev: 'news' });
});

scenario('broadcast/except-socket-id', 'main', async (c) => {
  const cs = await group(c, ['a', 'b', 'c']);
  await fenced(cs.a, cs, { op: 'to', from: 'nsp', except: [cs.b.socket.id], ev: 'news' });
});

scenario('broadcast/to-socket-id', 'main', async (c) => {
  const cs = await group(c, ['a', 'b']);
  await fenced(cs.a, cs, { op: 'to', from: 'nsp', to: [cs.b.socket.id], ev: 'direct', args: [cs.a.socket.id] });
});

scenario('broadcast/binary', 'main', async (c) => {
  const cs = await group(c, ['a', 'b']);
  await fenced(cs.a, cs, { op: 'to', from: 'nsp', ev: 'news', args: [bin(1, 2, 3), { deep: [bin(4)] }] });
});

scenario('volatile/socket-emit-connected', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  const m = a.mark();
  await a.run({ op: 'volatile', ev: 'v', args: [1] });
  await a.next(m, 'v');
});

scenario('volatile/broadcast-connected', 'main', async (c) => {
  const cs = await group(c, ['a', 'b']);
  await fenced(cs.a, cs, { op: 'to', from: 'nsp', volatile: true, ev: 'v' });
});

scenario('volatile/client-emit', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  a.socket.volatile.emit('echo', 'v1');
  await a.next(0, 'echo');
});

scenario('order/volatile-then-emit', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  const m = a.mark();
  await a.run({ op: 'volatile', ev: 'a' }, { op: 'emit', ev: 'b' });
  await a.next(m, 'b');
  await a.next(m, 'a', 500);
});

scenario('volatile/emit-then-volatile', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  const m = a.mark();
  await a.run({ op: 'emit', ev: 'a' }, { op: 'volatile', ev: 'b' }, { op: 'emit', ev: 'c' });
  await a.next(m, 'c');
  await a.next(m, 'b', 300);
});

// ---- acknowledgements ----

scenario('ack/client-to-server', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  await a.call('echo', 1, 'two', { three: [3] });
  await a.call('echo');
  await a.call('echo', null);
});

scenario('ack/server-to-client', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  const m = a.mark();
  await a.run({ op: 'emitAck', ev: 'ask', args: ['q', 1] });
  await a.next(m, 'answered');
});

scenario('ack/server-to-client-timeout', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  a.socket.on('silent', () => {}); // listeners of an event with ack that never answer
  a.socket.offAny();
  a.socket.onAny((ev, ...args) => c.rec.log('a', 'event', ev, ...args.filter((x) => typeof x !== 'function')));
  const m = a.mark();
  await a.run({ op: 'emitAck', ev: 'silent', timeout: 300 });
  await a.next(m, 'answered');
});

scenario('ack/explicit-ack-before-emits', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  const m = a.mark();
  await a.run({ op: 'ack', args: ['early'] }, { op: 'emit', ev: 'after' });
  await a.next(m, 'after');
});

scenario('ack/binary-both-ways', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  await a.call('echo', bin(1, 2), { b: bin(3) });
  const m = a.mark();
  await a.run({ op: 'emitAck', ev: 'ask', args: [bin(9, 8, 7)] });
  await a.next(m, 'answered');
});

scenario('ack/broadcast-with-ack', 'main', async (c) => {
  const cs = await group(c, ['a', 'b', 'c']);
  await cs.a.run({ op: 'join', rooms: ['r'] });
  await cs.b.run({ op: 'join', rooms: ['r'] });
  const m = cs.c.mark();
  await cs.c.run({ op: 'to', from: 'nsp', to: ['r'], ev: 'ask', args: ['poll'], timeout: 2000 });
  await cs.c.next(m, 'answered');
});

scenario('ack/broadcast-with-ack-timeout', 'main', async (c) => {
  const cs = await group(c, ['a', 'b']);
  // b never answers "ask".
  cs.b.socket.offAny();
  cs.b.socket.onAny((ev, ...args) => c.rec.log('b', 'event', ev, ...args.filter((x) => typeof x !== 'function')));
  await cs.a.run({ op: 'join', rooms: ['r'] });
  await cs.b.run({ op: 'join', rooms: ['r'] });
  const m = cs.a.mark();
  await cs.a.run({ op: 'to', from: 'nsp', to: ['r'], ev: 'ask', timeout: 400 });
  await cs.a.next(m, 'answered');
});

scenario('ack/broadcast-with-ack-no-receiver', 'main', async (c) => {
  const cs = await group(c, ['a']);
  const m = cs.a.mark();
  await cs.a.run({ op: 'to', from: 'nsp', to: ['empty'], ev: 'ask', timeout: 2000 });
  await cs.a.next(m, 'answered');
});

scenario('message/send', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  a.socket.send('hi', 2);
  await a.next(0, 'message');
  await a.run({ op: 'send', args: ['from server'] });
});

// ---- binary at any depth, over both transports ----

for (const tr of ['websocket', 'polling']) {
  scenario('binary/' + tr + '/echo-depths', 'main', async (c) => {
    const a = c.client('a', '/', { transports: [tr] });
    await a.connected();
    await a.call('echo', bin(1, 2, 3));
    await a.call('echo', { a: { b: { c: [0, bin(255)] } } });
    await a.call('echo', [bin(1), [bin(2), [bin(3)]]], 'text', bin());
    await a.call('echo', { many: [bin(10), bin(11), bin(12), bin(13)] }, bin(14));
    const m = a.mark();
    a.emit('echo', 'no ack', { x: bin(5, 6) });
    await a.next(m, 'echo');
  });

  scenario('order/' + tr + '/mixed-packets', 'main', async (c) => {
    const a = c.client('a', '/', { transports: [tr] });
    await a.connected();
    const m = a.mark();
    await a.run(
      { op: 'emit', ev: 'e1' },
      { op: 'emit', ev: 'e2', args: [bin(1)] },
      { op: 'emit', ev: 'e3', args: ['text'] },
      { op: 'emit', ev: 'e4', args: [{ b: [bin(2), bin(3)] }] },
      { op: 'send', args: ['m5'] },
      { op: 'emit', ev: 'e6' },
    );
    await a.next(m, 'e6');
  });

  scenario('order/' + tr + '/client-burst', 'main', async (c) => {
    const a = c.client('a', '/', { transports: [tr] });
    await a.connected();
    const m = a.mark();
    for (let i = 0; i < 20; i++) {
      if (i % 3 === 0) a.emit('echo', i, bin(i));
      else a.emit('echo', i);
    }
    await a.next(m, 'echo', STEP, 20);
    await a.call('echo', 'last');
  });
}

scenario('order/room-emit-then-ack', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  const room = c.room();
  const m = a.mark();
  await a.run({ op: 'join', rooms: [room] }, { op: 'to', from: 'nsp', to: [room], ev: 'told' }, { op: 'ack', args: ['ok'] });
  await a.next(m, 'told');
});

scenario('order/emit-then-ack', 'main', async (c) => {
  const a = c.client('a', '/');
  await a.connected();
  const m = a.mark();
  await a.run({ op: 'emit', ev: 'first' }, { op: 'emit', ev: 'second', args: [bin(1)] }, { op: 'ack', args: ['ok'] });
  await a.next(m, 'second');
});

// ---- disconnect reasons on both sides ----

// watch connects the observer "w" that reads the server-side disconnect
// reasons of tag, waiting until some are recorded.
const serverReasons = async (c, tag, profile = 'main') => {
  const w = c.client('w', '/', {}, profile);
  await w.connected();
  for (let i = 0; i < 60; i++) {
    const list = await new Promise((resolve) => w.socket.emit('run', [{ op: 'reasons', tag }], resolve));
    if (list.length > 0) {
      c.rec.log('w', 'reasons', list);
      return;
    }
    await sleep(50);
  }
  c.rec.log('w', 'reasons', 'none');
};

scenario('disconnect/client-disconnect', 'main', async (c) => {
  const tag = c.room();
  const a = c.client('a', '/', { auth: { tag } });
  await a.connected();
  a.close();
  await serverReasons(c, tag);
});

scenario('disconnect/server-disconnect', 'main', async (c) => {
  const tag = c.room();
  const a = c.client('a', '/', { auth: { tag } });
  await a.connected();
  a.emit('run', [{ op: 'disconnect' }]);
  await a.until(0, 'disconnect');
  await serverReasons(c, tag);
});

scenario('disconnect/server-disconnect-close', 'main', async (c) => {
  const tag = c.room();
  const a = c.client('a', '/', { auth: { tag } });
  await a.connected();
  const adm = a.socket.io.socket('/admin', { auth: { tag } });
  adm.on('connect', () => c.rec.log('a', 'admin-connect'));
  adm.on('disconnect', (r) => c.rec.log('a', 'admin-disconnect', r));
  await c.rec.wait('a', 0, (r) => r[0] === 'admin-connect', 'admin connect');
  a.emit('run', [{ op: 'disconnect', close: true }]);
  await a.until(0, 'disconnect');
  await c.rec.wait('a', 0, (r) => r[0] === 'admin-disconnect', 'admin disconnect');
  await serverReasons(c, tag);
});

scenario('disconnect/one-namespace-of-two', 'main', async (c) => {
  const tag = c.room();
  const a = c.client('a', '/', { auth: { tag } });
  await a.connected();
  const adm = a.socket.io.socket('/admin', { auth: { tag } });
  adm.on('connect', () => c.rec.log('a', 'admin-connect'));
  adm.on('disconnect', (r) => c.rec.log('a', 'admin-disconnect', r));
  await c.rec.wait('a', 0, (r) => r[0] === 'admin-connect', 'admin connect');
  adm.emit('run', [{ op: 'disconnect' }]);
  await c.rec.wait('a', 0, (r) => r[0] === 'admin-disconnect', 'admin disconnect');
  await a.call('echo', 'still here');
  await serverReasons(c, tag);
});

scenario('disconnect/transport-close', 'main', async (c) => {
  const tag = c.room();
  const a = c.client('a', '/', { auth: { tag } });
  await a.connected();
  a.socket.io.engine.close();
  await a.until(0, 'disconnect');
  await serverReasons(c, tag);
});

scenario('disconnect/polling-transport-close', 'main', async (c) => {
  const tag = c.room();
  const a = c.client('a', '/', { auth: { tag }, transports: ['polling'] });
  await a.connected();
  a.socket.io.engine.close();
  await a.until(0, 'disconnect');
  await serverReasons(c, tag);
});

scenario('disconnect/raw-websocket-dropped', 'main', async (c) => {
  const tag = c.room();
  const w = c.raw('a', 'EIO=4&transport=websocket');
  await w.next(0, 'recv', '0');
  w.send('40' + JSON.stringify({ tag }));
  await w.next(0, 'recv', '40');
  w.close();
  await serverReasons(c, tag);
});

scenario('disconnect/parse-error', 'main', async (c) => {
  const tag = c.room();
  const w = c.raw('a', 'EIO=4&transport=websocket');
  await w.next(0, 'recv', '0');
  w.send('40' + JSON.stringify({ tag }));
  await w.next(0, 'recv', '40');
  w.send('4abc');
  await w.next(0, 'close');
  await serverReasons(c, tag);
});

scenario('disconnect/client-sends-41', 'main', async (c) => {
  const tag = c.room();
  const w = c.raw('a', 'EIO=4&transport=websocket');
  await w.next(0, 'recv', '0');
  w.send('40' + JSON.stringify({ tag }));
  await w.next(0, 'recv', '40');
  w.send('41');
  await serverReasons(c, tag);
  const m = w.mark();
  w.send('40'); // the same session joins again
  await w.next(m, 'recv', '40');
});

scenario('disconnect/ping-timeout', 'hb', async (c) => {
  const tag = c.room();
  const w = c.raw('a', 'EIO=4&transport=websocket', { mute: true });
  await w.next(0, 'recv', '0');
  w.send('40' + JSON.stringify({ tag }));
  await w.next(0, 'recv', '40');
  await w.next(0, 'close');
  await serverReasons(c, tag, 'hb');
});

// The official client's view of the server-side closes above: the
// reason its socket reports, on both transports.
for (const transport of ['websocket', 'polling']) {
  scenario('js/' + transport + '/parse-error', 'main', async (c) => {
    const tag = c.room();
    const a = c.client('a', '/', { transports: [transport], auth: { tag } });
    await a.connected();
    a.socket.io.engine.send('abc'); // the Socket.IO packet "abc" does not decode
    await a.until(0, 'disconnect');
    await serverReasons(c, tag);
  });

  scenario('js/' + transport + '/ping-timeout', 'hb', async (c) => {
    const tag = c.room();
    const a = c.client('a', '/', { transports: [transport], auth: { tag } });
    await a.connected();
    // The client stops answering pings (and so would its own timer, which
    // waits pingInterval + pingTimeout: the server's comes first).
    const e = a.socket.io.engine;
    const send = e._sendPacket.bind(e);
    e._sendPacket = (type, ...rest) => (type === 'pong' ? undefined : send(type, ...rest));
    await a.until(0, 'disconnect');
    await serverReasons(c, tag, 'hb');
  });

  scenario('js/' + transport + '/client-sent-ping', 'main', async (c) => {
    const tag = c.room();
    const a = c.client('a', '/', { transports: [transport], auth: { tag } });
    await a.connected();
    a.socket.io.engine._sendPacket('ping');
    await a.until(0, 'disconnect');
    await serverReasons(c, tag);
  });

  scenario('js/' + transport + '/server-disconnect-close', 'main', async (c) => {
    const tag = c.room();
    const a = c.client('a', '/', { transports: [transport], auth: { tag } });
    await a.connected();
    a.emit('run', [{ op: 'disconnect', close: true }]);
    await a.until(0, 'disconnect');
    await serverReasons(c, tag);
  });

  scenario('js/' + transport + '/connect-timeout', 'hb', async (c) => {
    // A Manager whose engine opens and never connects a namespace.
    const m = new Manager(URLS.hb, { transports: [transport], reconnection: false, forceNew: true });
    m.on('open', () => c.rec.log('a', 'open'));
    m.on('close', (reason) => c.rec.log('a', 'close', reason));
    await c.rec.wait('a', 0, (r) => r[0] === 'close', 'close');
  });
}

// ---- malformed and raw packets ----

for (const [name, packet] of [
  ['bad-type', '4abc'],
  ['event-not-array', '42{}'],
  ['bad-json', '42["ev"'],
  ['event-name-not-string', '42[{"a":1}]'],
  ['connect-auth-not-object', '40"str"'],
  ['binary-without-attachments-count', '45["ev",{"_placeholder":true,"num":0}]'],
  ['unknown-engine-type', '9'],
  ['reserved-event-name', '42["disconnect"]'],
  ['numeric-event-name', '42[1,2]'],
  ['ack-not-array', '431{}'],
]) {
  // The malformed packet follows a CONNECT as tag; then an echo tells
  // whether the connection survived, and the reasons the socket's end.
  scenario('malformed/' + name, 'main', async (c) => {
    const tag = c.room();
    const w = c.raw('a', 'EIO=4&transport=websocket');
    await w.next(0, 'recv', '0');
    if (!packet.startsWith('40')) {
      w.send('40' + JSON.stringify({ tag }));
      await w.next(0, 'recv', '40');
    }
    const m = w.mark();
    w.send(packet);
    w.send('42["echo","alive"]');
    const r = await c.rec.wait('a', m, (x) => x[0] === 'close' || (x[0] === 'recv' && x[1].startsWith('42')), 'close or echo');
    if (r && r[0] === 'close' && !packet.startsWith('40')) await serverReasons(c, tag);
  });
}

// A client that hangs up: with a close frame (the server answers with its
// own, echoing the code), or by ending its TCP connection (the server
// sends no frame, only the end), then the reasons the socket's end.
for (const [name, hangUp] of [
  ['close-frame', (w) => w.closeFrame(1000)],
  ['end-of-connection', (w) => w.endConnection()],
]) {
  scenario('raw/client-hangs-up-' + name, 'main', async (c) => {
    const tag = c.room();
    const w = c.raw('a', 'EIO=4&transport=websocket');
    await w.next(0, 'recv', '0');
    w.send('40' + JSON.stringify({ tag }));
    await w.next(0, 'recv', '40');
    hangUp(w);
    await w.next(0, 'close');
    await serverReasons(c, tag);
  });
}

scenario('raw/event-to-unjoined-namespace', 'main', async (c) => {
  const w = c.raw('a', 'EIO=4&transport=websocket');
  await w.next(0, 'recv', '0');
  w.send('40');
  await w.next(0, 'recv', '40');
  const m = w.mark();
  w.send('42/admin,["echo","lost"]');
  w.send('42["echo","kept"]');
  await w.next(m, 'recv', '42');
});

scenario('raw/duplicate-connect', 'main', async (c) => {
  const w = c.raw('a', 'EIO=4&transport=websocket');
  await w.next(0, 'recv', '0');
  w.send('40');
  await w.next(0, 'recv', '40');
  const m = w.mark();
  w.send('40');
  w.send('42["echo","after"]');
  await c.rec.wait('a', m, (x) => x[0] === 'close' || (x[0] === 'recv' && x[1].startsWith('42')), 'close or echo');
});

scenario('raw/polling-several-packets', 'main', async (c) => {
  const r = await c.http('a', 'EIO=4&transport=polling');
  const q = 'EIO=4&transport=polling&sid=' + encodeURIComponent(r.sid);
  await c.http('a', q, { method: 'POST', body: '40' });
  await c.http('a', q);
  await c.http('a', q, { method: 'POST', body: '42["echo",1]\x1e42["echo",2]\x1e42["echo",3]' });
  await sleep(50);
  await c.http('a', q);
});

scenario('raw/polling-binary-base64', 'main', async (c) => {
  const r = await c.http('a', 'EIO=4&transport=polling');
  const q = 'EIO=4&transport=polling&sid=' + encodeURIComponent(r.sid);
  await c.http('a', q, { method: 'POST', body: '40' });
  await c.http('a', q);
  await c.http('a', q, { method: 'POST', body: '451-3["echo",{"_placeholder":true,"num":0}]\x1ebAQID' });
  await sleep(50);
  await c.http('a', q);
});

scenario('http/cross-origin-handshake', 'main', async (c) => {
  await c.http('a', 'EIO=4&transport=polling', { headers: { Origin: 'http://elsewhere.example' } });
});

// ---- CORS (Node's socket.io passes its cors option to the cors package) ----

const corsHeaders = [
  'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods',
  'access-control-allow-headers', 'access-control-max-age', 'access-control-expose-headers', 'vary',
];

// A browser's preflight, then the request it allowed: a PUT, which the
// official Engine.IO suite sends from a page of another origin and expects
// to get its 400 for.
scenario('cors/any-origin-preflight-then-put', 'cors', async (c) => {
  const Origin = 'http://elsewhere.example';
  await c.http('a', 'EIO=4&transport=polling', {
    method: 'OPTIONS', record: corsHeaders,
    headers: { Origin, 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'content-type,x-token' },
  });
  await c.http('a', 'EIO=4&transport=polling', { method: 'PUT', record: corsHeaders, headers: { Origin } });
});

scenario('cors/any-origin-preflight-without-headers', 'cors', async (c) => {
  await c.http('a', 'EIO=4&transport=polling', {
    method: 'OPTIONS', record: corsHeaders,
    headers: { Origin: 'http://elsewhere.example', 'Access-Control-Request-Method': 'POST' },
  });
});

// corsSession opens a polling session from Origin, CONNECTs and polls,
// recording each answer's CORS headers.
const corsSession = async (c, Origin) => {
  const r = await c.http('a', 'EIO=4&transport=polling', { record: corsHeaders, headers: { Origin } });
  const q = 'EIO=4&transport=polling&sid=' + encodeURIComponent(r.sid);
  await c.http('a', q, { method: 'POST', body: '40', record: corsHeaders, headers: { Origin } });
  await c.http('a', q, { record: corsHeaders, headers: { Origin } });
};

scenario('cors/any-origin-session', 'cors', (c) => corsSession(c, 'http://elsewhere.example'));

scenario('cors/listed-origin-preflight', 'corslist', async (c) => {
  await c.http('a', 'EIO=4&transport=polling', {
    method: 'OPTIONS', record: corsHeaders,
    headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-other' },
  });
});

scenario('cors/listed-origin-session', 'corslist', (c) => corsSession(c, 'https://app.example'));

scenario('raw/binary-event-frames', 'main', async (c) => {
  const w = c.raw('a', 'EIO=4&transport=websocket');
  await w.next(0, 'recv', '0');
  w.send('40');
  await w.next(0, 'recv', '40');
  const m = w.mark();
  w.send('452-7["echo",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]');
  w.send(bin(1, 2));
  w.send(bin(3));
  await w.next(m, 'recv', '46');
  await c.rec.wait('a', m, (x) => x[0] === 'recv' && Buffer.isBuffer(x[1]) && x[1].length === 1, 'second attachment');
});

// ---- HTTP statuses ----

for (const [name, query, opts] of [
  ['no-eio', 'transport=polling', {}],
  ['eio3', 'EIO=3&transport=polling', {}],
  ['unknown-transport', 'EIO=4&transport=carrier-pigeon', {}],
  ['unknown-sid', 'EIO=4&transport=polling&sid=nope', {}],
  ['unknown-sid-post', 'EIO=4&transport=polling&sid=nope', { method: 'POST', body: '40' }],
  ['bad-handshake-method', 'EIO=4&transport=polling', { method: 'PUT' }],
  ['websocket-without-upgrade', 'EIO=4&transport=websocket', {}],
]) {
  scenario('http/' + name, 'main', async (c) => {
    await c.http('a', query, opts);
  });
}

// A refused WebSocket upgrade: the answer's status, and the connection
// closed after it.
for (const [name, query] of [
  ['unknown-sid', 'EIO=4&transport=websocket&sid=nope'],
  ['unknown-transport', 'EIO=4&transport=carrier-pigeon'],
]) {
  scenario('http/refused-upgrade-' + name, 'main', async (c) => {
    await c.upgrade('a', query);
  });
}

scenario('http/transport-mismatch', 'main', async (c) => {
  const r = await c.http('a', 'EIO=4&transport=polling');
  await c.http('a', 'EIO=4&transport=websocket&sid=' + encodeURIComponent(r.sid));
});

scenario('http/polling-bad-payload', 'main', async (c) => {
  const r = await c.http('a', 'EIO=4&transport=polling');
  const q = 'EIO=4&transport=polling&sid=' + encodeURIComponent(r.sid);
  await c.http('a', q, { method: 'POST', body: 'x' });
  await c.http('a', q);
});

scenario('http/polling-close-packet', 'main', async (c) => {
  const r = await c.http('a', 'EIO=4&transport=polling');
  const q = 'EIO=4&transport=polling&sid=' + encodeURIComponent(r.sid);
  await c.http('a', q, { method: 'POST', body: '1' });
  await c.http('a', q);
});

scenario('http/polling-overlapping-get', 'main', async (c) => {
  const r = await c.http('a', 'EIO=4&transport=polling');
  const q = 'EIO=4&transport=polling&sid=' + encodeURIComponent(r.sid);
  const first = c.http('b', q); // parks: nothing to send yet
  await sleep(100);
  await c.http('a', q);
  await first;
});

// ---- over-limit payloads (maxHttpBufferSize 1000) ----

scenario('limit/websocket-over-limit', 'small', async (c) => {
  const tag = c.room();
  const a = c.client('a', '/', { auth: { tag } }, 'small');
  await a.connected();
  await a.call('echo', 'x'.repeat(900));
  a.emit('echo', 'x'.repeat(2000));
  await a.until(0, 'disconnect');
  await serverReasons(c, tag, 'small');
});

scenario('limit/websocket-over-limit-raw', 'small', async (c) => {
  const w = c.raw('a', 'EIO=4&transport=websocket', {}, 'small');
  await w.next(0, 'recv', '0');
  w.send('40');
  await w.next(0, 'recv', '40');
  w.send('42["echo","' + 'y'.repeat(1200) + '"]');
  await w.next(0, 'close');
});

scenario('limit/polling-over-limit', 'small', async (c) => {
  const tag = c.room();
  const a = c.client('a', '/', { auth: { tag }, transports: ['polling'] }, 'small');
  await a.connected();
  await a.call('echo', 'x'.repeat(900));
  a.emit('echo', 'x'.repeat(2000));
  await a.until(0, 'disconnect');
  await serverReasons(c, tag, 'small');
});

scenario('limit/polling-over-limit-raw', 'small', async (c) => {
  const r = await c.http('a', 'EIO=4&transport=polling', {}, 'small');
  const q = 'EIO=4&transport=polling&sid=' + encodeURIComponent(r.sid);
  await c.http('a', q, { method: 'POST', body: '40' }, 'small');
  await c.http('a', q, {}, 'small');
  await c.http('a', q, { method: 'POST', body: '42["echo","' + 'z'.repeat(1200) + '"]' }, 'small');
  await c.http('a', q, { method: 'POST', body: '42["echo","small"]' }, 'small');
  await c.http('a', q, {}, 'small');
});

scenario('limit/binary-attachment-over-limit', 'small', async (c) => {
  const a = c.client('a', '/', {}, 'small');
  await a.connected();
  a.emit('echo', Buffer.alloc(1500, 7));
  await a.until(0, 'disconnect');
});

// ---- upgrade ----

scenario('upgrade/client-polling-to-websocket', 'main', async (c) => {
  const a = c.client('a', '/', { transports: ['polling', 'websocket'] });
  // The upgrade races the CONNECT exchange: the engine's events go to a
  // log of their own.
  a.socket.io.on('open', () => {
    c.rec.log('a-engine', 'transport', a.socket.io.engine.transport.name);
    a.socket.io.engine.on('upgrade', (t) => c.rec.log('a-engine', 'upgrade', t.name));
  });
  await a.connected();
  await c.rec.wait('a-engine', 0, (r) => r[0] === 'upgrade', 'upgrade');
  await a.call('echo', 'after upgrade', bin(1));
});

scenario('upgrade/events-across-upgrade', 'main', async (c) => {
  const a = c.client('a', '/', { transports: ['polling', 'websocket'] });
  await a.connected();
  const m = a.mark();
  for (let i = 0; i < 30; i++) a.emit('echo', i);
  await a.next(m, 'echo', STEP, 30);
});

scenario('upgrade/raw-probe', 'main', async (c) => {
  const r = await c.http('a', 'EIO=4&transport=polling');
  const sid = encodeURIComponent(r.sid);
  const q = 'EIO=4&transport=polling&sid=' + sid;
  await c.http('a', q, { method: 'POST', body: '40' });
  await c.http('a', q);
  const w = c.raw('a', 'EIO=4&transport=websocket&sid=' + sid);
  await w.next(0, 'ws-open');
  const pending = c.http('b', q); // a GET parked during the upgrade
  await sleep(50);
  w.send('2probe');
  await w.next(0, 'recv', '3probe');
  await pending;
  w.send('5');
  await sleep(50);
  w.send('42["echo","over websocket"]');
  await w.next(0, 'recv', '42');
  await c.http('a', q);
});

scenario('upgrade/second-websocket-same-sid', 'main', async (c) => {
  const r = await c.http('a', 'EIO=4&transport=polling');
  const sid = encodeURIComponent(r.sid);
  const w = c.raw('a', 'EIO=4&transport=websocket&sid=' + sid);
  await w.next(0, 'ws-open');
  w.send('2probe');
  await w.next(0, 'recv', '3probe');
  w.send('5');
  await sleep(50);
  const w2 = c.raw('b', 'EIO=4&transport=websocket&sid=' + sid);
  await c.rec.wait('b', 0, (x) => x[0] === 'close' || x[0] === 'refused', 'second websocket outcome');
  await sleep(50);
  w.send('40');
  await c.rec.wait('a', 0, (x) => (x[0] === 'recv' && typeof x[1] === 'string' && x[1].startsWith('40')) || x[0] === 'close', 'first websocket still works');
  w2.close();
});

// ---- heartbeat (pingInterval 300, pingTimeout 200) ----

scenario('heartbeat/websocket-pings', 'hb', async (c) => {
  const w = c.raw('a', 'EIO=4&transport=websocket', {}, 'hb');
  await w.next(0, 'recv', '0');
  w.send('40');
  const m = w.mark();
  await w.next(m, 'recv', '2');
  await w.next(w.mark(), 'recv', '2');
  w.send('42["echo","alive"]');
  await w.next(m, 'recv', '42');
});

scenario('heartbeat/polling-ping', 'hb', async (c) => {
  const r = await c.http('a', 'EIO=4&transport=polling', {}, 'hb');
  const q = 'EIO=4&transport=polling&sid=' + encodeURIComponent(r.sid);
  await c.http('a', q, { method: 'POST', body: '40' }, 'hb');
  await c.http('a', q, {}, 'hb');
  await c.http('a', q, {}, 'hb'); // the ping
  await c.http('a', q, { method: 'POST', body: '3' }, 'hb');
});

scenario('heartbeat/client-stays-connected', 'hb', async (c) => {
  const a = c.client('a', '/', {}, 'hb');
  await a.connected();
  await sleep(1200);
  await a.call('echo', 'still');
});

scenario('heartbeat/client-sent-ping', 'hb', async (c) => {
  const w = c.raw('a', 'EIO=4&transport=websocket', { mute: true }, 'hb');
  await w.next(0, 'recv', '0');
  const m = w.mark();
  w.send('2');
  await c.rec.wait('a', m, (x) => x[0] === 'close' || (x[0] === 'recv' && x[1] !== '2'), 'answer to a client ping', 250);
});

scenario('heartbeat/connect-timeout', 'hb', async (c) => {
  const w = c.raw('a', 'EIO=4&transport=websocket', {}, 'hb');
  await w.next(0, 'recv', '0');
  await w.next(0, 'close');
});

// ---- connection state recovery ----

scenario('recovery/restored-with-missed-events', 'rec', async (c) => {
  const room = c.room();
  const a = c.client('a', '/', { reconnection: true, reconnectionDelay: 400, randomizationFactor: 0, auth: { greet: true } }, 'rec');
  await a.connected();
  await a.run({ op: 'join', rooms: [room] });
  await a.run({ op: 'to', from: 'nsp', to: [room], ev: 'live', args: [1] });
  await a.next(0, 'live');
  const b = c.client('b', '/', {}, 'rec');
  await b.connected();
  a.socket.io.engine.close();
  await a.until(0, 'disconnect');
  await b.run({ op: 'to', from: 'nsp', to: [room], ev: 'missed', args: [2] }, { op: 'to', from: 'nsp', to: [room], ev: 'missed', args: [3, bin(3)] });
  const m = a.mark();
  await a.until(m, 'connect', 4000);
  await a.next(m, 'missed');
  await a.run({ op: 'rooms' }, { op: 'whoami' });
  await a.next(m, 'whoami');
});

scenario('recovery/not-after-client-disconnect', 'rec', async (c) => {
  const a = c.client('a', '/', {}, 'rec');
  await a.connected();
  await a.run({ op: 'join', rooms: [c.room()] });
  a.close();
  await sleep(50);
  a.socket.connect();
  await a.until(1, 'connect');
  await a.run({ op: 'rooms' });
});

scenario('recovery/socket-emit-offsets', 'rec', async (c) => {
  const a = c.client('a', '/', {}, 'rec');
  await a.connected();
  const m = a.mark();
  await a.run({ op: 'emit', ev: 'one', args: [1] }, { op: 'emitAck', ev: 'ask' }, { op: 'emit', ev: 'two' });
  await a.next(m, 'answered');
  await a.next(m, 'two');
});

scenario('recovery/pid-absent-without-recovery', 'main', async (c) => {
  const w = c.raw('a', 'EIO=4&transport=websocket');
  await w.next(0, 'recv', '0');
  w.send('40');
  await w.next(0, 'recv', '40');
});

scenario('recovery/unknown-pid-gives-new-session', 'rec', async (c) => {
  const w = c.raw('a', 'EIO=4&transport=websocket', {}, 'rec');
  await w.next(0, 'recv', '0');
  w.send('40{"pid":"nope","offset":"nope"}');
  const rec = await w.next(0, 'recv', '40');
  if (rec) c.rec.log('a', 'has-pid', /"pid":"[^"]+"/.test(rec[1]));
});

// ---- running ----

const runScenario = async (name, { profile, fn }) => {
  const rec = new Recorder();
  const closers = [];
  let nsCount = 0;
  let roomCount = 0;
  const slug = name.replace(/[^a-z0-9]+/gi, '-');
  const ctx = {
    rec,
    client: (n, nsp, opts, p = profile) => {
      const x = new Client(rec, n, URLS[p], nsp, opts);
      closers.push(() => x.socket.disconnect());
      return x;
    },
    raw: (n, query, opts, p = profile) => {
      const x = new RawWS(rec, n, URLS[p], query, opts);
      closers.push(() => x.close());
      return x;
    },
    http: (n, query, opts, p = profile) => httpReq(rec, n, URLS[p], query, opts),
    upgrade: (n, query, p = profile) => rawUpgrade(rec, n, URLS[p], query),
    ns: (prefix) => prefix + (nameHash(name) * 100 + ++nsCount),
    room: () => slug + '-' + ++roomCount,
  };
  try {
    await fn(ctx);
  } catch (e) {
    rec.log('_', 'error', String((e && e.stack) || e));
  }
  const res = rec.result();
  for (const close of closers) {
    try { close(); } catch (_) { /* already closed */ }
  }
  return res;
};

// nameHash numbers a scenario by its name, so that the namespaces it
// makes up keep their names whatever other scenarios are added.
const nameHash = (name) => {
  let h = 0x811c9dc5; // FNV-1a, 32 bits
  for (const ch of name) h = Math.imul(h ^ ch.codePointAt(0), 16777619) >>> 0;
  return h;
};
const hashes = new Map();
for (const n of scenarios.keys()) {
  if (hashes.has(nameHash(n))) throw new Error('scenarios ' + n + ' and ' + hashes.get(nameHash(n)) + ' share a number: rename one');
  hashes.set(nameHash(n), n);
}
const only = (process.env.SCENARIOS || '').split(',').filter(Boolean);
const names = [...scenarios.keys()].filter((n) => only.length === 0 || only.includes(n));
for (const n of only) if (!scenarios.has(n)) out('result', n, { _: ['["error","no such scenario"]'] });
const queue = [...names];
const worker = async () => {
  while (queue.length > 0) {
    const name = queue.shift();
    const res = await runScenario(name, scenarios.get(name));
    out('result', name, res);
  }
};
await Promise.all(Array.from({ length: Number(process.env.CONCURRENCY) || 8 }, worker));
out('end', names.length);
exit(0);
