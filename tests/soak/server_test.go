package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorio/actorio"
)

// chatMsg is the payload of a "chat" event, from client to server and,
// unchanged, from server to the room.
type chatMsg struct {
	Room int   `json:"room"`
	From int   `json:"from"` // the sender's client index
	Seq  int   `json:"seq"`  // the sender's message number, from 0
	Sent int64 `json:"sent"` // when the sender emitted it, Unix nanoseconds
}

// roomName is the server-side name of room r.
func roomName(r int) string { return "room-" + strconv.Itoa(r) }

// chatServer is the actorio server of the soak and what it saw. Its
// handlers:
//
//	join(room) ack(true)  the socket joins roomName(room)
//	chat(msg)             broadcast to everyone in msg's room, the sender
//	                      included (Namespace().To(room), not Socket.To)
//	sync() ack()          an in-order barrier: every chat the socket sent
//	                      before has been broadcast
//
// For each sender it logs the sequence numbers it broadcast, in the order
// it broadcast them: that log is what the receivers are checked against.
type chatServer struct {
	srv  *actorio.Server
	http *httptest.Server
	url  string
	logs []senderLog // by client index
	warn *countingHandler

	mu sync.Mutex
	// sockets has a record of every socket that connected. It keeps no
	// reference to the socket: that would keep the socket's connection
	// in the heap and blur the heap checks.
	sockets []*socketRecord

	// joins has, by client index, the last session whose join the
	// server acknowledged (the client numbers its sessions).
	joins []atomic.Int64

	connections atomic.Int64 // OnConnection calls
	disconnects atomic.Int64 // OnDisconnect calls
	badEvents   atomic.Int64 // events the handlers could not use
	emitErrors  atomic.Int64 // broadcasts that returned an error
}

// senderLog is what the server broadcast for one sender.
type senderLog struct {
	mu   sync.Mutex
	seqs []int32 // sequence numbers in broadcast order
	// disorder counts sequence numbers not above the previous one: a
	// sender's messages broadcast twice or out of order.
	disorder int
	first    string // the first disorder, described
}

// socketRecord is one server-side socket: whose it is and the reasons its
// OnDisconnect was called with.
type socketRecord struct {
	client  int
	reasons []string
}

// startChatServer starts the server with opts on 127.0.0.1.
func startChatServer(opts actorio.Options, clients int) (*chatServer, error) {
	cs := &chatServer{
		logs:  make([]senderLog, clients),
		joins: make([]atomic.Int64, clients),
		warn:  newCountingHandler(),
	}
	opts.Logger = slog.New(cs.warn)
	srv, err := actorio.NewServer(opts)
	if err != nil {
		return nil, err
	}
	cs.srv = srv
	srv.OnConnection(cs.onConnection)
	cs.http = httptest.NewServer(srv) // listens on 127.0.0.1
	cs.url = cs.http.URL
	return cs, nil
}

func (cs *chatServer) onConnection(s *actorio.Socket) {
	cs.connections.Add(1)
	var auth struct {
		Client *int `json:"client"`
	}
	rec := &socketRecord{client: -1}
	if err := json.Unmarshal(s.Handshake().Auth, &auth); err == nil && auth.Client != nil {
		rec.client = *auth.Client
	}
	cs.mu.Lock()
	cs.sockets = append(cs.sockets, rec)
	cs.mu.Unlock()
	s.OnDisconnect(func(s *actorio.Socket, reason string) {
		cs.disconnects.Add(1)
		cs.mu.Lock()
		rec.reasons = append(rec.reasons, reason)
		cs.mu.Unlock()
	})
	s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
		var room int
		if err := args.Decode(0, &room); err != nil || ack == nil {
			cs.badEvents.Add(1)
			return
		}
		s.Join(roomName(room))
		var sess int64
		if args.Decode(1, &sess) == nil && rec.client >= 0 && rec.client < len(cs.joins) {
			cs.joins[rec.client].Store(sess)
		}
		_ = ack(true)
	})
	s.On("chat", cs.onChat)
	s.On("sync", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
		if ack == nil {
			cs.badEvents.Add(1)
			return
		}
		_ = ack()
	})
}

// onChat logs the message and broadcasts it, under the sender's log lock:
// the log order is the broadcast order, and a receiver that checks a
// message against the log finds it there.
func (cs *chatServer) onChat(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
	var m chatMsg
	if err := args.Decode(0, &m); err != nil || m.From < 0 || m.From >= len(cs.logs) {
		cs.badEvents.Add(1)
		return
	}
	l := &cs.logs[m.From]
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.seqs); n > 0 && int(l.seqs[n-1]) >= m.Seq {
		if l.disorder == 0 {
			l.first = fmt.Sprintf("seq %d broadcast after seq %d (socket %s)", m.Seq, l.seqs[n-1], s.ID())
		}
		l.disorder++
	}
	l.seqs = append(l.seqs, int32(m.Seq))
	if err := s.Namespace().To(roomName(m.Room)).Emit("chat", args.Raw(0)); err != nil {
		l.seqs = l.seqs[:len(l.seqs)-1]
		cs.emitErrors.Add(1)
	}
}

// logLen returns how many messages of sender i were broadcast.
func (cs *chatServer) logLen(i int) int {
	l := &cs.logs[i]
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seqs)
}

// socketCounts sums up the sockets the server saw: how many, how many
// disconnect calls each got, and the disconnect reasons of each client's
// sockets, by reason.
func (cs *chatServer) socketCounts() (sockets int, calls map[int]int, reasons map[string]int, byClient map[int][]string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	calls, reasons, byClient = map[int]int{}, map[string]int{}, map[int][]string{}
	for _, rec := range cs.sockets {
		calls[len(rec.reasons)]++
		for _, r := range rec.reasons {
			reasons[r]++
			byClient[rec.client] = append(byClient[rec.client], r)
		}
	}
	return len(cs.sockets), calls, reasons, byClient
}

// waitStats waits up to d for the server's Stats to equal want and
// returns the last Stats read.
func (cs *chatServer) waitStats(d time.Duration, want actorio.Stats) (actorio.Stats, bool) {
	deadline := time.Now().Add(d)
	for {
		st := cs.srv.Stats()
		if statsEqual(st, want) {
			return st, true
		}
		if time.Now().After(deadline) {
			return st, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statsEqual(a, b actorio.Stats) bool {
	return a.Sessions == b.Sessions && a.Connections == b.Connections &&
		a.DroppedEvents == b.DroppedEvents && maps.Equal(a.Namespaces, b.Namespaces)
}

// close closes the server and reports how long Close took.
func (cs *chatServer) close() (time.Duration, error) {
	start := time.Now()
	err := cs.srv.Close()
	took := time.Since(start)
	cs.http.Close()
	return took, err
}

// countingHandler is a slog handler that counts the records at Warn and
// above by kind (level, message and the attributes that are not
// identifiers), for the report; the rest is discarded.
type countingHandler struct {
	mu    sync.Mutex
	n     int
	kinds map[string]int
}

// idAttrs are attributes left out of a record's kind: they differ for
// every connection.
var idAttrs = map[string]bool{"sid": true, "id": true, "remote": true, "addr": true, "err": true}

func newCountingHandler() *countingHandler { return &countingHandler{kinds: map[string]int{}} }

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	var b []byte
	b = fmt.Appendf(b, "%s %q", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if !idAttrs[a.Key] {
			b = fmt.Appendf(b, " %s=%v", a.Key, a.Value)
		}
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	h.kinds[string(b)]++
	return nil
}

func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// counts returns the number of records and a line per kind with its count.
func (h *countingHandler) counts() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	lines := make([]string, 0, len(h.kinds))
	for k, n := range h.kinds {
		lines = append(lines, fmt.Sprintf("%6d × %s", n, k))
	}
	slices.Sort(lines)
	return h.n, lines
}
