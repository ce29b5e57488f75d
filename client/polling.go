package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
)

// maxPollBody bounds a polling response the client reads.
const maxPollBody = 64 << 20

// dialPolling opens a session with a polling handshake, starts polling,
// and starts the upgrade to WebSocket when allowed on both sides.
func dialPolling(ctx context.Context, cfg *engineConfig, h engineHandler) (*engine, error) {
	body, err := cfg.poll(ctx, http.MethodGet, "", nil)
	if err != nil {
		return nil, fmt.Errorf("client: polling handshake: %w", err)
	}
	pkts, err := engineio.DecodePayload(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	info, err := parseOpen(pkts[0])
	if err != nil {
		return nil, err
	}
	e := newEngine(cfg, h, info, TransportPolling)
	e.startPolling(pkts[1:])
	if cfg.canUpgrade() && slices.Contains(info.Upgrades, TransportWebSocket) {
		e.wg.Add(1)
		go e.upgrade()
	}
	return e, nil
}

// poll sends one polling request for session sid ("" for the handshake)
// and returns the response body of a 200 answer.
func (c *engineConfig) poll(ctx context.Context, method, sid string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(TransportPolling, sid), rd)
	if err != nil {
		return nil, err
	}
	if method == http.MethodGet {
		req.Body = noReplay{}
	}
	for k, vs := range c.header {
		req.Header[k] = slices.Clone(vs)
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPollBody+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPollBody {
		return nil, fmt.Errorf("%w: polling response over %d bytes", ErrProtocol, maxPollBody)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, newHTTPError(resp.StatusCode, data)
	}
	return data, nil
}

// noReplay is the empty body of a polling GET. net/http's Transport
// silently sends a GET again on a new connection when a reused one fails
// before the answer's first byte; a poll whose answer the server wrote is
// then answered by the next batch, and the packets of the lost answer are
// gone while the session goes on. A body other than http.NoBody, with no
// GetBody, makes the request one the Transport does not replay: the poll
// fails and the session ends, as it must. (An empty body sends nothing.)
type noReplay struct{}

func (noReplay) Read([]byte) (int, error) { return 0, io.EOF }
func (noReplay) Close() error             { return nil }

// startPolling starts the polling reader, which first handles first (the
// packets that came with the handshake), and the polling writer.
func (e *engine) startPolling(first []engineio.Packet) {
	readerDone, writerDone := make(chan struct{}), make(chan struct{})
	e.pollDone = [2]chan struct{}{readerDone, writerDone}
	e.wg.Add(2)
	go e.pollReader(first, readerDone)
	go e.pollWriter(writerDone)
}

// pollReader long-polls until the session ends or polling pauses for the upgrade.
func (e *engine) pollReader(first []engineio.Packet, done chan struct{}) {
	defer e.wg.Done()
	defer close(done)
	for _, p := range first {
		if !e.handle(p) {
			return
		}
	}
	for {
		e.mu.Lock()
		stop := e.closed || e.pausing
		e.mu.Unlock()
		if stop {
			return
		}
		body, err := e.cfg.poll(e.ctx, http.MethodGet, e.sid, nil)
		if err != nil {
			e.failDesc(disconnect.TransportError, fmt.Errorf("client: poll: %w", err), transportFailure("xhr poll error", err))
			return
		}
		pkts, err := engineio.DecodePayload(body)
		if err != nil {
			e.failDesc(disconnect.TransportError, fmt.Errorf("%w: %w", ErrProtocol, err), transportFailure("xhr poll error", nil))
			return
		}
		for _, p := range pkts {
			if !e.handle(p) {
				return
			}
		}
	}
}

// pollWriter posts the queued packets, batched up to the server's
// maxPayload, until the session ends or polling pauses for the upgrade.
// When the client closes, it posts the close packet last.
func (e *engine) pollWriter(done chan struct{}) {
	defer e.wg.Done()
	defer close(done)
	for {
		batch, final, stop := e.next(e.maxPayload, true)
		if stop {
			return
		}
		if final {
			batch = []engineio.Packet{{Type: engineio.Close}}
		}
		if _, err := e.cfg.poll(e.ctx, http.MethodPost, e.sid, engineio.AppendPayload(nil, batch)); err != nil {
			e.failDesc(disconnect.TransportError, fmt.Errorf("client: post: %w", err), transportFailure("xhr post error", err))
			return
		}
		if final {
			e.fail(disconnect.ForcedClose, nil)
			return
		}
	}
}
