package actorio

// TryJoin adds the socket to rooms, as Join does, and returns
// ErrTooManyRooms, having joined none of them, when that would take the
// socket past Options.MaxRoomsPerSocket (Join does the same and only logs
// it).
func (s *Socket) TryJoin(rooms ...string) error {
	if !s.p.TryJoin(rooms...) {
		return ErrTooManyRooms
	}
	return nil
}
