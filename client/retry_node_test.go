package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
)

// retryNodeScript is a Node.js socket.io v4 server for the retry tests. It
// prints {"ev": "event", "args": [event, first argument, copy number]} for
// every event it receives (the copy number counts the events of that name
// and first argument), and acknowledges, with "ok" and the copy number,
// only the copies after the first IGNORE (from its environment). The
// first k copies of "drop", k being the number its argument starts with,
// close the connection instead (the server-side socket.conn.close()).
const retryNodeScript = `
const http = require('node:http');
const { Server } = require('socket.io');

const ignore = Number(process.env.IGNORE || 0);
const copies = new Map();

const httpServer = http.createServer();
const io = new Server(httpServer);
io.on('connection', (socket) => {
  socket.onAny((ev, ...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    const key = JSON.stringify([ev, args[0] === undefined ? null : args[0]]);
    const n = (copies.get(key) || 0) + 1;
    copies.set(key, n);
    out('event', ev, args[0] === undefined ? null : args[0], n, ack !== null);
    if (ev === 'drop' && n <= parseInt(args[0], 10)) {
      socket.conn.close();
      return;
    }
    if (ack && (ev === 'drop' || n > ignore)) ack('ok', n);
  });
});
httpServer.listen(Number(process.env.PORT || 0), '127.0.0.1', () => out('listening', httpServer.address().port));
for await (const _ of input());
exit(0);
`

// nodeCopies reads the server's event lines until one is not a copy of
// event with argument arg (or none comes within quiet), and returns the
// copy numbers seen, checking that each asked for an acknowledgement.
func nodeCopies(t testing.TB, n *nodeServer, event, arg string, quiet time.Duration) []int {
	t.Helper()
	var got []int
	for {
		select {
		case l := <-n.lines:
			if l.Ev != "event" || l.str(0) != event || l.str(1) != arg {
				t.Fatalf("server got %s%s while counting %s(%s)", l.Ev, l.Args, event, arg)
			}
			var c int
			if err := json.Unmarshal(l.Args[2], &c); err != nil || l.raw(3) != "true" {
				t.Fatalf("event line %s", l.Args)
			}
			got = append(got, c)
		case <-time.After(quiet):
			return got
		}
	}
}

func TestNodeRetriesUntilAcknowledged(t *testing.T) {
	const ackTimeout = 200 * time.Millisecond
	n := startNodeScript(t, retryNodeScript, 0, map[string]string{"IGNORE": "2"})
	for _, c := range []struct {
		retries int
		copies  []int
		acked   bool
	}{
		{retries: 1, copies: []int{1, 2}},
		{retries: 2, copies: []int{1, 2, 3}, acked: true},
		{retries: 5, copies: []int{1, 2, 3}, acked: true},
	} {
		t.Run(fmt.Sprintf("retries=%d", c.retries), func(t *testing.T) {
			s, _ := connected(t, n.URL, Options{AckTimeout: ackTimeout, Retries: c.retries})
			arg := t.Name()
			a, err := s.EmitWithAck(ctxT(t), "job", arg)
			if c.acked {
				if err != nil || a.String(0) != "ok" || string(a.Raw(1)) != "3" {
					t.Fatalf("ack %s %s, err %v", a.Raw(0), a.Raw(1), err)
				}
			} else if !errors.Is(err, ErrAckTimeout) {
				t.Fatalf("err %v, want ErrAckTimeout", err)
			}
			if got := nodeCopies(t, n, "job", arg, 2*ackTimeout); fmt.Sprint(got) != fmt.Sprint(c.copies) {
				t.Fatalf("server saw copies %v, want %v", got, c.copies)
			}
			must(t, s.Close())
		})
	}
}

// TestNodeRetryResendsAfterTheServerClosedTheConnection: the event in
// flight when the server closes the connection is sent again after the
// reconnection, and that send counts as a try, as in the JavaScript client:
// with AckTimeout, a connection closed during the last try gives the event
// up with ErrDisconnected (the JavaScript client's "socket has been
// disconnected"); without it, the event is never given up.
func TestNodeRetryResendsAfterTheServerClosedTheConnection(t *testing.T) {
	n := startNodeScript(t, retryNodeScript, 0, nil)
	for _, c := range []struct {
		name    string
		drops   int // connections the server closes on receiving the event
		opts    Options
		copies  []int
		wantErr error // nil: acknowledged by the last copy
	}{
		{"one drop", 1, Options{Retries: 1, AckTimeout: 5 * time.Second}, []int{1, 2}, nil},
		{"drop on the last try", 2, Options{Retries: 1, AckTimeout: 5 * time.Second}, []int{1, 2}, ErrDisconnected},
		{"no AckTimeout", 2, Options{Retries: 1}, []int{1, 2, 3}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, r := connected(t, n.URL, c.opts)
			arg := fmt.Sprintf("%d %s", c.drops, t.Name())
			a, err := s.EmitWithAck(ctxT(t), "drop", arg)
			last := strconv.Itoa(c.copies[len(c.copies)-1])
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err %v, want %v", err, c.wantErr)
				}
			} else if err != nil || a.String(0) != "ok" || string(a.Raw(1)) != last {
				t.Fatalf("ack %s %s, err %v", a.Raw(0), a.Raw(1), err)
			}
			if got := nodeCopies(t, n, "drop", arg, 200*time.Millisecond); fmt.Sprint(got) != fmt.Sprint(c.copies) {
				t.Fatalf("server saw copies %v, want %v", got, c.copies)
			}
			r.wait(t, EventConnect, 1+c.drops)
			if ev := r.all(); count(ev, "disconnect:"+disconnect.TransportClose) != c.drops {
				t.Fatalf("events %q", ev)
			}
			must(t, s.Close())
		})
	}
}
