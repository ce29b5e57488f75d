package actors

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/gateway"
	pb "github.com/actorio/actorio/proto"
)

// Recovery configures connection state recovery for a namespace: a client
// that lost its connection and comes back in time gets its socket id, rooms
// and data back, and every logged packet it missed.
type Recovery struct {
	// MaxDisconnectionDuration is how long a disconnected session can be
	// restored, and how long a logged packet is kept.
	MaxDisconnectionDuration time.Duration
	// SkipMiddlewares lets a restored socket connect without running the
	// namespace middleware again.
	SkipMiddlewares bool
	// MaxPackets and MaxBytes bound the namespace's packet log; the oldest
	// entries go first. A session whose missed packets are no longer all in
	// the log is not restored. Zero means no bound.
	MaxPackets int
	MaxBytes   int64
	// BindAddress restores a session only for a client at the IP address
	// the session had.
	BindAddress bool
}

// recoverable lists the disconnect reasons after which a session is kept:
// those where the client did not choose to leave and was not sent away.
var recoverable = map[string]bool{
	disconnect.TransportClose:     true,
	disconnect.TransportError:     true,
	disconnect.PingTimeout:        true,
	disconnect.ForcedClose:        true,
	disconnect.ForcedServerClose:  true,
	disconnect.ServerShuttingDown: true,
	disconnect.SlowConsumer:       true,
}

// session is what the namespace keeps of a disconnected socket until it is
// restored or expires.
type session struct {
	sid, pid string
	rooms    []string // its own id included
	data     any
	addr     string // the client's IP address
	// last is the sequence number of the last logged packet the client is
	// assumed to have when it sends no offset: the log's end when the
	// socket first connected.
	last    uint64
	endedAt time.Time
}

// restore is the state a restored socket starts from; the namespace actor
// replays the log after last once the socket is ready.
type restore struct {
	rooms []string
	data  any
	last  uint64
}

// logEntry is one packet of the recovery log.
type logEntry struct {
	seq    uint64
	at     time.Time
	target *pb.Target
	frame  []byte
	atts   [][]byte
	size   int
}

// packetLog is a namespace's log of the packets it sent, each with an
// offset, kept for MaxDisconnectionDuration within MaxPackets and MaxBytes.
// Only the namespace actor uses it.
type packetLog struct {
	cfg Recovery
	// tag marks this log's offsets, so that offsets of another log (another
	// namespace, an earlier server) are not mistaken for its own.
	tag     string
	next    uint64 // sequence number of the next entry; the first is 1
	entries []logEntry
	head    int // entries[head:] are live
	bytes   int64

	sessions map[string]*session // by private id
	sweep    *time.Timer
	// live holds the sockets not yet ended, by private id; waiting, the
	// restore requests for a session whose socket has not ended yet.
	live    map[string]*SocketRef
	waiting map[string]waitingSpawn
}

// waitingSpawn is a SpawnSocket request put off until the socket holding
// the session it restores has ended.
type waitingSpawn struct {
	m      *spawnSocket
	sender *actor.PID
}

// claimWait bounds how long a restore request waits for the socket that
// holds its session to end; past it the client gets a new socket.
const claimWait = 3 * time.Second

// claimRequest is what a CONNECT's auth holds for recovery.
type claimRequest struct {
	PID    *string `json:"pid"`
	Offset *string `json:"offset"`
}

// parseClaim reads the private id and offset a CONNECT's auth carries; ok
// is false when it carries no private id.
func parseClaim(auth []byte) (req claimRequest, ok bool) {
	if len(auth) == 0 || json.Unmarshal(auth, &req) != nil || req.PID == nil {
		return claimRequest{}, false
	}
	return req, true
}

func newPacketLog(cfg Recovery) *packetLog {
	return &packetLog{cfg: cfg, tag: gateway.NewID()[:8], next: 1, sessions: map[string]*session{},
		live: map[string]*SocketRef{}, waiting: map[string]waitingSpawn{}}
}

// offset formats the offset of entry seq as clients see it.
func (l *packetLog) offset(seq uint64) string {
	return l.tag + "-" + strconv.FormatUint(seq, 36)
}

// parseOffset returns the sequence number of an offset of this log.
func (l *packetLog) parseOffset(s string) (uint64, bool) {
	rest, ok := strings.CutPrefix(s, l.tag+"-")
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(rest, 36, 64)
	if err != nil || seq == 0 || seq >= l.next {
		return 0, false
	}
	return seq, true
}

// append logs an event frame for t and returns it with its offset as last
// argument; a frame that is not a JSON array packet is returned unlogged.
func (l *packetLog) append(now time.Time, t *pb.Target, frame []byte, atts [][]byte) []byte {
	if len(frame) == 0 || frame[len(frame)-1] != ']' {
		return frame
	}
	seq := l.next
	l.next++
	off := l.offset(seq)
	out := make([]byte, 0, len(frame)+len(off)+3)
	out = append(out, frame[:len(frame)-1]...)
	out = append(out, ',', '"')
	out = append(out, off...)
	out = append(out, '"', ']')
	size := len(out)
	for _, a := range atts {
		size += len(a)
	}
	l.entries = append(l.entries, logEntry{seq: seq, at: now, target: t, frame: out, atts: atts, size: size})
	l.bytes += int64(size)
	l.trim(now)
	return out
}

// trim drops the entries that are too old or over the bounds.
func (l *packetLog) trim(now time.Time) {
	cutoff := now.Add(-l.cfg.MaxDisconnectionDuration)
	for l.head < len(l.entries) {
		e := &l.entries[l.head]
		live := len(l.entries) - l.head
		over := (l.cfg.MaxPackets > 0 && live > l.cfg.MaxPackets) || (l.cfg.MaxBytes > 0 && l.bytes > l.cfg.MaxBytes)
		if !over && !e.at.Before(cutoff) {
			break
		}
		l.bytes -= int64(e.size)
		*e = logEntry{}
		l.head++
	}
	if l.head == len(l.entries) {
		l.entries, l.head = l.entries[:0], 0
	} else if l.head > 64 && l.head > len(l.entries)/2 {
		n := copy(l.entries, l.entries[l.head:])
		clear(l.entries[n:])
		l.entries, l.head = l.entries[:n], 0
	}
}

// first returns the sequence number of the oldest entry kept (next when
// the log is empty).
func (l *packetLog) first() uint64 {
	if l.head < len(l.entries) {
		return l.entries[l.head].seq
	}
	return l.next
}

// expire drops the sessions and entries older than MaxDisconnectionDuration.
func (l *packetLog) expire(now time.Time) {
	for pid, s := range l.sessions {
		if now.Sub(s.endedAt) > l.cfg.MaxDisconnectionDuration {
			delete(l.sessions, pid)
		}
	}
	l.trim(now)
}

// claim takes the session that a CONNECT's auth asks to restore for a
// client at addr, if it exists, has not expired, and every packet it missed
// is still logged.
func (l *packetLog) claim(now time.Time, auth []byte, addr string) *session {
	req, ok := parseClaim(auth)
	if !ok {
		return nil
	}
	s, ok := l.sessions[*req.PID]
	if !ok {
		return nil
	}
	if l.cfg.BindAddress && s.addr != addr {
		return nil // left for its owner
	}
	delete(l.sessions, *req.PID)
	if now.Sub(s.endedAt) > l.cfg.MaxDisconnectionDuration {
		return nil
	}
	last := s.last
	if req.Offset != nil {
		seq, ok := l.parseOffset(*req.Offset)
		if !ok {
			return nil
		}
		last = seq
	}
	if last+1 < l.first() {
		return nil // some of what it missed was dropped from the log
	}
	s.last = last
	return s
}

// missed calls fn with every entry after last that t selects for a socket
// with id sid in rooms.
func (l *packetLog) missed(last uint64, sid string, rooms []string, fn func(e *logEntry) bool) {
	in := make(map[string]struct{}, len(rooms))
	for _, r := range rooms {
		in[r] = struct{}{}
	}
	for i := l.head; i < len(l.entries); i++ {
		e := &l.entries[i]
		if e.seq > last && selects(e.target, sid, in) && !fn(e) {
			return
		}
	}
}

// selects reports whether t selects a socket with id sid in rooms.
func selects(t *pb.Target, sid string, rooms map[string]struct{}) bool {
	if t == nil {
		return true
	}
	for _, id := range t.ExceptIds {
		if id == sid {
			return false
		}
	}
	for _, r := range t.ExceptRooms {
		if _, ok := rooms[r]; ok {
			return false
		}
	}
	if len(t.Rooms) == 0 {
		return true
	}
	for _, r := range t.Rooms {
		if _, ok := rooms[r]; ok {
			return true
		}
	}
	return false
}

// sweepEvery is how often a namespace drops expired sessions and entries.
func (l *packetLog) sweepEvery() time.Duration {
	return min(max(l.cfg.MaxDisconnectionDuration/2, 100*time.Millisecond), time.Minute)
}
