// The command loop of peer.mjs and peer-v2.mjs, which the Go test appends
// to each (peers_test.go): it reads `socket` and `sleep`, out and exit
// from the script before it.
//
// In: {op: "echo", n}, {op: "close"}. Out: ack(n, ...args) for the reply
// to an echo, closed() once the client closed.
for await (const cmd of input()) {
  switch (cmd.op) {
    case 'echo':
      socket.emit('echo', cmd.n, (...reply) => out('ack', cmd.n, ...reply));
      break;
    case 'close': {
      // Exit once the disconnect packet is out, not before.
      const engine = socket.io.engine;
      const closed = new Promise((resolve) => engine.once('close', resolve));
      socket.close();
      await closed;
      await sleep(200);
      out('closed');
      exit(0);
      break;
    }
  }
}
exit(0);
