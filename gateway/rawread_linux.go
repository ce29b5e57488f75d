package gateway

import "github.com/actorio/actorio/internal/sysio"

// Read reads into b as the connection's own Read does (the same waiting,
// deadlines and errors), with sysio's read(2), which skips the scheduler
// where it can. gorilla/websocket reads a WebSocket through it.
func (c *batchConn) Read(b []byte) (int, error) {
	if !c.canTry() {
		return c.Conn.Read(b)
	}
	// A run the poller admitted settles before it waits (poller.admit).
	var w sysio.Waiter
	if r := c.parked.Load(); r != nil && r.admitted {
		w = r
	}
	n, e, err := sysio.ReadConnWaiting(c.rc, b, w)
	if e != 0 {
		return 0, sysio.OpError("read", c.Conn, e)
	}
	return n, err
}
