package actorio

import "log/slog"

// On registers a typed handler for event on s: the event's first argument
// is decoded into a T (with encoding/json; a binary attachment fills a
// []byte field). An event whose first argument is missing or does not
// decode does not reach fn: it is logged at Debug and, if the client asked
// for an ack, answered with {"error": "<what went wrong>"}.
func On[T any](s *Socket, event string, fn func(s *Socket, v T, ack AckFunc)) {
	s.On(event, func(s *Socket, args Args, ack AckFunc) {
		var v T
		if err := args.Decode(0, &v); err != nil {
			s.ns.srv.opts.Logger.Debug("actorio: event argument does not decode", slog.String("nsp", s.ns.name),
				slog.String("sid", s.ID()), slog.String("event", event), slog.Any("err", err))
			if ack != nil {
				_ = ack(map[string]string{"error": err.Error()})
			}
			return
		}
		fn(s, v, ack)
	})
}
