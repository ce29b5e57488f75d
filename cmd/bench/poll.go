//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// newPollTransport is the HTTP transport the long-polling clients of a
// run share: enough idle connections to every node for a GET and a POST
// of each client.
func newPollTransport(clients int) *http.Transport {
	return &http.Transport{
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 2*clients + 16,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
}

// pollClient is an Engine.IO v4 long-polling client (text packets only)
// with the namespace "/" joined. Its session lives on addrs[home], where
// its handshake went; with rotate, each later request, GET or POST, goes
// to the next address of addrs in turn, so that most reach a node that
// does not hold the session and must hand it over.
type pollClient struct {
	hc     *http.Client
	addrs  []string
	home   int
	rotate bool
	turn   atomic.Uint64
	sid    string

	ctx    context.Context // ends at close
	cancel context.CancelFunc

	wmu  sync.Mutex // one POST at a time, as Engine.IO requires
	wbuf []byte

	deadline time.Time // for the GETs of call; zero: none
	rbuf     []byte
	pending  []engineio.Packet
	pings    atomic.Int64
}

// nextAddr returns where the next request goes.
func (c *pollClient) nextAddr() string {
	if !c.rotate {
		return c.addrs[c.home]
	}
	return c.addrs[(c.home+int(c.turn.Add(1)))%len(c.addrs)]
}

func (c *pollClient) url(addr string) string {
	u := "http://" + addr + "/socket.io/?EIO=4&transport=polling"
	if c.sid != "" {
		u += "&sid=" + url.QueryEscape(c.sid)
	}
	return u
}

// dialPoll opens a long-polling session on addrs[home] and joins the
// namespace "/".
func dialPoll(ctx context.Context, hc *http.Client, addrs []string, home int, rotate bool) (*pollClient, error) {
	cctx, cancel := context.WithCancel(context.Background())
	c := &pollClient{hc: hc, addrs: addrs, home: home, rotate: rotate, ctx: cctx, cancel: cancel}
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
	return c, nil
}

// handshake opens the session with a GET to the home node, then sends
// CONNECT and waits for the server's.
func (c *pollClient) handshake() error {
	if err := c.get(c.addrs[c.home]); err != nil {
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
	c.pending = c.pending[1:]
	if err := c.post([]byte("40")); err != nil {
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

// get sends one GET to addr and keeps the packets of its answer.
func (c *pollClient) get(addr string) error {
	ctx := c.ctx
	if !c.deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, c.deadline)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(addr), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	c.rbuf, err = readAll(resp.Body, c.rbuf[:0])
	if err != nil {
		return fmt.Errorf("GET %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d %q", addr, resp.StatusCode, c.rbuf)
	}
	c.pending, err = engineio.DecodePayload(c.rbuf)
	if err != nil {
		return fmt.Errorf("GET %s: %w", addr, err)
	}
	return nil
}

// post sends one POST of body, a payload.
func (c *pollClient) post(body []byte) error {
	addr := c.nextAddr()
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPost, c.url(addr), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: HTTP %d %q", addr, resp.StatusCode, b)
	}
	return nil
}

// packet returns the next packet, polling when none is left.
func (c *pollClient) packet() (engineio.Packet, error) {
	for len(c.pending) == 0 {
		if err := c.get(c.nextAddr()); err != nil {
			return engineio.Packet{}, err
		}
	}
	p := c.pending[0]
	c.pending = c.pending[1:]
	return p, nil
}

func (c *pollClient) next() (int, uint32, []byte, error) {
	for {
		p, err := c.packet()
		if err != nil {
			return 0, 0, nil, err
		}
		switch p.Type {
		case engineio.Ping:
			c.pings.Add(1)
			c.wmu.Lock()
			c.wbuf = engineio.AppendText(c.wbuf[:0], engineio.Packet{Type: engineio.Pong, Data: p.Data})
			err := c.post(c.wbuf)
			c.wmu.Unlock()
			if err != nil {
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
