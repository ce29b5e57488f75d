package actorio

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/actorio/actorio/protocol/socketio"
)

// Observer is told what happens on a server: sessions, sockets, rooms and
// events, for tools such as the admin UI (package admin). Install one with
// Server.Observe.
//
// Its methods run on the server's own goroutines (the transport or socket
// actor concerned, or the goroutine that joins, leaves or broadcasts, which
// holds its namespace's room lock during RoomJoined, RoomLeft and the
// EventSent of a broadcast), so they must return quickly and must not wait
// on the server nor call it (no Join, Emit or broadcast from inside a
// method): an Observer with more to do hands it to a goroutine of its own. The Args it receives stay valid after the call. A panic in
// a method is logged and goes no further.
type Observer interface {
	// SessionOpened reports a new Engine.IO session and its first
	// transport, "polling" or "websocket".
	SessionOpened(sid, transport string)
	// SessionUpgraded reports that session sid moved to WebSocket.
	SessionUpgraded(sid string)
	// SessionClosed reports the end of session sid with its Engine.IO
	// reason, such as "transport close".
	SessionClosed(sid, reason string)
	// SocketConnected reports a socket that passed its middleware, before
	// its connection handlers run.
	SocketConnected(s *Socket)
	// SocketDisconnected reports the end of a socket with its reason (one
	// of package disconnect's reasons), before its OnDisconnect handlers run.
	SocketDisconnected(s *Socket, reason string)
	// SocketDataChanged reports a call of s.SetData.
	SocketDataChanged(s *Socket)
	// RoomJoined reports that the socket id of the namespace nsp joined
	// room; a socket's own room is not reported.
	RoomJoined(nsp, room, id string)
	// RoomLeft reports that the socket id of the namespace nsp left room.
	RoomLeft(nsp, room, id string)
	// EventReceived reports an event a socket received, before its
	// handlers run.
	EventReceived(s *Socket, event string, args Args)
	// EventSent reports an event sent to the sockets ids of the namespace
	// nsp of this node: once per Socket.Emit, and once per broadcast for
	// all its receivers. Acknowledgements are not reported.
	EventSent(nsp string, ids []string, event string, args Args)
}

// Observe installs o, which is told what happens on the server from now
// on, until stop is called. Several observers may be installed; with none,
// the server pays one atomic load at each place it would report.
func (s *Server) Observe(o Observer) (stop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setObservers(append(slices.Clone(s.observers()), o))
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		list := slices.Clone(s.observers())
		if i := slices.Index(list, o); i >= 0 {
			s.setObservers(slices.Delete(list, i, i+1))
		}
	}
}

// observers lists the installed observers.
func (s *Server) observers() []Observer {
	if m := s.obs.Load(); m != nil {
		return m.list
	}
	return nil
}

// observer returns what to report to, or nil when nobody observes.
func (s *Server) observer() Observer {
	if m := s.obs.Load(); m != nil {
		return m
	}
	return nil
}

// setObservers installs list, in this package and, as the same value, in
// the gateway (sessions) and every namespace (rooms), whose Observer
// interfaces are parts of this one (a namespace with room hooks wraps it,
// see Namespace.observerFor); s.mu must be held, so that a namespace
// created meanwhile gets it in spawn.
func (s *Server) setObservers(list []Observer) {
	if len(list) == 0 {
		s.obs.Store(nil)
		s.gw.SetObserver(nil)
		for _, ns := range s.nsps {
			ns.a.SetObserver(ns.observerFor(nil))
		}
		return
	}
	m := &multiObserver{list: list, log: s.opts.Logger}
	s.obs.Store(m)
	s.gw.SetObserver(m)
	for _, ns := range s.nsps {
		ns.a.SetObserver(ns.observerFor(m))
	}
}

// multiObserver reports to every observer in turn. A panicking observer
// is logged and skipped: the report points include actors and transport
// goroutines that must not die of it.
type multiObserver struct {
	list []Observer
	log  *slog.Logger
}

func (m *multiObserver) each(report func(o Observer)) {
	for _, o := range m.list {
		m.call(o, report)
	}
}

func (m *multiObserver) call(o Observer, report func(o Observer)) {
	defer func() {
		if r := recover(); r != nil {
			m.log.Error("actorio: observer panicked", "observer", fmt.Sprintf("%T", o), "panic", r)
		}
	}()
	report(o)
}

func (m *multiObserver) SessionOpened(sid, transport string) {
	m.each(func(o Observer) { o.SessionOpened(sid, transport) })
}

func (m *multiObserver) SessionUpgraded(sid string) {
	m.each(func(o Observer) { o.SessionUpgraded(sid) })
}

func (m *multiObserver) SessionClosed(sid, reason string) {
	m.each(func(o Observer) { o.SessionClosed(sid, reason) })
}

func (m *multiObserver) SocketConnected(s *Socket) {
	m.each(func(o Observer) { o.SocketConnected(s) })
}

func (m *multiObserver) SocketDisconnected(s *Socket, reason string) {
	m.each(func(o Observer) { o.SocketDisconnected(s, reason) })
}

func (m *multiObserver) SocketDataChanged(s *Socket) {
	m.each(func(o Observer) { o.SocketDataChanged(s) })
}

func (m *multiObserver) RoomJoined(nsp, room, id string) {
	m.each(func(o Observer) { o.RoomJoined(nsp, room, id) })
}

func (m *multiObserver) RoomLeft(nsp, room, id string) {
	m.each(func(o Observer) { o.RoomLeft(nsp, room, id) })
}

func (m *multiObserver) EventReceived(s *Socket, event string, args Args) {
	m.each(func(o Observer) { o.EventReceived(s, event, args) })
}

func (m *multiObserver) EventSent(nsp string, ids []string, event string, args Args) {
	m.each(func(o Observer) { o.EventSent(nsp, ids, event, args) })
}

// sentTo returns what a broadcast calls with the ids of the sockets of the
// namespace nsp it reached, under the namespace's lock, data being the
// JSON array [event, args...] as encoded and atts its attachments: it
// reports the event to the observers and queues the receivers'
// OnAnyOutgoing handlers (catchall.go). Nil when there is neither, so that
// a broadcast collects no ids.
func (s *Server) sentTo(nsp string, data []byte, atts [][]byte) func(ids []string) {
	report, out := s.observed(nsp, data, atts), s.outgoingTo(nsp, data, atts)
	switch {
	case report == nil:
		return out
	case out == nil:
		return report
	}
	return func(ids []string) {
		report(ids)
		out(ids)
	}
}

// observed returns what reports an event sent to the sockets ids of the
// namespace nsp to the observers, data and atts as for sentTo; nil when
// nobody observes.
func (s *Server) observed(nsp string, data []byte, atts [][]byte) func(ids []string) {
	o := s.observer()
	if o == nil {
		return nil
	}
	return func(ids []string) {
		if event, args, err := socketio.NewDecodedEventArgs(data, atts); err == nil {
			o.EventSent(nsp, ids, event, args)
		}
	}
}

// sentFrame is sentTo for a packet that reached this node already framed
// (from another node), whose data is read from the frame.
func (s *Server) sentFrame(nsp string, frame []byte, atts [][]byte) func(ids []string) {
	if s.observer() == nil && outgoingSockets.Load() == 0 {
		return nil
	}
	p, err := socketio.Decode(frame)
	if err != nil {
		return nil
	}
	return s.sentTo(nsp, p.Data, atts)
}

// reportSent reports an event a socket sent itself to the observers, as
// sentTo (the socket ran its OnAnyOutgoing handlers already).
func (s *Server) reportSent(nsp string, ids []string, data []byte, atts [][]byte) {
	if sent := s.observed(nsp, data, atts); sent != nil {
		sent(ids)
	}
}
