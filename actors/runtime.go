package actors

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Runtime is the actor system behind one actorio server.
type Runtime struct {
	system *actor.ActorSystem
	log    *slog.Logger

	// live counts connection actors, so Close can wait for the last one;
	// liveConns is the same count, readable.
	live      sync.WaitGroup
	liveConns atomic.Int64
	// dropped counts the events the rate limit dropped.
	dropped atomic.Int64
	// conns maps Engine.IO session ids to their connection actors.
	conns sync.Map
	// dispatcher runs every actorio actor's mailbox.
	dispatcher *poolDispatcher
}

// NewRuntime starts an actor system that logs through log.
func NewRuntime(log *slog.Logger) *Runtime {
	quiet := slog.New(minLevel{Handler: log.Handler(), min: slog.LevelWarn}).With("lib", "protoactor")
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	return &Runtime{system: sys, log: log, dispatcher: newPoolDispatcher()}
}

// Connections returns the number of connection actors not yet stopped.
func (rt *Runtime) Connections() int { return int(rt.liveConns.Load()) }

// DroppedEvents returns the number of inbound events dropped by the
// per-socket rate limit (ConnOptions.EventRate) so far.
func (rt *Runtime) DroppedEvents() int64 { return rt.dropped.Load() }

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
	rt.system.Shutdown()
	rt.dispatcher.close()
	return err
}

// props returns the props of an actorio actor: the pooled dispatcher and
// the panic-logging middleware, plus opts.
func (rt *Runtime) props(produce actor.Producer, opts ...actor.PropsOption) *actor.Props {
	opts = append(opts, actor.WithDispatcher(rt.dispatcher), actor.WithReceiverMiddleware(rt.logPanics))
	return actor.PropsFromProducer(produce, opts...)
}

// logPanics is a receive middleware that logs a panic with its stack before
// supervision takes over, since protoactor logs only the value.
func (rt *Runtime) logPanics(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
		defer func() {
			if r := recover(); r != nil {
				rt.log.Error("actorio: handler panic",
					slog.String("actor", c.Self().Id),
					slog.Any("panic", r),
					slog.String("stack", string(debug.Stack())))
				panic(r)
			}
		}()
		next(c, env)
	}
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
