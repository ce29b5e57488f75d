package actors

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/gateway"
	pb "github.com/actorio/actorio/proto"
)

// This file is the namespace's data plane: its rooms, and the delivery of
// broadcasts into its sockets' connection queues. Both run in the calling
// goroutine, under NamespaceRef.mu, not in the supervisor: what one goroutine
// writes to a connection (a broadcast, then an ack or a direct emit)
// enters that connection's one queue in the order it was written, as in
// Node, and no actor hop stands between a broadcast and its receivers.
//
// NamespaceRef.mu guards the room index (roomindex.go), each SocketRef's inOwnRoom
// and indexed, and the packet log's entries. Broadcasts without connection
// state recovery take it shared, so they run side by side; joins, leaves,
// a socket's entry and exit, and everything that touches the packet log
// take it alone. Under it the code pushes onto connection queues, which
// never blocks, and reports to the observer and to a broadcast's sent callback, which
// must not block either nor call back into the namespace.

// ready enters a socket that passed its middleware: a restored socket
// gets the logged packets it missed, then the CONNECT reply goes out (the
// reference server's order: its client hands the missed events over before
// its connect event), and the socket enters its rooms, all under the lock,
// so that no new broadcast can reach the client before its CONNECT reply,
// nor miss it after.
func (ns *NamespaceRef) ready(p *SocketRef, reply []byte) error {
	defer ns.roomsUnlocked()
	ns.mu.Lock()
	defer ns.mu.Unlock()
	// The rooms its middleware joined, recorded in p until now.
	p.mu.Lock()
	rooms := append(p.roomsLocked(), p.id)
	p.mu.Unlock()
	r := p.restoring()
	if ns.log != nil && p.rec != nil {
		now := time.Now()
		first, at := ns.log.vector(now), now
		if r != nil {
			first, at = r.last, r.connectedAt
		}
		p.mu.Lock()
		p.rec.first, p.rec.connectedAt = first, at
		p.mu.Unlock()
	}
	if r != nil {
		p.rec.restore = nil
		rooms = append(slices.Clone(r.rooms), rooms...)
		ns.log.missed(r, p.id, r.rooms, func(e *logEntry) bool {
			return ns.rt.send(p.conn, false, e.replayFrame(r.last), e.atts) == nil
		})
	}
	p.connected.Store(true)
	if err := p.writeRaw(reply, nil); err != nil {
		p.connected.Store(false)
		if r != nil {
			// Without the CONNECT reply, its client dropped what was
			// replayed: the session can be restored again.
			p.rec.restore = r
		}
		return err
	}
	ns.idx.enter(p, rooms, ns.observing())
	ns.publishRooms()
	ns.replicate(p, time.Time{}, false)
	return nil
}

// leaveAll takes p out of every room and out of the namespace's
// connected sockets; it may run more than once.
func (ns *NamespaceRef) leaveAll(p *SocketRef) {
	defer ns.roomsUnlocked()
	ns.mu.Lock()
	defer ns.mu.Unlock()
	ns.change(p, nil, true)
	ns.idx.exit(p)
	ns.publishRooms()
}

// changeRooms makes p join or leave rooms, and reports whether it did: a
// join past NamespaceOptions.MaxRoomsPerSocket joins none of rooms.
func (ns *NamespaceRef) changeRooms(p *SocketRef, rooms []string, leave bool) bool {
	ns.mu.Lock()
	ok := ns.change(p, rooms, leave)
	ns.publishRooms()
	refused := ns.takeRoomRefusals()
	ns.mu.Unlock()
	ns.roomsUnlocked()
	ns.logRoomRefusals(refused)
	if ok && p.Connected() {
		ns.replicate(p, time.Time{}, false)
	}
	return ok
}

// TryJoin adds the socket to rooms and reports whether it did: past
// NamespaceOptions.MaxRoomsPerSocket it joins none of them, and the
// refusal is logged. Join is TryJoin without the answer.
func (p *SocketRef) TryJoin(rooms ...string) bool {
	if len(rooms) == 0 {
		return true
	}
	return p.ns.changeRooms(p, rooms, false)
}

// roomsFit reports whether p may join rooms under the room bound; ns.mu
// must be held.
func (ns *NamespaceRef) roomsFit(p *SocketRef, rooms []string) bool {
	limit := ns.opts.MaxRoomsPerSocket
	if limit <= 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.rooms)
	for i, r := range rooms {
		if r == p.id || slices.Contains(rooms[:i], r) {
			continue
		}
		if _, in := p.rooms[r]; !in {
			n++
		}
	}
	return n <= limit
}

// takeRoomRefusals returns the sockets refused by the room bound since
// the last call; ns.mu must be held.
func (ns *NamespaceRef) takeRoomRefusals() []*SocketRef {
	out := ns.roomRefusals
	ns.roomRefusals = nil
	return out
}

// logRoomRefusals logs the refusals of the room bound, with ns.mu not held.
func (ns *NamespaceRef) logRoomRefusals(refused []*SocketRef) {
	r := ns.opts.Refusals
	if r == nil {
		return
	}
	for _, p := range refused {
		r.Refuse(ns.name+"\x00"+p.id, "actorio: join refused: MaxRoomsPerSocket reached",
			slog.String("nsp", ns.name), slog.String("sid", p.id), slog.Int("max", ns.opts.MaxRoomsPerSocket))
	}
}

// roomsUnlocked tells a RoomEvents observer that the room lock, under
// which rooms changed, is released; called without ns.mu.
func (ns *NamespaceRef) roomsUnlocked() {
	if ev, ok := ns.observing().(RoomEvents); ok {
		ev.RoomsUnlocked(ns.name)
	}
}

// publishRooms makes the room count visible to Namespace.Rooms; ns.mu
// must be held.
func (ns *NamespaceRef) publishRooms() {
	ns.roomCount.Store(int64(ns.idx.count()))
}

// change moves p in or out of rooms; leaving with no rooms leaves them
// all. A socket not yet ready only records its joins, which ready applies.
// A join past the room bound changes nothing, records p in
// ns.roomRefusals and returns false. ns.mu must be held.
func (ns *NamespaceRef) change(p *SocketRef, rooms []string, leave bool) bool {
	switch {
	case leave && len(rooms) == 0:
		rooms = p.Rooms()
		p.mu.Lock()
		p.rooms, p.ownRoom = nil, false
		p.mu.Unlock()
		if p.inOwnRoom && !slices.Contains(rooms, p.id) {
			rooms = append(rooms, p.id)
		}
	case leave:
		p.setRooms(rooms, true)
		p.mu.Lock()
		if len(p.rooms) == 0 {
			p.rooms = nil // an emptied map keeps its size: let it go
		}
		p.mu.Unlock()
	default:
		if !ns.roomsFit(p, rooms) {
			ns.roomRefusals = append(ns.roomRefusals, p)
			return false
		}
		p.setRooms(rooms, false)
	}
	if leave {
		ns.idx.leave(p, rooms, ns.observing())
		return true
	}
	if p.indexed && p.Connected() {
		ns.idx.join(p, rooms, ns.observing())
	}
	return true
}

// Broadcast hands an encoded packet to the selected sockets' connections
// before it returns, without waiting on any of them. When sent is not nil
// and some socket took the packet, sent gets their ids, under the
// namespace's lock (see Observer for what it may do). remote says that
// another node sent it.
//
// With connection state recovery and a Replication, a packet of this
// node that is logged is also handed to the other nodes, in the log's
// order, and Broadcast returns true: the caller must not send it to them
// again. A logged packet of another node (b.Origin set) is logged under
// its origin's number; one marked OwnerOnly is only logged.
func (ns *NamespaceRef) Broadcast(b *pb.Broadcast, remote bool, o BroadcastOptions, sent func(ids []string)) (replicated bool) {
	_, _, replicated = ns.deliver(b, remote, o, nil, sent)
	return replicated
}

// BroadcastOptions are the choices of a broadcast beside pb.Broadcast:
// how this node writes it (the caller carries them to the other nodes,
// pb.Broadcast.Uncompressed).
type BroadcastOptions struct {
	// Uncompressed sends the packet without compression
	// (gateway.SendOptions), as Node's compress(false).
	Uncompressed bool
	// Held keeps back the writers of the receivers' connections until
	// the caller releases it (gateway.SendOptions).
	Held *gateway.Held
}

// BroadcastWithAck sends a packet whose ack id is b.AckId, registers the
// handler fn makes on every receiver, and returns the receivers; o and
// sent are as for Broadcast.
func (ns *NamespaceRef) BroadcastWithAck(_ context.Context, b *pb.Broadcast, o BroadcastOptions, fn func(p *SocketRef) AckFunc, sent func(ids []string)) ([]*SocketRef, error) {
	_, refs, _ := ns.deliver(b, false, o, fn, sent)
	return refs, nil
}

// inlineAckWrites is how many receivers of a broadcast with acks the
// broadcasting goroutine writes to directly (gateway.SendOptions.Now); the
// others' writers write, as for any broadcast, so that a large room does
// not hold the namespace's lock for a write(2) per receiver. Alternated
// xack runs (cmd/bench, 60 receivers, eleven each): a round across three
// nodes 0.80 ms against 0.86 and 942 µs of CPU against 1060; one node the
// same time (0.67 ms) at 5% less CPU.
const inlineAckWrites = 64

// deliver pushes b onto the queue of each socket it selects and returns
// how many took it; with ack set (b.AckId is then set), it first registers
// the handler ack makes on each, and returns those receivers too. With
// connection state recovery on, an event that asks for no ack and is not
// volatile is logged first, with the lock held alone, so that every
// client gets the log in its order. No allocation per receiver: this is
// the fan-out's inner loop.
func (ns *NamespaceRef) deliver(b *pb.Broadcast, remote bool, o BroadcastOptions, ack func(p *SocketRef) AckFunc, sent func(ids []string)) (int, []*SocketRef, bool) {
	frame := b.Frame
	replicated := false
	if ns.log != nil {
		ns.mu.Lock()
		defer ns.mu.Unlock()
		if b.AckId == 0 && !b.Volatile {
			now := time.Now()
			switch {
			case remote && b.Origin != "":
				frame = ns.log.appendFrom(now, b.Origin, b.Seq, b.Target, frame, b.Attachments, b.OwnerOnly)
			case !remote:
				var seq uint64
				frame, seq = ns.log.append(now, b.Target, frame, b.Attachments, b.OwnerOnly)
				if r := ns.opts.Replication; r != nil && seq != 0 {
					r.Broadcast(ns.name, &pb.Broadcast{Target: b.Target, Frame: b.Frame, Attachments: b.Attachments,
						Origin: ns.log.tag, Seq: seq, OwnerOnly: b.OwnerOnly, Uncompressed: o.Uncompressed})
					replicated = true
				}
			}
		}
	} else {
		ns.mu.RLock()
		defer ns.mu.RUnlock()
	}
	if remote && b.OwnerOnly {
		return 0, nil, false // for the log of this node only
	}
	pkts := ns.rt.packets(frame, b.Attachments)
	// Shared: with WebSocket compression, each message is compressed
	// once for every receiver.
	send := gateway.SendOptions{Uncompressed: o.Uncompressed, Shared: true, Held: o.Held}
	n, skipped := 0, 0
	var ids []string
	var refs []*SocketRef
	ns.idx.each(b.Target, func(p *SocketRef) {
		if b.Volatile && !p.conn.Writable() {
			skipped++
			return
		}
		if ack != nil {
			p.RegisterAck(b.AckId, ack(p))
		}
		// A broadcast with acks waits for its receivers: its first ones
		// are written from this goroutine, without blocking, as a
		// socket's own emit is, which spares waking their writers.
		send.Now = ack != nil && n < inlineAckWrites
		if p.conn.SendWith(send, pkts...) != nil {
			if ack != nil {
				p.RemoveAck(b.AckId)
			}
			return
		}
		if ack != nil {
			refs = append(refs, p)
		}
		if sent != nil {
			ids = append(ids, p.id)
		}
		n++
	})
	if sent != nil && n > 0 {
		sent(ids)
	}
	ns.eventsOut.Add(int64(n))
	if skipped > 0 {
		ns.droppedVolatile.Add(int64(skipped))
	}
	return n, refs, replicated
}

// writeLogged writes a socket's own packet with connection state recovery
// on: an event that asks for no ack is logged first, under the lock, so
// that it takes its place in the log's order. A logged event has been
// sent once it is in the log, even if the connection has just closed: the
// client gets it when it recovers its session.
func (ns *NamespaceRef) writeLogged(p *SocketRef, frame []byte, atts [][]byte, log bool) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if !log {
		return p.writeRaw(frame, atts)
	}
	t := &pb.Target{Rooms: []string{p.id}}
	logged, seq := ns.log.append(time.Now(), t, frame, atts, true)
	if r := ns.opts.Replication; r != nil && seq != 0 {
		r.Broadcast(ns.name, &pb.Broadcast{Target: t, Frame: frame, Attachments: atts, Origin: ns.log.tag, Seq: seq, OwnerOnly: true})
	}
	_ = p.writeRaw(logged, atts)
	return nil
}

// Select returns the connected sockets that t selects.
func (ns *NamespaceRef) Select(_ context.Context, t *pb.Target) ([]*SocketRef, error) {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	var out []*SocketRef
	ns.idx.each(t, func(p *SocketRef) { out = append(out, p) })
	return out, nil
}

// ListRooms returns the connected sockets of each non-empty room, the
// rooms of the sockets' own ids left out.
func (ns *NamespaceRef) ListRooms(_ context.Context) (map[string]int, error) {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	return ns.idx.list(), nil
}

// ChangeRooms makes the selected sockets join or leave rooms before it
// returns; a socket the room bound refuses joins none of them.
func (ns *NamespaceRef) ChangeRooms(t *pb.Target, rooms []string, leave bool) {
	ns.mu.Lock()
	var sel []*SocketRef
	ns.idx.each(t, func(p *SocketRef) { sel = append(sel, p) })
	for _, p := range sel {
		ns.change(p, rooms, leave)
	}
	ns.publishRooms()
	refused := ns.takeRoomRefusals()
	ns.mu.Unlock()
	ns.roomsUnlocked()
	ns.logRoomRefusals(refused)
	for _, p := range sel {
		ns.replicate(p, time.Time{}, false)
	}
}

// DisconnectSockets disconnects the selected sockets.
func (ns *NamespaceRef) DisconnectSockets(t *pb.Target, closeTransport bool) {
	sel, _ := ns.Select(context.Background(), t)
	for _, p := range sel {
		p.Disconnect(disconnect.ServerNamespaceDisconnect, true, closeTransport)
	}
}
