package cluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	pb "github.com/actorio/actorio/proto"
)

// This file carries the requests one node hands over to another: a
// long-polling request or a WebSocket upgrade for a session of another
// node (package actorio's forwarder). A long-polling request travels as a
// NodeHandOver on the link to that node, and its answer as a
// NodeHandOverReply on the link back, the node's server serving it
// (Receiver.ServeHandOver). A WebSocket upgrade travels as HTTP/1.1 on a
// connection of its own to the other node's cluster port, which becomes
// its tunnel, opened and secured as links are (mutual TLS with the
// handOverProto ALPN protocol, or the handOverMagic line when plain, then
// the hello with the cluster secret), and that node's server serves it
// (Receiver.HandOver). So a hand-over needs nothing of the node's public
// HTTP endpoint (its address, its scheme, a certificate for it, its mux's
// routes), and what clients send crosses between nodes as securely as
// broadcasts do.

// handOverWaiter waits for the answer to a NodeHandOver.
type handOverWaiter = replyWaiter[*pb.NodeHandOverReply]

// HandOverRequest implements clusterlink.Node. A request costs a frame on
// the link each way, written by the goroutine that has it when the link
// is quiet (see link.queue): no connection of its own, no HTTP framing
// between the nodes, and no goroutine of the link's in between.
func (n *node) HandOverRequest(ctx context.Context, addr string, r *pb.NodeHandOver) (*pb.NodeHandOverReply, error) {
	var p peer
	found := false
	for _, q := range n.others() {
		if q.addr == addr {
			p, found = q, true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("hand a request over to %s: %w", addr, ErrNodeUnreachable)
	}
	replies, err := collectReplies[*pb.NodeHandOverReply](ctx, n, []peer{p}, "answer", func(id uint64) []string {
		r.RequestId, r.ReplyTo = id, n.address()
		return n.send([]peer{p}, r)
	})
	if len(replies) > 0 {
		return replies[0], nil
	}
	if err == nil {
		err = ErrNodeUnreachable // dropped from the membership meanwhile
	}
	if ctx.Err() != nil && !n.closed.Load() {
		// Its server's request ends too (a pending GET returns).
		n.sendTo(addr, &pb.NodeHandOverCancel{RequestId: r.RequestId, ReplyTo: r.ReplyTo})
	}
	return nil, fmt.Errorf("hand a request over to %s: %w", addr, err)
}

// cancelHandOvers ends the requests the node at addr handed over that are
// still being served: it left, or its link ended, and waits for them no
// more (the server then handles each as a request whose client went
// away).
func (n *node) cancelHandOvers(addr string) {
	n.handing.Range(func(k, cancel any) bool {
		if k.(ackKey).replyTo == addr {
			cancel.(context.CancelFunc)()
		}
		return true
	})
}

// handOverEndWait bounds how long a node that leaves waits for the
// answers of the requests handed over to it that its server is ending
// (endHandOvers).
const handOverEndWait = time.Second

// endHandOvers, as the node starts to leave, has its server end the
// sessions of the requests other nodes handed over to it that are still
// being served, and waits until their answers are queued on the links
// (handOverEndWait at most): they go before the goodbyes, which end the
// other nodes' waits for this one. A client whose GET was handed over
// then gets its session's last packets, as it would had it reached this
// node, rather than "Session ID unknown".
func (n *node) endHandOvers() {
	// A barrier: every startWork that saw the node open has added.
	n.workMu.Lock()
	n.workMu.Unlock() //nolint:staticcheck
	done := make(chan struct{})
	go func() {
		n.handOvers.Wait()
		close(done)
	}()
	n.recv.EndHandOvers()
	t := time.NewTimer(handOverEndWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// LinkHandOver implements clusterlink.Node: true unless the node at addr
// answered its last route query without saying it takes requests on the
// link.
func (n *node) LinkHandOver(addr string) bool {
	old, _ := n.oldHandOver.Load(addr)
	return old != true
}

// serveHandOver serves, on a goroutine of its own (a long-polling GET
// waits for what its session sends), a request another node handed over,
// and sends it the answer. The request's context ends when that node
// cancels it (NodeHandOverCancel, which comes after it on the same link,
// so finds it registered) or this node closes.
func (n *node) serveHandOver(m *pb.NodeHandOver) {
	if m.ReplyTo == "" || !n.startWork(&n.handOvers) {
		return
	}
	n.handedOver.Add(1)
	ctx, cancel := context.WithCancel(n.ctx)
	key := ackKey{m.ReplyTo, m.RequestId}
	n.handing.Store(key, cancel)
	go func() {
		defer n.work.Done()
		defer n.handOvers.Done()
		defer func() {
			n.handing.Delete(key)
			cancel()
		}()
		reply, pooled := n.recv.ServeHandOver(ctx, m)
		if reply == nil || ctx.Err() != nil {
			return // the other node stopped waiting, or this one closed
		}
		reply.RequestId, reply.MemberId = m.RequestId, n.member()
		if pooled {
			n.sendPooled(m.ReplyTo, reply)
		} else {
			n.sendTo(m.ReplyTo, reply)
		}
	}()
}

const (
	// handOverProto is the TLS ALPN protocol of a hand-over connection;
	// handOverMagic opens a plain one.
	handOverProto = "actorio-http/1"
	handOverMagic = "ACTORIO-HTTP/1\n"
)

// dispatchCreds tells connections apart by reading as many bytes as a
// link's magic line: a hand-over's must be as long.
var _ = [1]struct{}{}[len(handOverMagic)-len(linkMagic)]

// DialHandOver implements clusterlink.Node: a connection to the node at
// addr (its cluster address) that carries requests handed over to it.
func (n *node) DialHandOver(ctx context.Context, addr string) (net.Conn, error) {
	if n.closed.Load() {
		return nil, errors.New("the node is closing")
	}
	ctx, cancel := context.WithTimeout(ctx, linkDialTimeout)
	defer cancel()
	return n.dialNode(ctx, addr, handOverKind)
}

// markRelease marks conn, which gRPC accepted and the cluster port's
// dispatcher takes away from it, so that awaitRelease learns when gRPC has
// let go of it.
//
// gRPC resets the deadlines of a connection it accepted once its
// credentials' handshake returns, even when the handshake took the
// connection away (credentials.ErrConnDispatched). A reset that comes
// after whoever serves the connection set a deadline in the past to
// interrupt a read in progress can undo the interruption before the
// reader sees it, and the read goes on waiting. net/http does so before a
// hijack: a WebSocket upgrade handed over hung on it (hand-over
// connections); a link's reader sets no deadline, but would be exposed
// alike. So the handshake marks the connection with a write deadline in
// the past, which gRPC's reset clears, and the connection is served once
// a write of nothing no longer fails.
func markRelease(conn net.Conn) { _ = underTLS(conn).SetWriteDeadline(time.Unix(1, 0)) }

// awaitRelease waits until gRPC has let go of conn, which markRelease
// marked, at most releaseWait, or until conn is closed, and clears the
// mark.
func awaitRelease(conn net.Conn) {
	raw := underTLS(conn)
	for start := time.Now(); time.Since(start) < releaseWait; time.Sleep(100 * time.Microsecond) {
		if _, err := raw.Write(nil); err == nil || errors.Is(err, net.ErrClosed) {
			break
		}
	}
	_ = raw.SetWriteDeadline(time.Time{})
}

// underTLS returns the connection under conn when conn is a TLS one (the
// TCP connection gRPC accepted, for a connection taken from it), else conn.
func underTLS(conn net.Conn) net.Conn {
	if tc, ok := conn.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return conn
}

// releaseWait bounds the wait for gRPC to let go of a connection
// (awaitRelease); gRPC does within microseconds of the handshake's return.
const releaseWait = time.Second

// handOver gives the server conn, a hand-over connection whose hello r
// read, with what r holds past the hello. The server sees a plain
// connection: replayConn hides TLS, which secures only the hop between
// the nodes.
func (n *node) handOver(conn net.Conn, r *bufio.Reader) {
	c := &replayConn{Conn: conn}
	if r.Buffered() > 0 {
		head, _ := r.Peek(r.Buffered())
		c.head = append([]byte(nil), head...)
	}
	n.recv.HandOver(c)
}
