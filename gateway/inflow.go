package gateway

import "sync/atomic"

// inflow is a session's inbound bound: what its receiver has taken from
// the transport and handed on, but that has not been handled yet. While it
// is over Config.MaxInboundBytes or MaxInboundPackets the transport reads
// nothing more (TCP flow control then holds the sender back, as Node's
// handlers running on the read path do), until Release brings it back.
type inflow struct {
	bytes, packets atomic.Int64
	// wake (capacity 1) tells a waiting transport that Release ran; made
	// by the first wait (most sessions never wait), before it checks the
	// bounds: so either Release sees it, or the wait sees the release.
	wake atomic.Pointer[chan struct{}]
}

// Hold counts one inbound packet of n bytes as handed on and not yet
// handled; the receiver calls it from OnPacket.
func (c *Conn) Hold(n int64) {
	c.in.bytes.Add(n)
	c.in.packets.Add(1)
}

// Release counts packets inbound packets of n bytes in all as handled; a
// transport waiting for room to read goes on once the session is back
// under its bounds.
func (c *Conn) Release(n, packets int64) {
	c.in.bytes.Add(-n)
	c.in.packets.Add(-packets)
	if w := c.in.wake.Load(); w != nil {
		select {
		case *w <- struct{}{}:
		default:
		}
	}
}

// inboundFull reports whether the session holds as much unhandled inbound
// data as its bounds allow.
func (c *Conn) inboundFull() bool {
	cfg := &c.srv.cfg
	return (cfg.MaxInboundBytes > 0 && c.in.bytes.Load() >= cfg.MaxInboundBytes) ||
		(cfg.MaxInboundPackets > 0 && c.in.packets.Load() >= int64(cfg.MaxInboundPackets))
}

// awaitInbound blocks the transport goroutine, before it reads again,
// while the session's inbound bound is reached, and returns when handlers
// caught up or the session ended.
func (c *Conn) awaitInbound() {
	if !c.inboundFull() {
		return
	}
	w := c.in.wake.Load()
	if w == nil {
		ch := make(chan struct{}, 1)
		if !c.in.wake.CompareAndSwap(nil, &ch) {
			w = c.in.wake.Load() // another transport's wait made it
		} else {
			w = &ch
		}
	}
	closed := c.Closed()
	for c.inboundFull() {
		select {
		case <-*w:
		case <-closed:
			return
		}
	}
}
