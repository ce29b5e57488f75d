package defaults

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/leakcheck"
	"github.com/actorio/actorio/internal/logbuf"
	"github.com/actorio/actorio/internal/testkit"
)

// The shipped defaults every test here runs with (options.go,
// gateway/config.go, recovery.go). They are restated, not imported, so
// that a change of a default fails a test instead of silently moving it.
const (
	pingInterval   = 25 * time.Second
	pingTimeout    = 20 * time.Second
	connectTimeout = 45 * time.Second
	upgradeTimeout = 10 * time.Second
	// readyWait is how long actorio.Listen holds a silent connection
	// before net/http gets it (gateway.DefaultReadyWait).
	readyWait    = 10 * time.Second
	writeTimeout = 10 * time.Second
	closeTimeout = 10 * time.Second
	// heartbeat is how long a session that never pongs lives.
	heartbeat = pingInterval + pingTimeout
)

// step bounds every wait for one thing that should be quick: an ack, an
// event, a connection.
const step = 5 * time.Second

// lateBy is how late a timer's effect may be observed: the timers run on
// a shared two-core machine under -race.
const lateBy = 2500 * time.Millisecond

// minParallel is the -parallel the package runs with: more than its
// parallel tests, which spend their time asleep.
const minParallel = 64

// TestMain checks, once every (parallel) test is done, that the goroutine
// count is back to what it was before any of them: each test closes its
// servers and clients, and a per-test count would be blurred by the
// others running at the same time.
//
// The tests wait, mostly: they sleep through the default timeouts. They
// all run at once, so -parallel, which defaults to GOMAXPROCS, is raised
// to minParallel unless set on the command line.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", fmt.Sprint(minParallel)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	baseline := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		if n, dump := leakcheck.Settle(baseline, 10*time.Second); dump != "" {
			fmt.Fprintf(os.Stderr, "goroutine leak: %d goroutines before the tests, %d after\n%s", baseline, n, dump)
			code = 1
		}
	}
	os.Exit(code)
}

// server is an actorio server built with actorio.Options{} (plus a
// logger, which is no timing) on 127.0.0.1, with its log captured at Debug
// level and its sockets recorded.
type server struct {
	srv   *actorio.Server
	http  *httptest.Server
	url   string
	log   *logbuf.Buffer
	conns chan *actorio.Socket
	gone  chan gone

	mu      sync.Mutex
	sockets map[string]*actorio.Socket
	tcp     testkit.Conns
	closed  bool
}

// gone is one OnDisconnect call.
type gone struct {
	id     string
	reason string
	at     time.Time
}

// startServer starts a server with opts (the zero value: the shipped
// defaults) and setup's handlers on top of the ones every test uses:
//
//	every socket joins room "all"
//	echo(args...) ack(args...)   acknowledges with its own arguments
//
// At cleanup it closes the server, which must return nil.
func startServer(t *testing.T, opts actorio.Options, setup func(*actorio.Server)) *server {
	t.Helper()
	s := &server{
		log:     &logbuf.Buffer{},
		conns:   make(chan *actorio.Socket, 16),
		gone:    make(chan gone, 16),
		sockets: map[string]*actorio.Socket{},
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	// Listening and serving as the README advises a server that many
	// clients reach at once (actorio.Listen: a connection reaches
	// net/http once its client has sent its first bytes, with its default
	// wait; actorio.Serve: the listener answers WebSocket upgrades
	// itself).
	ln, err := actorio.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := testkit.StartServer(t, testkit.ServerConfig{
		Listener:      ln,
		ServeUpgrades: true,
		Options:       opts,
		Setup: func(srv *actorio.Server) {
			s.srv = srv
			srv.OnConnection(s.onConnection)
			if setup != nil {
				setup(srv)
			}
		},
		ConnState: s.tcp.Track,
	})
	s.http, s.url = ts.HTTP, ts.URL
	// Runs before the cleanup of StartServer, which then finds both closed.
	t.Cleanup(func() { s.close(t) })
	return s
}

// onConnection has so join room "all", acknowledge "echo" with its
// arguments, and be recorded with its OnDisconnect call.
func (s *server) onConnection(so *actorio.Socket) {
	so.Join("all")
	so.On("echo", func(_ *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
		if ack != nil {
			_ = ack(args.Values()...)
		}
	})
	so.OnDisconnect(func(so *actorio.Socket, reason string) {
		s.gone <- gone{id: so.ID(), reason: reason, at: time.Now()}
	})
	s.mu.Lock()
	s.sockets[so.ID()] = so
	s.mu.Unlock()
	s.conns <- so
}

// close closes the server once; Close must return nil within its
// CloseTimeout.
func (s *server) close(t *testing.T) {
	s.mu.Lock()
	done := s.closed
	s.closed = true
	s.mu.Unlock()
	if done {
		return
	}
	start := time.Now()
	if err := s.srv.Close(); err != nil {
		t.Errorf("Server.Close: %v", err)
	}
	if d := time.Since(start); d > closeTimeout {
		t.Errorf("Server.Close took %v", d)
	}
	s.http.Close()
}

// socket returns the server-side socket of id.
//
// The client's connect event can come before the server's connection
// handler has recorded the socket (the handler runs on the socket's actor
// once the CONNECT reply is queued), so it waits for it up to step.
func (s *server) socket(t *testing.T, id string) *actorio.Socket {
	t.Helper()
	deadline := time.Now().Add(step)
	for {
		s.mu.Lock()
		so := s.sockets[id]
		s.mu.Unlock()
		if so != nil {
			return so
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server has no socket %q", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expectGone waits up to d for an OnDisconnect call.
func (s *server) expectGone(t *testing.T, d time.Duration, what string) gone {
	t.Helper()
	select {
	case g := <-s.gone:
		return g
	case <-time.After(d):
		t.Fatalf("no OnDisconnect within %v (%s)\nserver log:\n%s", d, what, s.log.String())
		return gone{}
	}
}

// noneGone fails the test if the server disconnected a socket.
func (s *server) noneGone(t *testing.T) {
	t.Helper()
	select {
	case g := <-s.gone:
		t.Errorf("the server disconnected socket %s: %q", g.id, g.reason)
	default:
	}
}

// logFaults returns the lines of the server's log that no healthy session
// produces: any record at Warn or above, and any mention of a transport
// error, a timeout or a closed session.
func (s *server) logFaults() []string {
	var bad []string
	for line := range strings.Lines(s.log.String()) {
		for _, w := range []string{"level=WARN", "level=ERROR", "transport error", "timeout", "session closed", "aborted"} {
			if strings.Contains(line, w) {
				bad = append(bad, strings.TrimSpace(line))
				break
			}
		}
	}
	return bad
}

// cleanLog fails the test with the faults of the server's log, if any.
func (s *server) cleanLog(t *testing.T) {
	t.Helper()
	if bad := s.logFaults(); len(bad) > 0 {
		t.Errorf("the server logged %d faults:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
}

// within fails the test unless d is in [lo, hi].
func within(t *testing.T, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Errorf("%s after %v, want between %v and %v", what, d.Round(time.Millisecond), lo, hi)
	} else {
		t.Logf("%s after %v", what, d.Round(time.Millisecond))
	}
}
