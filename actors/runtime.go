package actors

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	cmap "github.com/orcaman/concurrent-map"

	"github.com/actorio/actorio/gateway"
)

// Runtime is the actor system behind one actorio server.
type Runtime struct {
	system *actor.ActorSystem
	log    *slog.Logger

	// live counts connection actors, so Close can wait for the last one;
	// liveConns is the same count, readable.
	live      sync.WaitGroup
	liveConns atomic.Int64
	// dropped counts the events the rate limit dropped; panics, the
	// panics of user code in socket actors.
	dropped, panics atomic.Int64
	// dispatcher runs every actorio actor's mailbox.
	dispatcher *poolDispatcher

	// parser is how packets travel in Engine.IO messages (wire.go).
	parser Parser

	// owned tells that the runtime made the actor system (and shuts it
	// down at Close); prefix starts the names of its top-level actors.
	owned  bool
	prefix string

	// connProps and socketProps are shared by every connection and socket
	// actor; next is the actor their producer yields (see spawn).
	connProps, socketProps *actor.Props
	spawnMu                sync.Mutex
	next                   actor.Actor
	// made is the mailbox the shared props' spawn just made (see spawn).
	made *mailbox
}

// NewRuntime starts an actor system that logs through log, or, when sys is
// not nil, runs actorio's actors on that one (an application's own), under
// names of their own, and leaves it running at Close.
func NewRuntime(log *slog.Logger, sys *actor.ActorSystem) *Runtime {
	rt := &Runtime{system: sys, log: log, dispatcher: newPoolDispatcher()}
	if sys == nil {
		quiet := slog.New(minLevel{Handler: log.Handler(), min: slog.LevelWarn}).With("lib", "protoactor")
		rt.system = actor.NewActorSystem(
			actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
			actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
		)
		compactRegistry(rt.system)
		rt.owned = true
	} else {
		// Two servers, or a server and the application, must not clash on
		// actor names.
		rt.prefix = "actorio-" + gateway.NewID()[:8] + "/"
	}
	// A connection actor that panics is stopped, not restarted: its
	// Stopping closes the connection.
	stop := actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.StopDirective })
	rt.connProps = rt.sharedProps(actor.WithGuardian(stop))
	rt.socketProps = rt.sharedProps()
	return rt
}

// Connections returns the number of connection actors not yet stopped.
func (rt *Runtime) Connections() int { return int(rt.liveConns.Load()) }

// DroppedEvents returns the number of inbound events dropped by the
// per-socket rate limit (ConnOptions.EventRate) so far.
func (rt *Runtime) DroppedEvents() int64 { return rt.dropped.Load() }

// System returns the actor system the runtime's actors run on.
func (rt *Runtime) System() *actor.ActorSystem { return rt.system }

// Name returns the name of a top-level actor of the runtime.
func (rt *Runtime) Name(name string) string { return rt.prefix + name }

// HandlerPanics returns the number of panics in sockets' handlers so far.
func (rt *Runtime) HandlerPanics() int64 { return rt.panics.Load() }

// Close waits for every connection actor to stop, up to ctx, then shuts the
// actor system down.
func (rt *Runtime) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { rt.live.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		if rt.liveConns.Load() > 0 {
			err = ctx.Err()
		}
	}
	if rt.owned {
		rt.system.Shutdown()
	}
	rt.dispatcher.close()
	return err
}

// props returns the props of an actorio actor: the pooled dispatcher,
// plus opts.
func (rt *Runtime) props(produce actor.Producer, opts ...actor.PropsOption) *actor.Props {
	return rt.propsWith(produce, newMailbox, opts...)
}

// propsWith is props with mailboxes made by mb.
func (rt *Runtime) propsWith(produce actor.Producer, mb actor.MailboxProducer, opts ...actor.PropsOption) *actor.Props {
	opts = append(opts, actor.WithDispatcher(rt.dispatcher), actor.WithMailbox(mb))
	return actor.PropsFromProducer(produce, opts...)
}

// sharedProps returns props whose producer yields the actor handed to
// spawn: one Props for every actor of a kind instead of one per actor
// (half a kilobyte each, for as long as the actor lives). Actors spawned
// from them must never be restarted, which would produce nothing: their
// supervisor stops them instead.
func (rt *Runtime) sharedProps(opts ...actor.PropsOption) *actor.Props {
	return rt.propsWith(func() actor.Actor {
		a := rt.next
		rt.next = nil
		return a
	}, func() actor.Mailbox {
		m := &mailbox{}
		rt.made = m
		return m
	}, opts...)
}

// spawn spawns a with shared props through do, which must call the
// spawner (a root or actor context's SpawnNamed) with props: the producer
// runs within that call, under rt.spawnMu.
func (rt *Runtime) spawn(a actor.Actor, do func() (*actor.PID, error)) (*actor.PID, error) {
	rt.spawnMu.Lock()
	defer rt.spawnMu.Unlock()
	rt.next = a
	pid, err := do()
	rt.next = nil
	if s, ok := a.(*socketActor); ok && err == nil {
		// For the connection's reader to post its events (inbound.go).
		s.ref.mbox = rt.made
	}
	rt.made = nil
	return pid, err
}

// minLevel drops records below min; it keeps protoactor's INFO chatter out
// of the embedder's logs.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}

// compactRegistry gives the process registry of an actor system this
// package made one concurrent map instead of protoactor's 1024: spread
// over 1024 × 32 Go maps, each of two actors per connection made a map of
// its own grow its first bucket group, about 350 bytes per actor at 20,000
// connections, against about 50 in one map. The map's 32 locked shards are
// enough for lookups, which PIDs cache anyway. The entries the system
// registered while starting (its dead letter and event stream processes)
// are carried over; nothing else runs on the system yet.
func compactRegistry(sys *actor.ActorSystem) {
	m := cmap.New()
	for _, b := range sys.ProcessRegistry.LocalPIDs.LocalPIDs {
		for t := range b.IterBuffered() {
			m.Set(t.Key, t.Val)
		}
	}
	sys.ProcessRegistry.LocalPIDs = &actor.SliceMap{LocalPIDs: []cmap.ConcurrentMap{m}}
}
