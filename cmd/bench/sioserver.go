//go:build linux

package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio/protocol/engineio"
	"github.com/actorio/actorio/protocol/socketio"
)

// sioPingTimeout is the floor server's Engine.IO pingTimeout, the
// default of Node's engine.io and of actorio.
const sioPingTimeout = 20 * time.Second

// sioServer is the floor of a Socket.IO server written in Go: Engine.IO v4
// and Socket.IO v5 over WebSocket only, on gorilla/websocket with the shape
// of rawServer (a read loop per connection that writes its own answers, a
// timer per connection for heartbeats), and the packets decoded, validated
// and encoded by actorio's own codec (protocol/engineio and
// protocol/socketio), which actorio's server runs on the same path. It has
// no sessions, no namespaces but "/", no rooms, no actors and no handler
// API: it answers the echo scenario's events only ("echo", acked with its
// arguments as actorio's bench handler acks them: the values decoded, then
// marshaled again). Between raw gorilla's column and actorio's, its column
// splits what an echo costs into the protocol's work, which any Socket.IO
// server does, and what actorio's server adds to it.
type sioServer struct {
	pingInterval time.Duration
	upgrader     websocket.Upgrader
}

func newSIOServer(pingInterval time.Duration) *sioServer {
	return &sioServer{
		pingInterval: pingInterval,
		upgrader:     websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
	}
}

type sioConn struct {
	srv *sioServer
	ws  *websocket.Conn
	sid string

	wmu  sync.Mutex // serialises writes to ws
	ping *time.Timer
	done chan struct{}
}

func (s *sioServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("EIO") != "4" || q.Get("transport") != "websocket" {
		http.Error(w, `{"code":0,"message":"Transport unknown"}`, http.StatusBadRequest)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &sioConn{srv: s, ws: ws, sid: newSIOID(), done: make(chan struct{})}
	open := fmt.Sprintf(`0{"sid":%q,"upgrades":[],"pingInterval":%d,"pingTimeout":%d,"maxPayload":1000000}`,
		c.sid, s.pingInterval.Milliseconds(), sioPingTimeout.Milliseconds())
	if c.write([]byte(open)) {
		c.ping = time.AfterFunc(s.pingInterval, c.sendPing)
		c.readLoop()
		c.ping.Stop()
	}
	close(c.done)
	_ = ws.Close()
}

// newSIOID returns a random session or socket id of 20 characters.
func newSIOID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// write writes one text frame from any goroutine.
func (c *sioConn) write(frame []byte) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(rawWriteTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, frame) == nil
}

func (c *sioConn) sendPing() {
	select {
	case <-c.done:
		return
	default:
	}
	if c.write([]byte{engineio.Ping.Char()}) {
		c.ping.Reset(c.srv.pingInterval)
	}
}

// readLoop reads and answers the client's packets until the connection
// fails or the client breaks the protocol; a client silent for a
// heartbeat and its timeout is dropped, as Engine.IO drops it.
func (c *sioConn) readLoop() {
	var in, out, data []byte
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.srv.pingInterval + sioPingTimeout))
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		if in, err = readAll(r, in[:0]); err != nil {
			return
		}
		ep, err := engineio.DecodeFrame(in, mt == websocket.BinaryMessage)
		if err != nil {
			return
		}
		switch ep.Type {
		case engineio.Pong:
			continue
		case engineio.Message:
		default:
			return
		}
		pkt, err := socketio.Decode(ep.Data)
		if err != nil || pkt.Namespace != "/" {
			return
		}
		out = append(out[:0], engineio.Message.Char())
		switch pkt.Type {
		case socketio.Connect:
			out = socketio.AppendEncode(out, socketio.Packet{Type: socketio.Connect,
				Data: []byte(`{"sid":` + strconv.Quote(newSIOID()) + `}`)})
		case socketio.Event:
			name, args, err := socketio.NewDecodedEventArgs(pkt.Data, nil)
			if err != nil {
				return
			}
			if name != "echo" || !pkt.HasID {
				continue
			}
			if data, _, err = socketio.AppendMarshalArgs(data[:0], nil, args.Values()...); err != nil {
				return
			}
			out = socketio.AppendEncode(out, socketio.Packet{Type: socketio.Ack, ID: pkt.ID, HasID: true, Data: data})
		case socketio.Disconnect:
			return
		default:
			continue
		}
		if !c.write(out) {
			return
		}
	}
}
