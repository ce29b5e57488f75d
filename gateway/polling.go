package gateway

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/bufpool"
	"github.com/actorio/actorio/internal/workpool"
	"github.com/actorio/actorio/protocol/engineio"
)

const pollContentType = "text/plain; charset=UTF-8"

// binaryContentType is the content type of an Engine.IO v3 binary
// payload, in a GET's answer and in a POST.
const binaryContentType = "application/octet-stream"

var (
	noopBody  = []byte{engineio.Noop.Char()}
	closeBody = []byte{engineio.Close.Char()}
	// The same in an Engine.IO v3 text payload.
	noopBodyV3  = engineio.AppendPayloadV3(nil, []engineio.Packet{{Type: engineio.Noop}})
	closeBodyV3 = engineio.AppendPayloadV3(nil, []engineio.Packet{{Type: engineio.Close}})
)

// upgradeHold is how long a GET that started during an upgrade waits, once
// the probe is answered, before it gets its noop (see servePoll).
const upgradeHold = 100 * time.Millisecond

// servePoll answers a long-polling GET: with every queued packet as soon as
// there is one, with a noop while an upgrade is under way, or with a close
// packet when the session ends.
//
// A GET that started before the upgrade request gets its noop as soon as
// the probe is answered: the client waits for that GET to end before it
// sends the upgrade packet. A GET that started during the upgrade may have
// been sent after the upgrade packet, racing it on another connection; it
// waits up to upgradeHold after the probe answer for that packet. If the
// upgrade completes meanwhile, the GET is refused (400) like any GET after
// an upgrade; otherwise it gets the noop.
func (c *Conn) servePoll(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	// Once finalSent, the session ended and a GET already told the client.
	if !c.claimLocked(w, r, &c.polling, c.finalSent, CodeUnknownSID) {
		return
	}
	racesUpgrade := c.upgrading
	var hold *time.Timer
	defer func() {
		if hold != nil {
			hold.Stop()
		}
	}()
	// Drop a stale wake-up left by an earlier request.
	select {
	case <-c.pollWake:
	default:
	}
	for {
		if racesUpgrade && !c.isClosed {
			if c.ws != nil {
				c.polling = false
				c.mu.Unlock()
				c.srv.reject(w, r, CodeBadRequest, TransportPolling)
				return
			}
			if c.paused && hold == nil {
				hold = time.NewTimer(upgradeHold)
			}
		}
		var held <-chan time.Time
		if hold != nil && c.paused && !c.isClosed {
			held = hold.C
		}
		if held == nil {
			body, binary, plain, pooled, done := c.pollBodyLocked()
			if done {
				c.polling = false
				final := c.finalSent
				retire := c.retiringLocked()
				c.mu.Unlock()
				if final {
					c.srv.unlinger(c)
				}
				c.srv.addHeaders(w.Header(), r, false, "")
				retireConnection(w, r, retire)
				contentType := pollContentType
				if binary {
					contentType = binaryContentType
				}
				kept := c.srv.writePoll(w, r, body, contentType, plain, pooled)
				if pooled && !kept {
					bufpool.Put(body) // a Write does not keep what it is given
				}
				return
			}
		}
		closed := c.closedLocked()
		c.mu.Unlock()
		select {
		case <-c.pollWake:
		case <-held:
			c.mu.Lock()
			racesUpgrade = false // the hold is over: answer as usual
			hold = nil
			continue
		case <-closed:
		case <-r.Context().Done():
			c.mu.Lock()
			c.polling = false
			c.mu.Unlock()
			c.closeWith(disconnect.TransportError, ErrPollAborted, closeAbort)
			return
		}
		c.mu.Lock()
	}
}

// pollBodyLocked returns the body a pending GET should answer now, if any,
// whether it is a binary (v3) payload, whether every packet in it was
// sent uncompressed (see SendOptions), and whether it came from
// bufpool; c.mu must be held.
func (c *Conn) pollBodyLocked() (body []byte, binary, plain, pooled, done bool) {
	switch {
	case c.isClosed && c.mode == closeFlush && len(c.queue) > 0 && c.lingering:
		// What was queued first; the close packet goes to the next GET
		// (see closeWith).
		body, binary, plain = c.takeAnswerLocked()
		return body, binary, plain, true, true
	case c.isClosed:
		if !c.finalSent && c.finalCh != nil {
			close(c.finalCh)
		}
		c.finalSent = true
		switch c.mode {
		case closeByClient:
			return c.noopBody(), false, false, false, true
		case closeFlush:
			q, _ := c.takeLocked() // with the close packet, never all plain
			q = append(q, engineio.Packet{Type: engineio.Close})
			body, binary = c.payload(q)
			return body, binary, false, true, true
		default:
			if c.eio3 {
				return closeBodyV3, false, false, false, true
			}
			return closeBody, false, false, false, true
		}
	case c.ws != nil || c.paused:
		return c.noopBody(), false, false, false, true
	case len(c.queue) > 0:
		body, binary, plain = c.takeAnswerLocked()
		return body, binary, plain, true, true
	}
	return nil, false, false, false, false
}

// takeAnswerLocked takes the whole queue as a GET's answer: its body,
// from bufpool, whether that is a binary (v3) payload, and whether every
// packet in it was sent uncompressed; the queue's arrays go back to their
// pools. c.mu must be held.
func (c *Conn) takeAnswerLocked() (body []byte, binary, plain bool) {
	first, more, n, flags := c.takePollLocked()
	body, binary = c.payloadOf(first, more, n)
	// The body holds a copy of every packet: the arrays go back.
	giveBack(first)
	for _, seg := range more {
		giveBack(seg)
	}
	return body, binary, allPlain(flags, n)
}

// allPlain reports whether the flags takeLocked returned with n packets
// mark every one of them as sent uncompressed.
func allPlain(flags []sendFlags, n int) bool {
	if len(flags) != n {
		return false // nil: none was
	}
	for _, f := range flags {
		if f&sendUncompressed == 0 {
			return false
		}
	}
	return true
}

// noopBody returns the payload of a lone noop packet for the session.
func (c *Conn) noopBody() []byte {
	if c.eio3 {
		return noopBodyV3
	}
	return noopBody
}

// payload encodes q, in a buffer from bufpool, as the session's
// polling client reads it, and reports whether the body is a binary
// payload: Engine.IO v4's packets joined by the record separator; for
// v3, a binary payload when q holds a binary message and the client reads
// binary (it did not ask b64), a text payload otherwise.
func (c *Conn) payload(q []engineio.Packet) ([]byte, bool) {
	switch {
	case !c.eio3:
		return engineio.AppendPayload(bufpool.Get(engineio.PayloadLen(q)), q), false
	case !c.pollB64 && engineio.HasBinary(q):
		return engineio.AppendBinaryPayloadV3(bufpool.Get(engineio.BinaryPayloadV3Len(q)), q), true
	default:
		return engineio.AppendPayloadV3(bufpool.Get(engineio.PayloadV3Len(q)), q), false
	}
}

// payloadOf is payload for the n packets of first, then of each array of
// more (takePollLocked).
func (c *Conn) payloadOf(first []engineio.Packet, more [][]engineio.Packet, n int) ([]byte, bool) {
	if len(more) == 0 {
		return c.payload(first)
	}
	if c.eio3 {
		q := make([]engineio.Packet, 0, n)
		q = append(q, first...)
		for _, seg := range more {
			q = append(q, seg...)
		}
		return c.payload(q)
	}
	size := engineio.PayloadLen(first) // n packets, n-1 separators
	for _, seg := range more {
		if len(seg) > 0 {
			size += 1 + engineio.PayloadLen(seg)
		}
	}
	body := engineio.AppendPayload(bufpool.Get(size), first)
	for _, seg := range more {
		if len(seg) == 0 {
			continue
		}
		if len(body) > 0 {
			body = append(body, engineio.Separator)
		}
		body = engineio.AppendPayload(body, seg)
	}
	return body, false
}

// decodePost decodes the body of a POST: Engine.IO v4's payload; for v3,
// a binary payload when the content type says so (exactly, as Node
// reads it), a text payload otherwise. On a malformed body it returns
// the packets before the fault with the error.
func (c *Conn) decodePost(r *http.Request, body []byte) ([]engineio.Packet, error) {
	switch {
	case !c.eio3:
		pkts, err := engineio.DecodePayload(body)
		if err != nil {
			pkts = decodablePrefix(body)
		}
		return pkts, err
	case r.Header.Get("Content-Type") == binaryContentType:
		return engineio.DecodeBinaryPayloadV3(body)
	default:
		return engineio.DecodePayloadV3(body)
	}
}

// servePost reads a long-polling POST body and processes its packets.
func (c *Conn) servePost(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if c.isClosed && c.mode == closeFlush && !c.finalSent && !c.posting {
		// The server closed the session and the client has not polled
		// since: as Node does while the close waits for that GET, take
		// the POST and drop its packets.
		c.mu.Unlock()
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, c.srv.cfg.MaxPayload))
		c.srv.addHeaders(w.Header(), r, false, "")
		writeBody(w, "text/html", []byte("ok"))
		return
	}
	if !c.claimLocked(w, r, &c.posting, c.isClosed, CodeBadRequest) {
		return
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.posting = false
		c.mu.Unlock()
	}()

	limit := c.srv.cfg.MaxPayload
	if r.ContentLength > limit {
		c.tooLarge(w, r, r.ContentLength)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		c.logAt(slog.LevelWarn, "engine.io polling body read failed", slog.Any("err", err))
		c.srv.fail(w, r, CodeBadRequest)
		c.closeWith(disconnect.TransportError, err, closeAbort)
		return
	}
	if int64(len(body)) > limit {
		c.tooLarge(w, r, int64(len(body)))
		return
	}
	pkts, err := c.decodePost(r, body)
	if err != nil {
		// As Node: the packets before the one that does not decode are
		// handled, the session closes with "parse error", and the POST
		// that carried them gets its "ok".
		c.logAt(slog.LevelWarn, "engine.io malformed polling payload", slog.String("transport", TransportPolling), slog.Any("err", err))
	}
	for i, p := range pkts {
		var d *postDelivery
		var via suspendable
		if i == len(pkts)-1 && err == nil && p.Type == engineio.Message {
			// Only the POST's last packet may be suspended: there is then
			// nothing left for the POST to deliver (see Conn.Suspend).
			d = &postDelivery{c: c}
			via = d
		}
		if !c.handlePacket(p, via) {
			break
		}
		if d != nil && d.suspended() {
			d.answer()
		}
	}
	if err != nil {
		c.closeWith(disconnect.ParseError, err, closeAbort)
	}
	c.awaitRacingGet(r)
	c.mu.Lock()
	retire := c.retiringLocked()
	c.mu.Unlock()
	c.srv.addHeaders(w.Header(), r, false, "")
	retireConnection(w, r, retire)
	writeBody(w, "text/html", []byte("ok"))
}

// retiringLocked reports whether the session's polling transport is done
// with, or about to be: an upgrade is under way or complete. c.mu must be
// held.
func (c *Conn) retiringLocked() bool {
	return !c.isClosed && (c.upgrading || c.paused || c.ws != nil)
}

// retireConnection asks net/http to close the HTTP/1 connection of r
// after its answer, when retire: the session's polling requests are over
// once it upgrades, and a browser keeps an idle connection open for
// minutes, in which net/http holds a goroutine and about 10 KB of buffers
// for it (Node closes one after 5 s, its keepAliveTimeout; Go's
// http.Server only with IdleTimeout set).
func retireConnection(w http.ResponseWriter, r *http.Request, retire bool) {
	if retire && r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
}

// decodablePrefix returns the packets of a payload that come before the
// first record that does not decode.
func decodablePrefix(body []byte) []engineio.Packet {
	var pkts []engineio.Packet
	for _, rec := range bytes.Split(body, []byte{engineio.Separator}) {
		p, err := engineio.DecodePayload(rec)
		if err != nil || len(p) != 1 {
			break
		}
		pkts = append(pkts, p[0])
	}
	return pkts
}

// claimLocked marks the request r as the one GET or POST in flight, busy
// being c.polling or c.posting, and reports true with c.mu still held. It
// answers r instead and unlocks c.mu when refused (with code) or when
// another request of the same method is in flight. c.mu must be held.
func (c *Conn) claimLocked(w http.ResponseWriter, r *http.Request, busy *bool, refused bool, code ErrorCode) bool {
	switch {
	case refused:
		c.mu.Unlock()
		c.srv.reject(w, r, code, TransportPolling)
		return false
	case *busy:
		c.mu.Unlock()
		c.overlap(w, r)
		return false
	}
	*busy = true
	return true
}

// overlap answers a GET that comes while one is pending, or a POST while
// one is being handled, as Node does: 400 with no body, and the session
// closes with "transport error".
func (c *Conn) overlap(w http.ResponseWriter, r *http.Request) {
	c.logAt(slog.LevelWarn, "engine.io overlapping polling request", slog.String("method", r.Method), slog.String("remote", r.RemoteAddr))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusBadRequest)
	c.closeWith(disconnect.TransportError, ErrPollOverlap, closeAbort)
}

// racingGetWait bounds how long the POST that carried the client's close
// waits for a GET sent with it, when no GET was pending (a client that
// polls has one pending: it does not wait). It was raised from 50 ms for
// failures of TestPollingGetRacingClientCloseGetsNoop whose cause turned
// out to be elsewhere (a GET that found the session live, then saw it
// closed, was refused instead of served: see ServeHTTP); the longer bound
// costs only a client that closes without polling.
const racingGetWait = 200 * time.Millisecond

// awaitRacingGet runs after a POST's packets were handled. When they
// closed the session (the client's close packet, a ping from the client,
// a payload that does not decode) with no GET pending, a GET the client
// sent at the same time, on another connection, may not have been handled
// yet; Node, which reads the POST's body after it, answers that GET with
// the noop (after the client's close) or the close packet. So the POST
// waits, up to racingGetWait, for such a GET to take its answer, and only
// then, before its own answer leaves, ends the session's lingering: a GET
// the client sends after reading that answer gets 400, as in Node.
func (c *Conn) awaitRacingGet(r *http.Request) {
	c.mu.Lock()
	if !c.isClosed || c.mode == closeFlush || !c.lingering || c.finalSent {
		c.mu.Unlock()
		return
	}
	if c.finalCh == nil {
		c.finalCh = make(chan struct{})
	}
	final := c.finalCh
	c.mu.Unlock()
	t := time.NewTimer(racingGetWait)
	select {
	case <-final:
	case <-t.C:
	case <-r.Context().Done():
	}
	t.Stop()
	c.mu.Lock()
	c.lingering = false
	c.mu.Unlock()
	c.srv.unlinger(c)
}

// tooLarge answers a POST r over MaxPayload as Node does: 413 with no
// body, and the session goes on (the client's next POST is served). The
// rest of the body is never read: on HTTP/1 the connection closes after
// the answer; on HTTP/2 only the request's stream ends, since the
// connection carries the client's other requests (net/http would turn
// Connection: close into a GOAWAY for all of them).
func (c *Conn) tooLarge(w http.ResponseWriter, r *http.Request, n int64) {
	c.logAt(slog.LevelWarn, "engine.io polling body too large", slog.Int64("size", n), slog.Int64("max", c.srv.cfg.MaxPayload))
	h := w.Header()
	if r.ProtoMajor == 1 {
		h.Set("Connection", "close")
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
}

// postDelivery lets the delivery of a POST's last packet be suspended
// (Conn.Suspend). The POST is then answered at once, as Node answers a
// POST once it has read it, and holds no goroutine while the receiver
// waits (a CONNECT for its namespace's supervisor to spawn the socket):
// in a storm of long-polling clients, thousands of CONNECTs wait at once,
// and each waiting POST held net/http's goroutine and buffers. The
// suspended delivery keeps the session's recvMu, so its next POST waits
// for the resume before delivering anything.
type postDelivery struct {
	c     *Conn
	state atomic.Int32
	rest  func()
}

// The states of a postDelivery.
const (
	postDelivering int32 = iota
	postSuspended        // Suspend was called; the POST is not answered yet
	postAnswered         // the POST is answered; the resume ends the delivery
	postResumed          // the resume came first; the POST ends the delivery
)

func (d *postDelivery) suspend()        { d.state.Store(postSuspended) }
func (d *postDelivery) suspended() bool { return d.state.Load() != postDelivering }

// resumeWith ends the suspended delivery with rest: in the POST's handler
// if it has not answered yet, else on a goroutine of its own.
func (d *postDelivery) resumeWith(rest func()) {
	d.rest = rest
	if d.state.CompareAndSwap(postSuspended, postResumed) {
		return
	}
	if !d.c.srv.goTracked(rest) {
		rest() // the server is closing
	}
}

// A POST runs no task after its delivery (Conn.RunAfter): it is answered
// once its packets are delivered, and its client waits for that.
func (d *postDelivery) setAfter(workpool.Task) bool { return false }
func (d *postDelivery) runAfter() bool              { return false }
func (d *postDelivery) settle()                     {}

// answer is called by the POST's handler after the suspended OnPacket call
// returned: it leaves the delivery to its resume, or ends it now if the
// resume came first.
func (d *postDelivery) answer() {
	if d.state.CompareAndSwap(postSuspended, postAnswered) {
		return
	}
	rest := d.rest
	d.rest = nil
	rest()
}
