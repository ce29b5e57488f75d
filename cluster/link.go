package cluster

import (
	"bufio"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"

	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/internal/bufpool"
	"github.com/actorio/actorio/internal/sysio"
	pb "github.com/actorio/actorio/proto"
)

// This file is the nodes' data plane: what one node sends to another
// node's actorio-node (broadcasts, room changes, broadcasts with acks and
// their acks, server-side events and their acks, replies, queue marks,
// long-polling requests handed over and their answers, goodbyes) goes on
// a link of its own, a
// TCP connection (TLS when the cluster has it) that the node accepts on
// its cluster port beside protoactor's gRPC (see dispatchCreds), not
// through protoactor's remote: a message there passes five goroutines
// (the endpoint writer's mailbox, gRPC's writer, gRPC's reader, the
// endpoint reader, the actor's mailbox) and HTTP/2 framing, which cost a
// broadcast with acks across three nodes about 400 µs of CPU and two trips
// of 80-230 µs on a loaded machine. A link's writer goroutine writes what
// is queued in one write (a frame on a quiet link, its sender; see queue),
// and the other node's reader handles each frame as it reads it, in
// order. Only membership (and Static's probes) stays on protoactor.

const (
	// linkProto is the TLS ALPN protocol of a link; linkMagic opens a
	// plain one (a gRPC connection opens with HTTP/2's preface instead).
	linkProto = "actorio-link/1"
	linkMagic = "ACTORIO-LINK/1\n"
	// linkDialTimeout bounds a dial, its TLS handshake and the hello.
	linkDialTimeout = 5 * time.Second
	// linkWriteTimeout ends a link whose node reads nothing for so long.
	linkWriteTimeout = 10 * time.Second
	// linkRedial is how long after a failed dial what is sent to that node
	// is dropped without another attempt.
	linkRedial = time.Second
	// linkIdle closes a link that carried nothing for so long to a node
	// that is not among the nodes alive (one that asked this node
	// something, then left).
	linkIdle = time.Minute
	// linkAnswerTimeout ends a link whose node has not answered a mark
	// (NodeQueueMark) sent on it so long ago: its connection stalled (a
	// route that black-holes it, a NAT that lost it) or the node reads
	// nothing (see checkLinks).
	linkAnswerTimeout = 10 * time.Second
	// linkCheck is how often checkLinks looks at the links.
	linkCheck = time.Second
	// maxHelloField bounds each field of a hello.
	maxHelloField = 4096
)

// linkSecurity is what a node's links need of the cluster's security.
type linkSecurity struct {
	client *tls.Config // nil for plain links
	// handOverClient is client for the connections that hand requests
	// over (handover.go).
	handOverClient *tls.Config
	secret         string
	// accept hands the connections that dispatchCreds takes from gRPC to
	// the node, once it exists.
	accept *linkAcceptor
	// refusals logs the links refused.
	refusals *refusalLog
}

// link is this node's connection to another node: the frames queued for
// it and the goroutine that writes them.
type link struct {
	n    *node
	addr string
	wake chan struct{} // capacity 1: something was queued, or the link closes

	mu sync.Mutex
	// pending holds the frames queued, not yet written, in order: small
	// ones gathered in buffers of the link's own, a larger one
	// (linkCopyMax) as it was queued, not copied. owned: the last is the
	// link's own buffer, which takes the next small frame.
	pending [][]byte
	owned   bool
	// release holds the bodies of frames in pending that came from
	// bufpool (an answer to a long-polling request handed over), which go
	// back to it once written.
	release [][]byte
	spare   []byte   // the link's buffer of the write before, for reuse
	conn    net.Conn // the connection, while one is open
	closed  bool
	// writing: a write (or the writer's dial) is under way, by the writer
	// goroutine or by a sender writing its frame itself (queue); frames
	// queued meanwhile wait in pending, behind it.
	writing bool
	// raw is conn's socket, sndbuf its kernel send buffer; nil and 0 when
	// unknown (no sender writes its frame itself then).
	raw    syscall.RawConn
	sndbuf int
	// wrote: a sender wrote on the link since the writer last looked, so
	// the link is not idle.
	wrote bool
	// last is when the frame before was queued; carried when the last
	// frame that is not a mark or the answer to one was (see checkLinks).
	last, carried time.Time
	// writeErr is the error of a sender's write on failed, which the
	// writer handles as its own.
	writeErr error
	failed   net.Conn
	// inlined counts the frames senders wrote themselves.
	inlined atomic.Int64
	// opened is when conn opened; asked is when the mark that checkLinks
	// awaits an answer to was sent (zero: none), answered when the last
	// answer to a mark came.
	opened, asked, answered time.Time
}

// inlineShare is the part of a link's kernel send buffer that may be in
// use for a sender to write its frame itself: with at most 1/16 of it
// queued (sent and not acknowledged, on a node alive), the write fits at
// once and cannot block the sender.
const inlineShare = 16

// linkQuiet is how long a link must have been quiet (no frame queued) for
// a sender to write its frame itself. Frames that follow each other more
// closely (a burst of broadcasts) wait for the writer, which sends them in
// one write: the receiving node then reads them together and has each of
// its connections take them in one write too. Writing each frame of a
// burst itself cost the cluster's fan-out about 10% more CPU per delivered
// message.
const linkQuiet = 200 * time.Microsecond

// tlsSlack covers what TLS adds to a frame: a record's header, tag and
// padding.
const tlsSlack = 64

// linkCopyMax is the largest frame copied into the link's buffer when
// queued; a larger one (the answer to a long-polling request handed over,
// say) is queued as it is, and written after what was queued before it.
// A frame is never changed once queued, so one frame can be queued on
// several links.
const linkCopyMax = 4 << 10

// linkTo returns this node's link to addr, made on first use; nil once
// the node is closing.
func (n *node) linkTo(addr string) *link {
	n.linkMu.Lock()
	defer n.linkMu.Unlock()
	if l := n.links[addr]; l != nil {
		return l
	}
	if n.linksClosed {
		return nil
	}
	l := &link{n: n, addr: addr, wake: make(chan struct{}, 1)}
	n.links[addr] = l
	n.linkWG.Add(1)
	go l.run()
	return l
}

// sendTo queues m for the node at addr.
func (n *node) sendTo(addr string, m proto.Message) { n.sendFrame(addr, m, false, false) }

// sendPooled is sendTo for m whose body (bodyOf) came from bufpool and is
// m's alone: it goes back to bufpool once the link wrote it, or copied it.
func (n *node) sendPooled(addr string, m proto.Message) { n.sendFrame(addr, m, false, true) }

// sendControl is sendTo for the marks and their answers, which do not
// make a link carry something for checkLinks: answering a mark would
// otherwise have the other node mark its own link back, and so on, for
// as long as the two nodes live.
func (n *node) sendControl(addr string, m proto.Message) { n.sendFrame(addr, m, true, false) }

// sendFrame queues m for the node at addr; control: see sendControl;
// pooled: see sendPooled. A body that the frame carries after the message
// (bodyOf) is queued as it is, not copied into the frame.
func (n *node) sendFrame(addr string, m proto.Message, control, pooled bool) {
	var release []byte
	if bp := bodyOf(m); pooled && bp != nil {
		release = *bp
	}
	head, tail, err := appendLinkFrameHead(nil, m)
	if err != nil {
		n.log.Error("actorio: cluster link", "err", err)
		bufpool.Put(release)
		return
	}
	if tail == nil && release != nil {
		bufpool.Put(release) // copied into head
		release = nil
	}
	l := n.linkTo(addr)
	if l == nil {
		bufpool.Put(release)
		return
	}
	l.enqueue(control, release, head, tail)
}

// queue appends frame to what the link writes next. When the link was
// quiet (linkQuiet), nothing is queued or being written, and the
// connection's kernel send queue is almost empty, the sender writes the
// frame itself, which spares the wake of the writer goroutine on the path
// of the frame (a broadcast with acks crosses a link each way per round);
// otherwise the writer writes it.
func (l *link) queue(frame []byte) { l.enqueue(false, nil, frame) }

// enqueue is queue for a frame in parts, written one after the other,
// nothing between them (an empty part is skipped); control: the frame is
// a mark or the answer to one (see sendControl); release, when not nil,
// goes back to bufpool once the frame is written (a part of it, which
// came from there).
func (l *link) enqueue(control bool, release []byte, parts ...[]byte) {
	k, size := 0, 0
	for _, p := range parts {
		if len(p) > 0 {
			parts[k] = p
			k++
			size += len(p) + tlsSlack
		}
	}
	parts = parts[:k]
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		bufpool.Put(release)
		return
	}
	now := time.Now()
	quiet := now.Sub(l.last) >= linkQuiet
	l.last = now
	if !control {
		l.carried = now
	}
	if c := l.conn; c != nil && quiet && !l.writing && len(l.pending) == 0 && l.sndbuf > 0 {
		l.writing, l.wrote = true, true
		raw, limit := l.raw, l.sndbuf/inlineShare
		l.mu.Unlock()
		if q, ok := queued(raw); ok && q+size <= limit {
			l.inlined.Add(1)
			l.writeNow(c, parts)
			bufpool.Put(release)
			return
		}
		l.mu.Lock()
		l.writing = false
		if l.closed {
			l.mu.Unlock()
			bufpool.Put(release)
			return
		}
		// What was queued while this sender looked goes behind its frame.
		if len(l.pending) == 0 {
			l.owned = false
		}
		l.pending = append(slices.Clip(parts), l.pending...)
		if release != nil {
			l.release = append(l.release, release)
		}
		l.mu.Unlock()
		l.wakeWriter()
		return
	}
	for _, p := range parts {
		l.push(p)
	}
	if release != nil {
		l.release = append(l.release, release)
	}
	l.mu.Unlock()
	l.wakeWriter()
}

// push queues frame behind what is pending: copied into the link's
// buffer when small, else as it is (see linkCopyMax); l.mu must be held.
func (l *link) push(frame []byte) {
	switch {
	case len(frame) > linkCopyMax:
		l.pending = append(l.pending, frame)
		l.owned = false
	case l.owned:
		last := &l.pending[len(l.pending)-1]
		*last = append(*last, frame...)
	default:
		buf := l.spare
		l.spare = nil
		l.pending = append(l.pending, append(buf[:0], frame...))
		l.owned = true
	}
}

// writeNow writes a frame's parts on c from the sender's goroutine (see
// queue); a failed write is left to the writer, which drops the
// connection and reports the node unreachable.
func (l *link) writeNow(c net.Conn, parts [][]byte) {
	_ = c.SetWriteDeadline(time.Now().Add(linkWriteTimeout))
	err := writeBatch(c, parts)
	if err != nil {
		_ = c.Close()
	}
	l.mu.Lock()
	l.writing = false
	wake := err != nil || len(l.pending) > 0
	if err != nil && l.writeErr == nil {
		l.writeErr, l.failed = err, c
	}
	l.mu.Unlock()
	if wake {
		l.wakeWriter()
	}
}

// wakeWriter wakes the link's writer goroutine.
func (l *link) wakeWriter() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// failure returns the error of a sender's failed write on c, if any, and
// forgets it.
func (l *link) failure(c net.Conn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err, on := l.writeErr, l.failed
	l.writeErr, l.failed = nil, nil
	if on != c {
		return nil // a connection dropped already
	}
	return err
}

// close ends the link: what is queued and not written yet is dropped, and
// a write in progress fails.
func (l *link) close() {
	l.mu.Lock()
	l.closed = true
	l.pending, l.owned, l.release = nil, false, nil
	c := l.conn
	l.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run is the link's writer: it opens the connection when there is
// something to write and none is open, and writes everything queued in one
// write. A failed dial or write drops what it was writing and makes the
// node unreachable (onEndpoint), as a lost gRPC connection does; the next
// frame queued tries again.
func (l *link) run() {
	defer l.n.linkWG.Done()
	var (
		conn     net.Conn
		lost     <-chan struct{} // closed when the other node ends conn
		failedAt time.Time
	)
	idle := time.NewTimer(linkIdle)
	defer idle.Stop()
	drop := func() {
		if conn != nil {
			_ = conn.Close()
			conn, lost = nil, nil
			l.mu.Lock()
			l.conn, l.raw, l.sndbuf = nil, nil, 0
			l.mu.Unlock()
		}
	}
	defer drop()
	for {
		select {
		case <-l.wake:
			if err := l.failure(conn); err != nil && conn != nil {
				drop()
				l.n.linkLost(l.addr, err)
			}
		case <-lost:
			err := l.failure(conn)
			if err == nil {
				err = errors.New("the other node closed the link")
			}
			drop()
			l.n.linkLost(l.addr, err)
			continue
		case <-idle.C:
			if !l.wroteSince() && !l.n.isPeer(l.addr) && l.n.dropLink(l) {
				return
			}
			idle.Reset(linkIdle)
			continue
		}
		l.mu.Lock()
		if l.writing {
			// A sender is writing; it wakes this goroutine for what
			// it leaves queued.
			l.mu.Unlock()
			continue
		}
		batch, owned, release, closed := l.pending, l.owned, l.release, l.closed
		l.pending, l.owned, l.release = nil, false, nil
		l.writing = len(batch) > 0 && !closed
		l.mu.Unlock()
		if closed {
			return
		}
		if len(batch) == 0 {
			continue
		}
		idle.Reset(linkIdle)
		if !l.write(&conn, &lost, &failedAt, batch, owned, drop) {
			return
		}
		// Written, or dropped: nothing refers to these any more.
		for _, b := range release {
			bufpool.Put(b)
		}
	}
}

// write writes batch for run, opening the connection first when none is
// open, and ends the write that run began (l.writing); false when the link
// closed meanwhile. owned: batch's last buffer is the link's own, which
// the next small frames may reuse.
func (l *link) write(conn *net.Conn, lost *<-chan struct{}, failedAt *time.Time, batch [][]byte, owned bool, drop func()) bool {
	defer l.doneWriting()
	if *conn == nil {
		if time.Since(*failedAt) < linkRedial {
			return true // dropped: the node was unreachable a moment ago
		}
		c, err := l.dial()
		if err != nil {
			*failedAt = time.Now()
			l.n.linkLost(l.addr, err)
			return true
		}
		raw := rawConn(c)
		sndbuf := sendBuffer(raw)
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = c.Close()
			return false
		}
		l.conn, l.raw, l.sndbuf = c, raw, sndbuf
		l.opened = time.Now()
		l.mu.Unlock()
		*conn, *lost = c, l.watch(c)
		l.n.onEndpoint(&remote.EndpointConnectedEvent{Address: l.addr})
	}
	last := batch[len(batch)-1]
	_ = (*conn).SetWriteDeadline(time.Now().Add(linkWriteTimeout))
	if err := writeBatch(*conn, batch); err != nil {
		drop()
		l.n.linkLost(l.addr, err)
		return true
	}
	if owned && cap(last) <= 64<<10 {
		l.mu.Lock()
		l.spare = last[:0]
		l.mu.Unlock()
	}
	return true
}

// doneWriting ends the writer's write, and has it look again if frames
// were queued meanwhile.
func (l *link) doneWriting() {
	l.mu.Lock()
	l.writing = false
	more := len(l.pending) > 0
	l.mu.Unlock()
	if more {
		l.wakeWriter()
	}
}

// wroteSince reports whether a sender wrote on the link since the last
// call, which keeps the link from being idle.
func (l *link) wroteSince() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.wrote
	l.wrote = false
	return w
}

// errUnanswered ends a link whose node answered no mark for
// linkAnswerTimeout.
var errUnanswered = fmt.Errorf("no answer on the link for %v", linkAnswerTimeout)

// checkLinks ends, every linkCheck, the connection of each link to a node
// alive that has not answered the mark it was sent linkAnswerTimeout ago
// (and protoactor's connection to it), and marks each link that carried
// something since its last answer. A link fails by itself when the other
// node closes it or resets it, or once the kernel's send buffer is full
// for linkWriteTimeout; a connection that stalls without either (its
// packets dropped, with little sent on it) would otherwise keep what is
// sent on it from that node until the kernel gives up (minutes), and
// calls waiting for that node's answers until their context ends. Ended, the
// node is unreachable (calls waiting for it return ErrNodeUnreachable)
// until a new connection opens, which the next frame queued makes.
func (n *node) checkLinks() {
	defer n.linkWG.Done()
	t := time.NewTicker(linkCheck)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case now := <-t.C:
			for _, p := range *n.peers.Load() {
				l := n.existingLink(p.addr)
				if l == nil {
					continue
				}
				ask, c, waited := l.check(now)
				if c != nil {
					n.log.Warn("actorio: cluster node answered nothing on its link: the link is closed and opened again",
						"address", p.addr, "member", p.id, "waited", waited.Round(time.Millisecond))
					_ = c.Close()
					l.wakeWriter()
					// A route that stalls the link stalls protoactor's
					// connection to that node too, which only Static's
					// probes use now: it is dropped as when a member
					// leaves, and the next probe dials again.
					n.sys.EventStream.Publish(&remote.EndpointTerminatedEvent{Address: p.addr})
				}
				if ask {
					n.linkMarks.Add(1)
					n.sendControl(p.addr, &pb.NodeQueueMark{ReplyTo: n.address(), Sent: p.q.sent.Load()})
				}
			}
		}
	}
}

// existingLink returns the link to addr if there is one.
func (n *node) existingLink(addr string) *link {
	n.linkMu.Lock()
	defer n.linkMu.Unlock()
	return n.links[addr]
}

// check is checkLinks' look at l at now: ask, to send a mark (a frame
// other than a mark or an answer was queued since the last answer, and no
// mark is awaited, which it then records); end, a connection for the
// caller to close, on which a mark has gone unanswered for waited (its
// failure, errUnanswered, is left for the writer).
func (l *link) check(now time.Time) (ask bool, end net.Conn, waited time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false, nil, 0
	}
	if !l.asked.IsZero() {
		waited = now.Sub(l.asked)
		if waited < linkAnswerTimeout {
			return false, nil, 0
		}
		asked := l.asked
		l.asked = time.Time{}
		if l.conn == nil || l.opened.After(asked) {
			// The mark was lost with a connection whose loss is known
			// already, or dropped without one: the next look asks again.
			return false, nil, 0
		}
		if l.writeErr == nil {
			l.writeErr, l.failed = errUnanswered, l.conn
		}
		return false, l.conn, waited
	}
	if !l.carried.After(l.answered) {
		return false, nil, 0
	}
	l.asked = now
	return true, nil, 0
}

// markAnswered records that the node at addr answered a mark.
func (n *node) markAnswered(addr string) {
	if l := n.existingLink(addr); l != nil {
		l.mu.Lock()
		l.asked, l.answered = time.Time{}, time.Now()
		l.mu.Unlock()
	}
}

// watch reads from an outgoing link, on which the other node sends
// nothing, to learn at once that it ended (the node closed, died or
// refused the link); the channel closes then.
func (l *link) watch(c net.Conn) <-chan struct{} {
	lost := make(chan struct{})
	l.n.linkWG.Add(1)
	go func() {
		defer l.n.linkWG.Done()
		defer close(lost)
		var b [1]byte
		_, _ = c.Read(b[:])
	}()
	return lost
}

// dial opens the link (see dialNode).
func (l *link) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(l.n.ctx, linkDialTimeout)
	defer cancel()
	return l.n.dialNode(ctx, l.addr, linkKind)
}

// connKind is what a connection opened on another node's cluster port
// carries: a link, or requests handed over (handover.go). Each has its
// TLS ALPN protocol and, on plain connections, its magic line (of one
// length).
type connKind struct {
	proto, magic string
}

var (
	linkKind     = connKind{linkProto, linkMagic}
	handOverKind = connKind{handOverProto, handOverMagic}
)

// dialNode opens a connection of kind k to the node at addr: TCP, TLS
// with k's ALPN protocol (or k's magic line when plain), then the hello,
// which names this node and carries the cluster secret.
func (n *node) dialNode(ctx context.Context, addr string, k connKind) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	raw = sysio.Wrap(raw)
	conn := raw
	cfg := n.sec.client
	if k == handOverKind {
		cfg = n.sec.handOverClient
	}
	if cfg != nil {
		under := raw
		if k == linkKind {
			under = &batchConn{Conn: raw}
		}
		tc := tls.Client(under, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("TLS: %w", err)
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != k.proto {
			_ = tc.Close()
			return nil, fmt.Errorf("the node does not take %s (ALPN %q)", k.proto, p)
		}
		conn = tc
	}
	var hello []byte
	if n.sec.client == nil {
		hello = append(hello, k.magic...)
	}
	hello = appendHello(hello, n.sec.secret, n.address(), n.member())
	deadline, _ := ctx.Deadline()
	_ = conn.SetWriteDeadline(deadline)
	if _, err := conn.Write(hello); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("hello: %w", err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

// appendHello appends the hello that opens a connection to another node
// once connected (and, with TLS, handshaken; a plain one after its magic
// line): three fields, each its length (uvarint) and bytes: the cluster
// secret, then the address and the member id of the node that opens it.
func appendHello(b []byte, secret, addr, member string) []byte {
	for _, f := range []string{secret, addr, member} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// linkLost reports that the link to addr failed: for a node alive, as a
// lost gRPC connection (onEndpoint).
func (n *node) linkLost(addr string, err error) {
	if n.closed.Load() {
		return
	}
	n.log.Debug("actorio: cluster link lost", "address", addr, "err", err)
	n.onEndpoint(&remote.EndpointTerminatedEvent{Address: addr})
}

// isPeer reports whether addr is the address of a node alive.
func (n *node) isPeer(addr string) bool {
	for _, p := range *n.peers.Load() {
		if p.addr == addr {
			return true
		}
	}
	return false
}

// dropLink forgets l, which ends, unless something was queued on it
// meanwhile.
func (n *node) dropLink(l *link) bool {
	n.linkMu.Lock()
	defer n.linkMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) > 0 || l.writing {
		return false
	}
	l.closed = true
	if n.links[l.addr] == l {
		delete(n.links, l.addr)
	}
	return true
}

// linkAcceptor hands the links accepted on the cluster port to the node.
type linkAcceptor struct {
	mu sync.Mutex
	n  *node
}

func (a *linkAcceptor) set(n *node) {
	a.mu.Lock()
	a.n = n
	a.mu.Unlock()
}

// accept reads the hello of a connection of kind k another node opened,
// in the calling goroutine (gRPC's for that connection: what a client
// that sends nothing holds is bounded by linkDialTimeout), refuses it
// without the cluster secret, and serves it on a goroutine of its own
// once gRPC let go of it (markRelease): a link, or requests handed over,
// with the node's HTTP server (handover.go). It closes conn when no node
// takes them.
func (a *linkAcceptor) accept(conn net.Conn, k connKind) {
	a.mu.Lock()
	n := a.n
	a.mu.Unlock()
	if n == nil {
		_ = conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(linkDialTimeout))
	// A node that closes does not wait for a hello (gRPC's Stop waits for
	// this goroutine).
	stop := context.AfterFunc(n.ctx, func() { _ = conn.Close() })
	defer stop()
	r := bufio.NewReaderSize(conn, 16<<10)
	var fields [3]string
	for i := range fields {
		f, err := readSized(r, maxHelloField)
		if err != nil {
			n.sec.refusals.refuse(conn.RemoteAddr().String(), "bad link hello: "+err.Error())
			_ = conn.Close()
			return
		}
		fields[i] = string(f)
	}
	secret, from := fields[0], fields[1]
	if n.sec.secret != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(n.sec.secret)) != 1 {
		n.sec.refusals.refuse(conn.RemoteAddr().String(), "wrong or missing cluster secret")
		_ = conn.Close()
		return
	}
	markRelease(conn)
	_ = conn.SetReadDeadline(time.Time{})
	if k == handOverKind {
		go func() {
			awaitRelease(conn)
			n.handOver(conn, r)
		}()
		return
	}
	if !n.startLinkWork(conn) {
		_ = conn.Close()
		return
	}
	go func() {
		awaitRelease(conn)
		n.serveLink(conn, r, from)
	}()
}

// startLinkWork counts conn among the links the node serves, unless it is
// closing.
func (n *node) startLinkWork(conn net.Conn) bool {
	n.linkMu.Lock()
	defer n.linkMu.Unlock()
	if n.linksClosed {
		return false
	}
	n.inbound[conn] = struct{}{}
	n.linkWG.Add(1)
	return true
}

// serveLink handles each frame of the link that the node at from opened,
// in order, until it ends.
func (n *node) serveLink(conn net.Conn, r *bufio.Reader, from string) {
	defer n.linkWG.Done()
	defer func() {
		_ = conn.Close()
		n.linkMu.Lock()
		delete(n.inbound, conn)
		n.linkMu.Unlock()
		// Their answers could not go back the way they came.
		n.cancelHandOvers(from)
	}()
	// The sockets' writers that broadcasts start wait until the frames
	// already read are delivered (at most maxHeldFrames of them): each
	// connection then takes them in one write, instead of one write for
	// each frame as it comes. Nothing else is done while they wait.
	var held gateway.Held
	defer held.Release()
	frames := 0
	for {
		if frames >= maxHeldFrames || !frameBuffered(r) {
			held.Release()
			frames = 0
		}
		m, err := readLinkFrame(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !n.closed.Load() && !errors.Is(err, net.ErrClosed) {
				n.log.Warn("actorio: cluster link from another node ended", "address", from, "err", err)
			}
			return
		}
		if m == nil {
			continue // a kind of message of a newer build
		}
		if _, ok := m.(*pb.NodeBroadcast); ok {
			frames++
			n.handle(m, &held)
			continue
		}
		held.Release()
		frames = 0
		n.handleLink(from, m)
	}
}

// maxHeldFrames bounds the broadcasts a link delivers while the writers
// they start wait (serveLink): it bounds what the first of them waits.
const maxHeldFrames = 32

// handleLink handles one message that the node at from sent on its link.
func (n *node) handleLink(from string, m proto.Message) {
	switch m := m.(type) {
	case *pb.NodeLeaving:
		n.leaving(m.MemberId, m.Address)
		n.cancelHandOvers(m.Address)
		// After everything it sent before: the goodbye's answer tells it
		// all of that was handled.
		n.sendTo(from, &pb.NodeLeavingAck{})
	case *pb.NodeLeavingAck:
		n.linkMu.Lock()
		if ch, ok := n.leaveAcks[from]; ok {
			close(ch)
			delete(n.leaveAcks, from)
		}
		n.linkMu.Unlock()
	default:
		n.handle(m, nil)
	}
}

// closeLinks ends every link, out and in, and waits for their goroutines.
func (n *node) closeLinks() {
	n.linkMu.Lock()
	n.linksClosed = true
	links := slices.Collect(maps.Values(n.links))
	for c := range n.inbound {
		_ = c.Close()
	}
	n.linkMu.Unlock()
	for _, l := range links {
		l.close()
	}
	n.linkWG.Wait()
}
