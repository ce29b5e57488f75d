package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
)

// maxFrame bounds a WebSocket message the client reads, after
// decompression: gorilla/websocket's read limit counts the bytes on the
// wire, which a compressed message multiplies many times over.
const maxFrame = 64 << 20

// errFrameTooBig reports a WebSocket message over maxFrame once
// decompressed.
var errFrameTooBig = fmt.Errorf("%w: websocket message over %d bytes", ErrProtocol, maxFrame)

// readWS reads one WebSocket message of at most maxFrame bytes, counted
// after decompression; a longer one is not read further, and the server
// gets a close frame with code 1009.
func readWS(ws *websocket.Conn) (int, []byte, error) {
	mt, r, err := ws.NextReader()
	if err != nil {
		return mt, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, maxFrame+1))
	if err != nil {
		return mt, nil, err
	}
	if len(data) > maxFrame {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseMessageTooBig, ""), time.Now().Add(time.Second))
		return mt, nil, errFrameTooBig
	}
	return mt, data, nil
}

// dialWS opens a WebSocket for session sid ("" for a handshake).
func (c *engineConfig) dialWS(ctx context.Context, sid string) (*websocket.Conn, error) {
	ws, resp, err := http1Only(c.dialer).DialContext(ctx, c.url(TransportWebSocket, sid), c.header)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return nil, fmt.Errorf("client: websocket: %w", newHTTPError(resp.StatusCode, body))
		}
		return nil, fmt.Errorf("client: websocket: %w", err)
	}
	ws.SetReadLimit(maxFrame)
	if c.deflate > 0 {
		// Compressed or not message by message (wsWriter); the probe and
		// the upgrade packet are a few bytes.
		ws.EnableWriteCompression(c.deflate == 1)
	}
	return ws, nil
}

// http1Only returns d, or a copy of it whose TLS config offers HTTP/1.1
// alone when d's offers another protocol: a WebSocket opens over HTTP/1.1,
// and a server that picks HTTP/2 from the offer takes its upgrade request
// for a malformed HTTP/2 preface. A tls.Config shared with an
// http.Transport gets "h2" in its NextProtos that way: net/http adds it in
// place on the transport's first request.
func http1Only(d *websocket.Dialer) *websocket.Dialer {
	cfg := d.TLSClientConfig
	if cfg == nil || !slices.ContainsFunc(cfg.NextProtos, func(p string) bool { return p != "http/1.1" }) {
		return d
	}
	only := *d
	only.TLSClientConfig = cfg.Clone()
	only.TLSClientConfig.NextProtos = []string{"http/1.1"}
	return &only
}

// dialWebSocket opens a session over WebSocket only.
func dialWebSocket(ctx context.Context, cfg *engineConfig, h engineHandler) (*engine, error) {
	ws, err := cfg.dialWS(ctx, "")
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
	mt, data, err := readWS(ws)
	if !stop() {
		_ = ws.Close()
		return nil, fmt.Errorf("client: websocket handshake: %w", ctx.Err())
	}
	if err != nil {
		_ = ws.Close()
		return nil, fmt.Errorf("client: websocket handshake: %w", err)
	}
	p, err := engineio.DecodeFrame(data, mt == websocket.BinaryMessage)
	if err != nil {
		_ = ws.Close()
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	info, err := parseOpen(p)
	if err != nil {
		_ = ws.Close()
		return nil, err
	}
	e := newEngine(cfg, h, info, TransportWebSocket)
	e.ws = ws
	e.wg.Add(2)
	go e.wsReader(ws)
	go e.wsWriter(ws)
	return e, nil
}

// wsReader reads packets until the session ends.
func (e *engine) wsReader(ws *websocket.Conn) {
	defer e.wg.Done()
	for {
		mt, data, err := readWS(ws)
		if errors.Is(err, errFrameTooBig) || errors.Is(err, websocket.ErrReadLimit) {
			// As Node's client, whose ws library closes with 1009: a
			// transport error.
			e.failDesc(disconnect.TransportError, fmt.Errorf("client: websocket: %w", err),
				&Description{Description: "websocket error", Code: websocket.CloseMessageTooBig})
			return
		}
		if err != nil {
			code := websocket.CloseAbnormalClosure
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				code = ce.Code
			}
			e.failDesc(disconnect.TransportClose, fmt.Errorf("client: websocket: %w", err),
				&Description{Description: "websocket connection closed", Code: code})
			return
		}
		p, err := engineio.DecodeFrame(data, mt == websocket.BinaryMessage)
		if err != nil {
			e.failDesc(disconnect.TransportError, fmt.Errorf("%w: %w", ErrProtocol, err), transportFailure("websocket error", nil))
			return
		}
		if !e.handle(p) {
			return
		}
	}
}

// wsWriter writes the queued packets, one per frame, until the session
// ends; when the client closes, it ends with a close frame.
func (e *engine) wsWriter(ws *websocket.Conn) {
	defer e.wg.Done()
	var buf []byte
	for {
		batch, final, stop := e.next(0, false)
		if stop {
			return
		}
		if final {
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(e.cfg.timeout))
			e.fail(disconnect.ForcedClose, nil)
			return
		}
		for _, p := range batch {
			_ = ws.SetWriteDeadline(time.Now().Add(e.cfg.timeout))
			var err error
			if p.Binary && p.Type == engineio.Message {
				e.compressNext(ws, len(p.Data))
				err = ws.WriteMessage(websocket.BinaryMessage, p.Data)
			} else {
				buf = engineio.AppendText(buf[:0], p)
				e.compressNext(ws, len(buf))
				err = ws.WriteMessage(websocket.TextMessage, buf)
			}
			if err != nil {
				e.failDesc(disconnect.TransportError, fmt.Errorf("client: websocket write: %w", err), transportFailure("websocket error", nil))
				return
			}
		}
	}
}

// compressNext decides whether the next message, n bytes long, is
// compressed (Options.PerMessageDeflate; gorilla/websocket ignores it
// when the server did not accept compression).
func (e *engine) compressNext(ws *websocket.Conn, n int) {
	if e.cfg.deflate > 0 {
		ws.EnableWriteCompression(n >= e.cfg.deflate)
	}
}

// upgrade moves a polling session to WebSocket: probe, pause polling, send
// the upgrade packet, hand the queue to the WebSocket writer. A failed
// probe leaves the session on polling.
func (e *engine) upgrade() {
	defer e.wg.Done()
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.timeout)
	defer cancel()
	ws, err := e.cfg.dialWS(ctx, e.sid)
	if err != nil {
		return
	}
	e.mu.Lock()
	if e.closed || e.closing {
		e.mu.Unlock()
		_ = ws.Close()
		return
	}
	e.ws = ws // fail closes it from now on
	e.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
	ok := e.probe(ws)
	if ok {
		ok = e.pausePolling(ctx)
	}
	if !stop() {
		ok = false
	}
	e.mu.Lock()
	if !ok || e.closed {
		if e.ws == ws {
			e.ws = nil
		}
		paused := e.pausing
		e.mu.Unlock()
		_ = ws.Close()
		if paused {
			// Polling is gone and the WebSocket too: nothing carries the session.
			e.failDesc(disconnect.TransportError, errors.New("client: upgrade to websocket failed"), transportFailure("websocket error", nil))
		}
		return
	}
	e.mu.Unlock()
	_ = ws.SetWriteDeadline(time.Now().Add(e.cfg.timeout))
	if err := ws.WriteMessage(websocket.TextMessage, []byte{engineio.Upgrade.Char()}); err != nil {
		e.failDesc(disconnect.TransportError, fmt.Errorf("client: websocket upgrade: %w", err), transportFailure("websocket error", nil))
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.transport = TransportWebSocket
	e.wg.Add(2)
	e.mu.Unlock()
	go e.wsReader(ws)
	go e.wsWriter(ws)
	// Polling is over: its connections, idle now, would otherwise wait
	// for the server's keep-alive timeout (none on a Go http.Server
	// without IdleTimeout). The official client, in Node, leaves none
	// open either.
	e.cfg.closeIdle()
}

// probe sends the probe ping over ws and reports whether the probe pong came back.
func (e *engine) probe(ws *websocket.Conn) bool {
	_ = ws.SetWriteDeadline(time.Now().Add(e.cfg.timeout))
	if err := ws.WriteMessage(websocket.TextMessage, []byte("2probe")); err != nil {
		return false
	}
	mt, data, err := readWS(ws)
	return err == nil && mt == websocket.TextMessage && string(data) == "3probe"
}

// pausePolling stops the polling reader and writer after their current
// request, which the server ends promptly once probed.
func (e *engine) pausePolling(ctx context.Context) bool {
	e.mu.Lock()
	e.pausing = true
	e.signal()
	e.mu.Unlock()
	for _, done := range e.pollDone {
		select {
		case <-done:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
