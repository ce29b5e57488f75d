package actors

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorio/actorio/disconnect"
	pb "github.com/actorio/actorio/proto"
)

// This file is connection state recovery across the nodes of a cluster:
// a namespace with recovery and a Replication shares its logged packets
// (numbered by the node that sends them, recovery.go) and the state of
// its sessions with the other nodes, so that a client can restore its
// session on any node, even once its node died.

// Replication is how a namespace with connection state recovery reaches
// the other nodes of its cluster; the server implements it over its node.
// Its methods must not block, but for Claim.
type Replication interface {
	// Broadcast hands a packet this node logged (b.Origin and b.Seq set)
	// to every other node, after the ones handed before.
	Broadcast(nsp string, b *pb.Broadcast)
	// Session hands the state of one of this node's sessions to every
	// other node.
	Session(s *pb.NodeSession)
	// Claim asks the node whose member id is member to give up a session,
	// and returns it as given up, nil when that node does not hold it.
	// Its answer comes after every packet that node handed to this one
	// before. It fails when that node is unreachable or ctx ends.
	Claim(ctx context.Context, member string, c *pb.NodeSessionClaim) (*pb.NodeSession, error)
	// Alive reports whether the node whose member id is member is in the
	// cluster as this node sees it.
	Alive(member string) bool
}

// generation is the first version of a session's generation g (see
// pb.NodeSession.Version).
func generation(g uint64) uint64 { return g << 32 }

// replicate sends p's session state to the other nodes: connected when
// endedAt is zero, waiting for its client since endedAt otherwise, or
// forgotten when gone.
func (ns *NamespaceRef) replicate(p *SocketRef, endedAt time.Time, gone bool) {
	repl := ns.opts.Replication
	r := p.rec
	if repl == nil || ns.log == nil || r == nil {
		return
	}
	var data any
	if !gone {
		data = p.handler.Data()
	}
	p.mu.Lock()
	r.version++
	cur := session{sid: p.id, pid: r.privateID, rooms: p.roomsLocked(), data: data, addr: p.conn.RemoteIP(),
		first: r.first, connectedAt: r.connectedAt, version: r.version, endedAt: endedAt}
	p.mu.Unlock()
	s := sessionState(ns.name, ns.log.tag, &cur)
	s.Gone = gone
	repl.Session(s)
}

// marshalData encodes a socket's Data for another node: JSON, nil when it
// is nil or JSON cannot encode it.
func marshalData(v any) []byte {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// DataChanged tells the other nodes that the socket's application data
// changed, when its session is replicated.
func (p *SocketRef) DataChanged() {
	if p.Connected() {
		p.ns.replicate(p, time.Time{}, false)
	}
}

// ReceiveSession keeps the state of another node's session, the newest by
// version, so that its client can restore it here.
func (ns *NamespaceRef) ReceiveSession(s *pb.NodeSession) {
	if ns.log == nil || s.Pid == "" {
		return
	}
	if p, ok := ns.Socket(s.Sid); ok && p.rec != nil && p.rec.privateID == s.Pid {
		return // the session moved here: what its old node says is older
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	old := ns.log.replicas[s.Pid]
	switch {
	case old != nil && old.Version > s.Version:
	case s.Gone:
		delete(ns.log.replicas, s.Pid)
	case old == nil || old.Version < s.Version:
		ns.log.replicas[s.Pid] = s
	}
}

// ReplicaCount returns how many sessions of other nodes the namespace
// keeps for their clients to restore here.
func (ns *NamespaceRef) ReplicaCount() int {
	if ns.log == nil {
		return 0
	}
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	return len(ns.log.replicas)
}

// giveUp asks a namespace supervisor for a session that another node's
// client claims (GiveUpSession); the answer goes to reply, nil when the
// namespace does not hold the session.
type giveUp struct {
	pid, addr string
	reply     chan *pb.NodeSession // buffered: the supervisor never waits
}

// claimAnswer brings a supervisor the answer of another node to req, the
// claim of a session (see namespaceActor.claimRemote).
type claimAnswer struct {
	pid, member string
	req         *spawnSocket
	session     *pb.NodeSession
	err         error
}

// GiveUpSession ends the socket of the session pid if it is connected,
// forgets the session, and returns its state for the node where its client
// reconnected; nil when the namespace does not hold it, or holds it for a
// client at another address with Recovery.BindAddress, or ctx ends first.
func (ns *NamespaceRef) GiveUpSession(ctx context.Context, pid, addr string) *pb.NodeSession {
	if ns.log == nil {
		return nil
	}
	reply := make(chan *pb.NodeSession, 1)
	ns.rt.system.Root.Send(ns.pid, giveUp{pid: pid, addr: addr, reply: reply})
	select {
	case s := <-reply:
		return s
	case <-ctx.Done():
		return nil
	case <-ns.stopped:
		return nil
	}
}

// giveUp handles a giveUp: a kept session is given at once; a connected
// socket is ended first (remove gives its session).
func (a *namespaceActor) giveUp(m giveUp) {
	if a.log == nil {
		m.reply <- nil
		return
	}
	bind := a.log.cfg.BindAddress
	if s, ok := a.log.sessions[m.pid]; ok {
		if bind && s.addr != m.addr {
			m.reply <- nil
			return
		}
		delete(a.log.sessions, m.pid)
		m.reply <- sessionState(a.ns.name, a.log.tag, s)
		return
	}
	p, ok := a.log.live[m.pid]
	if !ok || (bind && p.conn.RemoteIP() != m.addr) {
		m.reply <- nil
		return
	}
	a.log.giving[m.pid] = append(a.log.giving[m.pid], m.reply)
	a.ns.rt.log.Debug("actorio: a client reconnected to another node: its socket here ends", slog.String("nsp", a.ns.name),
		slog.String("sid", p.id), slog.String("conn", p.conn.ID()))
	p.Disconnect(disconnect.TransportClose, false, false)
}

// gave answers the claims of the session pid once its socket ended: the
// first gets the session s (nil when the socket kept none), the others
// nothing.
func (a *namespaceActor) gave(pid string, s *session) {
	waiting := a.log.giving[pid]
	delete(a.log.giving, pid)
	for i, c := range waiting {
		if i == 0 && s != nil {
			delete(a.log.sessions, pid)
			c <- sessionState(a.ns.name, a.log.tag, s)
			continue
		}
		c <- nil
	}
}

// sessionState describes a session for another node; a zero endedAt
// (connected) is sent as 0.
func sessionState(nsp, origin string, s *session) *pb.NodeSession {
	out := &pb.NodeSession{Namespace: nsp, Pid: s.pid, Sid: s.sid, Rooms: s.rooms, Data: marshalData(s.data),
		Addr: s.addr, Origin: origin, First: s.first.String(), ConnectedAtMs: s.connectedAt.UnixMilli(),
		Version: s.version}
	if !s.endedAt.IsZero() {
		out.EndedAtMs = s.endedAt.UnixMilli()
	}
	return out
}

// sessionFrom reads the state another node sent.
func sessionFrom(s *pb.NodeSession) *session {
	out := &session{sid: s.Sid, pid: s.Pid, rooms: s.Rooms, addr: s.Addr, origin: s.Origin,
		connectedAt: time.UnixMilli(s.ConnectedAtMs), version: s.Version}
	if len(s.Data) > 0 {
		var d any
		if json.Unmarshal(s.Data, &d) == nil {
			out.data = d
		}
	}
	if v, ok := parseVector(s.First); ok {
		out.first = v
	}
	if s.EndedAtMs != 0 {
		out.endedAt = time.UnixMilli(s.EndedAtMs)
	}
	return out
}

// claimRemote handles a request to restore a session that another node
// holds: it asks that node to give it up and puts the request off until
// the answer (true), or, when that node is no longer alive, sets the
// request's restore from the replica kept here (false: spawn it now).
func (a *namespaceActor) claimRemote(ctx actor.Context, m *spawnSocket) bool {
	repl := a.ns.opts.Replication
	if a.log == nil || repl == nil || a.draining != "" || m.remote != nil {
		return false
	}
	req, ok := parseClaim(m.auth)
	if !ok {
		return false
	}
	pid := *req.PID
	if _, local := a.log.sessions[pid]; local {
		return false
	}
	if _, dup := a.log.waiting[pid]; dup {
		return false
	}
	a.ns.mu.RLock()
	r := a.log.replicas[pid]
	a.ns.mu.RUnlock()
	if r == nil {
		return false
	}
	addr := m.conn.conn.RemoteIP()
	if !repl.Alive(r.MemberId) {
		m.remote = a.restoreReplica(req, addr)
		return false
	}
	a.log.waiting[pid] = m
	self, root, member := ctx.Self(), a.ns.rt.system.Root, r.MemberId
	claim := &pb.NodeSessionClaim{Namespace: a.ns.name, Pid: pid, Addr: addr}
	go func() {
		cctx, cancel := context.WithTimeout(context.Background(), claimWait)
		defer cancel()
		s, err := repl.Claim(cctx, member, claim)
		root.Send(self, claimAnswer{pid: pid, member: member, req: m, session: s, err: err})
	}()
	return true
}

// claimed spawns the request put off by claimRemote once the other node
// answered: restored from the session it gave up, or from the replica when
// it died meanwhile, or a new socket.
func (a *namespaceActor) claimed(ctx actor.Context, m claimAnswer) {
	w, ok := a.log.waiting[m.pid]
	if !ok || w != m.req {
		return // an answer for a request that no longer waits
	}
	delete(a.log.waiting, m.pid)
	req, _ := parseClaim(w.auth)
	addr := w.conn.conn.RemoteIP()
	switch {
	case m.session != nil:
		a.ns.mu.Lock()
		delete(a.log.replicas, m.pid)
		w.remote = a.log.restorable(time.Now(), req, sessionFrom(m.session), false)
		a.ns.mu.Unlock()
	case m.err != nil && !a.ns.opts.Replication.Alive(m.member):
		w.remote = a.restoreReplica(req, addr)
	}
	if w.remote == nil {
		w.remote = &restore{} // asked already: no second claim
	}
	a.spawn(ctx, w)
}

// restoreReplica takes the replica of the session req claims, whose node
// is no longer alive, and returns its restore, nil when it cannot be
// restored here.
func (a *namespaceActor) restoreReplica(req claimRequest, addr string) *restore {
	a.ns.mu.Lock()
	defer a.ns.mu.Unlock()
	r := a.log.replicas[*req.PID]
	if r == nil || (a.log.cfg.BindAddress && r.Addr != addr) {
		return nil
	}
	delete(a.log.replicas, *req.PID)
	s := sessionFrom(r)
	now := time.Now()
	if s.endedAt.IsZero() {
		s.endedAt = now // its node died with the socket connected
	}
	return a.log.restorable(now, req, s, true)
}
