package client

// transport returns the transport of the open session, "" when none (tests only).
func (m *Manager) transport() string {
	m.mu.Lock()
	r := m.cur
	var e *engine
	if r != nil {
		e = r.eng
	}
	m.mu.Unlock()
	if e == nil {
		return ""
	}
	return e.transportName()
}

// idle reports whether the Manager has no connection lifecycle running (tests only).
func (m *Manager) idle() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur == nil
}

// pendingAcks returns the number of acknowledgements waited for (tests only).
func (s *Socket) pendingAcks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acks)
}
