//go:build linux

package main

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// rawWriteTimeout bounds each batch of writes of the raw server.
const rawWriteTimeout = 10 * time.Second

// rawServer is the ceiling: the same requests as the Socket.IO servers in
// the raw framing (see rawwire.go), on gorilla/websocket with the usual
// shape of a hand-written server: per connection a read loop that answers
// its own requests inline and a writer goroutine that drains a queue of
// broadcast frames; a broadcast frame is prepared once
// (websocket.PreparedMessage) for every receiver; rooms are maps behind
// one RWMutex; heartbeats are WebSocket pings on a timer per connection.
type rawServer struct {
	pingInterval time.Duration
	upgrader     websocket.Upgrader

	mu    sync.RWMutex
	rooms map[string]map[*rawConn]struct{}
}

func newRawServer(pingInterval time.Duration) *rawServer {
	return &rawServer{
		pingInterval: pingInterval,
		upgrader:     websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		rooms:        map[string]map[*rawConn]struct{}{},
	}
}

type rawConn struct {
	srv *rawServer
	ws  *websocket.Conn

	wmu sync.Mutex // serialises writes to ws

	mu    sync.Mutex
	queue []*websocket.PreparedMessage
	rooms []string

	wake chan struct{}
	done chan struct{}
	ping *time.Timer
}

func (s *rawServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &rawConn{srv: s, ws: ws, wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.ping = time.AfterFunc(s.pingInterval, c.sendPing)
	go c.writeLoop()
	c.readLoop()
	close(c.done)
	c.ping.Stop()
	s.leaveAll(c)
	_ = ws.Close()
}

func (c *rawConn) sendPing() {
	select {
	case <-c.done:
		return
	default:
	}
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(rawWriteTimeout)); err != nil {
		return
	}
	c.ping.Reset(c.srv.pingInterval)
}

func (c *rawConn) readLoop() {
	var in, out []byte
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		if in, err = readAll(r, in[:0]); err != nil {
			return
		}
		op, id, body, err := parseRaw(in)
		if err != nil {
			return
		}
		switch op {
		case opEcho:
			out = appendRaw(out[:0], opAck, id, body)
		case opJoin:
			c.srv.join(c, string(body))
			out = appendRaw(out[:0], opAck, id, nil)
		case opBlast:
			room, count, size, err := parseBlastBody(body)
			if err != nil {
				return
			}
			c.srv.blast(room, count, size)
			out = appendRaw(out[:0], opAck, id, nil)
		default:
			return
		}
		if !c.reply(out) {
			return
		}
	}
}

// reply writes a frame from the read loop, after whatever is queued.
func (c *rawConn) reply(frame []byte) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(rawWriteTimeout))
	if !c.flushLocked() {
		return false
	}
	return c.ws.WriteMessage(websocket.BinaryMessage, frame) == nil
}

// flushLocked writes the queued frames; c.wmu must be held.
func (c *rawConn) flushLocked() bool {
	c.mu.Lock()
	q := c.queue
	c.queue = nil
	c.mu.Unlock()
	for _, pm := range q {
		if err := c.ws.WritePreparedMessage(pm); err != nil {
			return false
		}
	}
	return true
}

func (c *rawConn) writeLoop() {
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		c.wmu.Lock()
		_ = c.ws.SetWriteDeadline(time.Now().Add(rawWriteTimeout))
		ok := c.flushLocked()
		c.wmu.Unlock()
		if !ok {
			_ = c.ws.Close()
			return
		}
	}
}

func (c *rawConn) enqueue(pm *websocket.PreparedMessage) {
	c.mu.Lock()
	c.queue = append(c.queue, pm)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (s *rawServer) join(c *rawConn, room string) {
	s.mu.Lock()
	set, ok := s.rooms[room]
	if !ok {
		set = map[*rawConn]struct{}{}
		s.rooms[room] = set
	}
	set[c] = struct{}{}
	s.mu.Unlock()
	c.mu.Lock()
	c.rooms = append(c.rooms, room)
	c.mu.Unlock()
}

func (s *rawServer) leaveAll(c *rawConn) {
	c.mu.Lock()
	rooms := c.rooms
	c.rooms = nil
	c.mu.Unlock()
	s.mu.Lock()
	for _, r := range rooms {
		delete(s.rooms[r], c)
		if len(s.rooms[r]) == 0 {
			delete(s.rooms, r)
		}
	}
	s.mu.Unlock()
}

// blast sends count messages of size bytes to the room: each message is
// framed once and its prepared frame queued on every member.
func (s *rawServer) blast(room string, count, size int) {
	payload := []byte(strings.Repeat("x", size))
	for range count {
		frame := appendRaw(make([]byte, 0, rawHeader+size), opMsg, 0, payload)
		pm, err := websocket.NewPreparedMessage(websocket.BinaryMessage, frame)
		if err != nil {
			return
		}
		s.mu.RLock()
		for c := range s.rooms[room] {
			c.enqueue(pm)
		}
		s.mu.RUnlock()
	}
}

// readAll reads r to its end into dst (reused when large enough).
func readAll(r io.Reader, dst []byte) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}
