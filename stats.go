package actorio

// Stats is a snapshot of what a Server holds: sessions, connection actors,
// and the sockets and rooms of each namespace. Once a connection has ended
// and its sockets' handlers have returned, nothing of it is counted any
// more, so Stats serves monitoring as well as tests that check that ended
// connections left nothing behind.
//
// The counts are read one after the other while the server runs, and each
// follows the actor that owns it: a socket counts until its actor has
// stopped, which happens just after its OnDisconnect handlers returned, and
// a room counts until its last socket's leave has been processed.
type Stats struct {
	// Sessions is the number of open Engine.IO sessions.
	Sessions int
	// PollingSessions is how many of them use HTTP long-polling.
	PollingSessions int
	// Connections is the number of live connection actors, one per session
	// until the session's end has been processed.
	Connections int
	// Namespaces holds the counts of every namespace, dynamic ones
	// included, by name.
	Namespaces map[string]NamespaceStats
	// DroppedEvents is the number of inbound events dropped so far by the
	// per-socket rate limit (Options.EventRate); it only grows.
	DroppedEvents int64
}

// NamespaceStats are the counts of one namespace.
type NamespaceStats struct {
	// Sockets is the number of sockets whose actor has not stopped: in
	// middleware, connected, or running its disconnect handlers.
	Sockets int
	// Rooms is the number of non-empty rooms, the room of each socket's
	// own id included.
	Rooms int
}

// Stats returns the server's current counts; safe for concurrent use, also
// after Close.
func (s *Server) Stats() Stats {
	st := Stats{Sessions: s.gw.Count(), PollingSessions: s.gw.PollingCount(), Connections: s.rt.Connections(), DroppedEvents: s.rt.DroppedEvents()}
	s.mu.RLock()
	defer s.mu.RUnlock()
	st.Namespaces = make(map[string]NamespaceStats, len(s.nsps))
	for name, ns := range s.nsps {
		st.Namespaces[name] = NamespaceStats{Sockets: ns.a.Sockets(), Rooms: ns.a.Rooms()}
	}
	return st
}
