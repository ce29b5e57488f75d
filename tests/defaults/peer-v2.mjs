// peer.mjs for a Socket.IO v2 server client: the official socket.io-client
// 2.x (npm alias socket.io-client-v2, Engine.IO v3) with its default
// options but for the transports, driven by the Go test (peers_test.go)
// through stdin, with the same env, lines and commands as peer.mjs.
import io from 'socket.io-client-v2';

exitAfter(Number(process.env.LIFETIME_MS));
const opts = {};
if (process.env.TRANSPORTS) opts.transports = process.env.TRANSPORTS.split(',');
const socket = io(process.env.SERVER_URL, opts);
socket.io.engine.on('upgrade', (t) => out('upgrade', t.name));
socket.on('connect', () => out('connect', socket.id, socket.io.engine.transport.name));
socket.on('disconnect', (reason) => out('disconnect', reason, null));
socket.on('connect_error', (err) => out('connect_error', String((err && err.message) || err)));
socket.on('error', (err) => out('connect_error', err));
socket.io.on('reconnect_attempt', (n) => out('reconnect_attempt', n));
// v2 has no onAny: every event the server sends passes here.
socket.onevent = function (packet) {
  const args = packet.data || [];
  out('event', ...args);
  if (packet.id != null) this.ack(packet.id)('ok', ...args.slice(1));
};

// The command loop, peer-commands.js, follows.
