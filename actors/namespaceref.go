package actors

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// requestTimeout bounds every control-plane request to a namespace.
const requestTimeout = 10 * time.Second

// Behavior creates the user code that a new socket's actor runs: the
// user-facing state of the socket p, which sent auth with its CONNECT.
type Behavior func(p *SocketRef, auth []byte) SocketHandler

// SocketHandler is the user code of one socket, called from its socket actor
// one call at a time.
type SocketHandler interface {
	// Authorize runs the namespace middleware; a non-nil error refuses the
	// socket with the CONNECT_ERROR payload it encodes.
	Authorize() *Refusal
	// Welcome runs the connection handlers.
	Welcome()
	// Event handles one EVENT or BINARY_EVENT packet.
	Event(pkt *InboundEvent)
	// Disconnecting runs before the socket leaves its rooms.
	Disconnecting(reason string)
	// Disconnected runs once the socket has left its rooms.
	Disconnected(reason string)
	// Data returns the application data kept with a session for
	// connection state recovery.
	Data() any
}

// Refusal is the payload of a CONNECT_ERROR packet: a JSON object with
// "message" and, optionally, "data".
type Refusal struct {
	Payload []byte
}

// NamespaceOptions configures a namespace supervisor.
type NamespaceOptions struct {
	// Recovery, when not nil, turns connection state recovery on.
	Recovery *Recovery
	// OnEmpty, when set, makes the namespace removable: the supervisor
	// calls it, on its own goroutine, each time it finds itself empty (no
	// socket, no socket being spawned, no session kept for recovery, no
	// SpawnSocket reserved by Reserve and not handled yet). When it
	// returns true the namespace was removed from its directory, so no
	// new Reserve can reach it: the supervisor stops, then calls
	// OnRemoved.
	OnEmpty   func() bool
	OnRemoved func()
	// Incarnation, when not zero, tells apart the supervisors of one name
	// made one after the other: their actor names are "ns:<name>#<n>", so
	// that a name made again does not wait for its previous supervisor's
	// name to be free.
	Incarnation uint64
	// MaxNamespacesPerConn refuses a socket, with CONNECT_ERROR "Invalid
	// namespace", to a connection that already has that many sockets in
	// any namespace; zero means no bound.
	MaxNamespacesPerConn int
	// MaxRoomsPerSocket bounds the rooms a socket is in besides the room
	// of its own id; zero means no bound (see SocketRef.TryJoin).
	MaxRoomsPerSocket int
	// Refusals logs the refusals of both bounds; nil logs nothing.
	Refusals *RefusalLog
	// Replication, with Recovery, shares the namespace's logged packets
	// and sessions with the other nodes of a cluster, so that a client
	// can restore its session on any of them (replica.go).
	Replication Replication
}

// NamespaceRef is the handle of one namespace supervisor. Safe for concurrent
// use.
type NamespaceRef struct {
	name     string
	rt       *Runtime
	pid      *actor.PID
	behavior Behavior
	recovery *Recovery // nil: no connection state recovery
	opts     NamespaceOptions

	// pending counts the SpawnSocket requests announced by Reserve and
	// not handled yet: a removable namespace with one pending is not
	// empty.
	pending atomic.Int64

	ackIDs atomic.Uint64
	// refs are the sockets the supervisor spawned, ready or not, by id:
	// the supervisor alone changes them, under refsMu (a map under a lock
	// costs a third of a sync.Map's 110 bytes per socket).
	refsMu sync.RWMutex
	refs   map[string]*SocketRef

	// mu guards the data plane of rooms.go: the room index, each SocketRef's
	// inOwnRoom and indexed, and the entries of log.
	mu  sync.RWMutex
	idx roomIndex
	// roomRefusals lists the sockets whose joins the room bound refused
	// while the lock was held, for logging once it is released.
	roomRefusals []*SocketRef
	// log is the packet log and the disconnected sessions of connection
	// state recovery; nil when it is off. Its sessions, live and waiting
	// maps belong to the supervisor alone.
	log *packetLog

	// Event counters: received from clients and handed to socket actors,
	// sent to clients (a broadcast counts once per receiver), and
	// volatile packets skipped for a connection not ready for them.
	eventsIn, eventsOut, droppedVolatile atomic.Int64
	acks                                 latency

	// Counts published after each change, for Sockets and Rooms.
	sockets   atomic.Int64
	roomCount atomic.Int64
	// stopped is closed when the supervisor has stopped.
	stopped chan struct{}
	// observer, when set, is told of room changes (SetObserver).
	observer atomic.Pointer[Observer]
}

// Observer is told of the rooms sockets join and leave. It is the part of
// actorio.Observer that this package reports, with the same methods, so
// the server installs its one observer here as it is. Its methods run on
// the goroutine that joins or leaves, with the namespace's room lock held,
// so they must return quickly and must neither wait on the namespace nor
// call it. A socket's own room is not reported.
type Observer interface {
	// RoomJoined reports that socket id of the namespace nsp joined room.
	RoomJoined(nsp, room, id string)
	// RoomLeft reports that socket id of the namespace nsp left room.
	RoomLeft(nsp, room, id string)
}

// SetObserver installs o, replacing the previous one; nil removes it.
func (ns *NamespaceRef) SetObserver(o Observer) {
	if o == nil {
		ns.observer.Store(nil)
		return
	}
	ns.observer.Store(&o)
}

// observing returns the installed Observer, or nil.
func (ns *NamespaceRef) observing() Observer {
	if o := ns.observer.Load(); o != nil {
		return *o
	}
	return nil
}

// SpawnNamespace starts the supervisor of the namespace called name.
func (rt *Runtime) SpawnNamespace(name string, b Behavior, o NamespaceOptions) (*NamespaceRef, error) {
	ns := newNamespace(name, rt, b, o)
	if o.Recovery != nil {
		ns.log = newPacketLog(*o.Recovery)
	}
	stopChild := actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.StopDirective })
	props := rt.props(func() actor.Actor {
		return &namespaceActor{ns: ns}
	}, actor.WithSupervisor(stopChild))
	actorName := "ns:" + name
	if o.Incarnation != 0 {
		actorName += "#" + strconv.FormatUint(o.Incarnation, 10)
	}
	pid, err := rt.system.Root.SpawnNamed(props, rt.Name(actorName))
	if err != nil {
		return nil, fmt.Errorf("spawn namespace %q: %w", name, err)
	}
	ns.pid = pid
	return ns, nil
}

func newNamespace(name string, rt *Runtime, b Behavior, o NamespaceOptions) *NamespaceRef {
	return &NamespaceRef{name: name, rt: rt, behavior: b, recovery: o.Recovery, opts: o, stopped: make(chan struct{}),
		idx: newRoomIndex(name), refs: map[string]*SocketRef{}}
}

// DetachedNamespace returns a namespace called name without a supervisor
// or sockets, whose broadcasts reach no socket of this node: the stand-in
// for a dynamic namespace that does not exist here now.
func (rt *Runtime) DetachedNamespace(name string) *NamespaceRef {
	ns := newNamespace(name, rt, nil, NamespaceOptions{})
	close(ns.stopped)
	return ns
}

// Reserve announces a SpawnSocket request about to be sent to the
// namespace: until the supervisor has handled it, the namespace is not
// empty and OnEmpty is not called. The directory that hands the namespace
// out calls it under the lock its OnEmpty takes.
func (ns *NamespaceRef) Reserve() { ns.pending.Add(1) }

// Pending returns the number of SpawnSocket requests reserved and not
// handled yet.
func (ns *NamespaceRef) Pending() int64 { return ns.pending.Load() }

// Name returns the namespace name.
func (ns *NamespaceRef) Name() string { return ns.name }

// Sockets returns the number of socket actors of the namespace that have not
// stopped: connected, in middleware or ending. The count follows the
// supervisor, which learns of a socket's end just after its actor stops.
func (ns *NamespaceRef) Sockets() int { return int(ns.sockets.Load()) }

// Rooms returns the number of non-empty rooms of the namespace, the room of
// each socket's own id included.
func (ns *NamespaceRef) Rooms() int { return int(ns.roomCount.Load()) }

// EventsIn returns the number of events its sockets received so far.
func (ns *NamespaceRef) EventsIn() int64 { return ns.eventsIn.Load() }

// EventsOut returns the number of events sent to its sockets so far, one
// per receiver.
func (ns *NamespaceRef) EventsOut() int64 { return ns.eventsOut.Load() }

// DroppedVolatile returns the number of volatile packets skipped so far for
// connections that could not take them at once.
func (ns *NamespaceRef) DroppedVolatile() int64 { return ns.droppedVolatile.Load() }

// NextAckID returns a fresh ack id, unique within the namespace.
func (ns *NamespaceRef) NextAckID() uint64 { return ns.ackIDs.Add(1) }

// Socket returns the socket with the given id, if this supervisor spawned it
// and it has not ended.
func (ns *NamespaceRef) Socket(id string) (*SocketRef, bool) {
	ns.refsMu.RLock()
	p, ok := ns.refs[id]
	ns.refsMu.RUnlock()
	return p, ok
}

// spawn asks the supervisor for the socket m describes; done gets its
// answer, or an error when there is none within requestTimeout, once, on
// the supervisor's goroutine or the timeout's.
func (ns *NamespaceRef) spawn(m *spawnSocket, done func(spawnReply, error)) {
	if ns.pid == nil {
		done(spawnReply{}, fmt.Errorf("namespace %s: detached", ns.name))
		return
	}
	var once atomic.Bool
	t := time.AfterFunc(requestTimeout, func() {
		if !once.Swap(true) {
			done(spawnReply{}, fmt.Errorf("namespace %s: %w", ns.name, actor.ErrTimeout))
		}
	})
	m.reply = func(r spawnReply) {
		if !once.Swap(true) {
			t.Stop()
			done(r, nil)
		}
	}
	ns.rt.system.Root.Send(ns.pid, m)
}

func (ns *NamespaceRef) request(ctx context.Context, msg any) (any, error) {
	if ns.pid == nil {
		return nil, fmt.Errorf("namespace %s: detached", ns.name)
	}
	timeout := requestTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
		if timeout <= 0 {
			return nil, fmt.Errorf("namespace %s: %w", ns.name, context.DeadlineExceeded)
		}
	}
	res, err := ns.rt.system.Root.RequestFuture(ns.pid, msg, timeout).Result()
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", ns.name, err)
	}
	return res, nil
}

// Drain disconnects every socket with reason and waits until none is left.
func (ns *NamespaceRef) Drain(ctx context.Context, reason string) error {
	_, err := ns.request(ctx, drain{reason: reason})
	return err
}

// Stop stops the supervisor and its sockets, and waits until it stopped or
// ctx ends. A socket actor busy in a handler stops only once the handler
// returns, and the supervisor only after its last socket.
func (ns *NamespaceRef) Stop(ctx context.Context) error {
	if ns.pid == nil {
		return nil
	}
	ns.rt.system.Root.Stop(ns.pid)
	select {
	case <-ns.stopped:
		return nil
	case <-ctx.Done():
		select {
		case <-ns.stopped:
			return nil
		default:
			return fmt.Errorf("stop namespace %s: %w", ns.name, ctx.Err())
		}
	}
}

// AckLatency returns the ack latency histogram: counts[i] counts the acks
// that took at most AckLatencyBounds[i] and more than the bound before it;
// the last count those above every bound.
func (ns *NamespaceRef) AckLatency() (counts []uint64, sum time.Duration) {
	counts = make([]uint64, len(ns.acks.counts))
	for i := range counts {
		counts[i] = ns.acks.counts[i].Load()
	}
	return counts, time.Duration(ns.acks.sum.Load())
}

// ObserveAck records the time a client took to acknowledge an event the
// server emitted with an ack.
func (ns *NamespaceRef) ObserveAck(d time.Duration) { ns.acks.observe(d) }
