package actors

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/actorio/actorio/protocol/socketio"
)

// ErrNotConnected is returned when writing to a socket that is not (or no
// longer) connected.
var ErrNotConnected = errors.New("actorio: socket not connected")

// AckFunc receives the raw JSON array and attachments of an ACK packet; data
// is nil when the socket ended before the ack arrived.
type AckFunc func(data []byte, attachments [][]byte)

// SocketRef is the data-plane handle of one namespace socket: the outbound
// connection, the acks it awaits and the rooms it is in. Safe for
// concurrent use.
type SocketRef struct {
	id   string
	ns   *NamespaceRef
	conn *gateway.Conn
	// pid is the socket actor's, set by the supervisor once spawned
	// (under mu: the actor runs before, and its handlers may hand the
	// socket to goroutines that call Disconnect).
	pid *actor.PID
	// mbox is the socket actor's mailbox, set with pid (before the socket
	// is routed): the connection's reader posts events there itself, to
	// run them on its own goroutine (inbound.go).
	mbox *mailbox

	handler SocketHandler

	// rec is the socket's connection state recovery, nil when that is
	// off (most sockets: it is kept out of SocketRef, which every
	// connected socket holds).
	rec *socketRecovery

	// owner is the connection actor of conn, whose routing table leads to
	// this socket; unrouted is set when the socket leaves that table
	// (socketActor.gone). (The two flags side by side take one word.)
	owner     *connActor
	connected atomic.Bool
	unrouted  atomic.Bool
	// bucket rate-limits the socket's inbound events, made at the first
	// event when a rate is set; only the connection's receiver touches it.
	bucket *tokenBucket

	// The events handed to the socket actor and not handled yet, counted
	// in the connection's inbound bound, and whether the actor stopped
	// (inflow.go).
	inMu               sync.Mutex
	inBytes, inPackets int64
	inClosed           bool

	mu   sync.Mutex
	acks map[uint64]AckFunc
	// rooms are the rooms the socket is in besides its own id's, nil when
	// none; ownRoom tells whether it is in that one (what the user sees:
	// Join and Leave change it at once).
	rooms   map[string]struct{}
	ownRoom bool
	// inOwnRoom is the namespace's view of ownRoom (the namespace keeps no
	// room map for a socket's own id), and indexed tells that the socket
	// is among its connected sockets; both guarded by ns.mu.
	inOwnRoom bool
	indexed   bool
	// asked is the first Disconnect sent to the socket actor.
	asked *endSocket
	// desc is the error of the transport's end that ended the socket, if
	// any (Description).
	desc error
	// kept is the session the socket ended with, for its namespace to keep.
	kept *session
}

// socketRecovery is a socket's part in connection state recovery.
type socketRecovery struct {
	// privateID is the session's private id; recovered, whether the socket
	// restored a session; restore, the state a restored socket starts from
	// until the namespace made it ready (the namespace actor owns it).
	privateID string
	recovered bool
	restore   *restore
	// first is the log's offset when the socket connected, which the
	// client is assumed to have reached when it sends none, and
	// connectedAt when it connected; version, that of the last state of
	// the session sent to the other nodes (replica.go). All three under
	// the socket's mu.
	first       vector
	connectedAt time.Time
	version     uint64
}

func newSocketRef(id string, ns *NamespaceRef, conn *gateway.Conn) *SocketRef {
	return &SocketRef{id: id, ns: ns, conn: conn}
}

// ID returns the socket id.
func (p *SocketRef) ID() string { return p.id }

// Namespace returns the namespace the socket belongs to.
func (p *SocketRef) Namespace() *NamespaceRef { return p.ns }

// Handler returns the user-facing state the Behavior created for the socket.
func (p *SocketRef) Handler() SocketHandler { return p.handler }

// Conn returns the Engine.IO connection under the socket.
func (p *SocketRef) Conn() *gateway.Conn { return p.conn }

// Recovered reports whether the socket restored a disconnected session
// (connection state recovery): same id, rooms and data, missed packets
// replayed.
func (p *SocketRef) Recovered() bool { return p.rec != nil && p.rec.recovered }

// restoring returns the state the socket restores, nil when it restores
// none or is ready.
func (p *SocketRef) restoring() *restore {
	if p.rec == nil {
		return nil
	}
	return p.rec.restore
}

// RestoredData returns the application data of the session the socket
// restored, if it restored one.
func (p *SocketRef) RestoredData() (any, bool) {
	r := p.restoring()
	if r == nil {
		return nil, false
	}
	return r.data, true
}

// Connected reports whether the socket passed its middleware and has not
// disconnected yet.
func (p *SocketRef) Connected() bool { return p.connected.Load() }

// Write sends one encoded Socket.IO packet and its attachments.
func (p *SocketRef) Write(frame []byte, attachments [][]byte) error {
	return p.write(frame, attachments, false)
}

// WriteEvent sends an EVENT packet, counted in the namespace's EventsOut.
// With connection state recovery on, one that asks for no ack is logged
// with an offset and replayed to the client if it is lost with the
// connection.
func (p *SocketRef) WriteEvent(frame []byte, attachments [][]byte, wantsAck bool) error {
	if err := p.write(frame, attachments, !wantsAck); err != nil {
		return err
	}
	p.ns.eventsOut.Add(1)
	return nil
}

func (p *SocketRef) write(frame []byte, attachments [][]byte, log bool) error {
	if !p.connected.Load() {
		return ErrNotConnected
	}
	if p.ns.log != nil {
		return p.ns.writeLogged(p, frame, attachments, log)
	}
	return p.writeRaw(frame, attachments)
}

// writeRaw sends a packet whatever the socket's state (CONNECT replies and
// DISCONNECT notices).
func (p *SocketRef) writeRaw(frame []byte, attachments [][]byte) error {
	if err := p.ns.rt.send(p.conn, true, frame, attachments); err != nil {
		return fmt.Errorf("write to socket %s: %w", p.id, err)
	}
	return nil
}

// framePackets wraps one Socket.IO packet into Engine.IO message packets.
func framePackets(frame []byte, attachments [][]byte) []engineio.Packet {
	pkts := make([]engineio.Packet, 1+len(attachments))
	pkts[0] = engineio.Packet{Type: engineio.Message, Data: frame}
	for i, a := range attachments {
		pkts[i+1] = engineio.Packet{Type: engineio.Message, Data: a, Binary: true}
	}
	return pkts
}

// writePacket encodes and sends a header-only or JSON packet of this socket's
// namespace.
func (p *SocketRef) writePacket(t socketio.PacketType, data []byte) error {
	frame := socketio.AppendEncode(nil, socketio.Packet{Type: t, Namespace: p.ns.name, Data: data})
	return p.writeRaw(frame, nil)
}

// AwaitClient is called before a wait for the socket's client (an ack):
// if the socket's handler runs on the goroutine that reads its connection
// (see inbound.post), another goroutine reads on from now, so that the
// answer comes in without waiting for gateway.InlineGrace.
func (p *SocketRef) AwaitClient() {
	if m := p.mbox; m != nil && m.inline.Load() {
		p.conn.HandOver()
	}
}

// RegisterAck remembers fn as the handler of the ACK with the given id.
func (p *SocketRef) RegisterAck(id uint64, fn AckFunc) {
	p.mu.Lock()
	if p.acks == nil {
		p.acks = make(map[uint64]AckFunc)
	}
	p.acks[id] = fn
	p.mu.Unlock()
}

// RemoveAck forgets the ACK handler with the given id.
func (p *SocketRef) RemoveAck(id uint64) {
	p.mu.Lock()
	delete(p.acks, id)
	p.mu.Unlock()
}

// takeAck removes and returns the ACK handler with the given id.
func (p *SocketRef) takeAck(id uint64) AckFunc {
	p.mu.Lock()
	fn := p.acks[id]
	delete(p.acks, id)
	p.mu.Unlock()
	return fn
}

// Rooms returns the rooms the socket is in, sorted.
func (p *SocketRef) Rooms() []string {
	p.mu.Lock()
	out := p.roomsLocked()
	p.mu.Unlock()
	slices.Sort(out)
	return out
}

// roomsLocked lists the socket's rooms, its own id's included; p.mu must
// be held.
func (p *SocketRef) roomsLocked() []string {
	out := make([]string, 0, len(p.rooms)+1)
	if p.ownRoom {
		out = append(out, p.id)
	}
	for r := range p.rooms {
		out = append(out, r)
	}
	return out
}

// Join adds the socket to rooms.
func (p *SocketRef) Join(rooms ...string) {
	if len(rooms) == 0 {
		return
	}
	p.ns.changeRooms(p, rooms, false)
}

// Leave removes the socket from rooms.
func (p *SocketRef) Leave(rooms ...string) {
	if len(rooms) == 0 {
		return
	}
	p.ns.changeRooms(p, rooms, true)
}

func (p *SocketRef) setRooms(rooms []string, leave bool) {
	p.mu.Lock()
	for _, r := range rooms {
		switch {
		case r == p.id:
			p.ownRoom = !leave
		case leave:
			delete(p.rooms, r)
		default:
			if p.rooms == nil {
				p.rooms = make(map[string]struct{}, 1)
			}
			p.rooms[r] = struct{}{}
		}
	}
	p.mu.Unlock()
}

// Disconnect asks the socket actor to end the socket with reason; notify
// sends a DISCONNECT packet to the client first, closeTransport then closes
// the whole Engine.IO connection. The acks the socket awaits fail at once:
// the socket actor may be busy in a handler that waits in EmitWithAck for
// this very socket, and would only reach the Disconnect message (and fail
// them) once that wait timed out.
func (p *SocketRef) Disconnect(reason string, notify, closeTransport bool) {
	p.end(&endSocket{reason: reason, notify: notify, closeTransport: closeTransport})
}

// end sends m to the socket actor, as Disconnect.
func (p *SocketRef) end(m *endSocket) {
	p.mu.Lock()
	if p.asked == nil {
		p.asked = m
	}
	pid := p.pid
	p.mu.Unlock()
	if pid != nil {
		p.ns.rt.system.Root.Send(pid, m)
	} // else the supervisor sends p.asked once the socket actor's pid is known
	p.failAcks()
}

// Description returns the error the socket's transport ended with, when
// its end ended the socket: what Node passes as the disconnect event's
// description. It is set before the disconnecting handlers run, and nil
// for a socket that ended otherwise or has not ended.
func (p *SocketRef) Description() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.desc
}

// requested returns the first Disconnect sent to the socket actor, if any.
func (p *SocketRef) requested() *endSocket {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.asked
}

// keepSession records the state of a socket that is ending, for its
// namespace to keep once the socket actor stopped.
func (p *SocketRef) keepSession() {
	r := p.rec
	if r == nil {
		return
	}
	data := p.handler.Data()
	p.mu.Lock()
	defer p.mu.Unlock()
	rooms := p.roomsLocked()
	p.kept = &session{sid: p.id, pid: r.privateID, rooms: rooms, data: data, addr: p.conn.RemoteIP(), first: r.first,
		origin: p.ns.log.tag, connectedAt: r.connectedAt, version: r.version, endedAt: time.Now()}
}

// keepRestore records again, as keepSession does, the session a restored
// socket took, when the socket ends before its client heard it connected:
// that client got nothing of it, and may claim it at its next connection.
// A session taken from another node's replica is not kept: this log may
// not hold the packets it missed.
func (p *SocketRef) keepRestore() {
	r := p.restoring()
	if r == nil || r.replica {
		return
	}
	s := r.session
	p.mu.Lock()
	p.kept = &s
	p.mu.Unlock()
}

// takeSession returns the session keepSession recorded, once.
func (p *SocketRef) takeSession() *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.kept
	p.kept = nil
	return s
}

// failAcks drops every ack the socket still awaits, telling each waiter.
func (p *SocketRef) failAcks() {
	p.mu.Lock()
	acks := p.acks
	p.acks = nil
	p.mu.Unlock()
	for _, fn := range acks {
		fn(nil, nil)
	}
}
