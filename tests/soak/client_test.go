package soak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorio/actorio/client"
)

// soakClient is one Go client: its socket, the connections it dialed, and
// what it saw. Its room, kind and transport follow from its index.
type soakClient struct {
	idx       int
	room      int
	dropper   bool
	transport string // "websocket", "polling" or "upgrade" (polling, then WebSocket)
	strict    bool   // must receive every message of its room (see onChat)

	sock *client.Socket
	tr   *connTracker
	hc   *http.Client
	cs   *chatServer
	lat  *histogram

	changed chan struct{} // a signal after every connect, disconnect and join

	session     atomic.Int64 // connect events so far: the current session
	joined      atomic.Int64 // the last session whose join was acknowledged
	connects    atomic.Int64
	disconnects atomic.Int64
	reconnects  atomic.Int64
	recovered   atomic.Int64 // connections that restored the previous session
	drops       atomic.Int64 // kills that ended a session
	nextSeq     int          // the sender goroutine's next sequence number
	joining     atomic.Int64 // join goroutines running

	// The receiver's state, touched by the socket's event goroutine and,
	// once the chat converged, by the checks.
	mu       sync.Mutex
	peers    map[int]*peerState // by sender index
	received int64
	errs     []string // the first problems seen
	errCount int
	causes   []string // the reasons of the disconnects, the first keepErrors
	// joinGiveUp is the last join that ended with its connection, quietly.
	joinGiveUp string
}

// peerState is what a receiver got from one sender.
type peerState struct {
	next    int   // index, in the sender's log, of the message expected next
	session int64 // session the last message came in
	count   int
}

const keepErrors = 5

// newSoakClient creates client i of cfg, not yet connected.
func newSoakClient(cfg config, i int, cs *chatServer, lat *histogram, logger *slog.Logger) (*soakClient, error) {
	c := &soakClient{
		idx:     i,
		room:    roomOf(cfg, i),
		dropper: isDropper(cfg, i),
		tr:      newConnTracker(),
		cs:      cs,
		lat:     lat,
		changed: make(chan struct{}, 1),
		peers:   map[int]*peerState{},
	}
	c.strict = !c.dropper || cfg.recovery
	opts := cfg.client
	switch i % 10 {
	case 0:
		c.transport, opts.Transports = "polling", []string{client.TransportPolling}
	case 5:
		c.transport, opts.Transports = "upgrade", []string{client.TransportPolling, client.TransportWebSocket}
	default:
		c.transport, opts.Transports = "websocket", []string{client.TransportWebSocket}
	}
	opts.Auth = map[string]any{"client": i}
	c.hc = c.tr.httpClient()
	if !cfg.clientDefaults {
		opts.ReconnectionDelay = 100 * time.Millisecond
		opts.ReconnectionDelayMax = time.Second
		opts.Timeout = 10 * time.Second
		opts.HTTPClient = c.hc
		opts.Dialer = c.tr.wsDialer(opts.Timeout)
	}
	opts.Logger = logger
	s, err := client.New(cs.url, opts)
	if err != nil {
		return nil, err
	}
	c.sock = s
	s.OnEvent(c.onLifecycle)
	s.On("chat", func(args client.Args, _ client.AckFunc) { c.onChat(args) })
	return c, nil
}

// roomOf spreads the clients of each transport and kind over the rooms
// (a plain i % rooms would put every polling client in room 0 when there
// are 10 rooms).
func roomOf(cfg config, i int) int { return (i + i/10) % cfg.rooms }

// isDropper spreads the droppers over the transports (chosen by i % 10):
// client i drops when i/10 is a multiple of the dropper period.
func isDropper(cfg config, i int) bool {
	if cfg.droppers <= 0 {
		return false
	}
	period := max(1, int(1/cfg.droppers+0.5))
	return (i/10)%period == 0
}

// onLifecycle counts the lifecycle events and joins the room at every
// connection: without recovery the server forgets the rooms of a dropped
// socket (with it, joining again changes nothing).
func (c *soakClient) onLifecycle(e client.Event) {
	switch e.Name {
	case client.EventConnect:
		c.connects.Add(1)
		if c.sock.Recovered() {
			c.recovered.Add(1)
		}
		sess := c.session.Add(1)
		c.joining.Add(1)
		go c.join(sess)
	case client.EventDisconnect:
		c.disconnects.Add(1)
		c.mu.Lock()
		if len(c.causes) < keepErrors {
			c.causes = append(c.causes, e.Reason)
		}
		c.mu.Unlock()
	case client.EventReconnect:
		c.reconnects.Add(1)
	}
	c.notify()
}

// join joins the client's room for session sess. It fails quietly when
// the session ends first: the next connection joins again.
func (c *soakClient) join(sess int64) {
	defer func() {
		c.joining.Add(-1)
		c.notify()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), connectWait)
	defer cancel()
	if _, err := c.sock.EmitWithAck(ctx, "join", c.room, sess); err != nil {
		if !errors.Is(err, client.ErrDisconnected) && !errors.Is(err, client.ErrClosed) {
			c.fail("join of session %d: %v", sess, err)
			return
		}
		c.mu.Lock()
		c.joinGiveUp = fmt.Sprintf("session %d: %v", sess, err)
		c.mu.Unlock()
		return
	}
	// A join buffered while the client was disconnected goes out with
	// the next session's, and its goroutine may record its success last:
	// joined only grows.
	for {
		old := c.joined.Load()
		if sess <= old || c.joined.CompareAndSwap(old, sess) {
			break
		}
	}
	c.notify()
}

func (c *soakClient) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// ready reports whether the client is connected and in its room.
func (c *soakClient) ready() bool {
	return c.sock.Connected() && c.joined.Load() == c.session.Load()
}

// waitFor waits up to d for cond, woken by the client's state changes.
// One goroutine at a time may wait on a client.
func (c *soakClient) waitFor(d time.Duration, cond func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for !cond() {
		select {
		case <-c.changed:
		case <-timer.C:
			return cond()
		}
	}
	return true
}

// onChat checks a received message against the server's log of its
// sender. A strict receiver must get the sender's broadcasts one after
// the other from the first: no loss, no duplicate, no reordering. Any
// receiver, strict or not, must get them in log order without duplicates,
// and, within one session, without gaps: a broadcast can only be lost with
// the transport that carried it, at the end of a session.
func (c *soakClient) onChat(args client.Args) {
	var m chatMsg
	if err := args.Decode(0, &m); err != nil {
		c.fail("undecodable chat: %v", err)
		return
	}
	c.lat.add(time.Since(time.Unix(0, m.Sent)))
	if m.Room != c.room || m.From < 0 || m.From >= len(c.cs.logs) {
		c.fail("message %+v from another room or an unknown sender", m)
		return
	}
	sess := c.session.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received++
	p := c.peers[m.From]
	if p == nil {
		p = &peerState{session: -1}
		c.peers[m.From] = p
	}
	l := &c.cs.logs[m.From]
	l.mu.Lock()
	// j: where the message is in the log, searching from the one expected.
	j := p.next
	for j < len(l.seqs) && int(l.seqs[j]) != m.Seq {
		j++
	}
	found := j < len(l.seqs)
	var expected int32 = -1
	if p.next < len(l.seqs) {
		expected = l.seqs[p.next]
	}
	l.mu.Unlock()
	contiguous := c.strict || p.session == sess
	switch {
	case !found:
		c.failLocked("from client %d: got seq %d in session %d, not in the server's log after index %d (seq %d expected): duplicated, reordered or never broadcast",
			m.From, m.Seq, sess, p.next, expected)
		return
	case contiguous && j != p.next:
		c.failLocked("from client %d: got seq %d in session %d, expected seq %d: %d messages lost on a live session",
			m.From, m.Seq, sess, expected, j-p.next)
	}
	// After a loss, follow on from this message: one loss, one report.
	p.next, p.session = j+1, sess
	p.count++
}

// fail records a problem; the test reports it once the run is over.
func (c *soakClient) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failLocked(format, args...)
}

func (c *soakClient) failLocked(format string, args ...any) {
	c.errCount++
	if len(c.errs) < keepErrors {
		c.errs = append(c.errs, fmt.Sprintf(format, args...))
	}
}

// missing returns, for a strict receiver, the messages of its room the
// server broadcast and it has not received yet (0 once complete), given
// the senders of its room.
func (c *soakClient) missing(senders []int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range senders {
		got := 0
		if p := c.peers[s]; p != nil {
			got = p.next
		}
		n += c.cs.logLen(s) - got
	}
	return n
}

// chat sends a message every 1/rate (starting at a random phase) until
// ctx ends; the sequence numbers count from 0.
func (c *soakClient) chat(ctx context.Context, rate float64) {
	period := time.Duration(float64(time.Second) / rate)
	timer := time.NewTimer(rand.N(period))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		m := chatMsg{Room: c.room, From: c.idx, Seq: c.nextSeq, Sent: time.Now().UnixNano()}
		if err := c.sock.Emit("chat", m); err != nil {
			c.fail("emit chat %d: %v", m.Seq, err)
			return
		}
		c.nextSeq++
		timer.Reset(period)
	}
}

// drop kills the client's transport every dropEvery on average (uniformly
// from half to one and a half times) until ctx ends, and after each kill
// waits for the client to reconnect and join again by itself. It returns
// an error when a kill did not end the session or the client did not come
// back in time; the caller reports it.
func (c *soakClient) drop(ctx context.Context, dropEvery time.Duration) error {
	for {
		wait := dropEvery/2 + rand.N(dropEvery)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if err := c.killOnce(); err != nil {
			return err
		}
		sess := c.session.Load()
		if !c.waitFor(connectWait, func() bool { return c.session.Load() > sess && c.ready() }) {
			return fmt.Errorf("client %d (%s) not connected and joined again %v after a kill (connected %v, session %d, joined %d)",
				c.idx, c.transport, connectWait, c.sock.Connected(), c.session.Load(), c.joined.Load())
		}
	}
}

// killOnce kills the transport until the session ends. A polling client
// between two requests holds no request open: a kill then only closes
// idle connections, which the session survives, so it kills again, but
// only while the client still counts itself connected: once it lost the
// connection (its disconnect event may come later on a loaded machine),
// a kill would hit its reconnection, which no kill is counted for.
func (c *soakClient) killOnce() error {
	before := c.disconnects.Load()
	for range 50 {
		if c.sock.Connected() {
			c.tr.kill()
		}
		if c.waitFor(200*time.Millisecond, func() bool { return c.disconnects.Load() > before }) {
			c.drops.Add(1)
			return nil
		}
	}
	return fmt.Errorf("client %d (%s): 50 kills did not end its session", c.idx, c.transport)
}

// close closes the client and the idle connections of its polling client,
// and waits for its join goroutines (Close fails their acks at once).
func (c *soakClient) close() error {
	_ = c.sock.Close()
	c.hc.CloseIdleConnections()
	if !c.waitFor(connectWait, func() bool { return c.joining.Load() == 0 }) {
		return fmt.Errorf("client %d: a join still waits for its ack %v after Close", c.idx, connectWait)
	}
	return nil
}
