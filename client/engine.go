package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
)

// closeGrace bounds how long a session the client closes may take to send
// what it has queued.
const closeGrace = time.Second

// errPingTimeout ends a session whose server stopped pinging.
var errPingTimeout = errors.New("client: no ping from the server in time")

// engineHandler receives a session's message packets, one at a time, in
// order, and is told of the server's pings.
type engineHandler interface {
	onMessage(e *engine, p engineio.Packet)
	onPing(e *engine)
}

// engineConfig is what the sessions of a Manager share.
type engineConfig struct {
	base       url.URL // scheme http or https, host, path
	query      url.Values
	header     http.Header
	transports []string
	tryAll     bool // Options.TryAllTransports
	timeout    time.Duration
	httpClient *http.Client
	ownHTTP    bool // httpClient is the Manager's own
	dialer     *websocket.Dialer
	deflate    int           // compress WebSocket messages from this size on (Options.PerMessageDeflate); 0: never
	counter    atomic.Uint64 // cache-busting request parameter
}

func newEngineConfig(u *url.URL, o Options) *engineConfig {
	q := u.Query()
	for k, vs := range o.Query {
		q[k] = append(q[k], vs...)
	}
	c := &engineConfig{
		base:       url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: o.Path},
		query:      q,
		header:     o.Header.Clone(),
		transports: slices.Clone(o.Transports),
		tryAll:     o.TryAllTransports,
		timeout:    o.Timeout,
		httpClient: o.HTTPClient,
		dialer:     o.Dialer,
	}
	if c.httpClient == nil {
		c.httpClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		c.ownHTTP = true
	}
	if c.dialer == nil {
		d := *websocket.DefaultDialer
		d.HandshakeTimeout = o.Timeout
		c.dialer = &d
	}
	if pmd := o.PerMessageDeflate; pmd != nil {
		d := *c.dialer
		d.EnableCompression = true
		c.dialer = &d
		c.deflate = pmd.Threshold
		switch {
		case c.deflate == 0:
			c.deflate = 1024
		case c.deflate < 0:
			c.deflate = 1
		}
	}
	return c
}

// url returns the request URL of transport for session sid ("" for a handshake).
func (c *engineConfig) url(transport, sid string) string {
	q := make(url.Values, len(c.query)+4)
	for k, vs := range c.query {
		q[k] = slices.Clone(vs)
	}
	q.Set("EIO", "4")
	q.Set("transport", transport)
	if sid != "" {
		q.Set("sid", sid)
	}
	u := c.base
	if transport == TransportPolling {
		q.Set("t", strconv.FormatUint(c.counter.Add(1), 36)+strconv.FormatInt(time.Now().UnixNano()%1e6, 36))
	} else if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// canUpgrade reports whether a polling session should upgrade to WebSocket.
func (c *engineConfig) canUpgrade() bool {
	return c.transports[0] == TransportPolling && slices.Contains(c.transports, TransportWebSocket)
}

// closeIdle closes the idle keep-alive connections of the Manager's own
// polling client.
func (c *engineConfig) closeIdle() {
	if c.ownHTTP {
		c.httpClient.CloseIdleConnections()
	}
}

// openInfo is the JSON of the Engine.IO open packet.
type openInfo struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload"`
}

// parseOpen checks that p is a valid open packet and returns its content.
func parseOpen(p engineio.Packet) (openInfo, error) {
	var info openInfo
	if p.Type != engineio.Open {
		return info, fmt.Errorf("%w: first packet is %s, not open", ErrHandshake, p.Type)
	}
	if err := json.Unmarshal(p.Data, &info); err != nil {
		return info, fmt.Errorf("%w: open packet: %w", ErrHandshake, err)
	}
	if info.SID == "" || info.PingInterval <= 0 || info.PingTimeout <= 0 {
		return info, fmt.Errorf("%w: open packet %s lacks sid, pingInterval or pingTimeout", ErrHandshake, p.Data)
	}
	return info, nil
}

// engine is one Engine.IO session: its transport (polling, possibly
// upgraded, or WebSocket), its outbound queue and its heartbeat.
type engine struct {
	cfg          *engineConfig
	h            engineHandler
	sid          string
	pingInterval time.Duration
	pingTimeout  time.Duration
	maxPayload   int

	ctx    context.Context // cancelled when the session ends: aborts requests
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{} // closed when the session ends
	wake   chan struct{} // capacity 1: the queue or the state changed
	// pollDone are closed by the polling reader and writer when they return.
	pollDone [2]chan struct{}

	mu         sync.Mutex
	queue      []engineio.Packet
	transport  string
	ws         *websocket.Conn // WebSocket in use or being probed
	closing    bool            // the client closes: flush, then end
	pausing    bool            // polling stops for the upgrade
	closed     bool
	reason     string
	err        error
	desc       *Description // of a transport close or error, nil otherwise
	pingTimer  *time.Timer
	graceTimer *time.Timer // ends a closing session that takes too long
}

// dialEngine opens a session with the first of cfg's transports, or, with
// Options.TryAllTransports, with the first of them that opens; ctx bounds
// the handshakes only.
func dialEngine(ctx context.Context, cfg *engineConfig, h engineHandler) (*engine, error) {
	var e *engine
	var err error
	for i, t := range cfg.transports {
		if t == TransportWebSocket {
			e, err = dialWebSocket(ctx, cfg, h)
		} else {
			e, err = dialPolling(ctx, cfg, h)
		}
		if err == nil || !cfg.tryAll || ctx.Err() != nil || i == len(cfg.transports)-1 {
			break
		}
	}
	var ne net.Error
	if err != nil && (errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) {
		err = fmt.Errorf("%w (%v): %w", ErrTimeout, cfg.timeout, err)
	}
	return e, err
}

func newEngine(cfg *engineConfig, h engineHandler, info openInfo, transport string) *engine {
	ctx, cancel := context.WithCancel(context.Background())
	e := &engine{
		cfg:          cfg,
		h:            h,
		sid:          info.SID,
		pingInterval: time.Duration(info.PingInterval) * time.Millisecond,
		pingTimeout:  time.Duration(info.PingTimeout) * time.Millisecond,
		maxPayload:   int(min(info.MaxPayload, 1<<40)),
		ctx:          ctx,
		cancel:       cancel,
		done:         make(chan struct{}),
		wake:         make(chan struct{}, 1),
		transport:    transport,
	}
	e.pingTimer = time.AfterFunc(e.pingInterval+e.pingTimeout, func() { e.fail(disconnect.PingTimeout, errPingTimeout) })
	return e
}

// send queues packets, kept together and in order; false when the session
// is ending (or e is nil).
func (e *engine) send(pkts ...engineio.Packet) bool {
	if e == nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.closing {
		return false
	}
	e.queue = append(e.queue, pkts...)
	e.signal()
	return true
}

// signal wakes the writer.
func (e *engine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// next waits for work for a writer. It returns a batch to write (at most
// limit bytes as a polling payload when limit > 0, at least one packet),
// or final when everything is written and the client is closing, or stop
// when the writer must return (session ended, or polling paused when pausable).
func (e *engine) next(limit int, pausable bool) (batch []engineio.Packet, final, stop bool) {
	for {
		e.mu.Lock()
		switch {
		case e.closed, pausable && e.pausing:
			e.mu.Unlock()
			return nil, false, true
		case len(e.queue) > 0:
			n := batchLen(e.queue, limit)
			batch = slices.Clone(e.queue[:n])
			clear(e.queue[:n])
			e.queue = e.queue[n:]
			if len(e.queue) == 0 {
				e.queue = nil
			}
			e.mu.Unlock()
			return batch, false, false
		case e.closing:
			e.mu.Unlock()
			return nil, true, false
		}
		e.mu.Unlock()
		select {
		case <-e.wake:
		case <-e.done:
		}
	}
}

// batchLen returns how many packets of q fit in a payload of limit bytes
// (all when limit <= 0), at least one.
func batchLen(q []engineio.Packet, limit int) int {
	if limit <= 0 {
		return len(q)
	}
	size := 0
	for i := range q {
		size += engineio.PayloadLen(q[i : i+1])
		if i > 0 {
			size++ // separator
			if size > limit {
				return i
			}
		}
	}
	return len(q)
}

// handle processes one received packet; false when it ended the session.
func (e *engine) handle(p engineio.Packet) bool {
	if e.isClosed() {
		return false
	}
	switch p.Type {
	case engineio.Ping:
		e.mu.Lock()
		if !e.closed {
			e.pingTimer.Reset(e.pingInterval + e.pingTimeout)
		}
		e.mu.Unlock()
		e.send(engineio.Packet{Type: engineio.Pong, Data: p.Data})
		e.h.onPing(e)
	case engineio.Close:
		d := &Description{Description: "transport closed by the server"}
		if e.transportName() == TransportWebSocket {
			d.Description = "websocket connection closed" // what the JavaScript client sees next
		}
		e.failDesc(disconnect.TransportClose, errors.New("client: the server closed the session"), d)
		return false
	case engineio.Message:
		e.h.onMessage(e, p)
	}
	// Open, pong, upgrade and noop packets carry nothing for the client.
	return !e.isClosed()
}

func (e *engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// fail ends the session with reason at once; it never blocks, and only
// its first call counts.
func (e *engine) fail(reason string, err error) { e.failDesc(reason, err, nil) }

// failDesc is fail for a transport close or error, with its description.
func (e *engine) failDesc(reason string, err error, desc *Description) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.reason, e.err, e.desc = reason, err, desc
	e.pingTimer.Stop()
	if e.graceTimer != nil {
		e.graceTimer.Stop()
	}
	ws := e.ws
	e.queue = nil
	e.mu.Unlock()
	e.cancel()
	if ws != nil {
		_ = ws.Close()
	}
	close(e.done)
}

// shutdown closes the session from the client side: what is queued is
// sent, then the close, within closeGrace.
func (e *engine) shutdown() {
	e.mu.Lock()
	if e.closed || e.closing {
		e.mu.Unlock()
		return
	}
	e.closing = true
	e.graceTimer = time.AfterFunc(closeGrace, func() { e.fail(disconnect.ForcedClose, nil) })
	e.signal()
	e.mu.Unlock()
}

// wait waits for the session's goroutines; call it after the session ended.
func (e *engine) wait() { e.wg.Wait() }

// closeReason returns why the session ended, and the description of a
// transport close or error.
func (e *engine) closeReason() (string, error, *Description) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reason, e.err, e.desc
}

// transportFailure describes a transport error, with the HTTP status err
// carries, if any.
func transportFailure(description string, err error) *Description {
	d := &Description{Description: description}
	var he *HTTPError
	if errors.As(err, &he) {
		d.Code = he.StatusCode
	}
	return d
}

// transportName returns the transport in use.
func (e *engine) transportName() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.transport
}
