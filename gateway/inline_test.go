package gateway

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio/disconnect"
)

// TestSendNowNeverBlocksOnAPeerThatStoppedReading: a socket's own emits
// (SendNow) write in the caller's goroutine; with frames of a batch's size
// or more, to a client that reads nothing, no call may block until
// WriteTimeout: they queue up until MaxQueueBytes closes the session as a
// slow consumer.
func TestSendNowNeverBlocksOnAPeerThatStoppedReading(t *testing.T) {
	e := startEnv(t, Config{WriteTimeout: 20 * time.Second, MaxQueueBytes: 8 << 20})
	_, c := e.openWS(t) // the client never reads again
	big := strings.Repeat("x", 2*batchMax)
	start := time.Now()
	for i := 0; ; i++ {
		t0 := time.Now()
		err := c.SendNow(msg(big))
		if d := time.Since(t0); d > time.Second {
			t.Fatalf("SendNow %d blocked for %v", i, d)
		}
		if errors.Is(err, ErrSlowConsumer) || errors.Is(err, ErrClosed) {
			break
		}
		if err != nil {
			t.Fatalf("SendNow %d: %v", i, err)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("no slow consumer after 10 s")
		}
	}
	if ev := e.h.nextClose(t); ev.reason != disconnect.SlowConsumer {
		t.Fatalf("close reason %q, want %q", ev.reason, disconnect.SlowConsumer)
	}
}
