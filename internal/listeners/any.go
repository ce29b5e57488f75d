package listeners

import (
	"slices"
	"sync"
)

// Any holds catch-all handlers of type F (Node's onAny and onAnyOutgoing
// lists) in the order they run, each under an id of its own. Go functions
// cannot be compared, so a handler is removed by the id Add returned, not
// by its value as Node's offAny(fn) does. Its zero value is empty and
// ready; like List, it is not safe for concurrent use.
type Any[F any] struct {
	entries []anyEntry[F]
	next    uint64
}

type anyEntry[F any] struct {
	id uint64
	fn F
}

// Add registers fn to run after the handlers there are, or before them
// when prepend is set (Node's prependAny), and returns its id.
func (a *Any[F]) Add(fn F, prepend bool) uint64 {
	a.next++
	e := anyEntry[F]{id: a.next, fn: fn}
	if prepend {
		a.entries = slices.Insert(a.entries, 0, e)
	} else {
		a.entries = append(a.entries, e)
	}
	return e.id
}

// Remove removes the handler registered under id, and reports whether it
// was there (it is not after a first Remove, nor after Clear).
func (a *Any[F]) Remove(id uint64) bool {
	i := slices.IndexFunc(a.entries, func(e anyEntry[F]) bool { return e.id == id })
	if i < 0 {
		return false
	}
	a.entries = slices.Delete(a.entries, i, i+1)
	if len(a.entries) == 0 {
		a.entries = nil
	}
	return true
}

// Clear removes every handler (Node's offAny()).
func (a *Any[F]) Clear() { a.entries = nil }

// List returns the handlers in the order they run, as a new slice (nil
// when there is none): the caller may run them after releasing its lock,
// and a handler that adds or removes others changes the next run only, as
// in Node.
func (a *Any[F]) List() []F {
	if len(a.entries) == 0 {
		return nil
	}
	out := make([]F, len(a.entries))
	for i, e := range a.entries {
		out[i] = e.fn
	}
	return out
}

// Len returns the number of handlers.
func (a *Any[F]) Len() int { return len(a.entries) }

// Off returns the function that removes the handler registered under id
// from a, taking mu, the lock its owner guards a with. Calling it again
// does nothing.
func Off[F any](mu sync.Locker, a *Any[F], id uint64) func() {
	return func() {
		mu.Lock()
		a.Remove(id)
		mu.Unlock()
	}
}
