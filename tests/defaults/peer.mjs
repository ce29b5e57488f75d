// The official socket.io-client with its default options, driven by the Go
// test (peers_test.go) through stdin; run by internal/node, whose
// prelude defines out, input, exitAfter, sleep and exit.
//
// Env: SERVER_URL; TRANSPORTS, comma-separated, or empty for the client's
// default (polling, then the upgrade to WebSocket); LIFETIME_MS, the
// safety timer.
//
// Out: connect(id, transport), upgrade(transport), disconnect(reason,
// description), connect_error(err), reconnect_attempt(n), event(name,
// ...args) for every server event (acknowledged with ["ok", ...args] when
// the server asks), ack(n, ...args) for the reply to an echo, closed().
// In: {op: "echo", n}, {op: "close"}, read by peer-commands.js, which the
// Go test appends to this script.
import { io } from 'socket.io-client';

exitAfter(Number(process.env.LIFETIME_MS));
const opts = {};
if (process.env.TRANSPORTS) opts.transports = process.env.TRANSPORTS.split(',');
const socket = io(process.env.SERVER_URL, opts);
const watch = (engine) => engine.on('upgrade', (t) => out('upgrade', t.name));
watch(socket.io.engine);
socket.on('connect', () => out('connect', socket.id, socket.io.engine.transport.name));
socket.on('disconnect', (reason, details) => out('disconnect', reason, details?.description ?? null));
socket.on('connect_error', (err) => out('connect_error', err));
socket.io.on('reconnect_attempt', (n) => out('reconnect_attempt', n));
socket.onAny((event, ...args) => {
  const ack = typeof args.at(-1) === 'function' ? args.pop() : null;
  out('event', event, ...args);
  if (ack) ack('ok', ...args);
});

// The command loop, peer-commands.js, follows.
