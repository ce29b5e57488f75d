// The reference app on Node's socket.io: the behaviour app_test.go defines
// again on actorio. Run by differential_test.go through internal/node,
// whose prelude provides out() and input(). It starts one server per option
// profile on 127.0.0.1, prints {"ev":"listening","args":[{profile: port}]},
// and exits when its stdin closes.
//
// Every namespace runs the same handlers (setup below):
//   "echo"    acks with its arguments, or emits them back as "echo"
//   "message" sends its arguments back (socket.send)
//   "run"     runs a list of operations in order, then acks "done" unless
//             an operation acked earlier, then sends the emits with an ack
//             it was asked for (see runOps)
// On connection, auth.join joins those rooms, auth.greet emits "welcome"
// and auth.tag records the socket's disconnect reasons, which the "reasons"
// operation reads back.
import http from 'node:http';
import { Server } from 'socket.io';

const PROFILES = {
  main: {},
  hb: { pingInterval: 300, pingTimeout: 200, connectTimeout: 450 },
  small: { maxHttpBufferSize: 1000 },
  rec: { connectionStateRecovery: { maxDisconnectionDuration: 120000 } },
  cleanup: { cleanupEmptyChildNamespaces: true },
  keep: {},
  cors: { cors: { origin: '*' } },
  corslist: {
    cors: {
      origin: ['https://app.example'], credentials: true, maxAge: 600,
      methods: ['GET', 'POST'], allowedHeaders: ['X-Token', 'Content-Type'],
    },
  },
};

// reasons: tag -> ["<nsp> <reason>", ...], filled by disconnect handlers.
const reasons = new Map();
// seqs: namespace -> number of sockets it has accepted.
const seqs = new WeakMap();

// sortByJSON returns values sorted by their JSON text, so that answers
// from several clients compare whatever their arrival order.
const sortByJSON = (vs) => [...vs].sort((a, b) => {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
});

const runOps = (socket, parents, ops, ack) => {
  const nsp = socket.nsp;
  const later = []; // emits with an ack, sent once the handler acked
  let acked = false;
  const reply = (...a) => {
    if (ack && !acked) {
      acked = true;
      ack(...a);
    }
  };
  for (const op of ops) {
    const args = op.args || [];
    switch (op.op) {
      case 'emit':
        socket.emit(op.ev, ...args);
        break;
      case 'volatile':
        socket.volatile.emit(op.ev, ...args);
        break;
      case 'send':
        socket.send(...args);
        break;
      case 'join':
        socket.join(op.rooms);
        break;
      case 'leave':
        socket.leave(op.room);
        break;
      case 'rooms':
        socket.emit('rooms', [...socket.rooms]);
        break;
      case 'whoami':
        socket.emit('whoami', {
          nsp: nsp.name,
          id: socket.id,
          auth: socket.handshake.auth,
          recovered: socket.recovered,
        });
        break;
      case 'seq':
        socket.emit('seq', nsp.name, seqs.get(nsp) || 0);
        break;
      case 'emitAck': {
        const answered = (err, ...resp) => socket.emit('answered', op.ev, err ? { error: 'timeout' } : null, ...resp);
        later.push(() => socket.timeout(op.timeout || 5000).emit(op.ev, ...args, answered));
        break;
      }
      case 'to': {
        // from: "nsp" (the namespace), "socket" (everyone but the sender),
        // "parent" (the dynamic parent namespace named op.parent).
        let b;
        if (op.from === 'socket') b = op.to ? socket.to(op.to) : socket.broadcast;
        else if (op.from === 'parent') b = parents[op.parent];
        else b = nsp;
        if (op.from !== 'socket' && op.to) b = b.to(op.to);
        if (op.except) b = b.except(op.except);
        if (op.volatile) b = b.volatile;
        if (op.timeout) {
          later.push(() => b.timeout(op.timeout).emit(op.ev, ...args, (err, responses) => {
            socket.emit('answered', op.ev, err ? { error: 'timeout' } : null, sortByJSON(responses));
          }));
        } else {
          b.emit(op.ev, ...args);
        }
        break;
      }
      case 'disconnect':
        socket.disconnect(!!op.close);
        break;
      case 'reasons':
        reply(reasons.get(op.tag) || []);
        break;
      case 'ack':
        reply(...args);
        break;
      default:
        socket.emit('bad-op', op.op);
    }
  }
  reply('done');
  for (const f of later) f();
};

const setup = (io) => {
  const parents = {};
  const onConnection = (socket) => {
    const nsp = socket.nsp;
    seqs.set(nsp, (seqs.get(nsp) || 0) + 1);
    const auth = socket.handshake.auth || {};
    if (auth.tag) {
      socket.on('disconnect', (reason) => {
        const list = reasons.get(auth.tag) || [];
        list.push(nsp.name + ' ' + reason);
        reasons.set(auth.tag, list);
      });
    }
    if (auth.join) socket.join(auth.join);
    if (auth.greet) socket.emit('welcome', nsp.name, socket.recovered);
    socket.on('echo', (...args) => {
      const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
      if (ack) ack(...args);
      else socket.emit('echo', ...args);
    });
    socket.on('message', (...args) => socket.send(...args));
    socket.on('run', (ops, ack) => runOps(socket, parents, ops, typeof ack === 'function' ? ack : null));
  };
  io.on('connection', onConnection);
  io.of('/admin').on('connection', onConnection);
  io.of('/private').use((socket, next) => {
    const err = new Error('not authorized');
    err.data = { code: 42, why: 'private' };
    next(err);
  });
  io.of('/private').on('connection', onConnection);
  io.of('/auth').use((socket, next) => {
    if (socket.handshake.auth && socket.handshake.auth.token === 'secret') return next();
    const err = new Error('bad token');
    err.data = { got: (socket.handshake.auth && socket.handshake.auth.token) || null };
    next(err);
  });
  io.of('/auth').on('connection', onConnection);
  // A middleware that takes its time, as one that asks a database would.
  io.of('/slow').use((socket, next) => setTimeout(next, 1000));
  io.of('/slow').on('connection', onConnection);
  parents.dyn = io.of(/^\/dyn-\d+$/);
  parents.dyn.use((socket, next) => {
    if (socket.handshake.auth && socket.handshake.auth.refuse) {
      const err = new Error('refused by parent');
      err.data = { nsp: socket.nsp.name };
      return next(err);
    }
    next();
  });
  parents.dyn.on('connection', onConnection);
  parents.pdyn = io.of(/^\/pdyn-\d+$/);
  parents.pdyn.on('connection', onConnection);
};

const ports = {};
await Promise.all(Object.entries(PROFILES).map(([name, opts]) => new Promise((resolve) => {
  const httpServer = http.createServer();
  setup(new Server(httpServer, opts));
  httpServer.listen(0, '127.0.0.1', () => {
    ports[name] = httpServer.address().port;
    resolve();
  });
})));
out('listening', ports);
for await (const _ of input()) { /* nothing is sent; EOF ends the script */ }
exit(0);
