package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/workpool"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// Handler receives new connections.
type Handler interface {
	// OnOpen is called once per session after the handshake is written, from
	// the goroutine that served it and before any inbound packet is read; it
	// must not block.
	OnOpen(c *Conn)
}

// Receiver gets a connection's inbound packets and its end.
type Receiver interface {
	// OnPacket receives an inbound Message packet. Calls are sequential per
	// Conn, from transport goroutines; they must not block long (one that
	// waits for something may suspend its delivery instead, see
	// Conn.Suspend). p.Data is
	// handed over: the gateway never reads or reuses it after the call, so
	// the receiver may keep it.
	OnPacket(c *Conn, p engineio.Packet)
	// OnClose is called exactly once per Conn with the close reason and the
	// underlying error (nil for clean closes); no OnPacket follows it.
	OnClose(c *Conn, reason string, err error)
}

// HandshakeRequest is what the server captured of the handshake request.
type HandshakeRequest struct {
	// RemoteAddr is the client's network address as seen by net/http.
	RemoteAddr string
	// Host is the host the request was sent to (net/http keeps it out of
	// Header).
	Host string
	// URL is the request URL as received (path and query).
	URL string
	// Secure reports whether the request came over TLS.
	Secure bool
	// Time is when the handshake was received.
	Time time.Time

	header packedHeader    // the request headers (see Header)
	ctx    context.Context // the handshake request's context
}

// Header returns the request headers, in a new map at each call (sessions
// keep them packed: see packedHeader).
func (r *HandshakeRequest) Header() http.Header { return r.header.header() }

// Context returns the context of the handshake request, with the values
// that net/http middleware wrapping the server put in it (an
// authenticated user, say). Once that request is answered the context is
// cancelled: its Values stay readable, but it is Done and its Err is not
// nil, so it must not bound work done for the session.
func (r *HandshakeRequest) Context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// Query parses the query parameters of URL (each call returns a new map:
// sessions do not keep a parsed copy).
func (r *HandshakeRequest) Query() url.Values {
	u, err := url.ParseRequestURI(r.URL)
	if err != nil {
		return url.Values{}
	}
	return u.Query()
}

// logAt logs msg at level with the session id, when the logger takes that
// level: sessions do not keep a logger of their own.
func (c *Conn) logAt(level slog.Level, msg string, attrs ...slog.Attr) {
	l := c.srv.log
	if !l.Enabled(context.Background(), level) {
		return
	}
	l.LogAttrs(context.Background(), level, msg, append(attrs, slog.String("sid", c.id))...)
}

// closeMode tells the transports how to end a closing session.
type closeMode uint8

const (
	// closeAbort drops what is queued and ends the transport.
	closeAbort closeMode = iota
	// closeFlush writes what is queued first, and on polling a close packet.
	closeFlush
	// closeByClient answers a pending poll with a noop packet.
	closeByClient
	// closeDrop is closeAbort for a peer that stopped answering or reading:
	// it also closes a WebSocket's network connection at once, after a
	// close frame only if it goes out without waiting, so that no write to
	// the peer blocks until WriteTimeout.
	closeDrop
)

// Conn is one Engine.IO session. Its methods are safe for concurrent use.
//
// Its one-byte fields sit together at the end, whatever part of the
// session they belong to: spread among the others, each took a word of
// its own, and the struct a size class more (384 bytes, not 352) for
// every session.
type Conn struct {
	srv *Server
	id  string
	req *HandshakeRequest
	// addr is the remote IP address of the handshake, without the port
	// (see Config.BindSessionToAddress).
	addr string
	// slot is the place the session holds under the connection limits;
	// nil when none is set. Guarded by srv.mu.
	slot *slot

	// closed is closed when the session ends; made on first use
	// (closedLocked), since most sessions never wait on it. Guarded by mu.
	closed chan struct{}
	// pollWake (capacity 1) wakes the poller when the queue or the state
	// changes; nil for a session opened on a WebSocket.
	pollWake chan struct{}

	// recvMu serialises OnPacket calls; a suspended one (Suspend) holds
	// it until resumed.
	recvMu sync.Mutex
	// via is how the transport making the OnPacket call in progress can
	// stop for a suspended delivery (Suspend): the parked reader whose run
	// reads, or the long-polling POST that carried the packet; nil when it
	// cannot. Guarded by recvMu.
	via suspendable
	// in is what the receiver took and has not handled yet (inflow.go).
	in inflow

	// mu guards what follows, but where a field says otherwise.
	mu         sync.Mutex
	receiver   Receiver
	queue      []engineio.Packet
	queueBytes int64
	// more is the rest of a WebSocket session's queue, when it outgrew
	// one array (see queueSegment).
	more *queueMore
	// written is the batch the WebSocket writer took last (takeLocked),
	// which it is writing or has written: its array goes back to
	// queueArrays at the writer's next take, when it is done with it.
	written  []engineio.Packet
	flags    []sendFlags // the SendOptions of each packet of queue; nil while none had one
	reason   string
	closeErr error
	// heartbeat
	pingAt   time.Duration // the next ping is due then (monoNow's clock)
	expireAt time.Duration // the session dies then unless a pong resets it (0: not set)
	// beatIdx is the session's place in the server's heartbeat schedule
	// (beats), -1 when not in it; guarded by the schedule's mu.
	beatIdx int32
	// polling: finalCh, when set, is closed with finalSent (see servePost).
	finalCh chan struct{}
	// lingerTimer forgets the session once closed (see Server.lingerLocked);
	// guarded by srv.mu.
	lingerTimer *time.Timer
	// upgrade
	probe *websocket.Conn // WebSocket being probed for an upgrade
	// ws is the session's WebSocket, from its handshake or once upgraded:
	// set, it is the transport; nil, long-polling is (see Transport).
	ws *websocket.Conn
	// out is the WebSocket the writer drains into, once writes may start; a
	// writer goroutine exists only while writing is set, so an idle
	// connection has none.
	out *websocket.Conn

	// The one-byte fields (see above).
	isClosed   bool
	mode       closeMode
	delivering bool // an OnOpen or OnPacket call is in progress
	closeDue   bool // OnClose waits for the current OnPacket call to return
	writing    bool
	// heartbeat
	heartbeatStopped bool
	awaitingPong     bool
	// polling
	polling bool // a GET is pending
	posting bool // a POST is being processed
	// finalSent: a GET got the session's last answer (its close packet,
	// or the noop after the client's close); later requests get 400.
	finalSent bool
	// lingering: the session ended with no GET pending, and the client's
	// next GET gets its last answer (see Server.lingerLocked).
	lingering bool
	// upgrade
	paused    bool // polling paused by a probe: pending and new GETs get noop
	upgrading bool // a WebSocket upgrade request is being served
	// frames is how binary messages go on the session's WebSocket, set
	// before its first write (see frameMode); probeFrames, those of the
	// WebSocket being probed.
	frames, probeFrames frameMode
	// eio3 marks an Engine.IO v3 session (Config.AllowEIO3); pollB64, a v3
	// polling client that cannot read binary payloads (its handshake
	// asked b64). Both are set at the handshake and never change.
	eio3, pollB64 bool
}

// frameMode is how a session's WebSocket carries binary messages.
type frameMode uint8

const (
	// framesV4: Engine.IO v4, a binary frame holding the data alone.
	framesV4 frameMode = iota
	// framesV3: Engine.IO v3, a binary frame holding the message type byte
	// and the data.
	framesV3
	// framesV3Base64: Engine.IO v3 for a client that asked b64, a text
	// frame holding "b4" and the base64 of the data.
	framesV3Base64
)

// v3Frames returns the frame mode of a v3 session's WebSocket opened by
// the request r: base64 when r asks b64, as Node reads the parameter.
func v3Frames(r *http.Request) frameMode {
	if queryValue(r.URL.RawQuery, "b64") != "" {
		return framesV3Base64
	}
	return framesV3
}

// NewID returns a random, unguessable id of 20 URL-safe base64
// characters, as used for session and socket ids: 120 bits from
// crypto/rand, so that ids can be neither predicted nor enumerated.
func NewID() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // never fails: Go crashes the program rather than return weak bytes
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newConn creates a session for the handshake request r, of Engine.IO v3
// when eio3 is set: on ws when the handshake is a WebSocket's, else on
// long-polling (ws nil).
func newConn(s *Server, r *http.Request, ws *websocket.Conn, eio3 bool) *Conn {
	c := &Conn{
		srv:  s,
		id:   s.newSessionID(),
		addr: remoteHost(r),
		ws:   ws,
		eio3: eio3,
		// OnOpen counts as a delivery: a close before it returns waits for it.
		delivering: true,
		beatIdx:    -1,

		req: &HandshakeRequest{
			header:     packHeader(r.Header),
			RemoteAddr: r.RemoteAddr,
			Host:       r.Host,
			URL:        r.URL.String(),
			Secure:     r.TLS != nil,
			Time:       time.Now(),
			ctx:        r.Context(),
		},
	}
	c.slot, _ = r.Context().Value(slotKey{}).(*slot)
	if eio3 {
		c.frames = v3Frames(r)
		c.pollB64 = c.frames == framesV3Base64
	}
	if ws == nil {
		// Only a polling session polls (an upgrade goes from polling to
		// WebSocket, never back); a nil channel is never ready.
		c.pollWake = make(chan struct{}, 1)
	}
	return c
}

// ID returns the session id.
func (c *Conn) ID() string { return c.id }

// Protocol returns the Engine.IO protocol revision of the session: 4, or 3
// for a client of Engine.IO v3 (Socket.IO v2) served under
// Config.AllowEIO3.
func (c *Conn) Protocol() int {
	if c.eio3 {
		return 3
	}
	return 4
}

// RemoteIP returns the remote IP address of the handshake, without the port.
func (c *Conn) RemoteIP() string { return c.addr }

// Request returns what was captured of the handshake request; it must not be modified.
func (c *Conn) Request() *HandshakeRequest { return c.req }

// SetReceiver installs the receiver of inbound packets; call it inside OnOpen.
func (c *Conn) SetReceiver(r Receiver) {
	c.mu.Lock()
	c.receiver = r
	c.mu.Unlock()
}

// Transport returns the current transport name, "polling" or "websocket".
func (c *Conn) Transport() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transportLocked()
}

// transportLocked is Transport for a caller that holds c.mu.
func (c *Conn) transportLocked() string {
	if c.ws != nil {
		return TransportWebSocket
	}
	return TransportPolling
}

// Closed returns a channel closed when the session ends.
func (c *Conn) Closed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closedLocked()
}

// endedChan is the channel closedLocked hands out once the session has
// ended; it is closed from the start.
var endedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// closedLocked returns the channel that is closed when the session ends,
// making it on first use; c.mu must be held.
func (c *Conn) closedLocked() <-chan struct{} {
	if c.closed == nil {
		if c.isClosed {
			c.closed = endedChan
		} else {
			c.closed = make(chan struct{})
		}
	}
	return c.closed
}

// Send queues Message packets for the client without blocking; order is
// preserved. The packets' Data is neither modified nor retained after it is
// written, so it may be shared by many connections but must not be mutated
// by the caller afterwards. Send returns ErrClosed after the session ended,
// and ErrSlowConsumer (closing the session with "slow consumer") when the
// queue would exceed Config.MaxQueueBytes or Config.MaxQueuePackets.
func (c *Conn) Send(pkts ...engineio.Packet) error { return c.send(pkts, false, 0, nil) }

// SendNow is Send for a caller that can spend a write(2) on its packets
// (a socket's own emit or ack): on a WebSocket with no writer running, the
// calling goroutine writes what is queued itself, without ever blocking,
// and leaves to a writer goroutine only what the socket does not take at
// once. It saves starting a goroutine per packet. Broadcasts use Send, so
// that what piles up for a connection leaves in one write.
func (c *Conn) SendNow(pkts ...engineio.Packet) error { return c.send(pkts, true, 0, nil) }

// SendOptions are the choices of SendWith.
type SendOptions struct {
	// Now writes as SendNow does; otherwise as Send.
	Now bool
	// Uncompressed sends the packets without WebSocket compression
	// (Config.PerMessageDeflate), and a polling response made only of
	// such packets without gzip, as Node's compress(false) does.
	Uncompressed bool
	// Shared tells that the same packets (the same Data) go to many
	// connections, a broadcast: with Config.PerMessageDeflate, each of
	// their messages is then compressed once for all of them, not once
	// per connection.
	Shared bool
	// Held, when not nil, keeps back the WebSocket writer this send would
	// start until Held.Release: a caller that sends many packets in a row
	// (another node's broadcasts, as its link delivers them) lets each
	// connection's writer take them all in one write.
	Held *Held
}

// Held is a list of WebSocket writers that sends were to start and did
// not (SendOptions.Held): each connection in it takes no write until
// Release. It is used by one goroutine at a time, which must call
// Release before it waits on anything.
type Held struct {
	writers []heldWriter
}

// heldWriter is a connection whose writer claim a Held keeps.
type heldWriter struct {
	c  *Conn
	ws *websocket.Conn
}

// Release starts the writers h kept back, and empties h for reuse.
func (h *Held) Release() {
	for i, w := range h.writers {
		h.writers[i] = heldWriter{}
		w.c.startWriter(w.ws)
	}
	h.writers = h.writers[:0]
}

// sendFlags are the SendOptions a queued packet keeps.
type sendFlags uint8

const (
	sendUncompressed sendFlags = 1 << iota
	sendShared
)

// SendWith is Send, or SendNow, with the choices of o.
func (c *Conn) SendWith(o SendOptions, pkts ...engineio.Packet) error {
	var f sendFlags
	if o.Uncompressed {
		f |= sendUncompressed
	}
	if o.Shared && c.srv.cfg.PerMessageDeflate != nil {
		f |= sendShared
	}
	return c.send(pkts, o.Now, f, o.Held)
}

func (c *Conn) send(pkts []engineio.Packet, now bool, f sendFlags, held *Held) error {
	var n int64
	for _, p := range pkts {
		if p.Type != engineio.Message {
			return fmt.Errorf("send %s packet: %w", p.Type, ErrNotMessage)
		}
		n += int64(len(p.Data))
	}
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.overLimitLocked(n, len(pkts)) {
		c.mu.Unlock()
		// Close elsewhere: OnClose must not run inside the caller's Send.
		c.srv.goTracked(func() { c.closeWith(disconnect.SlowConsumer, ErrSlowConsumer, closeDrop) })
		return fmt.Errorf("session %s: %w", c.id, ErrSlowConsumer)
	}
	if f != 0 && c.flags == nil {
		n := c.queuedLocked()
		c.flags = make([]sendFlags, n, n+len(pkts))
	}
	c.appendLocked(pkts...)
	for range pkts {
		if c.flags == nil {
			break
		}
		c.flags = append(c.flags, f)
	}
	c.queueBytes += n
	// The writer is claimed here, not by wake's own locking: a broadcast
	// calls send once per receiver, and most find a writer running.
	var ws *websocket.Conn
	if c.out != nil && !c.writing {
		c.writing = true
		ws = c.out
	}
	c.mu.Unlock()
	if c.pollWake != nil {
		select {
		case c.pollWake <- struct{}{}:
		default:
		}
	}
	switch {
	case ws == nil:
	case held != nil:
		held.writers = append(held.writers, heldWriter{c, ws})
	case now:
		c.writeClaimed(ws)
	default:
		c.startWriter(ws)
	}
	return nil
}

// queueArrays recycles the arrays of the batches WebSocket writers took
// (see Conn.written), so that a connection receiving a fan-out does not
// allocate and grow a new queue for each batch. Arrays are cleared before
// they are put back: they keep no packet's Data alive.
var queueArrays sync.Pool

// maxQueueArray is the largest capacity put back in queueArrays: a queue
// that a slow connection let grow large is left to the collector. What the
// pool holds counts as live memory for the collector: with 1024, cmd/bench
// fanout (500 receivers) peaked 3-4 MB higher than without the pool
// (about 58 MB against 54, median of 8 runs); with 256 it peaks as without.
const maxQueueArray = 256

// queueBoxes holds the empty boxes of queueArrays: a sync.Pool holds an
// array through a pointer to its slice, and a box taken from here instead
// of a new one per put keeps a writer's batch (a heartbeat's ping, an
// echo's ack) from allocating one.
var queueBoxes sync.Pool

// getQueueArray returns an empty queue from queueArrays, or nil.
func getQueueArray() []engineio.Packet {
	b, _ := queueArrays.Get().(*[]engineio.Packet)
	if b == nil {
		return nil
	}
	a := *b
	*b = nil
	queueBoxes.Put(b)
	return a
}

// putQueueArray clears a and puts it in queueArrays.
func putQueueArray(a []engineio.Packet) {
	clear(a)
	b, _ := queueBoxes.Get().(*[]engineio.Packet)
	if b == nil {
		b = new([]engineio.Packet)
	}
	*b = a[:0]
	queueArrays.Put(b)
}

// recycleWrittenLocked hands the array of the batch the writer took last
// back to queueArrays; c.mu must be held by the writer, which is done
// with that batch. A batch the session took after it ended is left to
// the collector: a polling request may have taken it.
func (c *Conn) recycleWrittenLocked() {
	w := c.written
	c.written = nil
	if w == nil || c.isClosed || cap(w) > maxQueueArray {
		return
	}
	putQueueArray(w)
}

// overLimitLocked reports whether queueing n more bytes in pkts packets
// would exceed the queue bounds; c.mu must be held.
func (c *Conn) overLimitLocked(n int64, pkts int) bool {
	cfg := &c.srv.cfg
	return (cfg.MaxQueueBytes > 0 && c.queueBytes+n > cfg.MaxQueueBytes) ||
		(cfg.MaxQueuePackets > 0 && c.queuedLocked()+pkts > cfg.MaxQueuePackets)
}

// queueSegment is the most packets a WebSocket session's queue holds in
// one array: a queue that grows past it while the writer is busy goes on
// in further arrays of that size (queueMore), which its writer takes one
// at a time, instead of growing one array by doubling it (a garbage array
// per doubling, for every receiver of a long fan-out). It is the largest
// array queueArrays takes back.
const queueSegment = maxQueueArray

// pollFirst is the capacity of a polling session's first array of its
// queue (see appendLocked): a heartbeat's ping and a few packets.
const pollFirst = 8

// pollFirsts recycles the first arrays of polling sessions' queues, apart
// from queueArrays: a WebSocket writer that took one of them from there
// would regrow it by doubling for every batch of a fan-out.
var pollFirsts sync.Pool

// getPollFirst returns an empty array of pollFirst packets.
func getPollFirst() []engineio.Packet {
	if a, _ := pollFirsts.Get().(*[pollFirst]engineio.Packet); a != nil {
		return a[:0]
	}
	return make([]engineio.Packet, 0, pollFirst)
}

// giveBack clears a, an array of a queue that a polling answer took (or
// that its queue outgrew), and hands it to its pool: pollFirsts or
// queueArrays. One too small for queueArrays to be worth a WebSocket
// writer's taking, or too large to keep, is left to the collector.
func giveBack(a []engineio.Packet) {
	switch c := cap(a); {
	case c == pollFirst:
		clear(a[:pollFirst])
		pollFirsts.Put((*[pollFirst]engineio.Packet)(a[:pollFirst]))
	case c >= queueSegment/4 && c <= maxQueueArray:
		putQueueArray(a)
	}
}

// queueMore holds the arrays of a WebSocket session's queue after its
// first (Conn.queue), oldest first, and how many packets they hold.
type queueMore struct {
	segs [][]engineio.Packet
	n    int
}

// queuedLocked returns how many packets the queue holds; c.mu must be held.
func (c *Conn) queuedLocked() int {
	n := len(c.queue)
	if c.more != nil {
		n += c.more.n
	}
	return n
}

// appendLocked appends pkts to the queue; c.mu must be held. The queue
// goes on in arrays of queueSegment packets, which a WebSocket writer
// takes one at a time and a polling answer all at once (takePollLocked).
// A WebSocket session's first array comes from queueArrays: its writer
// takes it at once. A polling session's is one of pollFirst packets, and
// only past them one from queueArrays: the session may hold its first
// packets until its client's next GET, as long as a heartbeat for a
// client gone silent, and a pooled array (up to queueSegment packets)
// held by each of many such sessions would cost far more than their few
// packets.
func (c *Conn) appendLocked(pkts ...engineio.Packet) {
	if c.queue == nil && c.more == nil {
		if c.out != nil {
			c.queue = getQueueArray()
		} else {
			c.queue = getPollFirst()
		}
	}
	for len(pkts) > 0 {
		last := &c.queue
		if c.more != nil {
			last = &c.more.segs[len(c.more.segs)-1]
		}
		room := queueSegment - len(*last)
		if room <= 0 {
			if c.more == nil {
				c.more = new(queueMore)
			}
			seg := getQueueArray()
			if seg == nil {
				seg = make([]engineio.Packet, 0, queueSegment)
			}
			c.more.segs = append(c.more.segs, seg)
			continue
		}
		k := min(room, len(pkts))
		if len(*last)+k > cap(*last) {
			switch {
			case cap(*last) >= queueSegment/4:
				// Grown to its full size at once, not past it: an
				// array of queueSegment goes back to queueArrays once
				// written.
				grown := make([]engineio.Packet, len(*last), queueSegment)
				copy(grown, *last)
				*last = grown
			case c.out == nil && last == &c.queue && cap(*last) == pollFirst:
				// A polling queue past its first packets: on in an
				// array from queueArrays, when it has one.
				if grown := getQueueArray(); grown != nil {
					first := *last
					*last = append(grown, first...)
					giveBack(first)
				}
			}
		}
		*last = append(*last, pkts[:k]...)
		if c.more != nil && last != &c.queue {
			c.more.n += k
		}
		pkts = pkts[k:]
	}
}

// Close ends the session from the server side: what is queued is flushed
// (best effort), then a polling client gets a close packet and a
// WebSocket one a close frame without status code, as from Node, and
// OnClose receives reason.
// OnClose may run on the calling goroutine (or, when called from OnPacket,
// right after OnPacket returns).
func (c *Conn) Close(reason string) {
	c.closeWith(reason, nil, closeFlush)
}

// enqueueLocked appends a control packet to the queue; c.mu must be held.
// (On a WebSocket, a heartbeat's ping: the array goes back to queueArrays
// once written, as a send's does.)
func (c *Conn) enqueueLocked(p engineio.Packet) {
	c.appendLocked(p)
	if c.flags != nil {
		c.flags = append(c.flags, 0)
	}
	c.queueBytes += int64(len(p.Data))
}

// takeLocked removes and returns the queued packets, with their flags
// (nil when none had any); c.mu must be held. That is every packet, but
// for a WebSocket writer while the session lasts: the queue's first
// array, the rest (queueMore) being its next takes.
func (c *Conn) takeLocked() ([]engineio.Packet, []sendFlags) {
	q, flags := c.queue, c.flags
	c.queue, c.flags = nil, nil
	if m := c.more; m != nil {
		if c.writing && c.out != nil && !c.isClosed {
			if len(flags) > len(q) {
				flags, c.flags = flags[:len(q):len(q)], flags[len(q):]
			}
			c.queue = m.segs[0]
			m.segs[0] = nil
			m.segs = m.segs[1:]
			m.n -= len(c.queue)
			if len(m.segs) == 0 {
				c.more = nil
			}
		} else {
			for _, seg := range m.segs {
				q = append(q, seg...)
			}
			c.more = nil
		}
	}
	if c.writing && c.out != nil && !c.isClosed {
		// The WebSocket writer takes its next batch: it is done with the
		// one before. (A polling request takes the queue only while the
		// session polls, or once it ended: never here.)
		c.recycleWrittenLocked()
		if len(q) > 0 {
			c.written = q
		}
	} else {
		c.written = nil
	}
	c.tookLocked(q)
	return q, flags
}

// tookLocked counts the packets of segs, taken off the queue to be sent,
// in the server's counters and out of the queue's bytes, and returns how
// many they are; c.mu must be held.
func (c *Conn) tookLocked(segs ...[]engineio.Packet) (n int) {
	msgs := 0
	var size int64
	for _, seg := range segs {
		n += len(seg)
		for i := range seg {
			if seg[i].Type == engineio.Message {
				msgs++
			}
			size += int64(len(seg[i].Data))
		}
	}
	c.srv.packetsOut.Add(int64(msgs))
	c.srv.bytesOut.Add(size)
	c.queueBytes -= size
	return n
}

// takePollLocked takes the whole queue for a polling answer, as takeLocked
// does, but as its arrays rather than copied into one: first, then more,
// oldest first; n packets in all. c.mu must be held.
func (c *Conn) takePollLocked() (first []engineio.Packet, more [][]engineio.Packet, n int, flags []sendFlags) {
	first, flags = c.queue, c.flags
	if m := c.more; m != nil {
		more = m.segs
		c.more = nil
	}
	c.queue, c.flags, c.written = nil, nil, nil
	n = c.tookLocked(first) + c.tookLocked(more...)
	return first, more, n, flags
}

// wake signals the poller and starts a WebSocket writer if none runs.
func (c *Conn) wake() {
	select {
	case c.pollWake <- struct{}{}:
	default:
	}
	if ws := c.claimWriter(); ws != nil {
		c.startWriter(ws)
	}
}

// startWriter runs the writer that claimed ws on a goroutine of its own.
func (c *Conn) startWriter(ws *websocket.Conn) {
	if !c.srv.goTracked(func() { c.writeLoop(ws) }) {
		c.writeWhileClosing(ws)
	}
}

// writeWhileClosing runs the writer on the calling goroutine, which holds
// the writer claim, when the server's Close has started and no tracked
// goroutine may start: Close's own closeWith may have found the claim
// taken and started no writer, and Close waits for the read loop, which
// ends only once a writer has closed the WebSocket.
func (c *Conn) writeWhileClosing(ws *websocket.Conn) {
	c.writeLoop(ws)
}

// claimWriter returns the WebSocket to write to when no writer runs, and
// marks one as running; nil otherwise.
// wakeNow is wake writing in the calling goroutine when it can (see
// SendNow).
func (c *Conn) wakeNow() {
	select {
	case c.pollWake <- struct{}{}:
	default:
	}
	if ws := c.claimWriter(); ws != nil {
		c.writeClaimed(ws)
	}
}

// writeClaimed is the writer that claimed ws writing in the calling
// goroutine what the socket takes at once, and a goroutine of its own
// taking over the rest.
func (c *Conn) writeClaimed(ws *websocket.Conn) {
	if !c.writeInline(ws) {
		c.startWriter(ws)
	}
}

// writeInline writes what is queued on ws, without blocking, and reports
// whether it is done: then the writer claim is released, or the session
// has failed. Otherwise a writer goroutine must take over (with the bytes
// the socket did not take still in the batch).
func (c *Conn) writeInline(ws *websocket.Conn) bool {
	bc, _ := ws.NetConn().(*batchConn)
	if bc == nil || !bc.canTry() {
		return false
	}
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		return false // the writer goroutine handles the close
	}
	q, flags := c.takeLocked()
	frames := c.frames
	c.mu.Unlock()
	_ = ws.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	bc.beginInline()
	err := c.writeFrames(ws, q, flags, frames)
	done := false
	if err == nil {
		done, err = bc.tryEnd()
	}
	if err != nil {
		c.closeWith(disconnect.TransportError, fmt.Errorf("websocket write: %w", err), closeAbort)
		_ = ws.Close()
		return true
	}
	if !done {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) > 0 || c.isClosed {
		return false
	}
	c.recycleWrittenLocked()
	c.writing = false
	return true
}

func (c *Conn) claimWriter() *websocket.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.out == nil || c.writing {
		return nil
	}
	c.writing = true
	return c.out
}

// startWriting makes ws the socket the writer drains into, then starts a
// writer for what is queued, or for the close when the session has ended.
func (c *Conn) startWriting(ws *websocket.Conn) {
	c.mu.Lock()
	c.out = ws
	closed := c.isClosed
	c.mu.Unlock()
	if closed {
		c.lastWrite()
		return
	}
	c.wake()
}

// lastWrite ends the session's WebSocket after the session ended: on the
// caller's goroutine when the socket takes at once what is left to write
// (endInline), else with a writer goroutine. Its caller is tracked by the
// server (or is Server.Close), so it may start even while the server
// shuts down.
func (c *Conn) lastWrite() {
	ws := c.claimWriter()
	if ws == nil || c.endInline(ws) {
		return
	}
	c.srv.goAlways(func() { c.writeLoop(ws) })
}

// endInline writes what writeLoop would write after the session ended (the
// queue when the close flushes, then a bare close frame) without blocking,
// and closes ws when the socket took it all; it reports false when a
// writer must finish (the rest stays in the batch, see writeLoop), or where
// it cannot write without blocking. A client that hung up (its read ended:
// EOF, a close frame, a reset) gets no close frame of ours: gorilla/websocket
// answered its close frame, if it sent one, and Node's ws sends none to a
// client that ended its connection without one. So when thousands of
// sessions end together (their clients hang up, Server.Close), they end
// without a goroutine each.
func (c *Conn) endInline(ws *websocket.Conn) bool {
	bc, ok := ws.NetConn().(*batchConn)
	if !ok || !bc.canTry() || bc.pending() {
		return false
	}
	c.mu.Lock()
	q, flags := c.takeLocked()
	mode, frames := c.mode, c.frames
	hungUp := c.reason == disconnect.TransportClose && mode == closeAbort
	c.mu.Unlock()
	if mode != closeFlush {
		q = nil // as writeLoop: only a flush writes what is queued
	}
	deadline := time.Now().Add(c.srv.cfg.WriteTimeout)
	_ = ws.SetWriteDeadline(deadline)
	bc.beginInline()
	err := c.writeFrames(ws, q, flags, frames)
	ended := hungUp
	if err == nil && !hungUp {
		// gorilla/websocket's reader may hold its write lock, answering a
		// ping on a full socket: then the writer sends the close frame.
		ended = ws.WriteControl(websocket.CloseMessage, []byte{}, time.Now().Add(inlineControlWait)) == nil
		// WriteControl left its own deadline for the connection's next
		// write: the writer that may write the rest (writeLoop) gets the
		// session's.
		_ = bc.SetWriteDeadline(deadline)
	}
	done := false
	if err == nil {
		done, err = bc.tryEnd()
	}
	if err != nil || (done && ended) {
		_ = ws.Close()
		return true
	}
	return false
}

// inlineControlWait bounds endInline's wait for gorilla/websocket's write
// lock.
const inlineControlWait = time.Millisecond

// closeWith ends the session once; later calls do nothing.
func (c *Conn) closeWith(reason string, err error, mode closeMode) {
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		return
	}
	c.isClosed = true
	c.reason, c.closeErr, c.mode = reason, err, mode
	if reason == disconnect.SlowConsumer {
		c.srv.slowConsumers.Add(1)
	}
	c.stopHeartbeatLocked()
	probe := c.probe
	c.probe = nil
	fire := !c.delivering
	c.closeDue = c.delivering
	transport := c.transportLocked()
	ws := c.ws
	// A polling client with no GET pending learns of the end from its
	// next GET: keep the session within reach of it (see Server.lingerLocked).
	// Node keeps a session that the server closes until that GET comes,
	// and answers a GET that arrives with the client's close; ours may be
	// handled after the close even when the client sent it first.
	//
	// A flush that finds packets queued answers them first and leaves the
	// close packet to the GET after, as Node, whose close waits for its
	// buffer to drain: a client handed both at once (the socket.io-client
	// dispatches packets a tick later) reports the transport close before
	// a DISCONNECT packet queued ahead of it. And a POST whose packets end
	// the session (a client ping, a payload that does not decode) leaves
	// it within reach of the GET the client sent with it, which Node,
	// reading the POST's body later, answers first.
	linger := transport == TransportPolling &&
		((!c.polling && (mode == closeFlush || mode == closeByClient || c.posting)) ||
			(mode == closeFlush && len(c.queue) > 0))
	c.lingering = linger
	waiters := c.closed
	c.closed = endedChan
	c.mu.Unlock()

	if waiters != nil {
		close(waiters)
	}
	if mode == closeDrop && ws != nil {
		// A close frame if it goes out without waiting (as Node's, which
		// sends one), then the cut: it fails a write stuck on the peer's
		// full buffers and the pending read; the writer and reader
		// goroutines then end.
		c.tryCloseFrame()
		_ = ws.NetConn().Close()
	}
	c.lastWrite()
	c.wake()
	if probe != nil {
		_ = probe.Close()
	}
	c.srv.remove(c, linger)
	attrs := []slog.Attr{slog.String("transport", transport), slog.String("reason", reason)}
	if err != nil {
		attrs = append(attrs, slog.Any("err", err))
	}
	if reason == disconnect.SlowConsumer {
		// The client stopped reading (or reads too slowly): worth an
		// operator's attention, unlike an ordinary close.
		c.logAt(slog.LevelWarn, "engine.io session closed", attrs...)
	} else {
		c.logAt(slog.LevelDebug, "engine.io session closed", attrs...)
	}
	if fire {
		c.fireOnClose()
	}
}

// lingers reports whether the session ended and owes its polling client a
// last answer (see Server.lingerLocked).
func (c *Conn) lingers() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isClosed && c.lingering
}

// cutWebSocket closes the session's WebSocket network connection, failing
// a write blocked on a peer that does not read.
func (c *Conn) cutWebSocket() {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		_ = ws.NetConn().Close()
	}
}

// fireOnClose calls the receiver's OnClose.
func (c *Conn) fireOnClose() {
	c.mu.Lock()
	r, reason, err := c.receiver, c.reason, c.closeErr
	c.mu.Unlock()
	if o := c.srv.observing(); o != nil {
		o.SessionClosed(c.id, reason)
	}
	if r != nil {
		r.OnClose(c, reason, err)
	}
}

// deliver hands an inbound Message packet to the receiver unless the
// session is closed; via is how its transport can stop while the delivery
// is suspended, nil when it cannot (see Suspend).
// Then, before the transport reads again, it waits while the session's
// inbound bound is reached (see inflow).
func (c *Conn) deliver(p engineio.Packet, via suspendable) {
	if !c.deliverOne(p, via) {
		return
	}
	if via != nil {
		if via.runAfter() {
			return // another goroutine reads the transport now (see RunAfter)
		}
		if c.inboundFull() {
			via.settle()
		}
	}
	c.awaitInbound()
}

// deliverOne is deliver without the wait; it reports whether the receiver
// got the packet.
func (c *Conn) deliverOne(p engineio.Packet, via suspendable) bool {
	c.recvMu.Lock()
	held := false // recvMu stays locked for a suspended delivery
	defer func() {
		if !held {
			c.recvMu.Unlock()
		}
	}()
	c.mu.Lock()
	r := c.receiver
	if c.isClosed || r == nil {
		c.mu.Unlock()
		return false
	}
	c.delivering = true
	c.mu.Unlock()

	c.via = via
	r.OnPacket(c, p)
	c.via = nil
	if via != nil && via.suspended() {
		held = true // the resume ends the delivery
		return true
	}
	c.endDelivery()
	return true
}

// suspendable is how a transport stops reading while a delivery is
// suspended (Suspend): suspend marks the OnPacket call in progress
// suspended, suspended reports whether it is, and resumeWith ends it with
// rest, exactly once, from any goroutine.
//
// setAfter takes the task of a RunAfter call, reporting false where the
// transport does not run one; runAfter runs it, if any, once the delivery
// has ended, and reports true when another goroutine took over the
// reading meanwhile (the caller's goroutine then touches the transport no
// more). settle tells the transport that the delivery is about to wait
// for the inbound bound (see poller.admit).
type suspendable interface {
	suspend()
	suspended() bool
	resumeWith(rest func())
	setAfter(t workpool.Task) bool
	runAfter() (handedOver bool)
	settle()
}

// Suspend, called from OnPacket, lets that call return before the packet's
// delivery ends: the transport then reads nothing more and holds no
// goroutine until resume is called, exactly once and from any goroutine.
// resume runs rest (if not nil) as the end of the OnPacket call (no
// OnPacket and no OnClose comes before it), then the transport reads on.
// On long-polling, only the last packet of a POST can be suspended: the
// POST is answered at once, as Node answers a POST once it has read it,
// and the session's next POST waits for the resume before its packets are
// delivered. ok is false where the transport cannot stop that way (a
// packet followed by others in its POST, a WebSocket read on a goroutine
// of its own, a second Suspend in one call): the receiver then waits
// within OnPacket.
func (c *Conn) Suspend() (resume func(rest func()), ok bool) {
	r := c.via // guarded by recvMu, which the OnPacket call holds
	if r == nil {
		return nil, false
	}
	c.via = nil
	r.suspend()
	return func(rest func()) {
		r.resumeWith(func() {
			if rest != nil {
				rest()
			}
			c.endDelivery()
			c.recvMu.Unlock()
		})
	}, true
}

// RunAfter, called from OnPacket, asks the transport to run t on the
// goroutine that read the packet, once the OnPacket call has returned and
// before that goroutine reads again, instead of waking another goroutine
// for it. If t runs longer than a few milliseconds (InlineGrace) another
// goroutine takes over the reading, so that a t that blocks (a handler
// waiting for this client's ack, say) never stops the connection's
// reading for long, and a Close does not wait for t. ok is false where the
// transport does not run t (long-polling, a WebSocket read on a goroutine
// of its own, a delivery Suspend was or will be called for, a second call
// in one OnPacket): the receiver then runs t elsewhere.
func (c *Conn) RunAfter(t workpool.Task) (ok bool) {
	r := c.via // guarded by recvMu, which the OnPacket call holds
	if r == nil || !r.setAfter(t) {
		return false
	}
	c.via = nil // no Suspend in this call
	return true
}

// endDelivery ends an OnOpen or OnPacket call and runs an OnClose that
// waited for it.
func (c *Conn) endDelivery() {
	c.mu.Lock()
	c.delivering = false
	fire := c.closeDue
	c.closeDue = false
	c.mu.Unlock()
	if fire {
		c.fireOnClose()
	}
}

// handlePacket processes one inbound packet from any transport and reports
// whether the transport should keep reading; via is how the transport
// can stop while its delivery is suspended, nil when it cannot (see
// Suspend).
func (c *Conn) handlePacket(p engineio.Packet, via suspendable) bool {
	switch p.Type {
	case engineio.Message:
		c.srv.bytesIn.Add(int64(len(p.Data)))
		c.srv.packetsIn.Add(1)
		c.deliver(p, via)
	case engineio.Ping:
		if c.eio3 {
			// In Engine.IO v3 the client pings and the server answers.
			c.onClientPing()
			return true
		}
		// In Engine.IO v4 only the server pings, and a probe belongs on
		// the WebSocket being upgraded (serveUpgrade answers it there).
		// Node closes the session with "transport error"; so do we.
		c.logAt(slog.LevelWarn, "engine.io ping from the client", slog.String("transport", c.Transport()), slog.Int("len", len(p.Data)))
		c.closeWith(disconnect.TransportError, ErrHeartbeatDirection, closeAbort)
		return false
	case engineio.Pong:
		if c.eio3 {
			// A v3 server never pings: Node ends the session as for a
			// v4 client's ping.
			c.logAt(slog.LevelWarn, "engine.io pong from a v3 client", slog.String("transport", c.Transport()))
			c.closeWith(disconnect.TransportError, ErrHeartbeatDirection, closeAbort)
			return false
		}
		c.onPong()
	case engineio.Close:
		c.closeWith(disconnect.TransportClose, nil, closeByClient)
		return false
	default:
		// Open, Upgrade outside an upgrade and Noop carry nothing.
	}
	return true
}

// Writable reports whether a packet sent now would go out at once: the
// session is open, nothing is queued and its transport is ready (a pending
// poll, or a WebSocket not in an upgrade). Volatile packets are dropped
// when it is false.
func (c *Conn) Writable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed || len(c.queue) > 0 || c.paused {
		return false
	}
	if c.ws == nil {
		return c.polling
	}
	return true
}
