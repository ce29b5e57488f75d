package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// tapConn records the bytes a client reads from the server.
type tapConn struct {
	net.Conn
	mu   sync.Mutex
	read []byte
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.read = append(c.read, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// wireMessage is one message as the server framed it: its opcode, and
// whether its first frame had RSV1 (permessage-deflate: compressed).
type wireMessage struct {
	opcode     byte
	compressed bool
}

// messages parses what the client read after the HTTP answer into the
// server's messages (frames from a server are not masked).
func (c *tapConn) messages(t *testing.T) []wireMessage {
	t.Helper()
	c.mu.Lock()
	b := bytes.Clone(c.read)
	c.mu.Unlock()
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatal("no HTTP answer read")
	}
	return parseFrames(t, b[i+4:])
}

// parseFrames splits unmasked WebSocket frames into messages; a partial
// frame at the end is left out.
func parseFrames(t *testing.T, b []byte) []wireMessage {
	t.Helper()
	var out []wireMessage
	for len(b) >= 2 {
		b0, b1 := b[0], b[1]
		if b1&0x80 != 0 {
			t.Fatal("masked frame from the server")
		}
		n, h := uint64(b1&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return out
			}
			n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return out
			}
			n, h = binary.BigEndian.Uint64(b[2:]), 10
		}
		if uint64(len(b)-h) < n {
			return out
		}
		if op := b0 & 0x0f; op != 0 { // continuation frames belong to the message before
			out = append(out, wireMessage{opcode: op, compressed: b0&0x40 != 0})
		}
		b = b[h+int(n):]
	}
	return out
}

// dialDeflate opens a WebSocket session that offers permessage-deflate
// when offer is set, and returns the client, the tap on what it reads, the
// Conn and the server's Sec-WebSocket-Extensions answer.
func (e *env) dialDeflate(t *testing.T, query string, offer bool) (*websocket.Conn, *tapConn, string) {
	t.Helper()
	tap := &tapConn{}
	d := websocket.Dialer{
		EnableCompression: offer,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			tap.Conn = c
			return tap, err
		},
	}
	ws, resp, err := d.Dial(e.wsBase+"?"+query, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws, tap, resp.Header.Get("Sec-WebSocket-Extensions")
}

// readMsg reads one message.
func readMsg(t *testing.T, ws *websocket.Conn) (int, []byte) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	mt, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return mt, data
}

// TestPerMessageDeflate checks what the server compresses: nothing
// without the option or without the client's offer; with both, the
// messages from the threshold on, and none sent with
// SendOptions.Uncompressed; text and binary, through the writer goroutine
// (Send) and the caller's write (SendNow), all read back intact.
func TestPerMessageDeflate(t *testing.T) {
	small := strings.Repeat("s", 100)
	large := strings.Repeat("large message ", 300) // 4200 bytes
	bin := bytes.Repeat([]byte{0, 1, 2, 3}, 1000)
	send := func(c *Conn, now, plain bool, p engineio.Packet) {
		if err := c.SendWith(SendOptions{Now: now, Uncompressed: plain}, p); err != nil {
			t.Fatal(err)
		}
	}
	type sent struct {
		now, plain bool
		p          engineio.Packet
	}
	packets := []sent{
		{false, false, msg(small)},
		{false, false, msg(large)},
		{false, true, msg(large)},
		{false, false, engineio.Packet{Type: engineio.Message, Data: bin, Binary: true}},
		{true, false, msg(large)},
		{true, true, msg(large)},
		{true, false, msg(small)},
		{false, false, msg(strings.Repeat("t", 1023))}, // 1024 bytes with its type
		{false, false, msg(strings.Repeat("t", 1022))}, // 1023
	}
	for _, tc := range []struct {
		name   string
		cfg    *PerMessageDeflate
		offer  bool
		header string
		want   []bool // compressed: the open packet, then each of packets
	}{
		{"off", nil, true, "", make([]bool, 1+len(packets))},
		{"not offered", &PerMessageDeflate{}, false, "", make([]bool, 1+len(packets))},
		{"default threshold", &PerMessageDeflate{}, true, "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			[]bool{false, false, true, false, true, true, false, false, true, false}},
		{"threshold 50, level 9", &PerMessageDeflate{Threshold: 50, Level: 9}, true, "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			[]bool{true, true, true, false, true, true, false, true, true, true}},
		{"every message", &PerMessageDeflate{Threshold: -1}, true, "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			[]bool{true, true, true, false, true, true, false, true, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEnv(t, Config{PerMessageDeflate: tc.cfg})
			ws, tap, ext := e.dialDeflate(t, "EIO=4&transport=websocket", tc.offer)
			if ext != tc.header {
				t.Errorf("Sec-WebSocket-Extensions %q, want %q", ext, tc.header)
			}
			if _, open := readMsg(t, ws); !bytes.HasPrefix(open, []byte(`0{"sid"`)) {
				t.Fatalf("open packet %q", open)
			}
			c := e.h.nextConn(t)
			for _, s := range packets {
				send(c, s.now, s.plain, s.p)
			}
			for i, s := range packets {
				mt, data := readMsg(t, ws)
				want := append([]byte{'4'}, s.p.Data...)
				if s.p.Binary {
					want = s.p.Data
				}
				if (mt == websocket.BinaryMessage) != s.p.Binary || !bytes.Equal(data, want) {
					t.Fatalf("message %d: type %d, %d bytes, want %d", i, mt, len(data), len(want))
				}
			}
			var got []bool
			for _, m := range tap.messages(t) {
				got = append(got, m.compressed)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("compressed %v\n          want %v", got, tc.want)
			}
		})
	}
}

// TestPerMessageDeflateBatch checks that frames compressed one by one and
// gathered into one write by the batchConn arrive whole and in order.
func TestPerMessageDeflateBatch(t *testing.T) {
	e := startEnv(t, Config{PerMessageDeflate: &PerMessageDeflate{}})
	ws, tap, _ := e.dialDeflate(t, "EIO=4&transport=websocket", true)
	readMsg(t, ws)
	c := e.h.nextConn(t)
	const n = 200
	for i := range n {
		// Sizes around the threshold, the write buffer and batchMax.
		size := []int{10, 1500, 5000, 70 << 10}[i%4]
		p := msg(strings.Repeat(string(rune('a'+i%26)), size))
		if err := c.SendWith(SendOptions{Uncompressed: i%3 == 0}, p); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		size := []int{10, 1500, 5000, 70 << 10}[i%4]
		if _, data := readMsg(t, ws); string(data) != "4"+strings.Repeat(string(rune('a'+i%26)), size) {
			t.Fatalf("message %d: %d bytes", i, len(data))
		}
	}
	ms := tap.messages(t)[1:]
	for i, m := range ms {
		size := []int{10, 1500, 5000, 70 << 10}[i%4]
		if want := size+1 >= DefaultDeflateThreshold && i%3 != 0; m.compressed != want {
			t.Errorf("message %d (%d bytes): compressed %v", i, size, m.compressed)
		}
	}
}

// TestPerMessageDeflateInbound checks that compressed messages from the
// client are read, and that MaxPayload bounds their decompressed size:
// one over it closes the session with "transport error" and close code
// 1009, as an oversized uncompressed message does.
func TestPerMessageDeflateInbound(t *testing.T) {
	e := startEnv(t, Config{PerMessageDeflate: &PerMessageDeflate{}, MaxPayload: 10_000})
	ws, _, _ := e.dialDeflate(t, "EIO=4&transport=websocket", true)
	readMsg(t, ws)
	c := e.h.nextConn(t)
	// gorilla's client compresses every message once negotiated.
	for _, s := range []string{"4small", "4" + strings.Repeat("z", 9_999)} {
		writeText(t, ws, s)
		if got := e.h.nextPacket(t); got != s[1:] {
			t.Fatalf("got %d bytes, want %d", len(got), len(s)-1)
		}
		if _, data := readMsg(t, ws); string(data) != s {
			t.Fatalf("echo of %d bytes: %d", len(s), len(data))
		}
	}
	// 10,001 bytes decompressed, a few dozen on the wire.
	writeText(t, ws, "4"+strings.Repeat("z", 10_000))
	err := expectClosed(t, ws)
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Errorf("client read %v, want close 1009", err)
	}
	ev := e.h.nextClose(t)
	if ev.sid != c.ID() || ev.reason != disconnect.TransportError || !errors.Is(ev.err, websocket.ErrReadLimit) {
		t.Errorf("close %+v", ev)
	}
}

// TestPerMessageDeflateUpgrade checks compression on a WebSocket reached
// by an upgrade from polling.
func TestPerMessageDeflateUpgrade(t *testing.T) {
	e := startEnv(t, Config{PerMessageDeflate: &PerMessageDeflate{}})
	sid := e.handshake(t)
	c := e.h.nextConn(t)
	ws, tap, ext := e.dialDeflate(t, "EIO=4&transport=websocket&sid="+sid, true)
	if !strings.HasPrefix(ext, "permessage-deflate") {
		t.Fatalf("Sec-WebSocket-Extensions %q", ext)
	}
	writeText(t, ws, "2probe")
	if _, data := readMsg(t, ws); string(data) != "3probe" {
		t.Fatalf("probe answer %q", data)
	}
	if status, body := e.poll(t, sid); status != http.StatusOK || body != "6" {
		t.Fatalf("poll during the upgrade: %d %q", status, body)
	}
	writeText(t, ws, "5")
	waitFor(t, func() bool { return c.Transport() == TransportWebSocket })
	large := strings.Repeat("after the upgrade ", 100)
	for _, plain := range []bool{false, true} {
		if err := c.SendWith(SendOptions{Uncompressed: plain}, msg(large)); err != nil {
			t.Fatal(err)
		}
		if _, data := readMsg(t, ws); string(data) != "4"+large {
			t.Fatalf("got %d bytes", len(data))
		}
	}
	var got []bool
	for _, m := range tap.messages(t) {
		got = append(got, m.compressed)
	}
	if want := []bool{false, true, false}; !slices.Equal(got, want) {
		t.Errorf("compressed %v, want %v", got, want)
	}
}

// waitFor polls cond for up to 3 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 3s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPollingGzipUncompressed checks that a polling response made only of
// packets sent with SendOptions.Uncompressed is not gzipped, and that one
// packet without it is enough for the response to be.
func TestPollingGzipUncompressed(t *testing.T) {
	raw := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	large := strings.Repeat("x", 3000)
	for _, tc := range []struct {
		name    string
		plain   []bool
		gzipped bool
	}{
		{"one uncompressed", []bool{true}, false},
		{"two uncompressed", []bool{true, true}, false},
		{"uncompressed then not", []bool{true, false}, true},
		{"not then uncompressed", []bool{false, true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEnv(t, Config{})
			sid := e.handshake(t)
			c := e.h.nextConn(t)
			for _, plain := range tc.plain {
				if err := c.SendWith(SendOptions{Uncompressed: plain}, msg(large)); err != nil {
					t.Fatal(err)
				}
			}
			req, _ := http.NewRequest(http.MethodGet, e.base+"?EIO=4&transport=polling&sid="+sid, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			res, err := raw.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if got := res.Header.Get("Content-Encoding") == "gzip"; got != tc.gzipped {
				t.Errorf("gzipped %v, want %v", got, tc.gzipped)
			}
		})
	}
}

// TestPerMessageDeflateShared checks that a packet sent Shared to many
// connections arrives intact on each, compressed on those that
// negotiated compression and plain on the others, and is compressed
// once: one cached message for all of them.
func TestPerMessageDeflateShared(t *testing.T) {
	e := startEnv(t, Config{PerMessageDeflate: &PerMessageDeflate{}})
	type peer struct {
		ws   *websocket.Conn
		tap  *tapConn
		c    *Conn
		want bool // compressed
	}
	var peers []peer
	for i := range 6 {
		offer := i%3 != 2
		ws, tap, _ := e.dialDeflate(t, "EIO=4&transport=websocket", offer)
		readMsg(t, ws)
		peers = append(peers, peer{ws, tap, e.h.nextConn(t), offer})
	}
	large := engineio.Packet{Type: engineio.Message, Data: []byte(strings.Repeat("shared broadcast ", 200))}
	bin := engineio.Packet{Type: engineio.Message, Data: bytes.Repeat([]byte{1, 2, 3}, 1000), Binary: true}
	small := msg("small")
	for _, p := range peers {
		for _, pkt := range []engineio.Packet{large, bin, small} {
			if err := p.c.SendWith(SendOptions{Shared: true}, pkt); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.c.SendWith(SendOptions{Shared: true, Uncompressed: true}, large); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range peers {
		for j, want := range [][]byte{append([]byte{'4'}, large.Data...), bin.Data, []byte("4small"), append([]byte{'4'}, large.Data...)} {
			if _, data := readMsg(t, p.ws); !bytes.Equal(data, want) {
				t.Fatalf("peer %d, message %d: %d bytes, want %d", i, j, len(data), len(want))
			}
		}
		var got []bool
		for _, m := range p.tap.messages(t)[1:] {
			got = append(got, m.compressed)
		}
		if want := []bool{p.want, p.want, false, false}; !slices.Equal(got, want) {
			t.Errorf("peer %d: compressed %v, want %v", i, got, want)
		}
	}
	e.srv.shared.mu.Lock()
	n := len(e.srv.shared.entries)
	e.srv.shared.mu.Unlock()
	if n != 2 {
		t.Errorf("%d shared messages cached, want 2 (the large text and the binary)", n)
	}
}

// TestSharedFramesBounds checks that the cache of shared messages keeps
// within sharedMaxBytes, drops its oldest entries first and those older
// than sharedMaxAge, and that a dropped packet is prepared again.
func TestSharedFramesBounds(t *testing.T) {
	var s sharedFrames
	var pkts []engineio.Packet
	for i := range 300 {
		p := msg(strings.Repeat(string(rune('a'+i%26)), 20_000))
		pkts = append(pkts, p)
		if s.get(p, framesV4) == nil {
			t.Fatal("no prepared message")
		}
	}
	s.mu.Lock()
	bytes, n := s.bytes, len(s.entries)
	_, first := s.entries[sharedKey{data: &pkts[0].Data[0], n: 20_000, typ: engineio.Message}]
	_, last := s.entries[sharedKey{data: &pkts[299].Data[0], n: 20_000, typ: engineio.Message}]
	s.mu.Unlock()
	if bytes > sharedMaxBytes || n != len(s.order)-s.head || first || !last {
		t.Errorf("%d bytes, %d entries (%d in order), first kept %v, last kept %v", bytes, n, len(s.order)-s.head, first, last)
	}
	// Old entries go at the next insertion.
	s.mu.Lock()
	for _, e := range s.entries {
		e.at = e.at.Add(-2 * sharedMaxAge)
	}
	s.mu.Unlock()
	if pm := s.get(pkts[0], framesV4); pm == nil {
		t.Fatal("no prepared message")
	}
	s.mu.Lock()
	n = len(s.entries)
	s.mu.Unlock()
	if n != 1 {
		t.Errorf("%d entries after they aged, want 1", n)
	}
}
