// Package listeners is the On/Once/Off registry of event handlers (List)
// and the catch-all lists of OnAny and OnAnyOutgoing (Any) that the
// server's sockets (package actorio) and the client's (package client)
// share. Neither is safe for concurrent use: its owner guards it with its
// own lock.
package listeners

import "slices"

// List holds handlers of type F by event name, in registration order. Its
// zero value is empty and ready; it stays a nil slice until a handler is
// added, since most sockets register few handlers and many none.
type List[F any] struct {
	entries []entry[F]
}

type entry[F any] struct {
	event string
	fn    F
	once  bool
}

// Add registers fn for event; once makes it run for the next event of
// that name only.
func (l *List[F]) Add(event string, fn F, once bool) {
	if n := len(l.entries); n == cap(l.entries) && n < exactUpTo {
		// A list lives as long as its socket and mostly gets its few
		// handlers at once, in a connection handler: sized to them, not
		// doubled (five handlers take 160 bytes instead of 256).
		grown := make([]entry[F], n, n+1)
		copy(grown, l.entries)
		l.entries = grown
	}
	l.entries = append(l.entries, entry[F]{event: event, fn: fn, once: once})
}

// exactUpTo is the length up to which a List grows one entry at a time;
// past it, as append does.
const exactUpTo = 8

// Remove removes every handler of event.
func (l *List[F]) Remove(event string) {
	l.entries = slices.DeleteFunc(l.entries, func(e entry[F]) bool { return e.event == event })
	if len(l.entries) == 0 {
		l.entries = nil
	}
}

// Take appends the handlers of event to run, in registration order, and
// removes those registered to run once.
func (l *List[F]) Take(event string, run []F) []F {
	once := false
	for _, e := range l.entries {
		if e.event == event {
			run = append(run, e.fn)
			once = once || e.once
		}
	}
	if once {
		l.entries = slices.DeleteFunc(l.entries, func(e entry[F]) bool { return e.event == event && e.once })
	}
	return run
}

// Len returns the number of handlers registered for event.
func (l *List[F]) Len(event string) int {
	n := 0
	for _, e := range l.entries {
		if e.event == event {
			n++
		}
	}
	return n
}
