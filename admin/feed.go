package admin

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/actorio/actorio"
)

// run is the admin's goroutine: it emits the feed's reports in order,
// samples the traffic counters each second and sends the stats.
func (a *Admin) run() {
	defer close(a.done)
	sample := time.NewTicker(time.Second)
	defer sample.Stop()
	stats := time.NewTicker(a.opts.StatsInterval)
	defer stats.Stop()
	last := a.srv.Counters()
	if !a.emitStats() {
		return
	}
	for {
		select {
		case <-a.stop:
			return
		case f := <-a.feed:
			f()
		case now := <-sample.C:
			c := a.srv.Counters()
			a.events.add(now, "packetsIn", "", c.PacketsIn-last.PacketsIn)
			a.events.add(now, "packetsOut", "", c.PacketsOut-last.PacketsOut)
			a.events.add(now, "bytesIn", "", c.BytesIn-last.BytesIn)
			a.events.add(now, "bytesOut", "", c.BytesOut-last.BytesOut)
			last = c
		case <-stats.C:
			if !a.emitStats() {
				return
			}
		}
	}
}

// namespaceInfo is one namespace in the "server_stats" event.
type namespaceInfo struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

// serverStats is the "server_stats" event.
type serverStats struct {
	ServerID            string          `json:"serverId"`
	Hostname            string          `json:"hostname"`
	PID                 int             `json:"pid"`
	Uptime              float64         `json:"uptime"`
	ClientsCount        int             `json:"clientsCount"`
	PollingClientsCount int             `json:"pollingClientsCount"`
	AggregatedEvents    []countedEvent  `json:"aggregatedEvents"`
	Namespaces          []namespaceInfo `json:"namespaces"`
}

// emitStats sends the stats to the dashboards; false means that the server
// has closed, which ends the admin too.
func (a *Admin) emitStats() bool {
	st := a.srv.Stats()
	msg := serverStats{
		ServerID: a.serverID, Hostname: a.hostname, PID: os.Getpid(),
		Uptime:       time.Since(a.startedAt).Seconds(),
		ClientsCount: st.Sessions, PollingClientsCount: st.PollingSessions,
		AggregatedEvents: a.events.take(),
		Namespaces:       make([]namespaceInfo, 0, len(st.Namespaces)),
	}
	for name, n := range st.Namespaces {
		msg.Namespaces = append(msg.Namespaces, namespaceInfo{Name: name, SocketsCount: n.Sockets})
	}
	if err := a.ns.Emit("server_stats", msg); errors.Is(err, actorio.ErrServerClosed) {
		a.observe()
		return false
	}
	return true
}

// countedEvent counts what happened of one type in one second.
type countedEvent struct {
	Timestamp int64  `json:"timestamp"` // milliseconds since the epoch, whole seconds
	Type      string `json:"type"`
	SubType   string `json:"subType,omitempty"`
	Count     int64  `json:"count"`
}

// eventBuffer aggregates counts per second, type and subtype until the
// next stats.
type eventBuffer struct {
	mu     sync.Mutex
	counts map[countKey]int64
}

type countKey struct {
	second       int64
	typ, subType string
}

func newEventBuffer() *eventBuffer { return &eventBuffer{counts: map[countKey]int64{}} }

func (b *eventBuffer) add(at time.Time, typ, subType string, n int64) {
	if n <= 0 {
		return
	}
	k := countKey{second: at.Unix(), typ: typ, subType: subType}
	b.mu.Lock()
	b.counts[k] += n
	b.mu.Unlock()
}

func (b *eventBuffer) take() []countedEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]countedEvent, 0, len(b.counts))
	for k, n := range b.counts {
		out = append(out, countedEvent{Timestamp: k.second * 1000, Type: k.typ, SubType: k.subType, Count: n})
		delete(b.counts, k)
	}
	return out
}

// socketInfo describes a socket as the dashboard lists it.
type socketInfo struct {
	ID        string          `json:"id"`
	ClientID  string          `json:"clientId"`
	Transport string          `json:"transport"`
	Nsp       string          `json:"nsp"`
	Data      json.RawMessage `json:"data"`
	Handshake handshakeInfo   `json:"handshake"`
	Rooms     []string        `json:"rooms"`
}

type handshakeInfo struct {
	Address string            `json:"address"`
	Headers map[string]string `json:"headers"`
	Query   map[string]string `json:"query"`
	Issued  int64             `json:"issued"`
	Secure  bool              `json:"secure"`
	Time    string            `json:"time"`
	URL     string            `json:"url"`
	XDomain bool              `json:"xdomain"`
}

// clientIDLength is how much of the session id the dashboard shows.
const clientIDLength = 12

func describe(s *actorio.Socket) socketInfo {
	h := s.Handshake()
	headers := make(map[string]string, len(h.Headers))
	for k, v := range h.Headers {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	if h.Host != "" {
		headers["host"] = h.Host
	}
	query := make(map[string]string, len(h.Query))
	for k, v := range h.Query {
		if len(v) > 0 {
			query[k] = v[0]
		}
	}
	address := h.Address
	if host, _, err := net.SplitHostPort(address); err == nil {
		address = host
	}
	if v := headers["cf-connecting-ip"]; v != "" {
		address = v
	} else if v := headers["x-forwarded-for"]; v != "" {
		address = v
	}
	clientID := s.SessionID()
	if len(clientID) > clientIDLength {
		clientID = clientID[:clientIDLength]
	}
	return socketInfo{
		ID: s.ID(), ClientID: clientID, Transport: s.Transport(), Nsp: s.Namespace().Name(),
		Data: dataJSON(s.Data()),
		Handshake: handshakeInfo{
			Address: address, Headers: headers, Query: query,
			Issued: h.Time.UnixMilli(), Secure: h.Secure,
			Time: h.Time.Format("Mon Jan 02 2006 15:04:05 GMT-0700 (MST)"),
			URL:  h.URL, XDomain: headers["origin"] != "",
		},
		Rooms: s.Rooms(),
	}
}

// dataJSON encodes a socket's Data for the dashboard: an empty object when
// there is none or JSON cannot encode it.
func dataJSON(v any) json.RawMessage {
	if v == nil {
		return json.RawMessage(`{}`)
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return json.RawMessage(`{}`)
	}
	return b
}

// observer reports what the server tells it to the admin's goroutine,
// which owns the feed's state.
type observer struct{ a *Admin }

// post queues f for the admin's goroutine, or drops it when the queue is
// full.
func (o observer) post(f func()) {
	select {
	case o.a.feed <- f:
	default:
		o.a.dropped.Add(1)
	}
}

// feeding reports whether the dashboards get the feed: not in production
// mode.
func (o observer) feeding() bool { return !o.a.opts.Production }

// watched reports whether a dashboard may get the feed now: with none
// connected, reports are skipped (a dashboard that connects gets the
// whole state in all_sockets). In a cluster, dashboards connected to
// other nodes get this node's feed too, so it is always sent.
func (o observer) watched() bool {
	return o.feeding() && (o.a.clustered || o.a.watchers.Load() > 0)
}

func (o observer) SessionOpened(string, string) {
	o.a.events.add(time.Now(), "rawConnection", "", 1)
}

func (o observer) SessionUpgraded(sid string) {
	if !o.feeding() {
		return
	}
	o.post(func() {
		if !o.watched() {
			return
		}
		o.a.refsMu.Lock()
		refs := slices.Clone(o.a.bySession[sid])
		o.a.refsMu.Unlock()
		for _, s := range refs {
			_ = o.a.ns.Emit("socket_updated", map[string]string{"id": s.id, "nsp": s.nsp, "transport": "websocket"})
		}
	})
}

func (o observer) SessionClosed(sid string, reason string) {
	o.a.events.add(time.Now(), "rawDisconnection", reason, 1)
	if o.feeding() {
		o.a.refsMu.Lock()
		delete(o.a.bySession, sid)
		o.a.refsMu.Unlock()
	}
}

func (o observer) SocketConnected(s *actorio.Socket) {
	if !o.feeding() {
		return
	}
	sid, now := s.SessionID(), time.Now()
	// The sockets of each session are kept here, not by the feed, whose
	// reports may be dropped: a session's entry goes with it.
	o.a.refsMu.Lock()
	o.a.bySession[sid] = append(o.a.bySession[sid], socketRef{id: s.ID(), nsp: s.Namespace().Name()})
	o.a.refsMu.Unlock()
	if !o.watched() {
		return
	}
	// Described now, before its connection handlers run: rooms they join
	// come as room_joined, after this.
	info := describe(s)
	if !slices.Contains(info.Rooms, info.ID) {
		// Its namespace puts it in its own room just after this.
		info.Rooms = append([]string{info.ID}, info.Rooms...)
	}
	o.post(func() { _ = o.a.ns.Emit("socket_connected", info, jsTime(now)) })
}

func (o observer) SocketDisconnected(s *actorio.Socket, reason string) {
	if !o.feeding() {
		return
	}
	sid, id, now := s.SessionID(), s.ID(), time.Now()
	o.a.refsMu.Lock()
	if refs := slices.DeleteFunc(o.a.bySession[sid], func(r socketRef) bool { return r.id == id }); len(refs) > 0 {
		o.a.bySession[sid] = refs
	} else {
		delete(o.a.bySession, sid)
	}
	o.a.refsMu.Unlock()
	if !o.watched() {
		return
	}
	o.post(func() { _ = o.a.ns.Emit("socket_disconnected", s.Namespace().Name(), id, reason, jsTime(now)) })
}

func (o observer) SocketDataChanged(s *actorio.Socket) {
	if !o.watched() {
		return
	}
	o.post(func() {
		_ = o.a.ns.Emit("socket_updated", map[string]any{"id": s.ID(), "nsp": s.Namespace().Name(), "data": dataJSON(s.Data())})
	})
}

func (o observer) RoomJoined(nsp, room, id string) {
	if !o.watched() {
		return
	}
	now := time.Now()
	o.post(func() { _ = o.a.ns.Emit("room_joined", nsp, room, id, jsTime(now)) })
}

func (o observer) RoomLeft(nsp, room, id string) {
	if !o.watched() {
		return
	}
	now := time.Now()
	o.post(func() { _ = o.a.ns.Emit("room_left", nsp, room, id, jsTime(now)) })
}

func (o observer) EventReceived(s *actorio.Socket, event string, args actorio.Args) {
	nsp := s.Namespace().Name()
	if !o.watched() || nsp == o.a.opts.Namespace {
		return
	}
	now := time.Now()
	o.post(func() {
		_ = o.a.ns.Emit("event_received", nsp, s.ID(), eventArgs(event, args), jsTime(now))
	})
}

func (o observer) EventSent(nsp string, ids []string, event string, args actorio.Args) {
	if !o.watched() || nsp == o.a.opts.Namespace {
		return
	}
	now := time.Now()
	o.post(func() {
		all := eventArgs(event, args)
		for _, id := range ids {
			_ = o.a.ns.Emit("event_sent", nsp, id, all, jsTime(now))
		}
	})
}

// eventArgs is an event as the dashboard shows it: its name, then its
// arguments.
func eventArgs(event string, args actorio.Args) []any {
	return append([]any{event}, args.Values()...)
}

// jsTime formats t as JavaScript's Date.toISOString does, the form the
// dashboard shows and sorts.
func jsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// socketRef names a socket of a session, for the transport updates.
type socketRef struct{ id, nsp string }
