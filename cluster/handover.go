package cluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// This file carries the requests one node hands over to another: a
// long-polling request or a WebSocket upgrade for a session of another
// node (package actorio's forwarder). They travel as HTTP (HTTP/2 with
// prior knowledge for the long-polling requests, HTTP/1.1 for the
// upgrades) on connections to the other node's cluster port, opened and
// secured as links are (mutual TLS with the handOverProto ALPN protocol,
// or the handOverMagic line when plain, then the hello with the cluster
// secret), and that node's server serves them (Receiver.HandOver). So a
// hand-over needs nothing of the node's public HTTP endpoint (its
// address, its scheme, a certificate for it, its mux's routes), and what
// clients send crosses between nodes as securely as broadcasts do.

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
