package gateway

import (
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// pongFrame is a client's pong: a masked text frame "3" with a zero mask,
// so the payload goes as is.
var pongFrame = []byte{0x81, 0x81, 0, 0, 0, 0, '3'}

// rawPonger answers an idle WebSocket session's pings on the bare
// connection (gorilla's client allocates per message): it reads the
// server's unmasked frames and writes pongFrame for each ping, allocating
// nothing per heartbeat.
func rawPonger(conn net.Conn, pings *atomic.Int64) {
	var buf [128]byte
	for {
		if _, err := io.ReadFull(conn, buf[:2]); err != nil {
			return
		}
		n := int(buf[1] & 0x7f)
		if n > 125 {
			return // not a heartbeat's frame
		}
		if _, err := io.ReadFull(conn, buf[:n]); err != nil {
			return
		}
		if n == 1 && buf[0] == '2' {
			pings.Add(1)
			if _, err := conn.Write(pongFrame); err != nil {
				return
			}
		}
	}
}

// heartbeatGarbage opens n idle WebSocket sessions on a server that pings
// them every interval and returns what the process allocated per
// heartbeat (ping and pong) over window, with the number of heartbeats it
// counted.
func heartbeatGarbage(tb testing.TB, n int, interval, window time.Duration) (bytesPer, allocsPer float64, beats int64) {
	var pings atomic.Int64
	rawSessions(tb, Config{PingInterval: interval, PingTimeout: 5 * time.Second, Logger: testLogger}, n,
		func(c net.Conn) { rawPonger(c, &pings) })
	time.Sleep(interval + interval/4) // every session in its heartbeat
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	p0 := pings.Load()
	time.Sleep(window)
	runtime.ReadMemStats(&m1)
	beats = pings.Load() - p0
	if beats == 0 {
		tb.Fatal("no heartbeat in the window")
	}
	return float64(m1.TotalAlloc-m0.TotalAlloc) / float64(beats), float64(m1.Mallocs-m0.Mallocs) / float64(beats), beats
}

// An idle WebSocket session's heartbeat leaves (almost) no garbage: at
// 25 s a ping, a server of 100 000 idle sessions pings 4 000 a second,
// and what each leaves makes the heap grow between collections (the
// server's RSS with it). What remains is gorilla's reader of each pong
// (a few small objects). The sessions are pinged every 1.2 s, more than
// activeWindow, so that their readers park in the poller between
// heartbeats, as idle sessions' do.
func TestHeartbeatGarbage(t *testing.T) {
	checkGoroutines(t)
	bytesPer, allocsPer, beats := heartbeatGarbage(t, 1000, 1200*time.Millisecond, 3*time.Second)
	t.Logf("%d heartbeats: %.0f bytes and %.2f allocations each", beats, bytesPer, allocsPer)
	if beats < 1000 {
		t.Fatalf("%d heartbeats in 3 s from 1000 sessions pinged every 1.2 s", beats)
	}
	if raceEnabled {
		return // counted without the race detector (.ci/run runs it so)
	}
	if bytesPer > 64 {
		t.Errorf("a heartbeat allocates %.0f bytes (%.2f objects), want ≤ 64", bytesPer, allocsPer)
	}
}
