// A Node socket.io v4 server with its default options (pingInterval 25 s,
// pingTimeout 20 s, connectTimeout 45 s, both transports and the
// upgrade), for the Go client at the defaults against Node
// (node_test.go). Run by internal/node, whose prelude defines out, input
// and exit.
//
// Every socket joins room "all"; "echo" is acknowledged with its own
// arguments. Out: listening(port), connection(id, transport),
// upgrade(id, transport) (at the connection when it came before),
// disconnect(id, reason), ack(...args) for the
// reply to an acked emit. In: {op: "emit", ev, n, ack}: emit ev(n) to
// every socket, asking for an ack when ack; {op: "room", ev, n}:
// broadcast ev(n) to room "all".
import http from 'node:http';
import { Server } from 'socket.io';

const httpServer = http.createServer();
const io = new Server(httpServer);
io.on('connection', (socket) => {
  out('connection', socket.id, socket.conn.transport.name);
  // The client's upgrade may complete before its CONNECT is handled:
  // then it is reported here, as its event has passed.
  if (socket.conn.upgraded) out('upgrade', socket.id, socket.conn.transport.name);
  else socket.conn.once('upgrade', (t) => out('upgrade', socket.id, t.name));
  socket.join('all');
  socket.on('echo', (...args) => {
    const ack = typeof args.at(-1) === 'function' ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on('disconnect', (reason) => out('disconnect', socket.id, reason));
});
httpServer.listen(0, '127.0.0.1', () => out('listening', httpServer.address().port));

for await (const cmd of input()) {
  switch (cmd.op) {
    case 'emit':
      for (const s of io.of('/').sockets.values()) {
        if (cmd.ack) s.emit(cmd.ev, cmd.n, (...reply) => out('ack', ...reply));
        else s.emit(cmd.ev, cmd.n);
      }
      break;
    case 'room':
      io.to('all').emit(cmd.ev, cmd.n);
      break;
  }
}
exit(0);
