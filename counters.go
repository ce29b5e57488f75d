package actorio

import (
	"slices"
	"time"

	"github.com/actorio/actorio/actors"
)

// MetricsSource is what a metrics adapter (such as the Prometheus one in
// metrics/prometheus) reads: a Server, or anything reporting the same
// figures.
type MetricsSource interface {
	// Stats returns what the server holds now.
	Stats() Stats
	// Counters returns what the server has done since it started.
	Counters() Counters
}

var _ MetricsSource = (*Server)(nil)

// Counters are totals since the server started: they only grow. Reading
// them costs a few atomic loads per namespace; keeping them costs an
// atomic add per event, per batch of bytes and per ack, and nothing more on
// the hot path.
type Counters struct {
	// BytesIn and BytesOut count the bytes of the message packets read
	// from clients and written to them (Engine.IO payloads, without the
	// WebSocket or HTTP framing).
	BytesIn, BytesOut int64
	// PacketsIn and PacketsOut count those message packets (a binary
	// attachment is a packet of its own).
	PacketsIn, PacketsOut int64
	// SlowConsumers counts the connections closed because their outbound
	// queue overflowed (disconnect.SlowConsumer).
	SlowConsumers int64
	// HandlerPanics counts the panics of user code run for sockets
	// (middleware, connection and event handlers).
	HandlerPanics int64
	// DroppedEvents counts the inbound events the rate limit dropped (the
	// same figure as Stats.DroppedEvents).
	DroppedEvents int64
	// Namespaces holds the counters of every namespace by name.
	Namespaces map[string]NamespaceCounters
}

// NamespaceCounters are the totals of one namespace.
type NamespaceCounters struct {
	// EventsIn counts the events its sockets received and handled;
	// EventsOut those sent to its sockets, a broadcast once per receiver.
	// Acks are not counted either way.
	EventsIn, EventsOut int64
	// DroppedVolatile counts the volatile packets not sent to a connection
	// that could not take them at once.
	DroppedVolatile int64
	// AckLatency is how long clients took to acknowledge the events the
	// server emitted with an ack (Socket.EmitWithAck, and broadcasts).
	AckLatency Histogram
}

// Histogram counts durations in buckets: Counts[i] counts those at most
// Bounds[i] and above Bounds[i-1]; the last count, one more than there are
// bounds, those above the last bound.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	// Count is the number of durations counted and Sum their sum.
	Count uint64
	Sum   time.Duration
}

// Counters returns the server's totals; safe for concurrent use, also
// after Close.
func (s *Server) Counters() Counters {
	c := Counters{BytesIn: s.gw.BytesIn(), BytesOut: s.gw.BytesOut(), PacketsIn: s.gw.PacketsIn(), PacketsOut: s.gw.PacketsOut(), SlowConsumers: s.gw.SlowConsumers(),
		HandlerPanics: s.rt.HandlerPanics(), DroppedEvents: s.rt.DroppedEvents()}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c.Namespaces = make(map[string]NamespaceCounters, len(s.nsps))
	for name, ns := range s.nsps {
		a := ns.a
		counts, sum := a.AckLatency()
		h := Histogram{Bounds: slices.Clone(actors.AckLatencyBounds), Counts: counts, Sum: sum}
		for _, n := range counts {
			h.Count += n
		}
		c.Namespaces[name] = NamespaceCounters{EventsIn: a.EventsIn(), EventsOut: a.EventsOut(),
			DroppedVolatile: a.DroppedVolatile(), AckLatency: h}
	}
	return c
}
