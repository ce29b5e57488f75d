// The Node.js bench server: the reference socket.io v4 server (from the
// module root's node_modules) offering the same three events as every bench
// server of cmd/bench. Started by `go run ./cmd/bench`; by hand:
//
//   node cmd/bench/node/server.cjs --addr 127.0.0.1:3001 --ping-interval 2000
//
// Events: "echo" (acked with its arguments), "join" (joins the room named by
// its argument, acked), "blast" {room, count, size} (emits "msg" with a
// size-byte string count times to the room, then acks). Prints
// "READY <host:port>" on stdout once listening.
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

const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval,
  pingTimeout: 20000,
  serveClient: false,
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
});

httpServer.listen(port, host, () => {
  const a = httpServer.address();
  process.stdout.write(`READY ${a.address}:${a.port}\n`);
});

for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
