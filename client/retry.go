package client

import (
	"fmt"
	"slices"
	"time"

	"github.com/actorio/actorio/protocol/socketio"
)

// The retry queue (Options.Retries), as the JavaScript client (v4.6+) has
// it. With Retries > 0, every Emit and EmitWithAck of a socket (Volatile
// ones excepted) joins the socket's queue, and only its head is ever on the
// wire: sent with an acknowledgement request, each try with a new ack id,
// while the socket is connected. The head leaves the queue when it is
// acknowledged, given up, or abandoned by its EmitWithAck's ctx; the next
// one is sent then. A try ends without an answer when AckTimeout passes or
// the connection ends: after a timeout the head is sent again at once,
// after the end of the connection right after the next CONNECT answer.
// Every send counts as a try, the one after a reconnection included; a try
// ended with tries > Retries gives the event up, with AckTimeout set only
// (without it a try never ends for lack of an answer).
//
// State lives in Socket.queue and the queued events, guarded by Socket.mu;
// an AckTimeout timer takes Socket.mu when it fires and does nothing if its
// try has ended meanwhile.

// queued is an event of the retry queue.
type queued struct {
	event    string
	data     []byte         // the EVENT packet's JSON array, event name first
	atts     [][]byte       // its binary attachments
	ch       chan ackResult // EmitWithAck's answer, capacity 1; nil for Emit
	tries    int            // times sent
	inFlight bool           // the try numbered tries awaits its ack, ackID
	ackID    uint64
	timer    *time.Timer // ends the try in flight after AckTimeout, or nil
}

// enqueue encodes an event and adds it to the retry queue, sending it at
// once when it is the head and the socket is connected; ch, when not nil,
// receives the answer.
func (s *Socket) enqueue(event string, args []any, ch chan ackResult) (*queued, error) {
	data, atts, err := encodeEmit(event, args)
	if err != nil {
		return nil, err
	}
	q := &queued{event: event, data: data, atts: atts, ch: ch}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.queue = append(s.queue, q)
	s.drainLocked()
	return q, nil
}

// dequeue removes q, whose EmitWithAck no longer waits, from the queue; if
// it was the head, the next event is sent.
func (s *Socket) dequeue(q *queued) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.queue, q)
	if i < 0 {
		return
	}
	s.endTryLocked(q)
	if i == 0 {
		s.popLocked()
		s.drainLocked()
		return
	}
	s.queue = slices.Delete(s.queue, i, i+1)
}

// drainLocked sends the head of the queue, as a new try, unless it is in
// flight or the socket is not connected. The caller holds s.mu.
func (s *Socket) drainLocked() {
	if !s.connected || len(s.queue) == 0 || s.queue[0].inFlight {
		return
	}
	q := s.queue[0]
	q.tries++
	q.inFlight = true
	q.ackID = s.nextAckID
	s.nextAckID++
	s.acks[q.ackID] = &pendingAck{sent: true, q: q}
	p := socketio.Packet{Type: socketio.Event, Namespace: s.nsp, Data: q.data, ID: q.ackID, HasID: true}
	// A failed send means the session is closing: its end, which follows,
	// ends this try as it would one lost on the wire.
	s.eng.send(s.encodeFrames(p, q.atts)...)
	s.sentLocked(q.data, q.atts) // each try, as the JavaScript client's
	if d := s.m.opts.AckTimeout; d > 0 {
		try := q.tries
		q.timer = time.AfterFunc(d, func() { s.ackTimedOut(q, try) })
	}
}

// ackTimedOut ends try number try of q for lack of an answer: q is sent
// again, or given up after its last try.
func (s *Socket) ackTimedOut(q *queued, try int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 || s.queue[0] != q || !q.inFlight || q.tries != try {
		return // acknowledged, abandoned or ended meanwhile
	}
	s.endTryLocked(q)
	if q.tries > s.m.opts.Retries {
		s.giveUpLocked(fmt.Errorf("given up after %d tries: %w", q.tries, ErrAckTimeout))
	}
	s.drainLocked()
}

// queueAckedLocked resolves the head q with the server's answer r and
// sends the next event. The caller holds s.mu.
func (s *Socket) queueAckedLocked(q *queued, r ackResult) {
	if len(s.queue) == 0 || s.queue[0] != q || !q.inFlight {
		return
	}
	s.endTryLocked(q)
	s.popLocked()
	if q.ch != nil {
		q.ch <- r
	}
	s.drainLocked()
}

// endTriesLocked ends the try in flight when the socket's connection ends
// (lost, or ended by either side): the head is sent again after the next
// CONNECT answer, unless, with AckTimeout set, that was its last try; it
// is then given up with err. The caller holds s.mu.
func (s *Socket) endTriesLocked(err error) {
	if len(s.queue) == 0 || !s.queue[0].inFlight {
		return
	}
	q := s.queue[0]
	s.endTryLocked(q)
	if s.m.opts.AckTimeout > 0 && q.tries > s.m.opts.Retries {
		s.giveUpLocked(fmt.Errorf("given up after %d tries: %w", q.tries, err))
	}
}

// failQueueLocked empties the queue, failing every EmitWithAck in it with
// err. The caller holds s.mu.
func (s *Socket) failQueueLocked(err error) {
	for _, q := range s.queue {
		s.endTryLocked(q)
		if q.ch != nil {
			q.ch <- ackResult{err: err}
		}
	}
	s.queue = nil
}

// endTryLocked forgets q's try in flight, if any: its timer and its ack
// id, whose late answer is then ignored. The caller holds s.mu.
func (s *Socket) endTryLocked(q *queued) {
	if !q.inFlight {
		return
	}
	q.inFlight = false
	delete(s.acks, q.ackID)
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
}

// giveUpLocked removes the head, whose try has ended, and fails its
// EmitWithAck with err, or logs a plain Emit's loss. The caller holds s.mu.
func (s *Socket) giveUpLocked(err error) {
	q := s.popLocked()
	if q.ch != nil {
		q.ch <- ackResult{err: err}
		return
	}
	s.m.log.Warn("client: emit dropped", "nsp", s.nsp, "event", q.event, "err", err)
}

// popLocked removes and returns the head of the queue. The caller holds s.mu.
func (s *Socket) popLocked() *queued {
	q := s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	if len(s.queue) == 0 {
		s.queue = nil
	}
	return q
}
