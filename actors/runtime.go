package actors

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Runtime is the actor system behind one actorio server.
type Runtime struct {
	system *actor.ActorSystem
	log    *slog.Logger

	// live counts connection actors, so Close can wait for the last one.
	live sync.WaitGroup
	// conns maps Engine.IO session ids to their connection actors.
	conns sync.Map
}

// NewRuntime starts an actor system that logs through log.
func NewRuntime(log *slog.Logger) *Runtime {
	quiet := slog.New(minLevel{Handler: log.Handler(), min: slog.LevelWarn}).With("lib", "protoactor")
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	return &Runtime{system: sys, log: log}
}

// Logger returns the runtime's logger.
func (rt *Runtime) Logger() *slog.Logger { return rt.log }

// Close waits for every connection actor to stop, up to ctx, then shuts the
// actor system down.
func (rt *Runtime) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { rt.live.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	rt.system.Shutdown()
	return err
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
