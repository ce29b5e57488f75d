package actors

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

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
// restored or expires, or of another node's socket (a replica) while it
// could be restored here.
type session struct {
	sid, pid string
	rooms    []string // its own id included
	data     any
	addr     string // the client's IP address
	// first is the offset the client is assumed to have reached when it
	// sends none: the log's when the socket first connected.
	first vector
	// origin is the tag of the log of the node where the socket was;
	// connectedAt when it connected there.
	origin      string
	connectedAt time.Time
	// version orders the states of the session (see NodeSession): a
	// restored socket starts a new generation in its high 32 bits.
	version uint64
	endedAt time.Time
}

// restore is the state a restored socket starts from; the namespace actor
// replays the logged packets the client missed once the socket is ready.
type restore struct {
	session
	// last is the offset the client reached; replica says the session
	// comes from another node, which is not alive: the packets it sent
	// that never reached this node cannot come any more.
	last    vector
	replica bool
}

// origin is one log that numbers packets: this node's, or another node's
// for a packet that node sent (connection state recovery in a cluster).
type origin struct {
	tag  string
	last uint64 // the highest sequence number logged from it
	// floor: some packets numbered floor or less may be missing here
	// (dropped from the log, sent before this log heard of the origin,
	// or lost on the way); a client that missed one cannot be restored.
	floor uint64
	// floorAt is when floor last rose: a client that had heard nothing
	// from the origin, and connected before then, cannot be restored.
	floorAt time.Time
	live    int       // its entries in the log
	at      time.Time // when its last packet was logged
}

// maxOrigins bounds the origins a log remembers; past it, those with no
// entry left that were quiet longest are forgotten.
const maxOrigins = 64

// mark is one origin's entry in a vector.
type mark struct {
	tag string
	seq uint64
}

// vector is an offset as clients see it: for each origin, the last of its
// packets the client got, "<tag>-<seq in base 36>" joined by dots. With
// one node it has one mark.
type vector []mark

// String formats v as an offset.
func (v vector) String() string {
	b := make([]byte, 0, len(v)*14)
	for i, m := range v {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, m.tag...)
		b = append(b, '-')
		b = strconv.AppendUint(b, m.seq, 36)
	}
	return string(b)
}

// get returns the mark of tag in v.
func (v vector) get(tag string) (uint64, bool) {
	for _, m := range v {
		if m.tag == tag {
			return m.seq, true
		}
	}
	return 0, false
}

// tagLen is the length of a log's tag.
const tagLen = 8

// parseVector reads an offset; ok is false when it is not one.
func parseVector(s string) (v vector, ok bool) {
	if s == "" || len(s) > maxOrigins*(tagLen+14) {
		return nil, false
	}
	for part := range strings.SplitSeq(s, ".") {
		if len(part) < tagLen+2 || part[tagLen] != '-' {
			return nil, false
		}
		seq, err := strconv.ParseUint(part[tagLen+1:], 36, 64)
		if err != nil || seq == 0 {
			return nil, false
		}
		tag := part[:tagLen]
		if _, dup := v.get(tag); dup {
			return nil, false
		}
		v = append(v, mark{tag: tag, seq: seq})
	}
	return v, true
}

// logEntry is one packet of the recovery log.
type logEntry struct {
	pos    uint64 // its position in this log: 1, 2, ...
	from   *origin
	seq    uint64 // its number in from
	at     time.Time
	target *pb.Target
	// ownerOnly: only the sockets of its origin node were sent it.
	ownerOnly bool
	// frame ends with the log's offset, offLen bytes, as a JSON string.
	frame  []byte
	offLen int
	atts   [][]byte
	size   int
}

// replayFrame returns e's frame for a client restoring from offset v: its
// offset is raised to v's marks where they are higher, so that the
// client's last offset never goes back behind packets it had (this log
// may have logged e before one of them).
func (e *logEntry) replayFrame(v vector) []byte {
	end := len(e.frame) - 2 // before `"]`
	own, ok := parseVector(string(e.frame[end-e.offLen : end]))
	if !ok && e.offLen > 0 {
		return e.frame
	}
	merged, raised := own, false
	for _, m := range v {
		i := slices.IndexFunc(merged, func(o mark) bool { return o.tag == m.tag })
		switch {
		case i < 0:
			merged = append(merged, m)
			raised = true
		case merged[i].seq < m.seq:
			merged[i].seq = m.seq
			raised = true
		}
	}
	if !raised {
		return e.frame
	}
	off := merged.String()
	out := make([]byte, 0, len(e.frame)-e.offLen+len(off))
	out = append(out, e.frame[:end-e.offLen]...)
	out = append(out, off...)
	return append(out, '"', ']')
}

// packetLog is a namespace's log of the packets it sent, each with an
// offset, kept for MaxDisconnectionDuration within MaxPackets and MaxBytes.
// In a cluster it also logs the packets the other nodes sent, numbered by
// them, and keeps their sessions (replicas). Only the namespace actor and
// holders of NamespaceRef.mu use it.
type packetLog struct {
	cfg Recovery
	// tag names this log's own packets, so that offsets of another log
	// (another namespace, an earlier server) are not mistaken for its own.
	tag     string
	own     *origin
	origins []*origin // own first
	next    uint64    // position of the next entry; the first is 1
	entries []logEntry
	head    int // entries[head:] are live
	bytes   int64

	sessions map[string]*session // by private id
	sweep    *time.Timer
	// live holds the sockets not yet ended, by private id; waiting, the
	// restore requests for a session whose socket has not ended yet, or
	// whose node is asked to give it up.
	live    map[string]*SocketRef
	waiting map[string]*spawnSocket
	// giving holds, by private id, the other nodes' requests for a
	// session whose socket is being ended here (NodeSessionClaim).
	giving map[string][]chan *pb.NodeSession
	// replicas are the sessions of the other nodes' sockets, by private
	// id; guarded by NamespaceRef.mu.
	replicas map[string]*pb.NodeSession
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
	tag := gateway.NewID()[:tagLen]
	own := &origin{tag: tag}
	return &packetLog{cfg: cfg, tag: tag, own: own, origins: []*origin{own}, next: 1, sessions: map[string]*session{},
		live: map[string]*SocketRef{}, waiting: map[string]*spawnSocket{}, giving: map[string][]chan *pb.NodeSession{},
		replicas: map[string]*pb.NodeSession{}}
}

// vector returns the log's offset now: the last packet of each origin
// heard from within MaxDisconnectionDuration, or with entries still here.
func (l *packetLog) vector(now time.Time) vector {
	v := make(vector, 0, len(l.origins))
	for _, o := range l.origins {
		if o.last > 0 && (o.live > 0 || now.Sub(o.at) <= l.cfg.MaxDisconnectionDuration) {
			v = append(v, mark{tag: o.tag, seq: o.last})
		}
	}
	return v
}

// origin returns the origin of tag, made on first sight.
func (l *packetLog) origin(tag string) *origin {
	if o := l.known(tag); o != nil {
		return o
	}
	if len(l.origins) >= maxOrigins {
		l.forgetOrigin()
	}
	o := &origin{tag: tag}
	l.origins = append(l.origins, o)
	return o
}

// forgetOrigin drops the quietest other origin with no entry left, if any.
func (l *packetLog) forgetOrigin() {
	drop := -1
	for i, o := range l.origins[1:] {
		if o.live == 0 && (drop < 0 || o.at.Before(l.origins[drop].at)) {
			drop = i + 1
		}
	}
	if drop > 0 {
		l.origins = slices.Delete(l.origins, drop, drop+1)
	}
}

// known returns the origin of tag if the log has heard of it.
func (l *packetLog) known(tag string) *origin {
	for _, o := range l.origins {
		if o.tag == tag {
			return o
		}
	}
	return nil
}

// append logs an event frame of this node for t and returns it with the
// log's offset as last argument, and its sequence number; a frame that is
// not a JSON array packet is returned unlogged, with 0.
func (l *packetLog) append(now time.Time, t *pb.Target, frame []byte, atts [][]byte, ownerOnly bool) ([]byte, uint64) {
	if !isArrayPacket(frame) {
		return frame, 0
	}
	l.own.last++
	return l.add(now, l.own, l.own.last, t, frame, atts, ownerOnly), l.own.last
}

// appendFrom logs an event frame that the node whose log is tag numbered
// seq, and returns it with this log's offset as last argument; a frame
// that is not a JSON array packet is returned unlogged.
func (l *packetLog) appendFrom(now time.Time, tag string, seq uint64, t *pb.Target, frame []byte, atts [][]byte, ownerOnly bool) []byte {
	if !isArrayPacket(frame) || seq == 0 || tag == l.tag {
		return frame
	}
	o := l.origin(tag)
	if seq > o.last+1 {
		// What it sent before is not here: lost on the way, or sent
		// before this log heard of it.
		o.floor, o.floorAt = max(o.floor, seq-1), now
	}
	o.last = max(o.last, seq)
	return l.add(now, o, seq, t, frame, atts, ownerOnly)
}

// isArrayPacket reports whether frame is a Socket.IO packet whose data is
// a JSON array, to which an offset can be appended.
func isArrayPacket(frame []byte) bool {
	return len(frame) > 0 && frame[len(frame)-1] == ']'
}

// add logs entry seq of o and returns frame with the log's offset.
func (l *packetLog) add(now time.Time, o *origin, seq uint64, t *pb.Target, frame []byte, atts [][]byte, ownerOnly bool) []byte {
	o.live++
	o.at = now
	off := l.vector(now).String()
	out := make([]byte, 0, len(frame)+len(off)+3)
	out = append(out, frame[:len(frame)-1]...)
	out = append(out, ',', '"')
	out = append(out, off...)
	out = append(out, '"', ']')
	size := len(out)
	for _, a := range atts {
		size += len(a)
	}
	l.entries = append(l.entries, logEntry{pos: l.next, from: o, seq: seq, at: now, target: t, ownerOnly: ownerOnly,
		frame: out, offLen: len(off), atts: atts, size: size})
	l.next++
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
		e.from.live--
		e.from.floor, e.from.floorAt = max(e.from.floor, e.seq), e.at
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

// expire drops the sessions, replicas and entries older than
// MaxDisconnectionDuration. A replica whose node is no longer alive
// starts waiting for its client now.
func (l *packetLog) expire(now time.Time, alive func(member string) bool) {
	for pid, s := range l.sessions {
		if now.Sub(s.endedAt) > l.cfg.MaxDisconnectionDuration {
			delete(l.sessions, pid)
		}
	}
	for pid, r := range l.replicas {
		if r.EndedAtMs == 0 && alive != nil && !alive(r.MemberId) {
			r.EndedAtMs = now.UnixMilli()
		}
		if r.EndedAtMs != 0 && now.Sub(time.UnixMilli(r.EndedAtMs)) > l.cfg.MaxDisconnectionDuration {
			delete(l.replicas, pid)
		}
	}
	l.trim(now)
}

// claim takes the session that a CONNECT's auth asks to restore for a
// client at addr, if this log keeps it, it has not expired, and every
// packet it missed is here.
func (l *packetLog) claim(now time.Time, auth []byte, addr string) *restore {
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
	return l.restorable(now, req, s, false)
}

// restorable returns the restore of s that req asks for, nil when s
// expired or some packet the client missed is not here. replica says that
// s comes from another node that is not alive.
func (l *packetLog) restorable(now time.Time, req claimRequest, s *session, replica bool) *restore {
	if !s.endedAt.IsZero() && now.Sub(s.endedAt) > l.cfg.MaxDisconnectionDuration {
		return nil
	}
	last := s.first
	if req.Offset != nil {
		v, ok := parseVector(*req.Offset)
		if !ok {
			return nil
		}
		last = v
	}
	known := len(last) == 0
	for _, m := range last {
		o := l.known(m.tag)
		if o == nil {
			continue // quiet for longer than the log keeps anything
		}
		known = true
		if m.seq < o.floor {
			return nil // some of what it missed is not here
		}
		if m.seq > o.last && !(replica && m.tag == s.origin) {
			// It got packets that have not reached this log yet (or an
			// offset this log never gave): they would come twice.
			return nil
		}
	}
	if !known {
		return nil // an offset of another log
	}
	for _, o := range l.origins {
		if _, in := last.get(o.tag); !in && o.floor > 0 && !o.floorAt.Before(s.connectedAt) {
			return nil // it may have missed packets of o that are not here
		}
	}
	return &restore{session: *s, last: last, replica: replica}
}

// missed calls fn with every entry that the client of r did not get and
// that selects it.
func (l *packetLog) missed(r *restore, sid string, rooms []string, fn func(e *logEntry) bool) {
	in := make(map[string]struct{}, len(rooms))
	for _, room := range rooms {
		in[room] = struct{}{}
	}
	for i := l.head; i < len(l.entries); i++ {
		e := &l.entries[i]
		if seq, ok := r.last.get(e.from.tag); ok {
			if e.seq <= seq {
				continue
			}
		} else if e.at.Before(r.connectedAt) {
			// An origin the client had heard nothing from when it lost
			// its connection: what it sent before the socket connected
			// was not for it.
			continue
		}
		if e.ownerOnly && e.from.tag != r.origin {
			continue
		}
		if selects(e.target, sid, in) && !fn(e) {
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
