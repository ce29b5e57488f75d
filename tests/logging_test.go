package tests

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/logbuf"
)

// jsonLog is a slog JSON handler's output, one object per line.
type jsonLog struct {
	logbuf.Buffer
	read int // bytes of the buffer records has returned
}

// records returns the lines logged since the last call, decoded.
func (l *jsonLog) records(t *testing.T) []map[string]any {
	t.Helper()
	all := l.String()
	fresh := all[l.read:]
	l.read = len(all)
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(fresh), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// TestLifecycleLogs runs a server with the user's Debug logger: every
// lifecycle line carries the connection id, namespace and reason it is
// about, and a stream of events and acks logs nothing at all.
func TestLifecycleLogs(t *testing.T) {
	var out jsonLog
	logger := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dl := newDisconnectLog()
	ts := startServer(t, actorio.Options{Logger: logger}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			dl.watch(s)
			s.On("echo", echoHandler)
		})
	})
	c := startClients(t, ts)
	id := c.connect("a", "/", wsOnly)
	c.emitAck("a", "echo", "warm-up")

	has := func(r map[string]any, keys ...string) bool {
		for _, k := range keys {
			if v, ok := r[k].(string); !ok || v == "" {
				return false
			}
		}
		return true
	}
	find := func(recs []map[string]any, msg string) map[string]any {
		for _, r := range recs {
			if r["msg"] == msg {
				return r
			}
		}
		return nil
	}
	recs := out.records(t)
	if r := find(recs, "engine.io session opened"); r == nil || !has(r, "sid", "transport") {
		t.Errorf("session opened: %v", r)
	}
	if r := find(recs, "actorio: socket connected"); r == nil || !has(r, "nsp", "sid", "conn") || r["sid"] != id {
		t.Errorf("socket connected: %v (socket %s)", r, id)
	}

	// The hot path: 200 events with acks, nothing logged, even at Debug.
	for i := range 200 {
		c.emit("a", "echo", i)
	}
	c.emitAck("a", "echo", "last")
	if recs := out.records(t); len(recs) != 0 {
		t.Errorf("200 events logged %d lines, the first: %v", len(recs), recs[0])
	}

	c.send(map[string]any{"op": "disconnect", "name": "a"})
	dl.waitID(t, id)
	waitUntil(t, step, "the session's end", func() bool { return ts.Srv.Stats().Sessions == 0 })
	recs = out.records(t)
	if r := find(recs, "actorio: socket disconnected"); r == nil || !has(r, "nsp", "sid", "conn", "reason") ||
		r["reason"] != disconnect.ClientNamespaceDisconnect {
		t.Errorf("socket disconnected: %v", r)
	}
	if r := find(recs, "engine.io session closed"); r == nil || !has(r, "sid", "transport", "reason") {
		t.Errorf("session closed: %v", r)
	}
}
