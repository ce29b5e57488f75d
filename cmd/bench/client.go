//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio/protocol/engineio"
	"github.com/actorio/actorio/protocol/msgpack"
	"github.com/actorio/actorio/protocol/socketio"
)

// wireProto is what a client speaks: Engine.IO v4 + Socket.IO v5, or the
// raw framing of rawwire.go.
type wireProto int

const (
	protoSocketIO wireProto = iota
	protoRaw
	// protoMsgpack is Socket.IO with the npm socket.io-msgpack-parser: a
	// binary message per packet (-parser msgpack).
	protoMsgpack
)

func protoOf(kind, parser string) wireProto {
	switch {
	case kind == kindRaw:
		return protoRaw
	case parser == parserMsgpack:
		return protoMsgpack
	}
	return protoSocketIO
}

// What client.next returns.
const (
	evAck    = iota + 1 // an ack: id and body (the JSON array, or the raw body)
	evMsg               // a "msg" event: body is the whole Socket.IO packet, or the raw payload
	evOther             // any other event
	evAckReq            // an event that asks for an ack: id and body (the JSON array)
)

// msgPrefix starts every "msg" event of the namespace "/" without ack id.
// Receivers count these frames by prefix (their length is checked against
// the expected one), without running the JSON validator on each: it keeps
// the load generator cheap during fan-out.
var msgPrefix = []byte(`2["msg",`)

// msgpackMsgPrefix is msgPrefix for protoMsgpack: {type: 2, data: ["msg", …
var msgpackMsgPrefix = []byte("\x83\xa4type\x02\xa4data\x92\xa3msg")

var (
	errClosedByServer = errors.New("closed by the server")
	errUnexpected     = errors.New("unexpected packet")
)

// client is one connection of the load generator. next must be called
// from one goroutine at a time; send may be called from any.
type client struct {
	ws    *websocket.Conn
	proto wireProto

	wmu  sync.Mutex
	wbuf []byte

	rbuf  []byte
	pings atomic.Int64 // heartbeats answered
}

// request is one request ready to be sent with any ack id: its Socket.IO
// JSON array, or its raw op and body.
type request struct {
	sio []byte
	op  byte
	raw []byte
}

func echoRequest(payload string) request {
	data, _, _ := socketio.MarshalArgs("echo", payload)
	return request{sio: data, op: opEcho, raw: []byte(payload)}
}

func joinRequest(room string) request {
	data, _, _ := socketio.MarshalArgs("join", room)
	return request{sio: data, op: opJoin, raw: []byte(room)}
}

func blastRequest(room string, count, size int) request {
	data, _, _ := socketio.MarshalArgs("blast", socketio.Object{{Key: "room", Value: room}, {Key: "count", Value: count}, {Key: "size", Value: size}})
	return request{sio: data, op: opBlast, raw: blastBody(room, count, size)}
}

// echoAck is the ack body an echo of payload gets back.
func echoAck(p wireProto, payload string) []byte {
	if p == protoRaw {
		return []byte(payload)
	}
	data, _, _ := socketio.MarshalArgs(payload)
	return data
}

// msgLen is the length of the body evMsg returns for a blast of size bytes.
func msgLen(p wireProto, size int) int {
	switch {
	case p == protoRaw:
		return size
	case p == protoMsgpack:
		// The prefix, the str header, the payload, then "nsp": "/".
		hdr := 1
		if size >= 32 {
			hdr = 2
		}
		if size >= 256 {
			hdr = 3
		}
		return len(msgpackMsgPrefix) + hdr + size + len("\xa3nsp\xa1/")
	}
	return len(msgPrefix) + size + 3 // `2["msg",` + `"` + payload + `"]`
}

var dialer = websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}

// dial opens a connection and, for Socket.IO, joins the namespace "/".
func dial(ctx context.Context, addr string, p wireProto) (*client, error) {
	u := "ws://" + addr + "/socket.io/?EIO=4&transport=websocket"
	if p == protoRaw {
		u = "ws://" + addr + rawPath
	}
	ws, resp, err := dialer.DialContext(ctx, u, http.Header{})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %d)", u, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	c := &client{ws: ws, proto: p}
	ws.EnableWriteCompression(false) // -compress: the clients only read compressed messages
	if p == protoRaw {
		ws.SetPingHandler(func(data string) error {
			c.pings.Add(1)
			err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(10*time.Second))
			if errors.Is(err, websocket.ErrCloseSent) {
				return nil
			}
			return err
		})
		return c, nil
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetReadDeadline(dl)
	}
	if err := c.handshake(); err != nil {
		_ = ws.Close()
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Time{})
	return c, nil
}

// handshake reads the Engine.IO open packet, sends CONNECT to "/" and waits
// for the server's CONNECT.
func (c *client) handshake() error {
	mt, b, err := c.readFrame()
	if err != nil {
		return fmt.Errorf("read open packet: %w", err)
	}
	p, err := engineio.DecodeFrame(b, mt == websocket.BinaryMessage)
	if err != nil || p.Type != engineio.Open {
		return fmt.Errorf("expected the open packet, got %q: %w", b, errUnexpected)
	}
	connect, kind := []byte("40"), websocket.TextMessage
	if c.proto == protoMsgpack {
		connect, kind = c.encode(nil, socketio.Packet{Type: socketio.Connect, Namespace: "/"}), websocket.BinaryMessage
	}
	if err := c.write(kind, connect); err != nil {
		return err
	}
	for {
		mt, b, err := c.readFrame()
		if err != nil {
			return fmt.Errorf("read CONNECT: %w", err)
		}
		p, err := engineio.DecodeFrame(b, mt == websocket.BinaryMessage)
		if err != nil {
			return err
		}
		if p.Type == engineio.Ping {
			if err := c.pong(p.Data); err != nil {
				return err
			}
			continue
		}
		if p.Type != engineio.Message {
			return fmt.Errorf("got %q before CONNECT: %w", b, errUnexpected)
		}
		var pkt socketio.Packet
		if c.proto == protoMsgpack {
			pkt, _, err = msgpack.Decode(p.Data)
		} else {
			pkt, err = socketio.Decode(p.Data)
		}
		if err != nil {
			return err
		}
		if pkt.Type != socketio.Connect {
			return fmt.Errorf("got %q instead of CONNECT: %w", b, errUnexpected)
		}
		return nil
	}
}

func (c *client) write(mt int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteMessage(mt, b)
}

func (c *client) pong(data []byte) error {
	c.pings.Add(1)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = engineio.AppendText(c.wbuf[:0], engineio.Packet{Type: engineio.Pong, Data: data})
	return c.ws.WriteMessage(websocket.TextMessage, c.wbuf)
}

// send sends r with ack id id.
func (c *client) send(r request, id uint32) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.proto == protoRaw {
		c.wbuf = appendRaw(c.wbuf[:0], r.op, id, r.raw)
		return c.ws.WriteMessage(websocket.BinaryMessage, c.wbuf)
	}
	pkt := socketio.Packet{Type: socketio.Event, ID: uint64(id), HasID: true, Data: r.sio}
	if c.proto == protoMsgpack {
		c.wbuf = c.encode(c.wbuf[:0], pkt)
		return c.ws.WriteMessage(websocket.BinaryMessage, c.wbuf)
	}
	c.wbuf = append(c.wbuf[:0], engineio.Message.Char())
	c.wbuf = socketio.AppendEncode(c.wbuf, pkt)
	return c.ws.WriteMessage(websocket.TextMessage, c.wbuf)
}

// encode appends the msgpack form of p (whose JSON the load generator
// made: it cannot fail).
func (c *client) encode(dst []byte, p socketio.Packet) []byte {
	b, err := msgpack.AppendPacket(dst, p, nil)
	if err != nil {
		panic(err)
	}
	return b
}

// readFrame reads one WebSocket message into the client's read buffer.
func (c *client) readFrame() (int, []byte, error) {
	mt, r, err := c.ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	c.rbuf, err = readAll(r, c.rbuf[:0])
	return mt, c.rbuf, err
}

// next returns the next ack or event, answering heartbeats on the way. The
// body aliases the read buffer: it is valid until the next call.
func (c *client) next() (kind int, id uint32, body []byte, err error) {
	for {
		mt, b, err := c.readFrame()
		if err != nil {
			return 0, 0, nil, err
		}
		if c.proto == protoRaw {
			op, id, body, err := parseRaw(b)
			if err != nil {
				return 0, 0, nil, err
			}
			switch op {
			case opAck:
				return evAck, id, body, nil
			case opMsg:
				return evMsg, 0, body, nil
			}
			return 0, 0, nil, fmt.Errorf("raw op %q: %w", op, errUnexpected)
		}
		p, err := engineio.DecodeFrame(b, mt == websocket.BinaryMessage)
		if err != nil {
			return 0, 0, nil, err
		}
		switch p.Type {
		case engineio.Ping:
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
		if c.proto == protoMsgpack {
			return classifyMsgpack(p.Data)
		}
		return classify(p.Data)
	}
}

// classifyMsgpack is classify for protoMsgpack; an ack's or event's body
// is its data as JSON.
func classifyMsgpack(data []byte) (kind int, id uint32, body []byte, err error) {
	if bytes.HasPrefix(data, msgpackMsgPrefix) {
		return evMsg, 0, data, nil
	}
	pkt, _, err := msgpack.Decode(data)
	if err != nil {
		return 0, 0, nil, err
	}
	switch pkt.Type {
	case socketio.Ack, socketio.BinaryAck:
		return evAck, uint32(pkt.ID), pkt.Data, nil
	case socketio.Event, socketio.BinaryEvent:
		if pkt.HasID {
			return evAckReq, uint32(pkt.ID), pkt.Data, nil
		}
		return evOther, 0, pkt.Data, nil
	case socketio.Disconnect:
		return 0, 0, nil, errClosedByServer
	}
	return 0, 0, nil, fmt.Errorf("%s packet: %w", pkt.Type, errUnexpected)
}

// classify tells what a Socket.IO packet of the namespace "/" is, for
// next.
func classify(data []byte) (kind int, id uint32, body []byte, err error) {
	if bytes.HasPrefix(data, msgPrefix) {
		return evMsg, 0, data, nil
	}
	pkt, err := socketio.Decode(data)
	if err != nil {
		return 0, 0, nil, err
	}
	switch pkt.Type {
	case socketio.Ack:
		return evAck, uint32(pkt.ID), pkt.Data, nil
	case socketio.Event:
		if pkt.HasID {
			return evAckReq, uint32(pkt.ID), pkt.Data, nil
		}
		return evOther, 0, pkt.Data, nil
	case socketio.Disconnect:
		return 0, 0, nil, errClosedByServer
	}
	return 0, 0, nil, fmt.Errorf("%s packet: %w", pkt.Type, errUnexpected)
}

// appendAck appends the Engine.IO message that acks event id with data
// (a JSON array).
func appendAck(dst []byte, id uint32, data []byte) []byte {
	dst = append(dst, engineio.Message.Char())
	return socketio.AppendEncode(dst, socketio.Packet{Type: socketio.Ack, ID: uint64(id), HasID: true, Data: data})
}

// sendAck acks event id with data, a JSON array.
func (c *client) sendAck(id uint32, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.proto == protoMsgpack {
		c.wbuf = c.encode(c.wbuf[:0], socketio.Packet{Type: socketio.Ack, ID: uint64(id), HasID: true, Data: data})
		return c.ws.WriteMessage(websocket.BinaryMessage, c.wbuf)
	}
	c.wbuf = appendAck(c.wbuf[:0], id, data)
	return c.ws.WriteMessage(websocket.TextMessage, c.wbuf)
}

// call sends r and waits for its ack, skipping other traffic.
func (c *client) call(r request, id uint32, timeout time.Duration) ([]byte, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.ws.SetReadDeadline(time.Time{}) }()
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

func (c *client) close() { _ = c.ws.Close() }

// dialAll opens n connections, conc at a time, and runs setup on each
// (nil: none). It stops at the first error and closes what it opened.
func dialAll(ctx context.Context, addr string, p wireProto, n, conc int, setup func(*client) error) ([]*client, error) {
	return openAll(ctx, n, conc, func(ctx context.Context) (*client, error) { return dial(ctx, addr, p) }, setup)
}

// openAll opens n connections with open, conc at a time, each within 15
// s, and runs setup on each (nil: none). It stops at the first error and
// closes what it opened.
func openAll[C interface{ close() }](ctx context.Context, n, conc int, open func(context.Context) (C, error), setup func(C) error) ([]C, error) {
	out := make([]C, n)
	opened := make([]bool, n)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				dctx, dcancel := context.WithTimeout(ctx, 15*time.Second)
				c, err := open(dctx)
				dcancel()
				if err == nil && setup != nil {
					if err = setup(c); err != nil {
						c.close()
					}
				}
				if err != nil {
					cancel(fmt.Errorf("connection %d: %w", i, err))
					return
				}
				out[i], opened[i] = c, true
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		for i, c := range out {
			if opened[i] {
				c.close()
			}
		}
		return nil, err
	}
	return out, nil
}

func closeAll(cs []*client) {
	for _, c := range cs {
		if c != nil {
			c.close()
		}
	}
}
