//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorio/actorio/protocol/engineio"
	"github.com/actorio/actorio/protocol/socketio"
)

// xconn is a connection of the cross-node scenarios: the WebSocket
// client, or pollClient.
type xconn interface {
	// next returns the next ack or event, answering heartbeats; the body
	// is valid until the next call. One goroutine at a time.
	next() (kind int, id uint32, body []byte, err error)
	// send sends r with ack id id; any goroutine.
	send(r request, id uint32) error
	// sendAck acks event id with data, a JSON array; any goroutine.
	sendAck(id uint32, data []byte) error
	// call sends r and waits for its ack, skipping other traffic.
	call(r request, id uint32, timeout time.Duration) ([]byte, error)
	close()
}

// pollClient is an Engine.IO v4 long-polling client (text packets only)
// with the namespace "/" joined. Its session lives on addrs[home], where
// its handshake went; with rotate, each later request, GET or POST, goes
// to the next address of addrs in turn, so that most reach a node that
// does not hold the session and must hand it over. Once joined, it keeps
// a GET pending, as the official client does. Its GETs and its POSTs go
// on keep-alive connections of their own to each address, as a browser's
// do.
type pollClient struct {
	addrs  []string
	home   int
	rotate bool
	turn   atomic.Uint64
	sid    string
	target string // the request's path and query

	ctx    context.Context // ends at close
	cancel context.CancelFunc

	mu    sync.Mutex   // guards conns against close
	conns [2][]*h1conn // GETs' and POSTs' connections by address; nil: none yet

	wmu  sync.Mutex // one POST at a time, as Engine.IO requires
	wbuf []byte

	deadline time.Time // for next's waits in call and the handshake; zero: none
	rbuf     []byte    // the handshake's answers
	pending  []engineio.Packet
	pings    atomic.Int64

	// The polling loop's, once started (startPolling).
	in      chan pollAnswer // its answers; closed when it stops, pollErr set
	pollErr error
	free    chan []byte // bodies next has read, for the loop to reuse
	cur     []byte      // the body pending points into
}

const (
	connGET = iota
	connPOST
)

// nextAddr returns the index in addrs where the next request goes.
func (c *pollClient) nextAddr() int {
	if !c.rotate {
		return c.home
	}
	return (c.home + int(c.turn.Add(1))) % len(c.addrs)
}

// dialPoll opens a long-polling session on addrs[home] and joins the
// namespace "/".
func dialPoll(ctx context.Context, addrs []string, home int, rotate bool) (*pollClient, error) {
	cctx, cancel := context.WithCancel(context.Background())
	c := &pollClient{addrs: addrs, home: home, rotate: rotate, ctx: cctx, cancel: cancel,
		target: "/socket.io/?EIO=4&transport=polling"}
	c.conns[connGET] = make([]*h1conn, len(addrs))
	c.conns[connPOST] = make([]*h1conn, len(addrs))
	context.AfterFunc(cctx, c.closeConns)
	if dl, ok := ctx.Deadline(); ok {
		c.deadline = dl
	}
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	if err := c.handshake(); err != nil {
		c.close()
		return nil, err
	}
	c.deadline = time.Time{}
	c.startPolling()
	return c, nil
}

// closeConns closes every connection of the client, which ends any
// request under way.
func (c *pollClient) closeConns() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, byAddr := range c.conns {
		for i, h := range byAddr {
			if h != nil {
				h.close()
				byAddr[i] = nil
			}
		}
	}
}

// handshake opens the session with a GET to the home node, then sends
// CONNECT and waits for the server's.
func (c *pollClient) handshake() error {
	if err := c.get(c.home); err != nil {
		return fmt.Errorf("polling handshake: %w", err)
	}
	if len(c.pending) == 0 || c.pending[0].Type != engineio.Open {
		return fmt.Errorf("polling handshake: no open packet: %w", errUnexpected)
	}
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(c.pending[0].Data, &open); err != nil || open.SID == "" {
		return fmt.Errorf("polling handshake: open packet %q: %w", c.pending[0].Data, errUnexpected)
	}
	c.sid = open.SID
	c.target += "&sid=" + url.QueryEscape(c.sid)
	c.pending = c.pending[1:]
	c.wmu.Lock()
	err := c.post([]byte("40"))
	c.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("polling CONNECT: %w", err)
	}
	for {
		p, err := c.packet()
		if err != nil {
			return fmt.Errorf("polling CONNECT: %w", err)
		}
		if p.Type != engineio.Message {
			continue
		}
		pkt, err := socketio.Decode(p.Data)
		if err != nil {
			return err
		}
		if pkt.Type != socketio.Connect {
			return fmt.Errorf("got %q instead of CONNECT: %w", p.Data, errUnexpected)
		}
		return nil
	}
}

// roundTrip sends one request to addrs[at] on the client's connection of
// its kind (dialed when it has none, or again when the server had closed
// it while idle) and returns the answer's status and body, appended to
// dst[:0]; a zero deadline is none.
func (c *pollClient) roundTrip(kind, at int, body, dst []byte, deadline time.Time) (int, []byte, error) {
	method := http.MethodGet
	if kind == connPOST {
		method = http.MethodPost
	}
	for try := 0; ; try++ {
		c.mu.Lock()
		h := c.conns[kind][at]
		c.mu.Unlock()
		if h == nil {
			var err error
			if h, err = c.dial(kind, at, deadline); err != nil {
				return 0, dst, err
			}
		}
		status, out, keep, retry, err := h.roundTrip(method, c.target, body, dst, deadline)
		if err == nil && keep {
			return status, out, nil
		}
		c.drop(kind, at, h)
		if err == nil || !retry || try > 0 {
			return status, out, err
		}
	}
}

// dial opens the client's connection of kind to addrs[at], by deadline
// if not zero.
func (c *pollClient) dial(kind, at int, deadline time.Time) (*h1conn, error) {
	ctx := c.ctx
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	h, err := dialH1(ctx, c.addrs[at])
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		h.close()
		return nil, c.ctx.Err()
	}
	c.conns[kind][at] = h
	return h, nil
}

// drop closes h, the client's connection of kind to addrs[at].
func (c *pollClient) drop(kind, at int, h *h1conn) {
	h.close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conns[kind][at] == h {
		c.conns[kind][at] = nil
	}
}

// get sends one GET to addrs[at] and keeps the packets of its answer.
func (c *pollClient) get(at int) error {
	status, body, err := c.roundTrip(connGET, at, nil, c.rbuf, c.deadline)
	c.rbuf = body
	if err != nil {
		return fmt.Errorf("GET %s: %w", c.addrs[at], err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d %q", c.addrs[at], status, c.rbuf)
	}
	c.pending, err = engineio.DecodePayload(c.rbuf)
	if err != nil {
		return fmt.Errorf("GET %s: %w", c.addrs[at], err)
	}
	return nil
}

// post sends one POST of body, a payload; c.wmu is held.
func (c *pollClient) post(body []byte) error {
	at := c.nextAddr()
	status, b, err := c.roundTrip(connPOST, at, body, nil, time.Time{})
	if err != nil {
		return fmt.Errorf("POST %s: %w", c.addrs[at], err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("POST %s: HTTP %d %q", c.addrs[at], status, b)
	}
	return nil
}

// packet returns the next packet: of the handshake's answers while
// they last, then of the polling loop's.
func (c *pollClient) packet() (engineio.Packet, error) {
	for len(c.pending) == 0 {
		if c.in == nil { // the handshake: the client polls in turn
			if err := c.get(c.nextAddr()); err != nil {
				return engineio.Packet{}, err
			}
			continue
		}
		if c.cur != nil {
			select {
			case c.free <- c.cur:
			default:
			}
			c.cur = nil
		}
		var b pollAnswer
		var ok bool
		if c.deadline.IsZero() {
			b, ok = <-c.in
		} else {
			t := time.NewTimer(time.Until(c.deadline))
			select {
			case b, ok = <-c.in:
				t.Stop()
			case <-t.C:
				return engineio.Packet{}, fmt.Errorf("long-polling: nothing came by the deadline: %w", context.DeadlineExceeded)
			}
		}
		if !ok {
			return engineio.Packet{}, c.pollErr
		}
		c.pending, c.cur = b.packets, b.body
	}
	p := c.pending[0]
	c.pending = c.pending[1:]
	return p, nil
}

// pollAnswer is the packets of one GET's answer, and the body they point into.
type pollAnswer struct {
	packets []engineio.Packet
	body    []byte
}

// startPolling starts the polling loop: from now on a GET is always
// pending, sent again as soon as the last is answered, as the official
// client does; next reads what the answers bring.
func (c *pollClient) startPolling() {
	c.in = make(chan pollAnswer, 4)
	c.free = make(chan []byte, 4)
	go c.poll()
}

// poll is the polling loop; it answers pings, and stops at the first
// error, at a CLOSE, or at close.
func (c *pollClient) poll() {
	defer close(c.in)
	for {
		var buf []byte
		select {
		case buf = <-c.free:
		default:
		}
		at := c.nextAddr()
		status, body, err := c.roundTrip(connGET, at, nil, buf, time.Time{})
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("HTTP %d %q", status, body)
		}
		var packets []engineio.Packet
		if err == nil {
			packets, err = engineio.DecodePayload(body)
		}
		if err != nil {
			c.pollErr = fmt.Errorf("GET %s: %w", c.addrs[at], err)
			return
		}
		closed := false
		for _, p := range packets {
			switch p.Type {
			case engineio.Ping:
				if err := c.pong(p.Data); err != nil {
					c.pollErr = err
					return
				}
			case engineio.Close:
				closed = true
			}
		}
		select {
		case c.in <- pollAnswer{packets: packets, body: body}:
		case <-c.ctx.Done():
			c.pollErr = c.ctx.Err()
			return
		}
		if closed {
			c.pollErr = errClosedByServer
			return
		}
	}
}

// pong answers a ping whose data is data.
func (c *pollClient) pong(data []byte) error {
	c.pings.Add(1)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = engineio.AppendText(c.wbuf[:0], engineio.Packet{Type: engineio.Pong, Data: data})
	return c.post(c.wbuf)
}

func (c *pollClient) next() (int, uint32, []byte, error) {
	for {
		p, err := c.packet()
		if err != nil {
			return 0, 0, nil, err
		}
		switch p.Type {
		case engineio.Ping:
			if c.in != nil { // answered by the polling loop
				continue
			}
			if err := c.pong(p.Data); err != nil {
				return 0, 0, nil, err
			}
			continue
		case engineio.Close:
			return 0, 0, nil, errClosedByServer
		case engineio.Message:
		default:
			continue
		}
		return classify(p.Data)
	}
}

func (c *pollClient) send(r request, id uint32) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = append(c.wbuf[:0], engineio.Message.Char())
	c.wbuf = socketio.AppendEncode(c.wbuf, socketio.Packet{Type: socketio.Event, ID: uint64(id), HasID: true, Data: r.sio})
	return c.post(c.wbuf)
}

func (c *pollClient) sendAck(id uint32, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = appendAck(c.wbuf[:0], id, data)
	return c.post(c.wbuf)
}

func (c *pollClient) call(r request, id uint32, timeout time.Duration) ([]byte, error) {
	c.deadline = time.Now().Add(timeout)
	defer func() { c.deadline = time.Time{} }()
	if err := c.send(r, id); err != nil {
		return nil, err
	}
	for {
		kind, got, body, err := c.next()
		if err != nil {
			return nil, err
		}
		if kind == evAck && got == id {
			return body, nil
		}
	}
}

func (c *pollClient) close() { c.cancel() }

// pollError adds a hint to the failure of a long-polling request.
func pollError(err error) error {
	if err != nil && strings.Contains(err.Error(), "Session ID unknown") {
		return fmt.Errorf("%w (a request for another node's session was not handed over)", err)
	}
	return err
}
