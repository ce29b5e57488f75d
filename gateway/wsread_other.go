//go:build !linux

package gateway

import (
	"github.com/actorio/actorio/internal/workpool"
	"github.com/gorilla/websocket"
)

// parkedReader has no poller to park in on this platform: every WebSocket
// is read on a goroutine of its own.
type parkedReader struct{}

// forget does nothing: no reader is ever parked here.
func (*parkedReader) forget() {}

// No delivery is read by a parked reader here, so none is suspended
// (Conn.Suspend): these are never called.
func (*parkedReader) suspend()                    {}
func (*parkedReader) suspended() bool             { return false }
func (*parkedReader) resumeWith(rest func())      { rest() }
func (*parkedReader) setAfter(workpool.Task) bool { return false }
func (*parkedReader) runAfter() bool              { return false }
func (*parkedReader) settle()                     {}

// inlineWatch has no runs to watch here: no task runs after a delivery
// (Conn.RunAfter) on this platform.
type inlineWatch struct{}

// HandOver does nothing here: no task runs after a delivery (RunAfter).
func (c *Conn) HandOver() {}

// poller is absent on this platform.
type poller struct{}

// stopPoller does nothing: there is no poller on this platform.
func (s *Server) stopPoller() {}

// startReading reads ws for the session on a goroutine of its own.
func (c *Conn) startReading(ws *websocket.Conn) { c.readOnOwnGoroutine(ws) }

// startProbe reports false: a probe WebSocket cannot park on this
// platform, so the upgrade's handler reads it itself.
func (c *Conn) startProbe(*websocket.Conn) bool { return false }
