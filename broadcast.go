package actorio

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/actorio/actorio/actors"
	"github.com/actorio/actorio/internal/clusterlink"
	pb "github.com/actorio/actorio/proto"
	"github.com/actorio/actorio/protocol/socketio"
)

// BroadcastOperator selects sockets of a namespace by room and sends to
// them. Each method returns a new operator; the receiver is not changed.
type BroadcastOperator struct {
	ns          *Namespace
	rooms       []string
	exceptRooms []string
	exceptIDs   []string
	volatile    bool
	// local keeps a broadcast on this node (Options.Cluster).
	local bool
	// uncompressed: Compress(false).
	uncompressed bool
}

func (b *BroadcastOperator) clone() *BroadcastOperator {
	c := *b
	c.rooms = slices.Clip(c.rooms)
	c.exceptRooms = slices.Clip(c.exceptRooms)
	c.exceptIDs = slices.Clip(c.exceptIDs)
	return &c
}

// To adds rooms to the selection: a socket in any of them is selected.
func (b *BroadcastOperator) To(rooms ...string) *BroadcastOperator {
	c := b.clone()
	c.rooms = append(c.rooms, rooms...)
	return c
}

// In is the same as To.
func (b *BroadcastOperator) In(rooms ...string) *BroadcastOperator { return b.To(rooms...) }

// Except removes the sockets in rooms from the selection.
func (b *BroadcastOperator) Except(rooms ...string) *BroadcastOperator {
	c := b.clone()
	c.exceptRooms = append(c.exceptRooms, rooms...)
	return c
}

// Volatile skips the sockets whose connection cannot take the packet now.
func (b *BroadcastOperator) Volatile() *BroadcastOperator {
	c := b.clone()
	c.volatile = true
	return c
}

// Compress(false) sends the packets uncompressed, as Node's
// compress(false): without WebSocket compression
// (Options.PerMessageDeflate) even from its threshold on, and, on
// long-polling, without gzip for a response that holds only such
// packets. Compress(true), the default, lets each connection compress as
// its options say. The packet is encoded once for every receiver, and
// compressed once for all those that negotiated compression, by the first
// connection to write it. With Options.Cluster the choice applies on this
// node only: the other nodes compress as their options say.
func (b *BroadcastOperator) Compress(compress bool) *BroadcastOperator {
	c := b.clone()
	c.uncompressed = !compress
	return c
}

// Local keeps the broadcast on this node: with Options.Cluster, the other
// nodes deliver it to none of their sockets (with connection state
// recovery they log it, for this node's clients to recover it on another
// node). Without, it changes nothing.
func (b *BroadcastOperator) Local() *BroadcastOperator {
	c := b.clone()
	c.local = true
	return c
}

func (b *BroadcastOperator) target() *pb.Target { return target(b.rooms, b.exceptRooms, b.exceptIDs) }

// sendOptions returns the operator's choices that apply on this node.
func (b *BroadcastOperator) sendOptions() actors.BroadcastOptions {
	return actors.BroadcastOptions{Uncompressed: b.uncompressed}
}

// Emit encodes the event once and sends the same bytes to every selected
// socket. It does not wait for delivery. With Options.Cluster, and unless
// Local, the other nodes get the same bytes and deliver them to their own
// selected sockets, in the order this goroutine emitted them.
func (b *BroadcastOperator) Emit(event string, args ...any) error {
	if b.ns.srv.down.Load() {
		return ErrServerClosed
	}
	data, atts, err := encodeEventData(event, args)
	if err != nil {
		return err
	}
	for _, a := range b.ns.targets() {
		msg := &pb.Broadcast{Target: b.target(), Frame: eventPacket(a.Name(), 0, false, data, atts), Attachments: atts,
			Volatile: b.volatile, OwnerOnly: b.local, Uncompressed: b.uncompressed}
		replicated := a.Broadcast(msg, false, b.sendOptions(), b.ns.srv.sentTo(a.Name(), data, atts))
		if n := b.ns.srv.node; n != nil && !b.local && !replicated {
			n.Broadcast(a.Name(), msg)
		}
	}
	return nil
}

// EmitWithAck sends the event to every selected socket and returns their
// acks once all answered; when ctx ends first it returns the acks received
// so far with ctx's error. With Options.Cluster, and unless Local, the
// selected sockets of the other nodes get it too and their acks come back
// to this call, under the same ctx: it waits for every node alive, but not
// for one that leaves the cluster meanwhile, nor for one known unreachable
// or dropped (the error then wraps cluster.ErrNodeUnreachable).
func (b *BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	if b.ns.srv.down.Load() {
		return nil, ErrServerClosed
	}
	data, atts, err := encodeEventData(event, args)
	if err != nil {
		return nil, err
	}
	var (
		mu      sync.Mutex
		results []Args
		missing int
		errs    []error
		wg      sync.WaitGroup
	)
	collect := func(data []byte, atts [][]byte) {
		if args, err := newArgs(data, atts, 0); err == nil {
			mu.Lock()
			results = append(results, args)
			mu.Unlock()
		}
	}
	done := func(m int, err error) {
		mu.Lock()
		missing += m
		if err != nil {
			errs = append(errs, err)
		}
		mu.Unlock()
	}
	t := b.target()
	// No goroutine waits for a part: the last ack of each, or ctx's end,
	// finishes it from the goroutine that saw it.
	finish := func(m int, err error) {
		done(m, err)
		wg.Done()
	}
	for _, a := range b.ns.targets() {
		if n := b.ns.srv.node; n != nil && !b.local {
			// First, as the other nodes' acks take longest.
			f := clusterlink.EmitFlags{Volatile: b.volatile, Uncompressed: b.uncompressed}
			wg.Add(1)
			n.BroadcastWithAck(ctx, a.Name(), t, f, data, atts, collect, finish)
		}
		wg.Add(1)
		startEmitWithAckLocal(ctx, a, t, b.volatile, b.sendOptions(), data, atts, func(data []byte, atts [][]byte, _ bool) { collect(data, atts) },
			b.ns.srv.sentTo(a.Name(), data, atts), finish)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	out := slices.Clone(results)
	switch {
	case len(errs) == 0:
		return out, nil
	case missing > 0:
		return out, fmt.Errorf("broadcast %q: %d acks missing: %w", event, missing, errors.Join(errs...))
	default:
		return out, fmt.Errorf("broadcast %q: %w", event, errors.Join(errs...))
	}
}

// encodeEventData encodes an event as the JSON array [event, args...] and
// its attachments, without framing it: each namespace frames it with an
// ack id of its own.
func encodeEventData(event string, args []any) ([]byte, [][]byte, error) {
	if reserved[event] {
		return nil, nil, fmt.Errorf("emit %q: %w", event, ErrReservedEvent)
	}
	all := make([]any, 0, len(args)+1)
	all = append(all, event)
	all = append(all, args...)
	data, atts, err := socketio.MarshalArgs(all...)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %q: %w", event, err)
	}
	return data, atts, nil
}

// startEmitWithAckLocal sends the event data to the sockets of a that t
// selects, on this node, hands each ack to onAck (with last as
// clusterlink.Receiver's BroadcastWithAck says), and calls done exactly
// once: with (0, nil) when every receiver answered or left, or, when ctx
// ends first, with the number of receivers that did not answer and ctx's
// error. It returns once the event is queued for its receivers: done is
// called from the goroutine that delivered the last ack (or saw the last
// receiver leave), from one that saw ctx end, or before it returns when no
// socket took the event. No goroutine waits meanwhile, and none is woken
// by each ack.
func startEmitWithAckLocal(ctx context.Context, a *actors.NamespaceRef, t *pb.Target, volatile bool, o actors.BroadcastOptions, data []byte, atts [][]byte, onAck func(data []byte, atts [][]byte, last bool), sent func(ids []string), done func(missing int, err error)) {
	id := a.NextAckID()
	frame := eventPacket(a.Name(), id, true, data, atts)
	r := &localAckRound{done: done}
	start := time.Now()
	refs, err := a.BroadcastWithAck(ctx, &pb.Broadcast{Target: t, Frame: frame, Attachments: atts, Volatile: volatile, AckId: id}, o,
		func(*actors.SocketRef) actors.AckFunc {
			return func(data []byte, atts [][]byte) {
				if data != nil {
					a.ObserveAck(time.Since(start))
					onAck(data, atts, r.last())
				}
				r.answered()
			}
		}, sent)
	if err != nil {
		done(0, err)
		return
	}
	r.mu.Lock()
	r.waiting += len(refs) // acks may have come already: waiting may be below len(refs)
	r.counted = true
	if r.waiting <= 0 {
		r.finished = true
		r.mu.Unlock()
		done(0, nil)
		return
	}
	// Registered under r.mu, so that the last ack sees it.
	r.stop = context.AfterFunc(ctx, func() {
		for _, p := range refs {
			p.RemoveAck(id)
		}
		r.mu.Lock()
		if r.finished {
			r.mu.Unlock()
			return
		}
		r.finished = true
		left := r.waiting
		r.mu.Unlock()
		if left <= 0 {
			done(0, nil)
			return
		}
		done(left, ctx.Err())
	})
	r.mu.Unlock()
}

// localAckRound is what startEmitWithAckLocal keeps of a round while its
// receivers answer.
type localAckRound struct {
	mu       sync.Mutex
	waiting  int         // receivers that have neither answered nor left
	counted  bool        // waiting counts every receiver
	finished bool        // done was called, or is being called
	stop     func() bool // ends the wait on ctx
	done     func(missing int, err error)
}

// last reports whether one receiver only is still awaited: the one whose
// answer is being handed on, after which the round finishes.
func (r *localAckRound) last() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counted && r.waiting == 1 && !r.finished
}

// answered counts one receiver that answered or left, and finishes the
// round when it was the last.
func (r *localAckRound) answered() {
	r.mu.Lock()
	r.waiting--
	if !r.counted || r.waiting > 0 || r.finished {
		r.mu.Unlock()
		return
	}
	r.finished = true
	stop := r.stop
	r.mu.Unlock()
	if stop != nil {
		stop()
	}
	r.done(0, nil)
}

// FetchSockets returns the selected sockets of this node. With
// Options.Cluster, FetchRemoteSockets returns those of every node.
func (b *BroadcastOperator) FetchSockets(ctx context.Context) ([]*Socket, error) {
	if b.ns.srv.down.Load() {
		return nil, ErrServerClosed
	}
	var out []*Socket
	for _, a := range b.ns.targets() {
		refs, err := a.Select(ctx, b.target())
		if err != nil {
			return out, fmt.Errorf("fetch sockets: %w", err)
		}
		for _, p := range refs {
			out = append(out, p.Handler().(hooks).s)
		}
	}
	return out, nil
}

// SocketsJoin makes the selected sockets join rooms. With
// Options.Cluster, and unless Local, those of every node: each other node
// gets one message, which it applies after the broadcasts this goroutine
// emitted before.
func (b *BroadcastOperator) SocketsJoin(rooms ...string) { b.changeRooms(rooms, false) }

// SocketsLeave makes the selected sockets leave rooms; with
// Options.Cluster, and unless Local, those of every node.
func (b *BroadcastOperator) SocketsLeave(rooms ...string) { b.changeRooms(rooms, true) }

func (b *BroadcastOperator) changeRooms(rooms []string, leave bool) {
	t := b.target()
	for _, a := range b.ns.targets() {
		a.ChangeRooms(t, rooms, leave)
		if n := b.ns.srv.node; n != nil && !b.local {
			n.ChangeRooms(a.Name(), t, rooms, leave)
		}
	}
}

// DisconnectSockets disconnects the selected sockets; close also closes
// their connections. With Options.Cluster, and unless Local, those of
// every node.
func (b *BroadcastOperator) DisconnectSockets(close bool) {
	t := b.target()
	for _, a := range b.ns.targets() {
		a.DisconnectSockets(t, close)
		if n := b.ns.srv.node; n != nil && !b.local {
			n.DisconnectSockets(a.Name(), t, close)
		}
	}
}
