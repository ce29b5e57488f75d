// Package prometheus exports an actorio server's figures to Prometheus: a
// prometheus.Collector that reads the server's Stats and Counters (the
// actorio.MetricsSource interface) at each scrape, so that the server's hot
// path pays nothing for it beyond the atomic counters it keeps anyway.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(actorioprom.NewCollector(srv))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Metrics, all prefixed "actorio_" (labels in braces):
//
//	sessions, connections                       open Engine.IO sessions and live connection actors (gauges)
//	sockets{namespace}, rooms{namespace}        connected sockets and non-empty rooms (gauges)
//	events_received_total{namespace}            events the sockets received and handled
//	events_sent_total{namespace}                events sent to sockets, a broadcast once per receiver
//	volatile_dropped_total{namespace}           volatile packets skipped for a connection not ready
//	ack_latency_seconds{namespace}              time clients took to acknowledge the server's emits (histogram)
//	bytes_received_total, bytes_sent_total      Engine.IO message bytes, without framing
//	packets_received_total, packets_sent_total  Engine.IO message packets (an attachment is one)
//	polling_sessions                            sessions on HTTP long-polling (gauge)
//	slow_consumer_disconnects_total             connections closed as slow consumers
//	handler_panics_total                        panics in sockets' handlers
//	rate_limited_events_total                   inbound events dropped by Options.EventRate
package prometheus

import (
	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/actorio/actorio"
)

// Collector is a prometheus.Collector for one actorio server.
type Collector struct {
	src actorio.MetricsSource

	sessions, connections, sockets, rooms     *prom.Desc
	eventsIn, eventsOut, volatile, ackLatency *prom.Desc
	bytesIn, bytesOut, slow, panics, limited  *prom.Desc
	packetsIn, packetsOut, polling            *prom.Desc
}

// NewCollector returns a collector of src's figures (an *actorio.Server).
func NewCollector(src actorio.MetricsSource) *Collector {
	ns := []string{"namespace"}
	d := func(name, help string, labels []string) *prom.Desc {
		return prom.NewDesc("actorio_"+name, help, labels, nil)
	}
	return &Collector{
		src:         src,
		sessions:    d("sessions", "Open Engine.IO sessions.", nil),
		connections: d("connections", "Live connection actors (one per session until its end is processed).", nil),
		sockets:     d("sockets", "Sockets of the namespace: in middleware, connected or ending.", ns),
		rooms:       d("rooms", "Non-empty rooms of the namespace, each socket's own id's included.", ns),
		eventsIn:    d("events_received_total", "Events the namespace's sockets received and handled.", ns),
		eventsOut:   d("events_sent_total", "Events sent to the namespace's sockets, a broadcast once per receiver.", ns),
		volatile:    d("volatile_dropped_total", "Volatile packets not sent to a connection that could not take them at once.", ns),
		ackLatency:  d("ack_latency_seconds", "Time clients took to acknowledge the events the server emitted with an ack.", ns),
		bytesIn:     d("bytes_received_total", "Bytes of the message packets read from clients (Engine.IO payloads).", nil),
		bytesOut:    d("bytes_sent_total", "Bytes of the message packets written to clients (Engine.IO payloads).", nil),
		packetsIn:   d("packets_received_total", "Message packets read from clients (a binary attachment is one).", nil),
		packetsOut:  d("packets_sent_total", "Message packets written to clients (a binary attachment is one).", nil),
		polling:     d("polling_sessions", "Open Engine.IO sessions on HTTP long-polling.", nil),
		slow:        d("slow_consumer_disconnects_total", "Connections closed because their outbound queue overflowed.", nil),
		panics:      d("handler_panics_total", "Panics in the user code run for sockets.", nil),
		limited:     d("rate_limited_events_total", "Inbound events dropped by the per-socket rate limit.", nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prom.Desc) {
	for _, d := range []*prom.Desc{c.sessions, c.connections, c.sockets, c.rooms, c.eventsIn, c.eventsOut,
		c.volatile, c.ackLatency, c.bytesIn, c.bytesOut, c.slow, c.panics, c.limited,
		c.packetsIn, c.packetsOut, c.polling} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prom.Metric) {
	st, ct := c.src.Stats(), c.src.Counters()
	gauge := func(d *prom.Desc, v float64, labels ...string) {
		ch <- prom.MustNewConstMetric(d, prom.GaugeValue, v, labels...)
	}
	counter := func(d *prom.Desc, v int64, labels ...string) {
		ch <- prom.MustNewConstMetric(d, prom.CounterValue, float64(v), labels...)
	}
	gauge(c.sessions, float64(st.Sessions))
	gauge(c.connections, float64(st.Connections))
	gauge(c.polling, float64(st.PollingSessions))
	for name, n := range st.Namespaces {
		gauge(c.sockets, float64(n.Sockets), name)
		gauge(c.rooms, float64(n.Rooms), name)
	}
	for name, n := range ct.Namespaces {
		counter(c.eventsIn, n.EventsIn, name)
		counter(c.eventsOut, n.EventsOut, name)
		counter(c.volatile, n.DroppedVolatile, name)
		h := n.AckLatency
		buckets := make(map[float64]uint64, len(h.Bounds))
		var cum uint64
		for i, b := range h.Bounds {
			cum += h.Counts[i]
			buckets[b.Seconds()] = cum
		}
		ch <- prom.MustNewConstHistogram(c.ackLatency, h.Count, h.Sum.Seconds(), buckets, name)
	}
	counter(c.bytesIn, ct.BytesIn)
	counter(c.bytesOut, ct.BytesOut)
	counter(c.packetsIn, ct.PacketsIn)
	counter(c.packetsOut, ct.PacketsOut)
	counter(c.slow, ct.SlowConsumers)
	counter(c.panics, ct.HandlerPanics)
	counter(c.limited, ct.DroppedEvents)
}
