// One share of the rstorm scenario's clients: n official socket.io-client
// instances (from the module root's node_modules) with their default
// options (long-polling first, then the upgrade to WebSocket; the default
// reconnection backoff), each its own Manager, connecting to the
// namespace /storm with the auth its middleware checks. Started by
// `go run ./cmd/bench -scenarios rstorm`, several of these at once.
//
//   node cmd/bench/node/rstorm-clients.cjs --url http://127.0.0.1:3001 --n 2500 --first 0 --timeout 180000
//
// (--timeout bounds each phase, in ms: the first connections, and the
// reconnections after the arming. --window, default 250, is how many
// clients connect at once the first time: that first connection is paced,
// the reconnection after the restart is not.)
//
// Client i connects from 127.0.(1+i/250%250).(2+i%250) (i counts from
// --first), through an http.Agent with that localAddress, so that no pair
// of addresses runs short of ports. A client counts as connected once its
// CONNECT was answered and its transport upgraded (or the upgrade failed,
// which is counted).
//
// Lines on stdout, to the orchestrator:
//   UP {json}     every client connected once, or was refused for good
//                 (json: lastAt, the wall clock in ms of the last;
//                 connected; errors: the counts; incomplete and
//                 stragglers when --timeout ran out first)
//   ARMED         after "arm" on stdin: from now on, a disconnection then
//                 a connection is a reconnection
//   DONE {json}   every client reconnected after the arming, or was
//                 refused for good (json: times, each client's
//                 reconnection in ms from its disconnection; upgradeWaits,
//                 from its CONNECT answered until upgraded; lastAt; the
//                 error counts; incomplete when --timeout ran out first)
// Commands on stdin: "arm", and "up <ms>" (the wall clock at which the
// restarted server was listening: transport errors before it are those of
// the server being down). The process exits when stdin closes.
"use strict";

const http = require("http");
const readline = require("readline");
const { io } = require("socket.io-client");

function flag(name, def) {
  const i = process.argv.indexOf("--" + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const url = flag("url", "http://127.0.0.1:3001");
const n = Number(flag("n", "10"));
const first = Number(flag("first", "0"));
const token = flag("token", "bench");
const timeoutMs = Number(flag("timeout", "180000"));
const windowSize = Number(flag("window", "250"));

// now is the wall clock in ms, with a fraction.
function now() {
  return performance.timeOrigin + performance.now();
}

function localAddress(i) {
  return `127.0.${1 + (Math.floor(i / 250) % 250)}.${2 + (i % 250)}`;
}

// counts are the connection errors of one phase.
function newCounts() {
  return {
    refused: 0, // CONNECT_ERROR from the namespace, or an HTTP error status
    upgradeFailed: 0,
    timeouts: 0, // the Manager's connection timeout (20 s by default)
    transport: 0, // connection refused or reset, and the like
    transportAt: [], // their wall clock, for splitting them at "up"
    first: "", // the first refusal
    firstUpgrade: "", // the first failed upgrade
  };
}

let armed = false;
let upAt = null;
let phase = newCounts();
let initial = null; // the counts of the first connection, once armed
let connectedOnce = 0;
let gaveUp = 0; // clients refused for good at their first connection
let upPrinted = false;
let lastAt = 0;
let reconnected = 0;
let failed = 0;
let printed = false;
const times = [];
const upgradeWaits = []; // each reconnection's CONNECT answered until upgraded, ms

function out(line) {
  process.stdout.write(line + "\n");
}

function describe(err) {
  let s = String(err && err.message ? err.message : err);
  if (err && err.description !== undefined) s += ` (${err.description})`;
  if (err && err.data !== undefined) s += ` ${JSON.stringify(err.data)}`;
  return s;
}

// classify counts one connect_error: the server refusing (a CONNECT_ERROR
// packet, or an HTTP error status on a polling request), a timeout, or a
// transport error (nothing listening, a reset).
function classify(c, err) {
  if (err && err.type === "TransportError") {
    if (typeof err.description === "number" && err.description >= 400) {
      phase.refused++;
      if (!phase.first) phase.first = `client ${c.idx}: ${describe(err)}`;
      return;
    }
    phase.transport++;
    if (armed) phase.transportAt.push(now());
    return;
  }
  if (err && err.message === "timeout") {
    phase.timeouts++;
    return;
  }
  // A CONNECT_ERROR: the socket does not reconnect by itself.
  phase.refused++;
  if (!phase.first) phase.first = `client ${c.idx}: CONNECT_ERROR ${describe(err)}`;
  if (!armed) {
    // Given up: the first connection is over for this client.
    if (!c.gaveUp) {
      c.gaveUp = true;
      gaveUp++;
      release(c);
      checkUp();
    }
  } else if (!c.done) {
    c.done = true;
    failed++;
    check();
  }
}

// whenUpgraded calls fn once the engine of c runs on WebSocket, or its
// upgrade failed, or at once when the server offers none.
function whenUpgraded(c, fn) {
  const eng = c.s.io.engine;
  if (!eng || (eng.transport && eng.transport.name !== "polling") || (eng._upgrades && eng._upgrades.length === 0)) {
    fn();
    return;
  }
  let called = false;
  eng.once("upgrade", () => {
    if (!called) {
      called = true;
      fn();
    }
  });
  eng.once("upgradeError", (err) => {
    phase.upgradeFailed++;
    if (!phase.firstUpgrade) phase.firstUpgrade = `client ${c.idx}: ${describe(err)}`;
    if (!called) {
      called = true;
      fn();
    }
  });
}

function connected(c) {
  if (!c.s.connected) return;
  const t = now();
  if (!armed) {
    if (!c.once) {
      c.once = true;
      release(c);
      connectedOnce++;
      lastAt = Math.max(lastAt, t);
      checkUp();
    }
    return;
  }
  if (c.discAt > 0 && !c.done) {
    c.done = true;
    reconnected++;
    times.push(Math.round((t - c.discAt) * 100) / 100);
    upgradeWaits.push(Math.round((t - c.connAt) * 100) / 100);
    lastAt = Math.max(lastAt, t);
    check();
  }
}

function summary(p, up) {
  const s = { refused: p.refused, upgradeFailed: p.upgradeFailed, timeouts: p.timeouts, transport: p.transport, first: p.first, firstUpgrade: p.firstUpgrade };
  if (up !== null) {
    s.whileDown = p.transportAt.filter((t) => t < up).length;
    s.transport -= s.whileDown;
  }
  return s;
}

// checkUp prints UP once every client connected, or gave up (refused by a
// CONNECT_ERROR).
function checkUp() {
  if (!upPrinted && connectedOnce + gaveUp === n) {
    upPrinted = true;
    out("UP " + JSON.stringify({ lastAt, connected: connectedOnce, errors: summary(phase, null) }));
  }
}

function check() {
  if (printed || !armed || upAt === null || reconnected + failed < n) return;
  finish(false);
}

function finish(incomplete) {
  if (printed) return;
  printed = true;
  out("DONE " + JSON.stringify({ n, reconnected, failed, incomplete, lastAt, times, upgradeWaits, errors: summary(phase, upAt === null ? Infinity : upAt), initial, stragglers: incomplete ? stragglers() : [] }));
}

// The first connections are paced, at most --window at once: the storm
// measured is the reconnection after the restart.
const clients = [];
let next = 0;
let pending = 0;
function release(c) {
  if (c.released) return;
  c.released = true;
  pending--;
  startMore();
}
function startMore() {
  while (pending < windowSize && next < clients.length) {
    pending++;
    clients[next++].s.connect();
  }
}
for (let k = 0; k < n; k++) {
  const idx = first + k;
  const la = localAddress(idx);
  const agent = new http.Agent({ keepAlive: false, localAddress: la });
  const c = { idx, s: null, once: false, released: false, discAt: 0, connAt: 0, done: false };
  c.s = io(url + "/storm", { forceNew: true, autoConnect: false, auth: { token }, agent, localAddress: la });
  c.s.on("connect", () => {
    c.connAt = now();
    whenUpgraded(c, () => connected(c));
  });
  c.s.on("disconnect", () => {
    if (armed && c.discAt === 0) c.discAt = now();
  });
  c.s.on("connect_error", (err) => classify(c, err));
  clients.push(c);
}
startMore();

// stragglers describes up to 5 clients that are not connected yet (phase 1)
// or have not reconnected (after the arming).
function stragglers() {
  const out = [];
  for (const c of clients) {
    if (out.length >= 5) break;
    if (armed ? c.done : c.once) continue;
    const eng = c.s.io.engine;
    out.push(`client ${c.idx}: connected ${c.s.connected}, manager ${c.s.io._readyState}, engine ${eng ? eng.readyState + " " + (eng.transport ? eng.transport.name : "-") : "none"}, discAt ${c.discAt ? Math.round(c.discAt) : 0}`);
  }
  return out;
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === "arm" && !armed) {
    initial = summary(phase, null);
    phase = newCounts();
    armed = true;
    lastAt = 0;
    // Those never connected do not reconnect either.
    for (const c of clients) {
      if (!c.once && !c.done) {
        c.done = true;
        failed++;
      }
    }
    clearTimeout(deadline);
    deadline = setTimeout(expire, timeoutMs);
    out("ARMED");
  } else if (cmd === "up") {
    upAt = Number(arg);
    check();
  }
});
rl.on("close", () => process.exit(0));

// The deadline of each phase: until every client connected, and from the
// arming until every client reconnected.
function expire() {
  if (!armed) {
    if (upPrinted) return;
    upPrinted = true;
    out("UP " + JSON.stringify({ lastAt, incomplete: true, connected: connectedOnce, errors: summary(phase, null), stragglers: stragglers() }));
    return;
  }
  finish(true);
}
let deadline = setTimeout(expire, timeoutMs);

for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
