package gateway

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// typeChars holds the one-byte text prefix of each packet type.
var typeChars = func() (t [engineio.Noop + 1][]byte) {
	for i := range t {
		t[i] = []byte{engineio.PacketType(i).Char()}
	}
	return t
}()

// handshakeWebSocket opens a session directly on a WebSocket and starts its
// read and write loops; eio3 makes it an Engine.IO v3 session.
func (s *Server) handshakeWebSocket(w http.ResponseWriter, r *http.Request, eio3 bool) {
	// The 101 answer is gathered with the open packet: one write(2) and,
	// for the client, one read instead of two each (a write to a loopback
	// client cost the server some 15 µs in a storm's profile).
	ws, err := s.upgrader.Upgrade(hijackWrap{ResponseWriter: w, gather: true}, r, s.upgradeHeaders(r, true))
	if err != nil {
		return // the upgrader answered the request, or closed the connection
	}
	bc := ws.NetConn().(*batchConn)
	s.setDeflate(ws, r)
	ws.SetReadLimit(s.cfg.MaxPayload)
	c := newConn(s, r, ws, eio3)
	c.recvMu.Lock()
	if !s.register(c) {
		c.recvMu.Unlock()
		_ = ws.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		_ = bc.end()
		closeSocket(ws, websocket.CloseGoingAway, s.cfg.WriteTimeout)
		return
	}
	c.startHeartbeat()
	_ = ws.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	open := s.openPacket(c.id, false)
	s.compressNext(ws, len(open))
	err = ws.WriteMessage(websocket.TextMessage, open)
	if endErr := bc.end(); err == nil {
		err = endErr
	}
	if err != nil {
		c.closeWith(disconnect.TransportError, fmt.Errorf("write open packet: %w", err), closeAbort)
	}
	c.logAt(slog.LevelDebug, "engine.io session opened", slog.String("transport", TransportWebSocket))
	s.open(c)
	c.recvMu.Unlock()
	c.startWriting(ws)
	c.startReading(ws)
}

// serveUpgrade serves a WebSocket request for an existing polling session:
// it answers the probe, pauses polling, and switches the session to the
// WebSocket when the client's upgrade packet arrives, and then starts its
// read loop.
func (s *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, c *Conn) {
	allowed := s.cfg.upgradesAllowed()
	c.mu.Lock()
	busy := c.upgrading || c.ws != nil
	ok := allowed && !c.isClosed && !busy
	if ok {
		c.upgrading = true
	}
	closed := c.isClosed
	c.mu.Unlock()
	if !ok {
		if allowed && !closed {
			s.ignoreWebSocket(w, r, c)
			return
		}
		s.reject(w, r, CodeBadRequest, TransportWebSocket)
		return
	}
	ws, err := s.upgrader.Upgrade(hijackWrap{ResponseWriter: w}, r, s.upgradeHeaders(r, false))
	if err != nil {
		c.mu.Lock()
		c.upgrading = false
		c.mu.Unlock()
		return
	}
	s.setDeflate(ws, r)
	ws.SetReadLimit(s.cfg.MaxPayload)
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		closeSocket(ws, websocket.CloseGoingAway, s.cfg.WriteTimeout)
		return
	}
	c.probe = ws
	c.probeFrames = framesV4
	if c.eio3 {
		c.probeFrames = v3Frames(r)
	}
	c.mu.Unlock()
	c.logAt(slog.LevelDebug, "engine.io upgrade started", slog.String("transport", TransportPolling))

	// Parked in the poller, the probe holds no goroutine while its client
	// has not sent the next packet: in a storm of official clients
	// (polling, then the upgrade), thousands wait so at once. A timer is
	// the upgrade timeout; read here, the read deadline is.
	if c.startProbe(ws) {
		time.AfterFunc(s.cfg.UpgradeTimeout, func() { c.expireProbe(ws) })
		return
	}
	_ = ws.SetReadDeadline(time.Now().Add(s.cfg.UpgradeTimeout))
	for {
		more, upgraded := c.probeOne(ws)
		if upgraded {
			c.startReading(ws)
			return
		}
		if !more {
			return
		}
	}
}

// errUpgradeTimeout aborts an upgrade not done within Config.UpgradeTimeout.
var errUpgradeTimeout = errors.New("upgrade not done in time")

// probeOne reads and handles one message of the probe WebSocket ws of an
// upgrade: it answers a ping "probe", and makes ws the session's transport
// on the upgrade packet (upgraded). Anything else, or a failed read,
// aborts the upgrade; more is false then, or once the upgrade is over.
func (c *Conn) probeOne(ws *websocket.Conn) (more, upgraded bool) {
	s := c.srv
	mt, data, err := readMessage(ws, s.cfg.MaxPayload)
	if err != nil {
		c.abortUpgrade(ws, fmt.Errorf("read during upgrade: %w", err))
		return false, false
	}
	p, err := c.decodeFrame(data, mt == websocket.BinaryMessage)
	if err != nil {
		c.abortUpgrade(ws, err)
		return false, false
	}
	switch {
	case p.Type == engineio.Ping && string(p.Data) == "probe":
		_ = ws.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		s.compressNext(ws, len("3probe"))
		if err := ws.WriteMessage(websocket.TextMessage, []byte("3probe")); err != nil {
			c.abortUpgrade(ws, fmt.Errorf("write probe answer: %w", err))
			return false, false
		}
		c.mu.Lock()
		if c.probe == ws {
			c.paused = true
		}
		c.mu.Unlock()
		c.wake()
		return true, false
	case p.Type == engineio.Upgrade:
		c.mu.Lock()
		frames := c.probeFrames
		c.mu.Unlock()
		if !c.completeUpgrade(ws, frames) {
			return false, false
		}
		return true, true
	default:
		c.abortUpgrade(ws, fmt.Errorf("unexpected %s packet during upgrade", p.Type))
		return false, false
	}
}

// setDeflate sets the compression level of a new WebSocket, with
// Config.PerMessageDeflate (gorilla/websocket ignores it, and
// compressNext, when the client did not negotiate compression), and
// records on its batchConn whether the client of r offered it, as
// gorilla/websocket's Upgrader reads the offer.
func (s *Server) setDeflate(ws *websocket.Conn, r *http.Request) {
	d := s.cfg.PerMessageDeflate
	if d == nil {
		return
	}
	_ = ws.SetCompressionLevel(d.Level)
	if bc, ok := ws.NetConn().(*batchConn); ok {
		bc.deflate = offersDeflate(r.Header)
	}
}

// offersDeflate reports whether a WebSocket request offers the
// permessage-deflate extension; a wrong answer costs only speed (a shared
// packet written to a client without compression is a plain frame).
func offersDeflate(h http.Header) bool {
	for _, v := range h.Values("Sec-Websocket-Extensions") {
		for ext := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(ext, ";")
			if strings.TrimSpace(name) == "permessage-deflate" {
				return true
			}
		}
	}
	return false
}

// compressNext decides, with Config.PerMessageDeflate, whether the next
// message written on ws outside writeFrames (the open packet, the probe's
// answer), n bytes long, is compressed.
func (s *Server) compressNext(ws *websocket.Conn, n int) {
	if d := s.cfg.PerMessageDeflate; d != nil {
		ws.EnableWriteCompression(d.compresses(n, false))
	}
}

// ignoreWebSocket serves a WebSocket request for a session that is already
// upgrading or on a WebSocket, as Node's engine.io does: the handshake
// succeeds (101), then the server closes the connection at once with a
// close frame carrying no status code (1005 for the client). The session is
// left alone. A 400 instead would be an error event in clients built on
// the ws package, and the official suites check for a close.
func (s *Server) ignoreWebSocket(w http.ResponseWriter, r *http.Request, c *Conn) {
	ws, err := s.upgrader.Upgrade(hijackWrap{ResponseWriter: w}, r, s.upgradeHeaders(r, false))
	if err != nil {
		return // the upgrader answered the request
	}
	c.logAt(slog.LevelDebug, "engine.io extra websocket for the session closed", slog.String("remote", r.RemoteAddr))
	_ = ws.WriteControl(websocket.CloseMessage, []byte{}, time.Now().Add(s.cfg.WriteTimeout))
	// Wait (briefly) for the client's close frame before closing the TCP
	// connection: data the client sent meanwhile, unread, would turn the
	// close into a reset and cost the client the close frame.
	_ = ws.SetReadDeadline(time.Now().Add(ignoredCloseWait))
	for {
		if _, _, err := ws.NextReader(); err != nil {
			break
		}
	}
	_ = ws.Close()
}

// ignoredCloseWait bounds how long ignoreWebSocket waits for the client's
// close frame.
const ignoredCloseWait = time.Second

// completeUpgrade makes ws the session's transport, carrying binary
// messages as frames says, and starts its writer.
func (c *Conn) completeUpgrade(ws *websocket.Conn, frames frameMode) bool {
	c.mu.Lock()
	if c.isClosed || c.probe != ws {
		c.mu.Unlock()
		_ = ws.Close()
		return false
	}
	c.probe = nil
	c.paused = false
	c.upgrading = false
	c.ws = ws
	c.frames = frames
	c.srv.polling.Add(-1) // registered as polling, not closed (checked above)
	c.mu.Unlock()
	_ = ws.SetReadDeadline(time.Time{})
	c.wake() // a pending GET answers noop
	c.logAt(slog.LevelDebug, "engine.io session upgraded", slog.String("transport", TransportWebSocket))
	if o := c.srv.observing(); o != nil {
		o.SessionUpgraded(c.id)
	}
	c.startWriting(ws)
	return true
}

// abortUpgrade closes a probe WebSocket and resumes polling.
func (c *Conn) abortUpgrade(ws *websocket.Conn, err error) { c.endProbe(ws, err, false) }

// expireProbe aborts the upgrade probing ws when Config.UpgradeTimeout
// has passed, unless it is over.
func (c *Conn) expireProbe(ws *websocket.Conn) { c.endProbe(ws, errUpgradeTimeout, true) }

// endProbe is abortUpgrade; onlyProbing: nothing unless ws is still the
// session's probe.
func (c *Conn) endProbe(ws *websocket.Conn, err error, onlyProbing bool) {
	c.mu.Lock()
	if onlyProbing && c.probe != ws {
		c.mu.Unlock()
		return
	}
	if c.probe == ws {
		c.probe = nil
		c.paused = false
	}
	c.upgrading = false
	closed := c.isClosed
	c.mu.Unlock()
	_ = ws.Close()
	c.wake()
	if !closed {
		c.logAt(slog.LevelDebug, "engine.io upgrade aborted", slog.String("transport", TransportPolling), slog.Any("err", err))
	}
}

// readOnOwnGoroutine runs the read loop on a goroutine of its own and lets
// the HTTP handler return: the handler's goroutine, its grown stack and the
// request it holds are released for the life of the connection.
func (c *Conn) readOnOwnGoroutine(ws *websocket.Conn) {
	if !c.srv.goTracked(func() { c.readLoop(ws) }) {
		c.closeUnread(ws)
	}
}

// closeUnread ends the session when no reader of ws may start because
// the server is closing, and closes ws unless it is the session's
// transport: the session's writer closes that once it has written what
// the close leaves it (a Server.Close's flush), and Server.Close cuts a
// writer stuck on a peer that does not read.
func (c *Conn) closeUnread(ws *websocket.Conn) {
	c.closeWith(disconnect.ForcedServerClose, ErrServerClosed, closeAbort)
	c.mu.Lock()
	written := c.out == ws
	c.mu.Unlock()
	if !written {
		_ = ws.Close()
	}
}

// readLoop reads frames until the connection fails or the session ends.
func (c *Conn) readLoop(ws *websocket.Conn) {
	for c.readOne(ws, nil) {
	}
}

// readOne reads one message and hands it on; it reports false, the
// session closed or closing, when reading failed or the session ended.
// via is the parked reader whose run reads, nil on a goroutine of its own.
func (c *Conn) readOne(ws *websocket.Conn, via *parkedReader) bool {
	mt, data, err := readMessage(ws, c.srv.cfg.MaxPayload)
	if err != nil {
		c.readFailed(err)
		return false
	}
	p, err := c.decodeFrame(data, mt == websocket.BinaryMessage)
	if err != nil {
		c.logAt(slog.LevelWarn, "engine.io malformed websocket frame", slog.String("transport", TransportWebSocket), slog.Any("err", err))
		c.closeWith(disconnect.ParseError, err, closeAbort)
		return false
	}
	if via == nil {
		return c.handlePacket(p, nil) // not a nil *parkedReader in an interface
	}
	return c.handlePacket(p, via)
}

// decodeFrame decodes a WebSocket message of the session's protocol.
func (c *Conn) decodeFrame(data []byte, binary bool) (engineio.Packet, error) {
	if c.eio3 {
		return engineio.DecodeFrameV3(data, binary)
	}
	return engineio.DecodeFrame(data, binary)
}

// readBufs recycles the buffers messages are read into.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// readMessage is ws.ReadMessage returning the message in a slice of its
// exact size (ReadMessage's starts at 512 bytes and grows): it is read
// into a pooled buffer, then copied once into the slice the receiver keeps.
// A message over limit bytes fails with websocket.ErrReadLimit after a
// close frame with code 1009, as gorilla/websocket does for the frames it
// reads: its own limit counts the bytes on the wire, which a compressed
// message (Config.PerMessageDeflate) may multiply by a thousand.
func readMessage(ws *websocket.Conn, limit int64) (int, []byte, error) {
	mt, r, err := ws.NextReader()
	if err != nil {
		return mt, nil, err
	}
	bp := readBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= 64<<10 {
			*bp = buf[:0]
			readBufs.Put(bp)
		}
	}()
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseMessageTooBig, ""), time.Now().Add(time.Second))
			return mt, nil, fmt.Errorf("decompressed message over %d bytes: %w", limit, websocket.ErrReadLimit)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return mt, nil, err
		}
	}
	return mt, append([]byte(nil), buf...), nil
}

// readFailed closes the session after a read error: a close frame with
// code 1000, 1001 or 1005, or a dropped connection (EOF, 1006, a reset), is
// a "transport close"; anything else (including an oversized message) is a
// "transport error".
func (c *Conn) readFailed(err error) {
	c.mu.Lock()
	ended := c.isClosed
	c.mu.Unlock()
	if ended {
		return // the server closed the socket
	}
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		c.logAt(slog.LevelWarn, "engine.io websocket message too large", slog.Int64("max", c.srv.cfg.MaxPayload))
		c.closeWith(disconnect.TransportError, fmt.Errorf("websocket read: %w: %w", ErrPayloadTooLarge, err), closeAbort)
	case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway,
		websocket.CloseNoStatusReceived, websocket.CloseAbnormalClosure),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		c.closeWith(disconnect.TransportClose, nil, closeAbort)
	default:
		c.closeWith(disconnect.TransportError, fmt.Errorf("websocket read: %w", err), closeAbort)
	}
}

// writeLoop drains the session's queue into ws, one batch per run, and
// returns when the queue is empty; after the session ended it sends the
// close (when flushing) and closes ws.
func (c *Conn) writeLoop(ws *websocket.Conn) {
	timeout := c.srv.cfg.WriteTimeout
	if bc, ok := ws.NetConn().(*batchConn); ok && bc.pending() {
		// writeInline left what the socket did not take at once.
		_ = ws.SetWriteDeadline(time.Now().Add(timeout))
		if err := bc.end(); err != nil {
			c.closeWith(disconnect.TransportError, fmt.Errorf("websocket write: %w", err), closeAbort)
			_ = ws.Close()
			return
		}
	}
	for {
		c.mu.Lock()
		q, flags := c.takeLocked()
		closed, mode, frames := c.isClosed, c.mode, c.frames
		if len(q) == 0 && !closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		// No close packet after a flush: Node's engine.io ends a WebSocket
		// it closes with the close frame alone (closeBare below).
		if closed && mode != closeFlush {
			q = nil
		}
		if len(q) > 0 {
			_ = ws.SetWriteDeadline(time.Now().Add(timeout))
			if err := c.writeBatch(ws, q, flags, frames); err != nil {
				c.closeWith(disconnect.TransportError, fmt.Errorf("websocket write: %w", err), closeAbort)
				_ = ws.Close()
				return
			}
		}
		if closed {
			closeBare(ws, timeout)
			return
		}
	}
}

// writeBatch writes q as writeFrames does, in one write to the network
// when ws sits on a batchConn.
func (c *Conn) writeBatch(ws *websocket.Conn, q []engineio.Packet, flags []sendFlags, frames frameMode) error {
	bc, _ := ws.NetConn().(*batchConn)
	if bc != nil {
		bc.begin()
	}
	err := c.writeFrames(ws, q, flags, frames)
	if bc != nil {
		if ferr := bc.end(); err == nil {
			err = ferr
		}
	}
	return err
}

// writeFrames writes each packet of q as one message (writeFrame). With
// Config.PerMessageDeflate, a message is compressed when the client
// negotiated it, it reaches the threshold and its packet was not sent
// Uncompressed: gorilla/websocket compresses it on its own (no context
// takeover) as it writes it, or, for a Shared packet, copies the
// compressed frame the first connection to write it made
// (sharedframes.go); the batchConn under ws gathers either unchanged.
func (c *Conn) writeFrames(ws *websocket.Conn, q []engineio.Packet, flags []sendFlags, frames frameMode) error {
	d := c.srv.cfg.PerMessageDeflate
	var deflated bool
	bc, _ := ws.NetConn().(*batchConn)
	if bc != nil {
		deflated = bc.deflate
		_ = bc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	}
	for i, p := range q {
		compress := false
		if d != nil {
			var f sendFlags
			if flags != nil {
				f = flags[i]
			}
			compress = d.compresses(frameLen(p, frames), f&sendUncompressed != 0)
			ws.EnableWriteCompression(compress)
			if compress && deflated && f&sendShared != 0 {
				if pm := c.srv.shared.get(p, frames); pm != nil {
					if err := ws.WritePreparedMessage(pm); err != nil {
						return err
					}
					continue
				}
			}
		}
		if !compress && bc != nil {
			if ok, err := bc.appendFrame(p, frames); err != nil {
				return err
			} else if ok {
				continue
			}
		}
		if err := writeFrame(ws, p, frames); err != nil {
			return err
		}
	}
	return nil
}

// frameHead returns how writeFrame (and batchConn.appendFrame) frame p:
// the message type and the bytes written before p.Data, or b64 for the
// Engine.IO v3 "b4"+base64 text form, whose payload is not p.Data.
func frameHead(p engineio.Packet, frames frameMode) (mt int, prefix []byte, b64 bool) {
	if p.Binary && p.Type == engineio.Message {
		switch frames {
		case framesV3Base64:
			return websocket.TextMessage, nil, true
		case framesV3:
			return websocket.BinaryMessage, v3BinaryPrefix, false
		}
		return websocket.BinaryMessage, nil, false
	}
	return websocket.TextMessage, typeChars[p.Type], false
}

// frameLen is the size of the WebSocket message writeFrame makes of p.
func frameLen(p engineio.Packet, frames frameMode) int {
	_, prefix, b64 := frameHead(p, frames)
	if b64 {
		return 2 + base64.StdEncoding.EncodedLen(len(p.Data))
	}
	return len(prefix) + len(p.Data)
}

// writeFrame writes p as one message: binary messages as binary frames (for
// Engine.IO v3, after the message type byte, or as a "b4"+base64 text
// frame when frames says so), the rest as text frames of the type
// character followed by Data.
func writeFrame(ws *websocket.Conn, p engineio.Packet, frames frameMode) error {
	mt, prefix, b64 := frameHead(p, frames)
	if b64 {
		return ws.WriteMessage(websocket.TextMessage, engineio.AppendTextV3(nil, p))
	}
	w, err := ws.NextWriter(mt)
	if err != nil {
		return err
	}
	if len(prefix) > 0 {
		if _, err := w.Write(prefix); err != nil {
			return err
		}
	}
	if len(p.Data) > 0 {
		if _, err := w.Write(p.Data); err != nil {
			return err
		}
	}
	return w.Close()
}

// v3BinaryPrefix starts an Engine.IO v3 binary frame: the message type.
var v3BinaryPrefix = []byte{byte(engineio.Message)}

// closeSocket sends a close frame (best effort) and closes the connection.
func closeSocket(ws *websocket.Conn, code int, timeout time.Duration) {
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(timeout))
	_ = ws.Close()
}

// closeBare ends a session's WebSocket as Node's engine.io does: a close
// frame without a status code (the client reads 1005), best effort, then
// the connection is closed.
func closeBare(ws *websocket.Conn, timeout time.Duration) {
	_ = ws.WriteControl(websocket.CloseMessage, []byte{}, time.Now().Add(timeout))
	_ = ws.Close()
}

// bareCloseFrame is a server's close frame without a status code: FIN and
// opcode 8, no mask, no payload.
var bareCloseFrame = []byte{0x88, 0x00}

// tryCloseFrame writes a bare close frame on the session's WebSocket if no
// writer is using it and the socket takes the two bytes at once, without
// ever blocking: a peer that stopped reading gets nothing, and the caller
// cuts the connection right after either way.
func (c *Conn) tryCloseFrame() {
	ws := c.claimWriter()
	if ws == nil {
		return // a writer is busy, perhaps blocked: no frame can go in between
	}
	if bc, ok := ws.NetConn().(*batchConn); ok && bc.canTry() {
		_ = bc.tryWrite(bareCloseFrame)
	}
	c.mu.Lock()
	c.writing = false
	c.mu.Unlock()
}
