//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorio/actorio/protocol/engineio"
)

// The storm scenarios: as many clients as the file limit allows connect at
// once to the namespace stormNamespace, whose middleware checks the token
// of their CONNECT's auth (both servers register it).
const (
	stormNamespace = "/storm"
	stormToken     = "bench"
	// stormConnect is the CONNECT a storm client sends.
	stormConnect = `40/storm,{"token":"` + stormToken + `"}`
	// stormHeadroom is what the file limit keeps for everything but the
	// storm's connections, in each process.
	stormHeadroom = 300
	// stormMax caps the clients when the file limit is larger: the
	// figures of the issue are taken at this size.
	stormMax = 19900
	// stormTimeout bounds one client's connection.
	stormTimeout = 60 * time.Second
)

// stormResult is the outcome of a storm scenario for one server.
type stormResult struct {
	n, failed int
	firstErr  error
	all       time.Duration // the start until the last client connected
	p50, p99  time.Duration // one client's connection
	cpu       time.Duration // the server's, from the start until the last
	load      time.Duration // the load generator's, over the same window
	before    memStat       // before the storm
	after     memStat       // once every client connected (VmHWM: the peak)
}

// stormClients returns how many clients a storm runs: -storm-n, or as many
// as the file limit allows (within stormMax).
func stormClients(cfg config) (int, error) {
	if cfg.stormConns > 0 {
		return cfg.stormConns, nil
	}
	limit, err := raiseNoFile(0)
	if err != nil {
		return 0, err
	}
	return int(min(limit-stormHeadroom, stormMax)), nil
}

// localAddrs spreads the storm's client connections over source addresses
// of 127.0.0.0/8, so that no pair of addresses runs short of ports.
func localAddr(i int) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/250%250), byte(2+i%250))}
}

// runStorm: n clients connect at once, by WebSocket, or with upgrade by a
// long-polling handshake and CONNECT then the upgrade to WebSocket, as
// the official client does by default; each is counted connected once
// its CONNECT was answered (and, with upgrade, its upgrade done).
func runStorm(ctx context.Context, cfg config, s *serverProc, upgrade bool) (stormResult, error) {
	var res stormResult
	n, err := stormClients(cfg)
	if err != nil {
		return res, err
	}
	res.n = n
	// The run before left this process's heap full of garbage (over
	// 600 MB after a polling storm of 10 000, which the collector, at
	// GOGC 400, had not reclaimed): collected during the next storm, it
	// slowed that storm's clients so much that Node's polling storm,
	// run right after ours, failed in six runs of six (sessions timed
	// out before their CONNECT), and passed in a process of its own.
	debug.FreeOSMemory()
	var cpu0 time.Duration
	if res.before, cpu0, err = baseline(ctx, cfg, s); err != nil {
		return res, err
	}
	// With upgrade, a client holds an HTTP connection besides its
	// WebSocket for a while: the HTTP requests in flight are bounded so
	// that this process stays within its file limit.
	limit, err := raiseNoFile(0)
	if err != nil {
		return res, err
	}
	httpSlots := make(chan struct{}, max(int(limit)-n-stormHeadroom/2, 64))

	conns := make([]*wsConn, n)
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	var last atomic.Int64
	t0 := time.Now()
	for i := range n {
		wg.Go(func() {
			<-start
			cctx, cancel := context.WithTimeout(ctx, stormTimeout)
			defer cancel()
			began := time.Now()
			var ws *wsConn
			var err error
			if upgrade {
				ws, err = stormPollUpgrade(cctx, s.addr, localAddr(i), httpSlots)
			} else {
				ws, err = stormWebSocket(cctx, s.addr, localAddr(i))
			}
			if err != nil {
				errs[i] = err
				return
			}
			done := time.Now()
			conns[i], lat[i] = ws, done.Sub(began)
			for {
				l := last.Load()
				if int64(done.Sub(t0)) <= l || last.CompareAndSwap(l, int64(done.Sub(t0))) {
					break
				}
			}
		})
	}
	me0 := selfCPU()
	t0 = time.Now()
	close(start)
	wg.Wait()
	res.load = selfCPU() - me0
	cpu1, err := s.cpu()
	if err != nil {
		return res, err
	}
	res.cpu = cpu1 - cpu0
	res.all = time.Duration(last.Load())
	res.after, err = s.mem()
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	if err != nil {
		return res, err
	}
	var ok []time.Duration
	for i, e := range errs {
		if e != nil {
			res.failed++
			if res.firstErr == nil {
				res.firstErr = fmt.Errorf("client %d: %w", i, e)
			}
			continue
		}
		ok = append(ok, lat[i])
	}
	if len(ok) > 0 {
		slices.Sort(ok)
		res.p50 = ok[len(ok)*50/100]
		res.p99 = ok[min(len(ok)*99/100, len(ok)-1)]
	}
	return res, s.alive()
}

// stormPath is where a storm client opens its WebSocket.
const stormPath = "/socket.io/?EIO=4&transport=websocket"

// stormWebSocket connects one client by WebSocket and CONNECTs it to the
// storm namespace.
func stormWebSocket(ctx context.Context, addr string, laddr *net.TCPAddr) (*wsConn, error) {
	ws, err := dialWS(ctx, addr, laddr, stormPath)
	if err != nil {
		return nil, err
	}
	if err := ws.expect("0"); err != nil {
		_ = ws.Close()
		return nil, fmt.Errorf("open packet: %w", err)
	}
	if err := ws.writeText([]byte(stormConnect)); err != nil {
		_ = ws.Close()
		return nil, err
	}
	if err := ws.expect("40" + stormNamespace + ","); err != nil {
		_ = ws.Close()
		return nil, fmt.Errorf("CONNECT: %w", err)
	}
	ws.done()
	return ws, nil
}

// stormPollUpgrade connects one client as the official client does by
// default: a long-polling handshake, its CONNECT posted and answered by
// polling, then the upgrade to WebSocket (probe, then upgrade packet).
func stormPollUpgrade(ctx context.Context, addr string, laddr *net.TCPAddr, slots chan struct{}) (*wsConn, error) {
	nd := &net.Dialer{LocalAddr: laddr, Timeout: stormTimeout}
	hc := &http.Client{Transport: &http.Transport{DialContext: nd.DialContext, DisableKeepAlives: true, DisableCompression: true}}
	base := "http://" + addr + "/socket.io/?EIO=4&transport=polling"
	do := func(method, url, body string) (string, error) {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		defer func() { <-slots }()
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if err != nil {
			return "", err
		}
		if body != "" {
			req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: HTTP %d %.80q", method, resp.StatusCode, b)
		}
		return string(b), err
	}
	open, err := do(http.MethodGet, base, "")
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	pkts, err := engineio.DecodePayload([]byte(open))
	if err != nil || len(pkts) == 0 || pkts[0].Type != engineio.Open {
		return nil, fmt.Errorf("handshake: got %.80q: %w", open, errUnexpected)
	}
	sid, err := openSID(pkts[0].Data)
	if err != nil {
		return nil, err
	}
	url := base + "&sid=" + sid
	if _, err := do(http.MethodPost, url, stormConnect); err != nil {
		return nil, fmt.Errorf("CONNECT: %w", err)
	}
	for connected := false; !connected; {
		body, err := do(http.MethodGet, url, "")
		if err != nil {
			return nil, fmt.Errorf("CONNECT answer: %w", err)
		}
		pkts, err := engineio.DecodePayload([]byte(body))
		if err != nil {
			return nil, err
		}
		for _, p := range pkts {
			switch {
			case p.Type == engineio.Message && bytes.HasPrefix(p.Data, []byte("0"+stormNamespace+",")):
				connected = true
			case p.Type == engineio.Message:
				return nil, fmt.Errorf("CONNECT answer: got %.80q: %w", p.Data, errUnexpected)
			}
		}
	}
	ws, err := dialWS(ctx, addr, laddr, stormPath+"&sid="+sid)
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	if err := ws.writeText([]byte("2probe")); err != nil {
		_ = ws.Close()
		return nil, err
	}
	if err := ws.expect("3probe"); err != nil {
		_ = ws.Close()
		return nil, fmt.Errorf("probe: %w", err)
	}
	if err := ws.writeText([]byte("5")); err != nil {
		_ = ws.Close()
		return nil, err
	}
	ws.done()
	return ws, nil
}

// openSID returns the session id of an Engine.IO open packet's data.
func openSID(data []byte) (string, error) {
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(data, &open); err != nil || open.SID == "" {
		return "", fmt.Errorf("open packet %.80q: %w", data, errUnexpected)
	}
	return open.SID, nil
}
