package gateway

import "github.com/actorio/actorio/internal/sysio"

// Read reads into b as the connection's own Read does (the same waiting,
// deadlines and errors), with sysio's read(2), which skips the scheduler
// where it can. gorilla/websocket reads a WebSocket through it.
func (c *batchConn) Read(b []byte) (int, error) {
	if !c.canTry() {
		return c.Conn.Read(b)
	}
	n, e, err := sysio.ReadConn(c.rc, b)
	if e != 0 {
		return 0, sysio.OpError("read", c.Conn, e)
	}
	return n, err
}
