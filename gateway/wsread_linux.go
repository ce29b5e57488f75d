package gateway

import (
	"bufio"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/actorio/actorio/internal/workpool"
	"github.com/gorilla/websocket"
)

// pooledReadBuffer is the size of the read buffers a WebSocket borrows
// while it reads (larger than the handshake's wsReadBuffer: it is held
// only for the time of a read).
const pooledReadBuffer = 4 << 10

// parkedReader reads a session's WebSocket in runs, each on a goroutine of
// its own: a run reads what the client sent, then parks the connection in
// the server's poller and ends, giving back its read buffer. An idle
// WebSocket thus holds no goroutine and no read buffer. One run at a time:
// the next starts from the poller once the current one has parked.
//
// A busy connection does not park after every message: waking a run from
// the poller costs more than the runtime's own wait. The run of a busy
// connection (see busyRuns) waits for the next bytes on its goroutine (the
// runtime's poller), until the poller's sweep finds it quiet and sends it
// to park (see waitActive).
type parkedReader struct {
	c  *Conn
	ws *websocket.Conn
	bc *batchConn
	rc syscall.RawConn
	p  *poller
	// id is the reader's key in the poller (0 until first parked).
	id uint64
	// lent is the pooled reader whose buffer bc.br uses now; nil when bc.br
	// has its own (the handshake's) or none (parked).
	lent *bufio.Reader
	// parkedAt is when the connection last parked; quick counts the runs
	// in a row that started soon after it (the run's own).
	parkedAt time.Duration // monoNow's clock; 0: never parked
	quick    int
	// rest ends a suspended delivery (Conn.Suspend): set by its resume,
	// run by the run that reads on.
	rest func()
	// susp is the state of a suspension of the run's delivery (runReading
	// when none).
	susp atomic.Int32
	// registered: the descriptor is in the poller's epoll set (then it is
	// re-armed, not added). Only the running run touches it.
	registered bool
	// attached: bc.br has a buffer.
	attached bool
	// sweeping: the reader is in the poller's active set (the run's own).
	sweeping bool
	// probing: the reader reads the probe of an upgrade (startProbe).
	probing bool
	// gone: the connection closed (guarded by the poller's mu); released:
	// forget ran.
	gone bool
	// admitted: the run in progress was admitted by the poller (admit) and
	// has not settled yet; admitEpoch is the admission's epoch. Set by the
	// poller before the run starts, then the run's own.
	admitted bool
	// waiting: the run waits in waitActive; kicked: a sweep set a past
	// read deadline to end that wait. Guarded by mu (below); here, beside
	// the other one-byte fields, they take no word of their own (160
	// bytes a reader, not 168).
	waiting, kicked bool
	released        atomic.Bool

	// mu guards the state a sweep reads and sets while a run waits.
	mu sync.Mutex
	// watchIdx is the run's place in the server's inlineWatch while it
	// runs the task a delivery left (after, see Conn.RunAfter), -1 when
	// not; guarded by the watch's mu.
	watchIdx   int32
	admitEpoch uint32
	// bursts counts the run's waits, seen is its value at the last sweep
	// (guarded by mu).
	bursts, seen uint64

	after workpool.Task
	// worker is the pool's worker of the run in progress (nil for a run
	// that cannot leave the pool): a run handed over by the inlineWatch
	// finds another's there.
	worker atomic.Pointer[workpool.Worker]
}

// The states of a suspended delivery (parkedReader.susp). The run that
// made the suspended OnPacket call goes on until it sees the suspension,
// then ends (runStopped) and the resume starts the next run; a resume that
// comes first (runResumed) leaves the run to end the delivery and read on.
const (
	runReading int32 = iota
	runSuspended
	runStopped
	runResumed
)

// parkable reports whether a WebSocket on c can park in a poller: a plain
// TCP connection (TLS buffers decrypted bytes the poller cannot see).
func parkable(c net.Conn) bool {
	_, ok := c.(*net.TCPConn)
	return ok
}

// startReading reads ws for the session: parked in the server's poller
// when the platform and the connection allow it (a plain TCP connection:
// TLS buffers decrypted bytes the poller cannot see), on a goroutine of
// its own otherwise.
func (c *Conn) startReading(ws *websocket.Conn) {
	if !c.parkReader(ws, false) {
		c.readOnOwnGoroutine(ws)
	}
}

// startProbe reads the probe WebSocket of an upgrade (see serveUpgrade)
// as a parked reader, which goes on as the session's once the upgrade is
// done; it reports false where ws cannot park (the caller reads it then).
func (c *Conn) startProbe(ws *websocket.Conn) bool { return c.parkReader(ws, true) }

// parkReader makes ws's reader a parked one, probing: the probe of an
// upgrade; it reports false where ws cannot park.
func (c *Conn) parkReader(ws *websocket.Conn, probing bool) bool {
	bc, ok := ws.NetConn().(*batchConn)
	var rc syscall.RawConn
	if ok && bc.br != nil && parkable(bc.Conn) {
		rc, _ = bc.Conn.(*net.TCPConn).SyscallConn()
	}
	var p *poller
	if rc != nil {
		p = c.srv.acquirePoller()
	}
	if p == nil {
		return false
	}
	// Until the connection closes, its reader counts as a goroutine of the
	// server's, parked or not: Close waits for it as for a reader of its own.
	if !c.srv.enter() {
		c.srv.releasePoller(p)
		c.closeUnread(ws)
		return true
	}
	r := &parkedReader{c: c, ws: ws, bc: bc, rc: rc, p: p, attached: true, probing: probing, watchIdx: -1}
	bc.parked.Store(r)
	if bc.closed.Load() {
		// Closed before r was stored (by the writer of a session that
		// ended in OnOpen, say): Close did not see r, so r lets go here.
		r.forget()
		r.closedUnder(net.ErrClosed)
		return true
	}
	if bc.br.Buffered() > 0 || !r.park() {
		r.resume() // reads, then parks when it can
	}
	return true
}

// readNext reads and handles the next message, as the probe of an
// upgrade until the upgrade is done; false: the reader is done.
func (r *parkedReader) readNext() bool {
	if !r.probing {
		return r.c.readOne(r.ws, r)
	}
	more, upgraded := r.c.probeOne(r.ws)
	if upgraded {
		// The session's reader from now on, as a new one: the probe's
		// runs do not count towards busy (see run).
		r.probing, r.quick, r.parkedAt = false, 0, 0
		return true
	}
	return more
}

// resume starts a run: on the poller's goroutine, for a connection that
// became readable.
func (r *parkedReader) resume() {
	if !r.c.srv.goTask(r) {
		r.settle()
		r.c.closeUnread(r.ws)
	}
}

// settle ends the poller's count of the run in progress (see poller.admit),
// once: the run parks or ends, or may now keep its goroutine long.
func (r *parkedReader) settle() {
	if r.admitted {
		r.admitted = false
		r.p.settled(r.admitEpoch)
	}
}

// WillWait implements sysio.Waiter: a run about to wait for its client's
// next bytes settles first.
func (r *parkedReader) WillWait() { r.settle() }

// RunOn makes a parked reader the task (workpool.WorkerTask) of its next
// run, on worker w: a method value (r.run) would be an allocation per run.
func (r *parkedReader) RunOn(w *workpool.Worker) {
	r.worker.Store(w)
	r.run()
}

// RunTask implements workpool.Task; the pool calls RunOn instead.
func (r *parkedReader) RunTask() { r.RunOn(nil) }

// run reads messages while the client's bytes are at hand, and while the
// connection is busy, then parks.
func (r *parkedReader) run() {
	if r.probing {
		// An upgrade's probe is never busy: its client sends two packets.
		r.read(false)
		return
	}
	if r.parkedAt != 0 && monoNow()-r.parkedAt < activeWindow {
		r.quick++
	} else {
		r.quick = 0
	}
	r.read(r.quick >= busyRuns)
}

// resumedRun is the run that a suspended delivery's resume starts: it
// ends the delivery, then reads what is buffered, or parks.
type resumedRun parkedReader

// RunTask implements workpool.Task; the pool calls RunOn instead.
func (t *resumedRun) RunTask() { t.RunOn(nil) }

// RunOn implements workpool.WorkerTask.
func (t *resumedRun) RunOn(w *workpool.Worker) {
	r := (*parkedReader)(t)
	r.worker.Store(w)
	r.endSuspension()
	if !r.attached || r.bc.br.Buffered() == 0 {
		if r.park() {
			return
		}
	}
	r.read(false)
}

// read is a run's loop; active: the connection is busy, the run waits for
// its next bytes before it parks (waitActive).
func (r *parkedReader) read(active bool) {
	me := r.worker.Load()
	for {
		r.borrow()
		for {
			more := r.readNext()
			if r.worker.Load() != me {
				return // handed over (takeOver): r is another run's now
			}
			if !more {
				r.settle()
				if r.sweeping {
					r.p.unsweep(r)
				}
				r.giveBack() // nothing reads this connection any more
				return
			}
			if r.susp.Load() != runReading {
				if r.stop() {
					return
				}
				r.borrow()
			}
			if r.bc.br.Buffered() == 0 {
				break
			}
		}
		if active {
			ok, err := r.waitActive()
			if err != nil {
				r.c.readFailed(err)
				if r.sweeping {
					r.p.unsweep(r)
				}
				r.giveBack()
				return
			}
			if ok {
				continue
			}
		}
		if r.park() {
			return
		}
		// The poller is gone (the server is closing): read on, blocking.
		active = false
	}
}

// suspend marks the delivery of the run's OnPacket call suspended
// (Conn.Suspend); suspended reports whether it is, until it ends.
func (r *parkedReader) suspend()        { r.susp.Store(runSuspended) }
func (r *parkedReader) suspended() bool { return r.susp.Load() != runReading }

// stop ends the run whose delivery is suspended, keeping its read buffer
// only if it holds bytes. It reports false when the delivery was resumed
// meanwhile: then the run ended it, and reads on.
func (r *parkedReader) stop() bool {
	r.settle()
	if r.sweeping {
		r.sweeping = false
		r.p.unsweep(r)
	}
	if r.bc.br.Buffered() == 0 {
		r.giveBack()
	}
	if r.susp.CompareAndSwap(runSuspended, runStopped) {
		return true
	}
	r.endSuspension()
	return false
}

// resumeWith ends a suspended delivery with rest: in the run that made it,
// if it has not ended yet, or in a new run.
func (r *parkedReader) resumeWith(rest func()) {
	r.rest = rest
	if r.susp.CompareAndSwap(runSuspended, runResumed) {
		return
	}
	// runStopped: the run ended (it wrote nothing after the swap).
	if !r.c.srv.goTask((*resumedRun)(r)) {
		r.endSuspension()
		r.c.closeUnread(r.ws)
	}
}

// setAfter takes the task of a RunAfter call; only a run that can leave
// its worker's pool (see takeOver) runs one.
func (r *parkedReader) setAfter(t workpool.Task) bool {
	if r.after != nil || r.probing || r.worker.Load() == nil {
		return false
	}
	r.after = t
	return true
}

// runAfter runs the task the delivery left (setAfter), watched by the
// server's inlineWatch; it reports true when the watch handed the reading
// over to another run meanwhile: then the caller's goroutine must not
// touch r any more.
func (r *parkedReader) runAfter() (handedOver bool) {
	t := r.after
	if t == nil {
		return false
	}
	r.after = nil
	r.settle()
	me := r.worker.Load()
	w := &r.c.srv.inline
	w.enter(r)
	// Deferred: a task that ends its goroutine (runtime.Goexit) must not
	// stay watched, to be handed over with a worker that is gone, and the
	// connection must not lose its reader with it.
	returned := false
	defer func() {
		handedOver = w.leave(r, me)
		if !returned && !handedOver {
			r.takeOver()
		}
	}()
	t.RunTask()
	returned = true
	return false
}

// takeOver goes on reading, on a run of its own, for a run whose task
// after a delivery holds its goroutine too long (inlineWatch); the run
// left the pool then, so that a Close does not wait for the task.
func (r *parkedReader) takeOver() {
	if !r.c.srv.goTask((*takeOver)(r)) {
		r.c.closeUnread(r.ws)
	}
}

// takeOver is a parked reader as the task of the run that takes over the
// reading from a run held by its task after a delivery.
type takeOver parkedReader

// RunTask implements workpool.Task; the pool calls RunOn instead.
func (t *takeOver) RunTask() { t.RunOn(nil) }

// RunOn implements workpool.WorkerTask: the run that was handed over
// skipped the wait for the inbound bound; this one waits first.
func (t *takeOver) RunOn(w *workpool.Worker) {
	r := (*parkedReader)(t)
	r.worker.Store(w)
	r.c.awaitInbound()
	r.read(r.quick >= busyRuns)
}

// endSuspension runs the rest of the suspended delivery.
func (r *parkedReader) endSuspension() {
	rest := r.rest
	r.rest = nil
	r.susp.Store(runReading)
	rest()
}

// A connection is busy when busyRuns runs in a row each started less than
// activeWindow after it parked (one quick run is the common case of a
// client that connects, sends its CONNECT and goes quiet); a busy one
// parks once quiet for one to two windows.
const (
	activeWindow = time.Second
	busyRuns     = 2
)

// waitActive waits, on the run's goroutine, until the connection has bytes
// to read: it reads them into the run's buffer (true), as a blocking
// read(2) in the runtime's poller, so that a busy connection costs one
// read per message, not a readiness check and a read. It returns false
// when a sweep found the connection quiet (then the run parks), and the
// read's error when it failed otherwise: the run ends with it, as a
// failed read of the next message would (the error is not kept for the
// next read: a reset, say, is reported once).
func (r *parkedReader) waitActive() (bool, error) {
	r.settle()
	if !r.sweeping {
		r.sweeping = true
		r.p.sweep(r)
	}
	r.mu.Lock()
	r.waiting = true
	r.bursts++
	r.mu.Unlock()
	_, err := r.bc.br.Peek(1)
	r.mu.Lock()
	r.waiting = false
	kicked := r.kicked
	r.kicked = false
	r.mu.Unlock()
	if kicked {
		// The past deadline must not reach gorilla/websocket's next read
		// (a read error there is final). Bytes read before the kick stay
		// buffered: the run reads them before it parks.
		if derr := r.bc.Conn.SetReadDeadline(time.Time{}); derr != nil {
			return false, derr
		}
		return err == nil, nil
	}
	return err == nil, err
}

// kickIfQuiet ends the run's wait when it read nothing since the last
// sweep (a past read deadline wakes it).
func (r *parkedReader) kickIfQuiet() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.waiting || r.bursts != r.seen {
		r.seen = r.bursts
		return
	}
	r.kicked = true
	_ = r.bc.Conn.SetReadDeadline(time.Unix(1, 0))
}

// park gives back the read buffer and registers the connection with the
// poller; it reports whether the run must end (parked, or the connection
// is closed).
func (r *parkedReader) park() bool {
	r.settle() // before the next run can start
	if r.sweeping {
		r.sweeping = false
		r.p.unsweep(r)
	}
	r.giveBack()
	r.parkedAt = monoNow()
	pc := parkCalls.Get().(*parkCall)
	pc.r = r
	err := r.rc.Control(pc.fn)
	parked, perr := pc.parked, pc.err
	*pc = parkCall{fn: pc.fn}
	parkCalls.Put(pc)
	if err != nil {
		r.closedUnder(err)
		return true
	}
	if perr != nil {
		r.c.logAt(slog.LevelWarn, "engine.io websocket not parked in the poller", slog.Any("err", perr))
	}
	return parked
}

// parkCall is one park's registration with the poller, made under
// RawConn.Control. Its callback is made once per parkCall, which parkCalls
// recycles: a closure over park's variables escaped with them, three
// allocations per park (an idle session parks after every heartbeat).
type parkCall struct {
	r      *parkedReader
	parked bool
	err    error
	fn     func(fd uintptr)
}

var parkCalls = sync.Pool{New: func() any {
	pc := new(parkCall)
	pc.fn = pc.register
	return pc
}}

func (pc *parkCall) register(fd uintptr) { pc.parked, pc.err = pc.r.p.park(pc.r, int(fd)) }

// closedUnder handles the connection found closed by another goroutine
// (err): a session's ends with it, while a probe's end is for whoever
// closed it (endProbe, or the session's close) to handle.
func (r *parkedReader) closedUnder(err error) {
	if !r.probing {
		r.c.readFailed(err)
	}
}

// forget takes the reader out of the poller for good, as its connection
// closes, and ends its use of the poller.
func (r *parkedReader) forget() {
	if r.released.Swap(true) {
		return
	}
	r.p.forget(r)
	r.c.srv.releasePoller(r.p)
	r.c.srv.exit()
}

// readers lends read buffers to WebSockets while they read.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, pooledReadBuffer) }}

// borrow gives bc.br a pooled buffer, if it has none.
func (r *parkedReader) borrow() {
	if r.attached {
		return
	}
	b := readers.Get().(*bufio.Reader)
	b.Reset(r.bc)
	*r.bc.br = *b // gorilla/websocket holds bc.br: its value changes
	r.lent, r.attached = b, true
}

// giveBack takes bc.br's buffer away, to the pool when it has the pooled
// size; bc.br must hold no bytes the connection still needs.
func (r *parkedReader) giveBack() {
	if !r.attached {
		return
	}
	b := r.lent
	if b == nil {
		b = new(bufio.Reader)
	}
	*b = *r.bc.br
	*r.bc.br = bufio.Reader{}
	r.lent, r.attached = nil, false
	if b.Size() == pooledReadBuffer {
		b.Reset(nil)
		readers.Put(b)
	}
}
