package actorio

import (
	"fmt"
	"slices"

	"github.com/asynkron/protoactor-go/actor"
)

// Emit is a message any actor of the server's actor system (see
// Options.ActorSystem) can send to Server.PID to emit an event, as
// Of(Namespace).To(Rooms...).Except(Except...).Emit(Event, Args...) would:
// to a socket by its id, to rooms, or to the whole namespace. Sent with a
// request, it is answered with an *EmitResult.
type Emit struct {
	// Namespace defaults to "/".
	Namespace string
	// Rooms selects the sockets in any of them (a socket id is a room);
	// none selects every socket of the namespace.
	Rooms  []string
	Except []string
	Event  string
	Args   []any
}

// EmitResult answers an Emit sent with a request.
type EmitResult struct {
	// Err is why the event was not emitted, or nil.
	Err error
}

// SocketEvent is what Namespace.Forward delivers to an actor: one event a
// socket received, after the socket's own handlers ran.
type SocketEvent struct {
	Socket *Socket
	Event  string
	Args   Args
	// Ack answers the client; nil unless the client asked for an ack.
	// Only the first call of the socket's handlers or of the actor sends
	// anything.
	Ack AckFunc
}

// PID returns the address of the server's entry actor, which takes Emit
// messages from the actors of its actor system.
func (s *Server) PID() *actor.PID { return s.entry }

// entryActor turns Emit messages into emits.
type entryActor struct{ s *Server }

func (a entryActor) Receive(ctx actor.Context) {
	m, ok := ctx.Message().(*Emit)
	if !ok {
		return
	}
	name := m.Namespace
	if name == "" {
		name = "/"
	}
	err := a.s.Of(name).To(m.Rooms...).Except(m.Except...).Emit(m.Event, m.Args...)
	if ctx.Sender() != nil {
		ctx.Respond(&EmitResult{Err: err})
	}
}

// spawnEntry starts the server's entry actor.
func (s *Server) spawnEntry() error {
	sys := s.rt.System()
	pid, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return entryActor{s} }), s.rt.Name("entry"))
	if err != nil {
		return fmt.Errorf("actorio: spawn entry actor: %w", err)
	}
	s.entry = pid
	return nil
}

// forward is one Namespace.Forward registration.
type forward struct {
	pid    *actor.PID
	events []string // none: every event
}

// Forward delivers the events of the namespace's sockets, or only those
// named, to the actor pid of the server's actor system as *SocketEvent
// messages, after the sockets' own handlers: each socket's events arrive
// in the order the client sent them.
func (ns *Namespace) Forward(pid *actor.PID, events ...string) {
	ns.mu.Lock()
	ns.forwards = append(ns.forwards, forward{pid: pid, events: slices.Clone(events)})
	ns.mu.Unlock()
	ns.forwarded.Store(true)
}

// forwardEvent sends one event to the actors it is forwarded to.
func (s *Socket) forwardEvent(event string, args Args, ack AckFunc) {
	fwd := s.ns
	if fwd.parent != nil {
		fwd = fwd.parent
	}
	fwd.mu.RLock()
	fs := fwd.forwards
	fwd.mu.RUnlock()
	for _, f := range fs {
		if len(f.events) > 0 && !slices.Contains(f.events, event) {
			continue
		}
		s.ns.srv.rt.System().Root.Send(f.pid, &SocketEvent{Socket: s, Event: event, Args: args, Ack: ack})
	}
}
