package gateway

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/actorio/actorio/protocol/engineio"
)

// TestQueueGrowsInSegments: a WebSocket session's queue that grows while
// its writer is busy goes on in arrays of queueSegment packets, none
// larger; the writer takes them one at a time, oldest first, each with
// its packets' own flags; the client gets every packet once, in order.
func TestQueueGrowsInSegments(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	const n = 3*queueSegment + 17
	flagged := func(i int) bool { return i%100 == 7 || i == queueSegment }
	send := func(c *Conn, held *Held) {
		t.Helper()
		for i := range n {
			o := SendOptions{Held: held, Uncompressed: flagged(i)}
			if err := c.SendWith(o, msg(fmt.Sprintf("m%d", i))); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("takes", func(t *testing.T) {
		_, c := e.openWS(t)
		waitWriterIdle(t, c)
		c.mu.Lock()
		c.writing = true // a writer busy elsewhere: sends only queue
		c.mu.Unlock()
		send(c, nil)
		c.mu.Lock()
		defer c.mu.Unlock()
		// Whatever happens, the session's writer is let go (under c.mu).
		defer func() { c.writing = false }()
		if got := c.queuedLocked(); got != n {
			t.Fatalf("%d packets queued, want %d", got, n)
		}
		i := 0
		for c.queuedLocked() > 0 {
			q, flags := c.takeLocked()
			if len(q) == 0 || len(q) > queueSegment {
				t.Fatalf("a take of %d packets, want 1 to %d", len(q), queueSegment)
			}
			if flags != nil && len(flags) != len(q) {
				t.Fatalf("a take of %d packets with %d flags", len(q), len(flags))
			}
			for j, p := range q {
				if want := fmt.Sprintf("m%d", i); string(p.Data) != want {
					t.Fatalf("packet %d is %q, want %q", i, p.Data, want)
				}
				f := sendFlags(0)
				if flags != nil {
					f = flags[j]
				}
				if got := f&sendUncompressed != 0; got != flagged(i) {
					t.Fatalf("packet %d taken with Uncompressed %v, want %v", i, got, flagged(i))
				}
				i++
			}
		}
		if i != n || c.more != nil || c.flags != nil || c.queueBytes != 0 {
			t.Fatalf("took %d packets of %d; left: more %v, flags %v, %d bytes", i, n, c.more, c.flags, c.queueBytes)
		}
	})

	t.Run("written", func(t *testing.T) {
		ws, c := e.openWS(t)
		waitWriterIdle(t, c)
		var h Held
		send(c, &h)
		checkSegments(t, c, n)
		h.Release()
		for i := range n {
			if got, want := readText(t, ws), fmt.Sprintf("4m%d", i); got != want {
				t.Fatalf("client read %q, want %q", got, want)
			}
		}
	})
}

// checkSegments fails t unless c's queue of n packets is in arrays of
// queueSegment packets, the first of at most that capacity.
func checkSegments(t *testing.T, c *Conn, n int) {
	t.Helper()
	c.mu.Lock()
	segs := 0
	if c.more != nil {
		segs = len(c.more.segs)
	}
	first := cap(c.queue)
	c.mu.Unlock()
	if segs != n/queueSegment || first > queueSegment {
		t.Fatalf("%d packets queued in 1+%d arrays, the first of capacity %d; want 1+%d of at most %d", n, segs, first, n/queueSegment, queueSegment)
	}
}

// TestQueueBoundCountsEverySegment: MaxQueuePackets bounds the packets of
// every array of a queue, not its first one's.
func TestQueueBoundCountsEverySegment(t *testing.T) {
	checkGoroutines(t)
	const limit = 2*queueSegment + 10
	e := startEnv(t, Config{MaxQueuePackets: limit})
	_, c := e.openWS(t)
	waitWriterIdle(t, c)
	var h Held
	defer h.Release()
	for i := range limit {
		if err := c.SendWith(SendOptions{Held: &h}, msg(fmt.Sprint(i))); err != nil {
			t.Fatalf("send %d of %d: %v", i+1, limit, err)
		}
	}
	if err := c.SendWith(SendOptions{Held: &h}, msg("one too many")); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("send over MaxQueuePackets: %v, want ErrSlowConsumer", err)
	}
}

// TestPollingQueueInSegments: a polling session's queue grows in arrays of
// queueSegment packets too; one GET answers every packet queued, in
// order, in one payload (a v3 one for a v3 session), gzipped unless every
// packet was sent Uncompressed, and leaves the queue empty.
func TestPollingQueueInSegments(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{AllowEIO3: true})
	const n = 3*queueSegment + 17
	raw := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}
	t.Cleanup(raw.CloseIdleConnections)
	get := func(t *testing.T, query string) (encoding string, body []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, e.base+"?"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := raw.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r io.Reader = resp.Body
		if encoding = resp.Header.Get("Content-Encoding"); encoding == "gzip" {
			if r, err = gzip.NewReader(resp.Body); err != nil {
				t.Fatal(err)
			}
		}
		if body, err = io.ReadAll(r); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET: %d, %v", resp.StatusCode, err)
		}
		return encoding, body
	}
	for _, tc := range []struct {
		name         string
		eio3         bool
		uncompressed func(i int) bool
		wantEncoding string
	}{
		{"v4, some packets compressible", false, func(i int) bool { return i%2 == 0 }, "gzip"},
		{"v4, every packet Uncompressed", false, func(int) bool { return true }, ""},
		{"v3", true, func(int) bool { return false }, "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query := "EIO=4&transport=polling&sid="
			var sid string
			if tc.eio3 {
				sid = e.handshakeV3(t, "")
				query = "EIO=3&transport=polling&sid="
			} else {
				sid = e.handshake(t)
			}
			c := e.h.nextConn(t)
			for i := range n {
				if err := c.SendWith(SendOptions{Uncompressed: tc.uncompressed(i)}, msg(fmt.Sprintf("m%d", i))); err != nil {
					t.Fatal(err)
				}
			}
			checkSegments(t, c, n)
			encoding, body := get(t, query+sid)
			if encoding != tc.wantEncoding {
				t.Errorf("answer with Content-Encoding %q, want %q", encoding, tc.wantEncoding)
			}
			var pkts []engineio.Packet
			var err error
			if tc.eio3 {
				pkts, err = engineio.DecodePayloadV3(body)
			} else {
				pkts, err = engineio.DecodePayload(body)
			}
			if err != nil {
				t.Fatalf("payload of %d bytes: %v", len(body), err)
			}
			if len(pkts) != n {
				t.Fatalf("%d packets in the answer, want %d", len(pkts), n)
			}
			for i, p := range pkts {
				if want := fmt.Sprintf("m%d", i); p.Type != engineio.Message || string(p.Data) != want {
					t.Fatalf("packet %d is %v %q, want a message %q", i, p.Type, p.Data, want)
				}
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.queue != nil || c.more != nil || c.flags != nil || c.queueBytes != 0 {
				t.Fatalf("after the answer: queue of %d, more %v, flags %v, %d bytes", len(c.queue), c.more, c.flags, c.queueBytes)
			}
		})
	}
}

// TestPollingQueueStartsSmall: a polling session whose client has not
// polled yet holds its first packets in an array of pollFirst, not in a
// pooled one of up to queueSegment packets, even when the pool has one.
func TestPollingQueueStartsSmall(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	e.handshake(t)
	c := e.h.nextConn(t)
	putQueueArray(make([]engineio.Packet, 0, queueSegment))
	if err := c.Send(msg("one")); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	got := cap(c.queue)
	c.mu.Unlock()
	if got != pollFirst {
		t.Fatalf("one packet queued in an array of capacity %d, want %d", got, pollFirst)
	}
}

// TestPollingArraysStayOutOfQueueArrays: the small first arrays of polling
// queues, given back once a GET answered them, do not go to queueArrays,
// where a WebSocket writer would take them and regrow them by doubling.
func TestPollingArraysStayOutOfQueueArrays(t *testing.T) {
	checkGoroutines(t)
	e := startEnv(t, Config{})
	for range 1000 { // empty the pool, its victim cache too
		if getQueueArray() == nil {
			break
		}
	}
	sid := e.handshake(t)
	c := e.h.nextConn(t)
	for i := range 3 {
		if err := c.Send(msg(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if _, body := e.poll(t, sid); body != "4"+fmt.Sprint(i) {
			t.Fatalf("GET %q", body)
		}
	}
	for a := getQueueArray(); a != nil; a = getQueueArray() {
		if cap(a) < queueSegment/4 {
			t.Fatalf("an array of capacity %d in queueArrays", cap(a))
		}
	}
}
