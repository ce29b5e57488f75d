package defaults

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/node"
)

// readUntilClosed reads w until the server closes it or until the
// deadline, answering pings when pong is set and accepting a close packet
// when closePacket is; it returns the number of pings and the read error.
func readUntilClosed(t *testing.T, w *rawWS, deadline time.Time, pong, closePacket bool) (int, error) {
	t.Helper()
	pings := 0
	for {
		m, err := w.read(max(time.Until(deadline), time.Millisecond))
		if err != nil {
			return pings, err
		}
		switch {
		case m == "2":
			pings++
			if pong {
				w.send(t, "3")
			}
		case m == "1" && closePacket:
			t.Log("close packet")
		default:
			t.Fatalf("unexpected message %q", m)
		}
	}
}

// noConnection fails the test if a socket connected.
func noConnection(t *testing.T, s *server) {
	t.Helper()
	select {
	case so := <-s.conns:
		t.Errorf("socket %s connected", so.ID())
	default:
	}
}

// noWarnings fails the test if the server logged at Warn or above.
func noWarnings(t *testing.T, s *server) {
	t.Helper()
	for line := range strings.Lines(s.log.String()) {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("server logged: %s", strings.TrimSpace(line))
		}
	}
}

// waitSessions waits until the server has no Engine.IO session left.
func waitSessions(t *testing.T, s *server) {
	t.Helper()
	deadline := time.Now().Add(step)
	for s.srv.Stats().Sessions != 0 {
		if time.Now().After(deadline) {
			t.Errorf("server Stats %+v %v after the close, want no session", s.srv.Stats(), step)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// managerScript opens the official client's Manager, with its default
// options, and joins no namespace.
const managerScript = `
import { Manager } from 'socket.io-client';
exitAfter(Number(process.env.LIFETIME_MS));
const opts = {};
if (process.env.TRANSPORTS) opts.transports = process.env.TRANSPORTS.split(',');
const m = new Manager(process.env.SERVER_URL, opts);
m.on('open', () => out('open', m.engine.transport.name));
m.on('error', (err) => out('error', err));
m.on('close', (reason, details) => {
  out('close', reason, details?.description ?? null, m.engine.transport.name);
  exit(0);
});
`

// TestConnectTimeout: a connection that joins no namespace is closed
// ConnectTimeout (45 s) after its handshake, as Node's server closes it:
// a WebSocket with a close frame without status (1005), a polling session
// with a close packet answering the pending poll; the official client
// reports "transport close". The connection answers the ping at 25 s, so
// that the heartbeat has nothing to do with the close.
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	t.Run("raw websocket", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, actorio.Options{}, nil)
		start := time.Now()
		w := dialWS(t, s, "", 0)
		checkOpen(t, w.open(t))
		pings, err := readUntilClosed(t, w, start.Add(connectTimeout+lateBy), true, false)
		within(t, "closed", time.Since(start), connectTimeout, connectTimeout+lateBy)
		// As Node: a close frame without status (1005), no close packet.
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseNoStatusReceived {
			t.Errorf("read ended with %v, want a close frame without status (1005)", err)
		}
		t.Logf("the WebSocket ended with %v", err)
		if pings != 1 {
			t.Errorf("%d pings before the close, want 1", pings)
		}
		noConnection(t, s)
		waitSessions(t, s)
		noWarnings(t, s)
	})
	t.Run("raw polling", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, actorio.Options{}, nil)
		start := time.Now()
		p, o := dialPolling(t, s)
		checkOpen(t, o)
		pings := 0
		for {
			got := p.get(t)
			if len(got) == 1 && got[0] == "2" {
				pings++
				p.post(t, "3")
				continue
			}
			if len(got) != 1 || got[0] != "1" {
				t.Fatalf("poll got %q, want a ping or a close packet", got)
			}
			break
		}
		within(t, "close packet", time.Since(start), connectTimeout, connectTimeout+lateBy)
		if pings != 1 {
			t.Errorf("%d pings before the close, want 1", pings)
		}
		p.gone(t)
		noConnection(t, s)
		waitSessions(t, s)
		noWarnings(t, s)
	})
	for _, tr := range allTransports {
		t.Run("js manager/"+tr.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, actorio.Options{}, nil)
			p := node.Run(t, t.Context(), managerScript, map[string]string{
				"SERVER_URL":                s.url,
				"TRANSPORTS":                strings.Join(tr.list, ","),
				"LIFETIME_MS":               fmt.Sprint((connectTimeout + 3*step).Milliseconds()),
				"ACTORIO_SCRIPT_TIMEOUT_MS": fmt.Sprint((connectTimeout + 3*step).Milliseconds()),
			})
			p.Expect(t, "open", 3*step)
			start := time.Now()
			l := p.Expect(t, "close", connectTimeout+lateBy+step)
			within(t, "closed", time.Since(start), connectTimeout-lateBy, connectTimeout+lateBy)
			if l.Arg(0) != "transport close" || l.Arg(2) != tr.final {
				t.Errorf("the client reports %s, want transport close on %s", l.Raw, tr.final)
			}
			noConnection(t, s)
			waitSessions(t, s)
			noWarnings(t, s)
		})
	}
}

// TestPingTimeout: a client that joined "/" and reads everything but
// never answers a ping is disconnected with "ping timeout" PingInterval +
// PingTimeout (45 s) after its handshake.
func TestPingTimeout(t *testing.T) {
	t.Parallel()
	t.Run("raw websocket", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, actorio.Options{}, nil)
		start := time.Now()
		w := dialWS(t, s, "", 0)
		checkOpen(t, w.open(t))
		id := w.join(t)
		pings, err := readUntilClosed(t, w, start.Add(heartbeat+lateBy), false, false)
		g := s.expectGone(t, step, "ping timeout")
		if g.id != id || g.reason != disconnect.PingTimeout {
			t.Errorf("OnDisconnect(%s, %q), want (%s, %q)", g.id, g.reason, id, disconnect.PingTimeout)
		}
		within(t, "ping timeout", g.at.Sub(start), heartbeat, heartbeat+lateBy)
		within(t, "connection ended", time.Since(start), heartbeat, heartbeat+lateBy)
		// As Node: a close frame without status (1005). This server
		// writes it only if it goes out without waiting, then drops the
		// connection (see gateway.Config.WriteTimeout); this client reads.
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseNoStatusReceived {
			t.Errorf("read ended with %v, want a close frame without status (1005)", err)
		}
		if pings != 1 {
			t.Errorf("%d pings, want 1", pings)
		}
		waitSessions(t, s)
		noWarnings(t, s)
	})
	t.Run("raw polling", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, actorio.Options{}, nil)
		start := time.Now()
		p, o := dialPolling(t, s)
		checkOpen(t, o)
		id := p.join(t)
		if got := p.get(t); len(got) != 1 || got[0] != "2" {
			t.Fatalf("poll got %q, want the ping", got)
		}
		within(t, "ping", time.Since(start), pingInterval, pingInterval+lateBy)
		// No pong; the next poll is held until the session ends.
		code, body := p.do(t, "GET", "")
		t.Logf("the poll pending at the timeout got %d %q", code, body)
		g := s.expectGone(t, step, "ping timeout")
		if g.id != id || g.reason != disconnect.PingTimeout {
			t.Errorf("OnDisconnect(%s, %q), want (%s, %q)", g.id, g.reason, id, disconnect.PingTimeout)
		}
		within(t, "ping timeout", g.at.Sub(start), heartbeat, heartbeat+lateBy)
		p.gone(t)
		waitSessions(t, s)
		noWarnings(t, s)
	})
}

// TestUpgradeTimeout: a polling session whose client opens the upgrade's
// WebSocket and never completes the upgrade, having answered the probe or
// not, loses that WebSocket UpgradeTimeout (10 s) after it opened, and
// goes on polling, as with Node's server. (The server reads an upgrade's
// WebSocket through its poller, where a timer is the timeout.)
func TestUpgradeTimeout(t *testing.T) {
	t.Parallel()
	for _, probe := range []bool{true, false} {
		t.Run(fmt.Sprintf("probe=%v", probe), func(t *testing.T) {
			t.Parallel()
			s := startServer(t, actorio.Options{}, nil)
			p, _ := dialPolling(t, s)
			id := p.join(t)
			start := time.Now()
			w := dialWS(t, s, p.sid, 0)
			if probe {
				w.send(t, "2probe")
				if m := w.mustRead(t); m != "3probe" {
					t.Fatalf("probe answered %q", m)
				}
			}
			_, err := w.read(upgradeTimeout + lateBy)
			if err == nil {
				t.Fatal("the WebSocket got a message, want it closed")
			}
			within(t, "upgrade WebSocket closed", time.Since(start), upgradeTimeout, upgradeTimeout+lateBy)
			// Node sends a close frame without status (1005); this server
			// closes the connection without one.
			t.Logf("the WebSocket read ended with %v", err)
			// The session goes on polling.
			p.post(t, `421["echo",7]`)
			var got []string
			for !strings.Contains(strings.Join(got, " "), `431[7]`) {
				more := p.get(t)
				for _, m := range more {
					if m != "6" && m != `431[7]` {
						t.Fatalf("poll after the failed upgrade got %q", more)
					}
				}
				got = append(got, more...)
			}
			s.noneGone(t)
			if so := s.socket(t, id); so.Transport() != "polling" || !so.Connected() {
				t.Errorf("socket on %s, connected %v; want polling, connected", so.Transport(), so.Connected())
			}
			noWarnings(t, s)
		})
	}
}

// flood is a server handler: flood(n) broadcasts n blobs of 64 KiB to
// the socket's own room, 1 MiB every 50 ms, as a busy room would. (A
// socket's own emits of that size once blocked the emitting goroutine on
// a client that did not read; since 265b62b they queue up as these do,
// gateway's TestSendNowNeverBlocksOnAPeerThatStoppedReading.)
func flood(srv *actorio.Server) {
	blob := strings.Repeat("x", 64<<10)
	srv.OnConnection(func(so *actorio.Socket) {
		so.On("flood", func(so *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
			var n int
			_ = args.Decode(0, &n)
			room := srv.Of("/").To(so.ID())
			for i := range n {
				if !so.Connected() || room.Emit("blob", blob) != nil {
					return
				}
				if i%16 == 15 {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	})
}

// TestStalledReader: a WebSocket client that stops reading while the
// server has megabytes for it. Under MaxQueueBytes (16 MiB) the server's
// write blocks on the full socket buffers and fails WriteTimeout (10 s)
// later: "transport error", long before the ping timeout. Over it, the
// socket is closed at once as a "slow consumer".
func TestStalledReader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mib    int
		reason string
		lo, hi time.Duration
	}{
		// The blocked write's deadline starts when the writer got stuck,
		// some way into the flood: under CI's load (every package at
		// once, -race) that was up to 4 s after the start, so the bound is
		// wide, and still far from the ping timeout (45 s).
		{8, disconnect.TransportError, writeTimeout, 2 * writeTimeout},
		// The flood takes a second on an idle machine and up to 8 s under
		// CI's load to queue 16 MiB; the reason is what tells the bound
		// from WriteTimeout.
		{24, disconnect.SlowConsumer, 0, writeTimeout + step},
	} {
		t.Run(fmt.Sprintf("%d MiB", tc.mib), func(t *testing.T) {
			t.Parallel()
			s := startServer(t, actorio.Options{}, flood)
			w := dialWS(t, s, "", 4096)
			w.open(t)
			id := w.join(t)
			start := time.Now()
			w.send(t, fmt.Sprintf(`42["flood",%d]`, tc.mib*16))
			// Not a byte read from here on.
			g := s.expectGone(t, tc.hi+step, tc.reason)
			if g.id != id || g.reason != tc.reason {
				t.Errorf("OnDisconnect(%s, %q), want (%s, %q)", g.id, g.reason, id, tc.reason)
			}
			within(t, tc.reason, g.at.Sub(start), tc.lo, tc.hi)
			waitSessions(t, s)
		})
	}
}

// TestCloseTimeout: Server.Close with a handler that does not return
// gives up on it after CloseTimeout (10 s) and returns an error; the
// socket's OnDisconnect runs once the handler returns.
func TestCloseTimeout(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	s := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(so *actorio.Socket) {
			so.On("block", func(*actorio.Socket, actorio.Args, actorio.AckFunc) {
				close(entered)
				<-release
			})
		})
	})
	w := dialWS(t, s, "", 0)
	w.open(t)
	id := w.join(t)
	w.send(t, `42["block"]`)
	select {
	case <-entered:
	case <-time.After(step):
		t.Fatal("the handler did not run")
	}
	s.mu.Lock()
	s.closed = true // the cleanup must not close it again
	s.mu.Unlock()
	start := time.Now()
	err := s.srv.Close()
	within(t, "Close returned", time.Since(start), closeTimeout, closeTimeout+lateBy)
	if err == nil {
		t.Error("Close returned nil with a handler still running")
	}
	s.http.Close()
	s.noneGone(t)
	unblock()
	g := s.expectGone(t, step, "handler returned")
	if g.id != id || g.reason != disconnect.ServerShuttingDown {
		t.Errorf("OnDisconnect(%s, %q), want (%s, %q)", g.id, g.reason, id, disconnect.ServerShuttingDown)
	}
	s.noneGone(t)
}
