package client

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// attempts returns the events of reconnection attempts from..to; the last
// one succeeds when lastOK, every other one fails.
func attempts(from, to int, lastOK bool) []string {
	var out []string
	for i := from; i <= to; i++ {
		n := strconv.Itoa(i)
		out = append(out, "reconnecting:"+n, "reconnect_attempt:"+n, EventConnecting)
		if i == to && lastOK {
			out = append(out, "reconnect:"+n, EventConnect)
		} else {
			out = append(out, EventConnectError, EventReconnectError)
		}
	}
	return out
}

// count returns how many events equal want.
func count(events []string, want string) int {
	n := 0
	for _, e := range events {
		if e == want {
			n++
		}
	}
	return n
}

// cat concatenates event lists.
func cat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// waitTransport waits until m's session runs on transport.
func waitTransport(t testing.TB, m *Manager, transport string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for m.transport() != transport {
		if time.Now().After(deadline) {
			t.Fatalf("transport is %q, want %q", m.transport(), transport)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// classicLossRecovery is the classic-name order of a momentary loss.
func checkClassicRecovery(t testing.TB, events []string, reason string) {
	t.Helper()
	c := classic(events)
	if len(c) < 7 || strings.Join(c[:3], ",") != "connecting,connect,disconnect:"+reason ||
		strings.Join(c[len(c)-2:], ",") != "reconnect:"+strconv.Itoa(count(c, EventConnecting)-1)+",connect" {
		t.Fatalf("classic events %q", c)
	}
	for i := 3; i < len(c)-2; i += 2 {
		if c[i] != "reconnecting:"+strconv.Itoa(i/2) || c[i+1] != EventConnecting {
			t.Fatalf("classic events %q: want reconnecting, connecting pairs", c)
		}
	}
}
