package client

import (
	"github.com/actorio/actorio/internal/listeners"
	"github.com/actorio/actorio/protocol/socketio"
)

// The catch-all API of a Socket, as the JavaScript client's onAny,
// prependAny, offAny, listenersAny and their Outgoing twins. The
// JavaScript client removes a handler by its value (offAny(fn)); Go
// functions cannot be compared, so every registration returns the
// function that removes it, and OffAny() removes them all, as the server's
// sockets do.

// OnAny registers fn for every event the server emits (not lifecycle
// events, nor the server's events named like them), run before the
// event's own handlers, after those registered before; its arguments
// include the offset a recovery-enabled server appends, as for On. It
// returns the function that removes this registration (the JavaScript
// client's offAny(fn)).
func (s *Socket) OnAny(fn AnyHandler) (off func()) { return s.addAny(fn, false) }

// PrependAny is OnAny, but fn runs before the OnAny handlers registered so
// far (the JavaScript client's prependAny).
func (s *Socket) PrependAny(fn AnyHandler) (off func()) { return s.addAny(fn, true) }

func (s *Socket) addAny(fn AnyHandler, prepend bool) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	return listeners.Off(&s.mu, &s.anyIn, s.anyIn.Add(fn, prepend))
}

// OffAny removes every OnAny and PrependAny handler.
func (s *Socket) OffAny() {
	s.mu.Lock()
	s.anyIn.Clear()
	s.mu.Unlock()
}

// ListenersAny returns the OnAny and PrependAny handlers in the order they
// run, as a copy.
func (s *Socket) ListenersAny() []AnyHandler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.anyIn.List()
}

// OnAnyOutgoing registers fn for every event the socket sends to the
// server, when it leaves: at once for an Emit of a connected socket, when
// the socket connects for one it buffered until then, at every try for
// one of the retry queue (Options.Retries), never for a Volatile one it
// drops, nor for the acknowledgements it sends; an EmitWithAck's
// arguments come without the acknowledgement. Like the socket's other
// events, fn runs on the socket's goroutine, in the order the events
// left, after the event was handed to the connection (the JavaScript
// client calls it just before). It returns the function that removes
// this registration (the JavaScript client's offAnyOutgoing(fn)).
func (s *Socket) OnAnyOutgoing(fn OutgoingHandler) (off func()) { return s.addOutgoing(fn, false) }

// PrependAnyOutgoing is OnAnyOutgoing, but fn runs before the handlers
// registered so far (the JavaScript client's prependAnyOutgoing).
func (s *Socket) PrependAnyOutgoing(fn OutgoingHandler) (off func()) {
	return s.addOutgoing(fn, true)
}

func (s *Socket) addOutgoing(fn OutgoingHandler, prepend bool) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	return listeners.Off(&s.mu, &s.anyOut, s.anyOut.Add(fn, prepend))
}

// OffAnyOutgoing removes every OnAnyOutgoing and PrependAnyOutgoing
// handler.
func (s *Socket) OffAnyOutgoing() {
	s.mu.Lock()
	s.anyOut.Clear()
	s.mu.Unlock()
}

// ListenersAnyOutgoing returns the OnAnyOutgoing and PrependAnyOutgoing
// handlers in the order they run, as a copy.
func (s *Socket) ListenersAnyOutgoing() []OutgoingHandler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.anyOut.List()
}

// sentLocked queues the call of the OnAnyOutgoing handlers registered now
// for an event that has just left, data being its JSON array [event,
// args...] and atts its attachments. The caller holds s.mu.
func (s *Socket) sentLocked(data []byte, atts [][]byte) {
	fns := s.anyOut.List()
	if len(fns) == 0 {
		return
	}
	s.d.push(func() {
		name, args, err := socketio.NewDecodedEventArgs(data, atts)
		if err != nil {
			return
		}
		for _, fn := range fns {
			fn(name, args)
		}
	})
}
