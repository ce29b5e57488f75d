package gateway

import (
	"log/slog"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
)

// The heartbeat: pingInterval after the handshake (or after the last pong)
// the server queues a ping; if no pong arrives by pingInterval + pingTimeout
// after that same start, the session closes with "ping timeout". One entry
// per session in the server's schedule (beats.go) serves both steps, moved
// at each; the heartbeat decides from the session's state and the clock
// what is due, so one that lost a race with a new time or a stop does
// nothing.
//
// The deadline is fixed when the interval starts, not when the ping
// happens to be sent, and requests also check it (expireIfDue): a client
// that stays silent for exactly pingInterval + pingTimeout after reading
// the handshake finds the session gone, however late the schedule runs.
//
// An Engine.IO v3 session runs the other way round, as Node's does: the
// client pings every pingInterval and the server answers each ping with a
// pong at once. The session dies pingInterval + pingTimeout after the
// handshake or the client's last ping; the same schedule entry, moved when
// it comes early, watches that deadline, and requests check it too.

// monoStart is the origin of the heartbeat's clock: a session keeps its
// deadlines as monotonic durations since it (8 bytes each, where a
// time.Time takes 24).
var monoStart = time.Now()

// monoNow returns the heartbeat clock's reading now.
func monoNow() time.Duration { return time.Since(monoStart) }

// startHeartbeat arms the first ping. Handshakes call it before writing the
// open packet, so the deadline never falls after the client's own count.
func (c *Conn) startHeartbeat() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed {
		return
	}
	if c.eio3 {
		d := c.srv.cfg.PingInterval + c.srv.cfg.PingTimeout
		c.expireAt = monoNow() + d
		c.srv.beats.schedule(c, d)
		return
	}
	c.schedulePingLocked()
}

// onClientPing answers a v3 client's ping with a pong and moves the
// session's deadline to pingInterval + pingTimeout from now. The schedule is
// left alone: the heartbeat due at the old deadline finds the new one and
// waits for it.
func (c *Conn) onClientPing() {
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		return
	}
	c.expireAt = monoNow() + c.srv.cfg.PingInterval + c.srv.cfg.PingTimeout
	c.enqueueLocked(engineio.Packet{Type: engineio.Pong})
	c.mu.Unlock()
	c.wake()
}

// schedulePingLocked schedules the next ping and sets the session's
// deadline; c.mu must be held.
func (c *Conn) schedulePingLocked() {
	c.pingAt = monoNow() + c.srv.cfg.PingInterval
	c.expireAt = c.pingAt + c.srv.cfg.PingTimeout
	c.srv.beats.schedule(c, c.srv.cfg.PingInterval)
}

// expireIfDue closes the session with "ping timeout" if its deadline has
// passed without a pong, or a v3 client's ping (its heartbeat may not have
// run yet), and reports whether the session is closed.
func (c *Conn) expireIfDue() bool {
	c.mu.Lock()
	closed := c.isClosed
	due := !closed && c.expireAt != 0 && monoNow() >= c.expireAt
	c.mu.Unlock()
	if due {
		c.logAt(slog.LevelDebug, "engine.io ping timeout")
		c.closeWith(disconnect.PingTimeout, ErrPingTimeout, closeDrop)
	}
	return closed || due
}

// onHeartbeat queues the ping that is due and arms the pong timeout, or
// closes the session whose pong (a v3 client's ping) did not come in time.
func (c *Conn) onHeartbeat() {
	if !c.srv.enter() {
		return
	}
	defer c.srv.exit()
	now := monoNow()
	c.mu.Lock()
	switch {
	case c.isClosed || c.heartbeatStopped:
	case c.eio3 || c.awaitingPong:
		if now >= c.expireAt {
			c.mu.Unlock()
			c.logAt(slog.LevelDebug, "engine.io ping timeout")
			c.closeWith(disconnect.PingTimeout, ErrPingTimeout, closeDrop)
			return
		}
		c.srv.beats.schedule(c, c.expireAt-now)
	case now >= c.pingAt:
		c.enqueueLocked(engineio.Packet{Type: engineio.Ping})
		c.awaitingPong = true
		c.srv.beats.schedule(c, c.expireAt-now)
		c.mu.Unlock()
		// Written on this goroutine when the socket takes it at once, as
		// most do: a writer goroutine per ping was an idle session's
		// largest cost, in CPU and in garbage.
		c.wakeNow()
		return
	default:
		// A pong moved the session's time while this call waited for c.mu.
	}
	c.mu.Unlock()
}

// onPong records a pong and schedules the next ping.
func (c *Conn) onPong() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed || !c.awaitingPong {
		return
	}
	c.awaitingPong = false
	c.schedulePingLocked()
}

// stopHeartbeatLocked takes the session out of the schedule for good;
// c.mu must be held.
func (c *Conn) stopHeartbeatLocked() {
	c.heartbeatStopped = true
	c.srv.beats.cancel(c)
}
