// The Node.js bench server: the reference socket.io v4 server (from the
// module root's node_modules) offering the same three events as every bench
// server of cmd/bench. Started by `go run ./cmd/bench`; by hand:
//
//   node cmd/bench/node/server.cjs --addr 127.0.0.1:3001 --ping-interval 2000
//
// Events: "echo" (acked with its arguments), "join" (joins the room named by
// its argument, acked), "blast" {room, count, size} (emits "msg" with a
// size-byte string count times to the room, then acks), and those of the
// cross-node scenarios (cmd/bench/xwire.go): "xblast" {room, count, size}
// (the same, each message starting with its wall-clock timestamp in
// microseconds and '|') and "xack" {room, rounds, size, timeoutMs} (rounds
// of a broadcast with ack, one after the other, acked with each round's
// duration and number of acks). Prints "READY <host:port>" on stdout once
// listening.
//
// With --redis redis://127.0.0.1:<port>, the server is one of several
// sharing that Redis through @socket.io/redis-adapter (and the redis
// client), from the module root's node_modules; with --cluster-size N it
// prints "JOINED N" once N servers listen on the adapter's channels.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

function flag(name, def) {
  const i = process.argv.indexOf("--" + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const addr = flag("addr", "127.0.0.1:0");
const sep = addr.lastIndexOf(":");
const host = addr.slice(0, sep);
const port = Number(addr.slice(sep + 1));
const pingInterval = Number(flag("ping-interval", "25000"));
const redisURL = flag("redis", "");
const clusterSize = Number(flag("cluster-size", "0"));

const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval,
  pingTimeout: 20000,
  serveClient: false,
  ...(flag("parser", "json") === "msgpack" ? { parser: require("socket.io-msgpack-parser") } : {}),
});

// nowMicros is the wall clock in microseconds, as Go's time.Now().UnixMicro.
function nowMicros() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

// The storm scenarios connect to /storm, whose middleware checks the
// CONNECT's auth, as an application's would.
io.of("/storm").use((socket, next) => {
  const auth = socket.handshake.auth || {};
  next(auth.token === "bench" ? undefined : new Error("unauthorized"));
});

io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const ack = args.length > 0 && typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack(room);
  });
  socket.on("blast", (req, ack) => {
    const { room, count, size } = req || {};
    const payload = "x".repeat(size | 0);
    const to = io.to(room);
    for (let i = 0; i < count; i++) to.emit("msg", payload);
    if (typeof ack === "function") ack(count);
  });
  socket.on("xblast", (req, ack) => {
    const { room, count, size } = req || {};
    const pad = "x".repeat(Math.max(0, (size | 0) - 17));
    const to = io.to(room);
    for (let i = 0; i < count; i++) to.emit("msg", nowMicros() + "|" + pad);
    if (typeof ack === "function") ack(count);
  });
  socket.on("xack", async (req, ack) => {
    const { room, rounds, size, timeoutMs } = req || {};
    const payload = "a".repeat(size | 0);
    const out = { durs: [], counts: [], errors: 0 };
    for (let i = 0; i < rounds; i++) {
      const t0 = process.hrtime.bigint();
      const [err, responses] = await new Promise((resolve) => {
        io.timeout(timeoutMs).to(room).emit("x", payload, (err, responses) => resolve([err, responses]));
      });
      out.durs.push(Number(process.hrtime.bigint() - t0));
      out.counts.push(Array.isArray(responses) ? responses.length : 0);
      if (err) {
        out.errors++;
        if (!out.firstError) out.firstError = String(err && err.message ? err.message : err);
      }
    }
    if (typeof ack === "function") ack(out);
  });
});

async function main() {
  if (redisURL) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: redisURL });
    const sub = pub.duplicate();
    for (const c of [pub, sub]) c.on("error", (err) => process.stderr.write(`redis: ${err}\n`));
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  await new Promise((resolve) => httpServer.listen(port, host, resolve));
  const a = httpServer.address();
  process.stdout.write(`READY ${a.address}:${a.port}\n`);
  if (redisURL && clusterSize > 0) {
    const adapter = io.of("/").adapter;
    for (;;) {
      const n = await adapter.serverCount();
      if (n >= clusterSize) {
        process.stdout.write(`JOINED ${n}\n`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

main().catch((err) => {
  process.stderr.write(`bench server: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});

for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
