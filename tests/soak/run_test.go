package soak

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/admin"
)

// workers bounds the clients connected, synced or closed at once.
const workers = 32

// result holds the figures of a run, for the summary line.
type result struct {
	stable, droppers int
	transports       map[string]int
	sent             int64 // chat messages the clients emitted
	broadcast        int64 // chat messages the server broadcast
	delivered        int64 // chat messages the clients received
	drops            int64
	reconnects       int64
	recovered        int64 // reconnections that restored the session
	serverSockets    int
	reasons          map[string]int // server-side disconnect reasons
	p50, p99, pmax   time.Duration
	serverWarnings   int
	clientWarnings   int

	before, connected, afterChat, after snapshot
	peakGoroutines                      int
	peakHeap                            uint64
	connectTook, settleTook             time.Duration
	closeClientsTook, closeServerTook   time.Duration
	took                                time.Duration
	// adminFeed counts the admin events the dashboard got, by name, and
	// adminDropped the reports the admin dropped (TestSoakAdmin).
	adminFeed    map[string]int
	adminDropped int64
}

// runChat starts the server and the clients, lets them chat and drop for
// cfg.duration, waits for everything to settle, checks the deliveries and
// counts, closes everything and returns the figures. Everything it
// allocated is garbage once it returns.
func runChat(t *testing.T, cfg config) *result {
	res := &result{transports: map[string]int{}}
	opts := cfg.server
	opts.CloseTimeout = closeTimeout
	cs, err := startChatServer(opts, cfg.clients)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	clientLog := newCountingHandler()
	var dash *dashboard
	if cfg.admin {
		if dash, err = startDashboard(cs, slog.New(clientLog)); err != nil {
			_, _ = cs.close()
			t.Fatalf("admin: %v", err)
		}
	}
	lat := &histogram{}
	clients := make([]*soakClient, 0, cfg.clients)
	serverClosed := false
	defer func() { // on a fatal failure, still stop everything
		parallel(len(clients), workers, func(i int) { _ = clients[i].close() })
		if !serverClosed {
			_, _ = cs.close()
		}
	}()
	for i := range cfg.clients {
		c, err := newSoakClient(cfg, i, cs, lat, slog.New(clientLog))
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		clients = append(clients, c)
		res.transports[c.transport]++
		if c.dropper {
			res.droppers++
		} else {
			res.stable++
		}
	}
	members := make([][]int, cfg.rooms) // client indexes by room
	usedRooms := 0
	for _, c := range clients {
		if len(members[c.room]) == 0 {
			usedRooms++
		}
		members[c.room] = append(members[c.room], c.idx)
	}
	// The receivers' state, allocated now so that it does not count as
	// growth over the chat.
	for _, c := range clients {
		for _, s := range members[c.room] {
			c.peers[s] = &peerState{session: -1}
		}
	}

	// Connect and join, everyone, before anyone chats: a stable receiver
	// must then get every message broadcast to its room.
	start := time.Now()
	errs := newErrList()
	parallel(len(clients), workers, func(i int) {
		c := clients[i]
		if err := c.sock.Connect(); err != nil {
			errs.add("client %d: Connect: %v", i, err)
			return
		}
		if !c.waitFor(connectWait, c.ready) {
			errs.add("client %d (%s): not connected and joined after %v", i, c.transport, connectWait)
		}
	})
	res.connectTook = time.Since(start)
	errs.fatal(t, "connecting")
	wantConnected := actorio.Stats{Sessions: cfg.clients, Connections: cfg.clients,
		Namespaces: map[string]actorio.NamespaceStats{"/": {Sockets: cfg.clients, Rooms: cfg.clients + usedRooms}}}
	if dash != nil { // and the dashboard, in its own room
		wantConnected.Sessions++
		wantConnected.Connections++
		wantConnected.Namespaces[admin.DefaultNamespace] = actorio.NamespaceStats{Sockets: 1, Rooms: 1}
	}
	if st, ok := cs.waitStats(settleWait, wantConnected); !ok {
		t.Fatalf("server stats with every client connected: %+v, want %+v", st, wantConnected)
	}
	res.connected = measureAt(t, "connected")

	// Chat and drop.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range clients {
		if cfg.chat != nil {
			wg.Go(func() { cfg.chat(ctx, c) })
		} else {
			wg.Go(func() { c.chat(ctx, cfg.rate) })
		}
		if c.dropper {
			wg.Go(func() {
				if err := c.drop(ctx, cfg.dropEvery); err != nil {
					errs.add("%v", err)
				}
			})
		}
	}
	peakDone := make(chan struct{})
	go func() {
		defer close(peakDone)
		res.peakGoroutines, res.peakHeap = samplePeaks(ctx)
	}()
	wg.Wait()
	<-peakDone
	settleStart := time.Now()
	deadline := settleStart.Add(settleWait)

	// Every dropper back and in its room, then a sync barrier on every
	// socket: once acknowledged, the server has broadcast everything the
	// client sent, so the logs are final.
	for _, c := range clients {
		if c.dropper && !c.waitFor(time.Until(deadline), c.ready) {
			c.mu.Lock()
			seen, gaveUp := strings.Join(c.errs, "; "), c.joinGiveUp
			c.mu.Unlock()
			errs.add("dropper %d (%s): not connected and joined %v after the chat ended (connected %v, session %d, joined %d; the server acked the join of session %d; last join given up: %q; problems: %s)",
				c.idx, c.transport, settleWait, c.sock.Connected(), c.session.Load(), c.joined.Load(), cs.joins[c.idx].Load(), gaveUp, seen)
		}
	}
	if errs.count() > 0 {
		dumpGoroutines(t, "settle")
	}
	parallel(len(clients), workers, func(i int) {
		sctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		if _, err := clients[i].sock.EmitWithAck(sctx, "sync"); err != nil {
			errs.add("client %d: sync: %v", i, err)
		}
	})
	errs.fatal(t, "settling")
	// Every strict receiver gets every message of its room.
	missing := 0
	for {
		missing = 0
		for _, c := range clients {
			if c.strict {
				missing += c.missing(members[c.room])
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if missing != 0 {
		t.Errorf("%d messages not delivered to strict receivers %v after the chat ended", missing, settleWait)
		reportMissing(t, clients, members)
	}
	// The sockets of the killed connections are gone.
	if st, ok := cs.waitStats(lingerWait, wantConnected); !ok {
		t.Errorf("server stats after the chat, every client connected again: %+v, want %+v", st, wantConnected)
	}
	res.settleTook = time.Since(settleStart)
	res.afterChat = measureAt(t, "after-chat")
	checkGrowth(t, cfg, res.connected, res.afterChat)

	checkDeliveries(t, cfg, cs, clients, members, res)
	checkLifecycles(t, cfg, cs, clients, res)
	res.p50, res.p99, res.pmax = lat.quantile(0.5), lat.quantile(0.99), lat.quantile(1)

	if dash != nil {
		res.adminFeed, res.adminDropped = dash.close()
		if res.adminFeed["event_received"] == 0 || res.adminFeed["event_sent"] == 0 || res.adminFeed["server_stats"] == 0 {
			t.Errorf("the dashboard got %v: the admin feed did not flow", res.adminFeed)
		}
	}

	// Close every client: the server ends up with nothing.
	start = time.Now()
	parallel(len(clients), workers, func(i int) {
		if err := clients[i].close(); err != nil {
			errs.add("%v", err)
		}
	})
	res.closeClientsTook = time.Since(start)
	clients = nil
	errs.report(t, "closing the clients")
	wantEmpty := actorio.Stats{Namespaces: map[string]actorio.NamespaceStats{"/": {}}}
	if dash != nil {
		wantEmpty.Namespaces[admin.DefaultNamespace] = actorio.NamespaceStats{}
	}
	if st, ok := cs.waitStats(settleWait, wantEmpty); !ok {
		t.Errorf("server stats after every client closed: %+v, want %+v", st, wantEmpty)
	}
	sockets, calls, reasons, _ := cs.socketCounts()
	res.serverSockets, res.reasons = sockets, reasons
	if want := map[int]int{1: sockets}; !maps.Equal(calls, want) {
		t.Errorf("server sockets by number of OnDisconnect calls %v, want every one of the %d exactly once", calls, sockets)
	}
	if c, d := cs.connections.Load(), cs.disconnects.Load(); c != d || c != int64(sockets) {
		t.Errorf("server: %d OnConnection calls, %d OnDisconnect calls, %d sockets: want all equal", c, d, sockets)
	}

	took, err := cs.close()
	serverClosed = true
	res.closeServerTook = took
	if err != nil {
		t.Errorf("Server.Close: %v", err)
	}
	if took > closeTimeout {
		t.Errorf("Server.Close took %v, more than its CloseTimeout %v", took, closeTimeout)
	}
	res.serverWarnings, _ = cs.warn.counts()
	res.clientWarnings, _ = clientLog.counts()
	reportLogs(t, "server", cs.warn)
	reportLogs(t, "client", clientLog)
	return res
}

// reportMissing lists the strict receivers that lack messages, and from
// which senders.
func reportMissing(t *testing.T, clients []*soakClient, members [][]int) {
	t.Helper()
	shown := 0
	for _, c := range clients {
		if !c.strict || c.missing(members[c.room]) == 0 {
			continue
		}
		if shown++; shown > 10 {
			t.Errorf("... and more receivers")
			return
		}
		var from []string
		for _, s := range members[c.room] {
			if n := c.missing([]int{s}); n > 0 {
				from = append(from, fmt.Sprintf("client %d: %d of %d", s, n, c.cs.logLen(s)))
			}
		}
		t.Errorf("client %d (%s, dropper %v, connected %v, session %d, joined %d, recovered %d) lacks messages from %s",
			c.idx, c.transport, c.dropper, c.sock.Connected(), c.session.Load(), c.joined.Load(), c.recovered.Load(), strings.Join(from, ", "))
	}
}

// checkGrowth compares the goroutines and heap with every client
// connected before the chat and after it: the same clients are connected.
func checkGrowth(t *testing.T, cfg config, connected, afterChat snapshot) {
	t.Helper()
	if d := afterChat.goroutines - connected.goroutines; d > goroutineGrowthFixed {
		t.Errorf("goroutines grew by %d (%d to %d) over the chat with the same clients connected, bound %d",
			d, connected.goroutines, afterChat.goroutines, goroutineGrowthFixed)
	}
	live := int64(liveGrowthFixed + liveGrowthPerClient*cfg.clients)
	if cfg.recovery {
		live += liveGrowthRecovery
	}
	if d := int64(afterChat.heapAlloc) - int64(connected.heapAlloc); d > live {
		t.Errorf("live heap grew by %s (%s to %s) over the chat with the same clients connected, bound %s",
			mib(uint64(d)), mib(connected.heapAlloc), mib(afterChat.heapAlloc), mib(uint64(live)))
	}
	inuse := int64(connected.heapInuse + inuseGrowthFixed)
	if d := int64(afterChat.heapInuse) - int64(connected.heapInuse); d > inuse {
		t.Errorf("heap in use grew by %s (%s to %s) over the chat with the same clients connected, bound %s",
			mib(uint64(d)), mib(connected.heapInuse), mib(afterChat.heapInuse), mib(uint64(inuse)))
	}
}

// checkDeliveries checks the server's logs against what the senders sent,
// and the receivers' problems, and sums up the traffic.
func checkDeliveries(t *testing.T, cfg config, cs *chatServer, clients []*soakClient, members [][]int, res *result) {
	t.Helper()
	bad := 0
	for _, c := range clients {
		l := &cs.logs[c.idx]
		l.mu.Lock()
		n, disorder, first := len(l.seqs), l.disorder, l.first
		last := -1
		if n > 0 {
			last = int(l.seqs[n-1])
		}
		l.mu.Unlock()
		res.sent += int64(c.nextSeq)
		res.broadcast += int64(n)
		switch {
		case disorder > 0:
			t.Errorf("server: %d of client %d's messages broadcast out of order or twice; first: %s", disorder, c.idx, first)
		case !c.dropper && (n != c.nextSeq || last != c.nextSeq-1):
			// Strictly increasing, as many as sent, the last one last:
			// exactly 0..sent-1.
			t.Errorf("server: stable client %d sent %d messages, %d broadcast (last seq %d): a stable connection lost some", c.idx, c.nextSeq, n, last)
		case c.dropper && (n > c.nextSeq || last >= c.nextSeq):
			t.Errorf("server: dropper %d sent %d messages, %d broadcast (last seq %d)", c.idx, c.nextSeq, n, last)
		}
		c.mu.Lock()
		res.delivered += c.received
		if c.errCount > 0 {
			bad++
			if bad <= 10 {
				t.Errorf("client %d (%s, dropper %v): %d problems, first: %s", c.idx, c.transport, c.dropper, c.errCount, strings.Join(c.errs, "; "))
			}
		}
		c.mu.Unlock()
	}
	if bad > 10 {
		t.Errorf("... and %d more clients with problems", bad-10)
	}
	if cs.badEvents.Load() != 0 || cs.emitErrors.Load() != 0 {
		t.Errorf("server: %d unusable events, %d broadcast errors", cs.badEvents.Load(), cs.emitErrors.Load())
	}
	if d := cs.srv.Stats().DroppedEvents; d != 0 {
		t.Errorf("server dropped %d events (no rate limit is set)", d)
	}
}

// checkLifecycles checks the connection counts of every client and the
// server's sockets before the clients close: stable clients never
// dropped, droppers came back after every kill and are connected.
func checkLifecycles(t *testing.T, cfg config, cs *chatServer, clients []*soakClient, res *result) {
	t.Helper()
	var connects int64
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	_, _, _, byClient := cs.socketCounts()
	for _, c := range clients {
		conn, disc, reco, drops := c.connects.Load(), c.disconnects.Load(), c.reconnects.Load(), c.drops.Load()
		connects += conn
		res.drops += drops
		res.reconnects += reco
		res.recovered += c.recovered.Load()
		c.mu.Lock()
		causes := strings.Join(c.causes, ", ")
		c.mu.Unlock()
		switch {
		case !c.dropper && (conn != 1 || disc != 0 || reco != 0):
			report("stable client %d (%s): %d connects, %d disconnects (%s), %d reconnects: want 1, 0, 0", c.idx, c.transport, conn, disc, causes, reco)
		case c.dropper && (disc != drops || reco != drops || conn != drops+1):
			report("dropper %d (%s): %d kills, %d disconnects (%s), %d reconnects, %d connects: want k, k, k, k+1", c.idx, c.transport, drops, disc, causes, reco, conn)
		case c.dropper && cfg.recovery && c.recovered.Load() != reco:
			report("dropper %d (%s): %d of %d reconnections restored the session, want all", c.idx, c.transport, c.recovered.Load(), reco)
		case c.dropper && drops == 0 && cfg.duration > cfg.dropEvery*3/2:
			report("dropper %d (%s) never dropped in %v", c.idx, c.transport, cfg.duration)
		case !c.ready():
			report("client %d (%s) not connected and joined at the end", c.idx, c.transport)
		}
		// Its earlier sockets each ended once; its current one has not.
		if got, want := len(byClient[c.idx]), int(conn-1); got != want {
			report("client %d (%s): server-side OnDisconnect calls %d (%q) before close, want %d", c.idx, c.transport, got, byClient[c.idx], want)
		}
	}
	if bad > 10 {
		t.Errorf("... and %d more client lifecycle problems", bad-10)
	}
	if got := cs.connections.Load(); got != connects {
		t.Errorf("server: %d OnConnection calls, clients saw %d connects", got, connects)
	}
}

// samplePeaks samples the goroutine count and the heap in use every half
// second until ctx ends and returns their peaks.
func samplePeaks(ctx context.Context) (goroutines int, heap uint64) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var ms runtime.MemStats
	for {
		goroutines = max(goroutines, runtime.NumGoroutine())
		runtime.ReadMemStats(&ms)
		heap = max(heap, ms.HeapInuse)
		select {
		case <-ctx.Done():
			return goroutines, heap
		case <-tick.C:
		}
	}
}

// parallel runs fn(0) … fn(n-1) on at most w goroutines at once and
// waits for them.
func parallel(n, w int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, w)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

// errList collects problems from many goroutines.
type errList struct {
	mu   sync.Mutex
	n    int
	errs []string
}

func newErrList() *errList { return &errList{} }

func (e *errList) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.errs) < 10 {
		e.errs = append(e.errs, fmt.Sprintf(format, args...))
	}
}

// count returns how many problems were added.
func (e *errList) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

// dumpGoroutines writes every goroutine's stack to a file in the system's
// temporary directory, named after the test and moment, and logs its
// name: where a run failed to converge, what the server was waiting on.
func dumpGoroutines(t *testing.T, moment string) {
	t.Helper()
	f, err := os.CreateTemp("", "soak-"+moment+"-*.goroutines")
	if err != nil {
		t.Logf("goroutine dump: %v", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("goroutine").WriteTo(f, 2); err != nil {
		t.Logf("goroutine dump: %v", err)
		return
	}
	t.Logf("goroutines at %s: %s", moment, f.Name())
}

// report fails the test with the problems collected so far, if any, and
// empties the list; it returns whether there were any.
func (e *errList) report(t *testing.T, during string) bool {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		return false
	}
	t.Errorf("%d problems %s; the first:\n  %s", e.n, during, strings.Join(e.errs, "\n  "))
	e.n, e.errs = 0, nil
	return true
}

// fatal is report, then t.FailNow if there were problems: the run cannot
// go on meaningfully.
func (e *errList) fatal(t *testing.T, during string) {
	t.Helper()
	if e.report(t, during) {
		t.FailNow()
	}
}

// reportLogs logs how many Warn and Error records a logger got, by kind.
func reportLogs(t *testing.T, who string, h *countingHandler) {
	t.Helper()
	n, kinds := h.counts()
	if n > 0 {
		t.Logf("%s logged %d warnings or errors:\n  %s", who, n, strings.Join(kinds, "\n  "))
	}
}

// summary is the line of figures the run prints.
func (r *result) summary(cfg config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "soak: %d clients (%d stable, %d droppers; %s), %d rooms, chat %v at %g msg/s per client, kill every ~%v",
		cfg.clients, r.stable, r.droppers, transportMix(r.transports), cfg.rooms, cfg.duration, cfg.rate, cfg.dropEvery)
	if cfg.recovery {
		b.WriteString(", recovery")
	}
	if cfg.admin {
		fmt.Fprintf(&b, ", admin feed %v (%d reports dropped)", r.adminFeed, r.adminDropped)
	}
	fmt.Fprintf(&b, "; sent %d, broadcast %d, delivered %d; drops %d, reconnects %d (%d recovered); server sockets %d, disconnect reasons %v",
		r.sent, r.broadcast, r.delivered, r.drops, r.reconnects, r.recovered, r.serverSockets, r.reasons)
	fmt.Fprintf(&b, "; delivery latency p50 %v, p99 %v, max %v", r.p50, r.p99, r.pmax)
	fmt.Fprintf(&b, "; heap in use before %s, connected %s, after chat %s, peak %s, after close %s (live objects %s, %s, %s, -, %s)",
		mib(r.before.heapInuse), mib(r.connected.heapInuse), mib(r.afterChat.heapInuse), mib(r.peakHeap), mib(r.after.heapInuse),
		mib(r.before.heapAlloc), mib(r.connected.heapAlloc), mib(r.afterChat.heapAlloc), mib(r.after.heapAlloc))
	fmt.Fprintf(&b, "; goroutines before %d, connected %d, after chat %d, peak %d, after close %d",
		r.before.goroutines, r.connected.goroutines, r.afterChat.goroutines, r.peakGoroutines, r.after.goroutines)
	fmt.Fprintf(&b, "; connect %v, settle %v, close clients %v, Server.Close %v, total %v; warnings server %d, client %d",
		r.connectTook.Round(time.Millisecond), r.settleTook.Round(time.Millisecond), r.closeClientsTook.Round(time.Millisecond),
		r.closeServerTook.Round(time.Millisecond), r.took.Round(time.Millisecond), r.serverWarnings, r.clientWarnings)
	return b.String()
}

func transportMix(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
