package gateway

import (
	"time"

	"github.com/actorio/actorio/protocol/engineio"
)

// The heartbeat: pingInterval after the handshake (or after the last pong)
// the server queues a ping; if no pong arrives by pingInterval + pingTimeout
// after that same start, the session closes with "ping timeout". Both steps
// run on time.AfterFunc timers; a generation number discards callbacks that
// lost a race with Stop.
//
// The deadline is fixed when the interval starts, not when the ping timer
// happens to fire, and requests also check it (expireIfDue): a client that
// stays silent for exactly pingInterval + pingTimeout after reading the
// handshake finds the session gone, however late the timers run.

// startHeartbeat arms the first ping. Handshakes call it before writing the
// open packet, so the deadline never falls after the client's own count.
func (c *Conn) startHeartbeat() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.isClosed {
		c.schedulePingLocked()
	}
}

// schedulePingLocked arms the ping timer and sets the session's deadline;
// c.mu must be held.
func (c *Conn) schedulePingLocked() {
	c.pingGen++
	gen := c.pingGen
	c.expireAt = time.Now().Add(c.srv.cfg.PingInterval + c.srv.cfg.PingTimeout)
	c.pingTimer = time.AfterFunc(c.srv.cfg.PingInterval, func() { c.onPingDue(gen) })
}

// expireIfDue closes the session with "ping timeout" if its deadline has
// passed without a pong (its timer may not have fired yet), and reports
// whether the session is closed.
func (c *Conn) expireIfDue() bool {
	c.mu.Lock()
	closed := c.isClosed
	due := !closed && !c.expireAt.IsZero() && !time.Now().Before(c.expireAt)
	c.mu.Unlock()
	if due {
		c.log.Debug("engine.io ping timeout")
		c.closeWith(ReasonPingTimeout, ErrPingTimeout, closeDrop)
	}
	return closed || due
}

// onPingDue queues a ping and arms the pong timeout.
func (c *Conn) onPingDue(gen uint64) {
	if !c.srv.enter() {
		return
	}
	defer c.srv.exit()
	c.mu.Lock()
	if c.isClosed || gen != c.pingGen {
		c.mu.Unlock()
		return
	}
	c.enqueueLocked(engineio.Packet{Type: engineio.Ping})
	c.awaitingPong = true
	c.timeoutTimer = time.AfterFunc(time.Until(c.expireAt), func() { c.onPingTimeout(gen) })
	c.mu.Unlock()
	c.wake()
}

// onPingTimeout closes the session if the pong for ping gen never came.
func (c *Conn) onPingTimeout(gen uint64) {
	if !c.srv.enter() {
		return
	}
	defer c.srv.exit()
	c.mu.Lock()
	expired := !c.isClosed && gen == c.pingGen && c.awaitingPong
	c.mu.Unlock()
	if expired {
		c.log.Debug("engine.io ping timeout")
		c.closeWith(ReasonPingTimeout, ErrPingTimeout, closeDrop)
	}
}

// onPong records a pong and schedules the next ping.
func (c *Conn) onPong() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed || !c.awaitingPong {
		return
	}
	c.awaitingPong = false
	if c.timeoutTimer != nil {
		c.timeoutTimer.Stop()
	}
	c.schedulePingLocked()
}

// stopHeartbeatLocked stops both timers; c.mu must be held.
func (c *Conn) stopHeartbeatLocked() {
	c.pingGen++
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	if c.timeoutTimer != nil {
		c.timeoutTimer.Stop()
	}
}
