package gateway

import (
	"time"

	"github.com/actorio/actorio/protocol/engineio"
)

// The heartbeat: pingInterval after the handshake (or after the last pong)
// the server queues a ping; if no pong arrives within pingTimeout the
// session closes with "ping timeout". Both steps run on time.AfterFunc
// timers; a generation number discards callbacks that lost a race with Stop.

// startHeartbeat arms the first ping.
func (c *Conn) startHeartbeat() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.isClosed {
		c.schedulePingLocked()
	}
}

// schedulePingLocked arms the ping timer; c.mu must be held.
func (c *Conn) schedulePingLocked() {
	c.pingGen++
	gen := c.pingGen
	c.pingTimer = time.AfterFunc(c.srv.cfg.PingInterval, func() { c.onPingDue(gen) })
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
	c.timeoutTimer = time.AfterFunc(c.srv.cfg.PingTimeout, func() { c.onPingTimeout(gen) })
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
		c.closeWith(ReasonPingTimeout, ErrPingTimeout, closeAbort)
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
