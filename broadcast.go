package actorio

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/actorio/actorio/actors"
	pb "github.com/actorio/actorio/proto"
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

// Local keeps the broadcast on this node: with Options.Cluster, the other
// nodes do not get it. Without, it changes nothing.
func (b *BroadcastOperator) Local() *BroadcastOperator {
	c := b.clone()
	c.local = true
	return c
}

func (b *BroadcastOperator) target() *pb.Target { return target(b.rooms, b.exceptRooms, b.exceptIDs) }

// Emit encodes the event once and sends the same bytes to every selected
// socket. It does not wait for delivery. With Options.Cluster, and unless
// Local, the other nodes get the same bytes and deliver them to their own
// selected sockets, in the order this goroutine emitted them.
func (b *BroadcastOperator) Emit(event string, args ...any) error {
	if b.ns.srv.down.Load() {
		return ErrServerClosed
	}
	frame, atts, err := encodeEvent(b.ns.name, event, 0, false, args)
	if err != nil {
		return err
	}
	for _, a := range b.ns.targets() {
		if a.Name() != b.ns.name {
			if frame, atts, err = encodeEvent(a.Name(), event, 0, false, args); err != nil {
				return err
			}
		}
		msg := &pb.Broadcast{Target: b.target(), Frame: frame, Attachments: atts, Volatile: b.volatile}
		a.Broadcast(msg)
		if n := b.ns.srv.node; n != nil && !b.local {
			n.Broadcast(a.Name(), msg)
		}
	}
	return nil
}

// EmitWithAck sends the event to every selected socket and returns their
// acks once all answered; when ctx ends first it returns the acks received
// so far with ctx's error. With Options.Cluster, it reaches the sockets of
// this node only, for now.
func (b *BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	if b.ns.srv.down.Load() {
		return nil, ErrServerClosed
	}
	var (
		mu      sync.Mutex
		results []Args
		waiting int
		done    = make(chan struct{}, 1)
	)
	notify := func() {
		select {
		case done <- struct{}{}:
		default:
		}
	}
	start := time.Now()
	type sent struct {
		p  *actors.Peer
		id uint64
	}
	var receivers []sent
	for _, a := range b.ns.targets() {
		id := a.NextAckID()
		frame, atts, err := encodeEvent(a.Name(), event, id, true, args)
		if err != nil {
			return nil, err
		}
		peers, err := a.BroadcastWithAck(ctx, &pb.Broadcast{Target: b.target(), Frame: frame, Attachments: atts, Volatile: b.volatile, AckId: id},
			func(*actors.Peer) actors.AckFunc {
				return func(data []byte, atts [][]byte) {
					if data != nil {
						a.ObserveAck(time.Since(start))
					}
					mu.Lock()
					waiting--
					if data != nil {
						if args, err := newArgs(data, atts, 0); err == nil {
							results = append(results, args)
						}
					}
					mu.Unlock()
					notify()
				}
			})
		if err != nil {
			return nil, fmt.Errorf("broadcast %q: %w", event, err)
		}
		mu.Lock()
		waiting += len(peers)
		mu.Unlock()
		for _, p := range peers {
			receivers = append(receivers, sent{p, id})
		}
	}
	for {
		mu.Lock()
		left := waiting
		mu.Unlock()
		if left <= 0 {
			break
		}
		select {
		case <-done:
		case <-ctx.Done():
			for _, r := range receivers {
				r.p.RemoveAck(r.id)
			}
			mu.Lock()
			out := slices.Clone(results)
			mu.Unlock()
			return out, fmt.Errorf("broadcast %q: %d acks missing: %w", event, left, ctx.Err())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(results), nil
}

// FetchSockets returns the selected sockets. With Options.Cluster, only
// those of this node, for now.
func (b *BroadcastOperator) FetchSockets(ctx context.Context) ([]*Socket, error) {
	if b.ns.srv.down.Load() {
		return nil, ErrServerClosed
	}
	var out []*Socket
	for _, a := range b.ns.targets() {
		peers, err := a.Select(ctx, b.target())
		if err != nil {
			return out, fmt.Errorf("fetch sockets: %w", err)
		}
		for _, p := range peers {
			out = append(out, p.Handler().(hooks).s)
		}
	}
	return out, nil
}

// SocketsJoin makes the selected sockets join rooms (with Options.Cluster,
// those of this node only, for now).
func (b *BroadcastOperator) SocketsJoin(rooms ...string) {
	for _, a := range b.ns.targets() {
		a.ChangeRooms(b.target(), rooms, false)
	}
}

// SocketsLeave makes the selected sockets leave rooms (with
// Options.Cluster, those of this node only, for now).
func (b *BroadcastOperator) SocketsLeave(rooms ...string) {
	for _, a := range b.ns.targets() {
		a.ChangeRooms(b.target(), rooms, true)
	}
}

// DisconnectSockets disconnects the selected sockets; close also closes
// their connections. With Options.Cluster, those of this node only, for
// now.
func (b *BroadcastOperator) DisconnectSockets(close bool) {
	for _, a := range b.ns.targets() {
		a.DisconnectSockets(b.target(), close)
	}
}
