package tests

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
)

// nspFloodResult is what a client that sent a flood of CONNECTs got back.
type nspFloodResult struct {
	accepted, refused int
	other             []string // replies that are neither, at most a few
}

// nspFlood sends the CONNECT packets of /dyn0 … /dyn<n-1> on one
// WebSocket as fast as it can write them, reading the replies meanwhile,
// and returns them once all n came.
func nspFlood(t *testing.T, ts *testServer, n int) nspFloodResult {
	t.Helper()
	c, err := dialNspRaw(ts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.ws.Close()
	var wmu sync.Mutex
	send := func(s string) error {
		wmu.Lock()
		defer wmu.Unlock()
		return c.send(s)
	}
	var res nspFloodResult
	readErr := make(chan error, 1)
	go func() {
		for got := 0; got < n; {
			_ = c.ws.SetReadDeadline(time.Now().Add(step))
			_, data, err := c.ws.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			f := string(data)
			switch {
			case f == "2":
				if err := send("3"); err != nil {
					readErr <- err
					return
				}
				continue
			case strings.HasPrefix(f, "40/dyn") && strings.Contains(f, `,{"sid":"`):
				res.accepted++
			case strings.HasPrefix(f, "44/dyn") && strings.HasSuffix(f, `,{"message":"Invalid namespace"}`):
				res.refused++
			default:
				if len(res.other) < 5 {
					res.other = append(res.other, f)
				}
			}
			got++
		}
		readErr <- nil
	}()
	for i := range n {
		if err := send(fmt.Sprintf("40/dyn%d,", i)); err != nil {
			t.Fatalf("CONNECT %d: %v", i, err)
		}
	}
	if err := <-readErr; err != nil {
		t.Fatalf("reading the replies (%d accepted, %d refused so far): %v", res.accepted, res.refused, err)
	}
	return res
}

// nspLogLines returns the lines of logs that contain s.
func nspLogLines(logs, s string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// TestNspFloodOneConnection sends 2000 CONNECTs to new dynamic names on
// one connection. With the defaults the connection gets its first
// MaxNamespacesPerConnection (100) namespaces and "Invalid namespace" for
// the rest, as Node answers a name it does not serve; no more namespaces
// exist than it holds; the refusals make two log lines, not one each; and
// a client beside it still connects to new names and is served. With the
// per-connection bound off, MaxDynamicNamespaces stops the flood, with
// two log lines too.
func TestNspFloodOneConnection(t *testing.T) {
	const flood = 2000
	for _, tc := range []struct {
		name             string
		opts             actorio.Options
		accepted         int
		logged           string
		goodNeedsNewName bool
	}{
		{name: "per-connection bound", opts: actorio.Options{}, accepted: actorio.DefaultMaxNamespacesPerConnection,
			logged: "MaxNamespacesPerConnection reached", goodNeedsNewName: true},
		{name: "dynamic namespace cap", opts: actorio.Options{MaxNamespacesPerConnection: -1, MaxDynamicNamespaces: 50},
			accepted: 50 - 1, logged: "MaxDynamicNamespaces reached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := warnLogger()
			tc.opts.Logger = logger
			ts := startServer(t, tc.opts, func(srv *actorio.Server) {
				srv.OfRegexp(regexp.MustCompile(`^/dyn\d+$`)).OnConnection(func(s *actorio.Socket) { s.On("echo", echoHandler) })
			})
			// A well-behaved client, connected before the flood.
			c := startClients(t, ts)
			c.connect("good", "/dyn999999", wsOnly)

			start := time.Now()
			res := nspFlood(t, ts, flood)
			t.Logf("%d CONNECTs in %v: %d accepted, %d refused", flood, time.Since(start).Round(time.Millisecond), res.accepted, res.refused)
			if res.accepted != tc.accepted || res.refused != flood-tc.accepted || len(res.other) > 0 {
				t.Fatalf("%d accepted, %d refused, others %q; want %d accepted, the rest refused",
					res.accepted, res.refused, res.other, tc.accepted)
			}
			if n := len(nspNames(ts.Srv, "/dyn")); n > tc.accepted+1 { // the good client's too
				t.Fatalf("%d dynamic namespaces exist after the flood, want at most %d", n, tc.accepted+1)
			}

			// The client beside it is still served.
			if l := c.emitAck("good", "echo", "still here"); l.Arg(2) != "still here" {
				t.Fatalf("echo: %s", l.Raw)
			}
			if tc.goodNeedsNewName {
				c.connect("good2", "/dyn888888", with(wsOnly, "forceNew", true))
				if l := c.emitAck("good2", "echo", "new name"); l.Arg(2) != "new name" {
					t.Fatalf("echo: %s", l.Raw)
				}
			}

			// The flood's connection closed: its namespaces are freed.
			waitUntil(t, step, "the flood's namespaces to be removed", func() bool {
				return len(nspNames(ts.Srv, "/dyn")) <= 2
			})

			if err := ts.Srv.Close(); err != nil {
				t.Fatal(err)
			}
			lines := nspLogLines(logs.String(), tc.logged)
			if len(lines) != 2 || !strings.Contains(lines[1], fmt.Sprintf("more=%d", flood-tc.accepted-1)) {
				t.Fatalf("%d log lines for %d refusals, want the first and one with the count (more=%d):\n%s",
					len(lines), flood-tc.accepted, flood-tc.accepted-1, strings.Join(lines[:min(len(lines), 5)], "\n"))
			}
			t.Logf("log:\n%s", strings.Join(lines, "\n"))
		})
	}
}
