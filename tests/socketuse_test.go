package tests

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/node"
)

// TestSocketMiddleware checks Socket.Use and Socket.OnError, as Node's
// socket.use: middlewares run in order for every event, after OnAny and
// before the handlers; an error stops the event (no handler, no ack, a
// Once handler kept) and reaches OnError; a socket without OnError only
// logs it and carries on.
func TestSocketMiddleware(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	note := func(s string) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	}
	errForbidden := errors.New("forbidden event")
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.OnAny(func(_ *actorio.Socket, event string, _ actorio.Args, _ actorio.AckFunc) { note("any " + event) })
			s.Use(func(_ *actorio.Socket, event string, _ actorio.Args) error {
				note("mw1 " + event)
				if event == "forbidden" {
					return errForbidden
				}
				return nil
			})
			s.Use(func(_ *actorio.Socket, event string, args actorio.Args) error {
				note("mw2 " + event)
				if event == "echo" && args.String(0) == "bad" {
					return errors.New("bad argument")
				}
				return nil
			})
			if s.Handshake().Query.Get("errors") != "no" {
				s.OnError(func(s *actorio.Socket, err error) {
					note("error " + err.Error())
					_ = s.Emit("refused", err.Error(), errors.Is(err, errForbidden))
				})
			}
			// Before echoHandler: its note is taken before the ack leaves.
			s.Once("echo", func(*actorio.Socket, actorio.Args, actorio.AckFunc) { note("once echo") })
			s.On("echo", echoHandler)
			s.On("forbidden", func(*actorio.Socket, actorio.Args, actorio.AckFunc) { note("handler forbidden") })
		})
	})
	c := startClients(t, ts)
	c.connect("a", "/", nil)
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := seen
		seen = nil
		return out
	}

	for _, tc := range []struct {
		name string
		ev   string
		arg  string
		want []string
		// refused is the error the client hears of, "" when the event passes.
		refused string
	}{
		{"refused by the second middleware: the Once handler is kept", "echo", "bad",
			[]string{"any echo", "mw1 echo", "mw2 echo", "error bad argument"}, "bad argument"},
		{"refused by the first middleware", "forbidden", "x",
			[]string{"any forbidden", "mw1 forbidden", "error forbidden event"}, "forbidden event"},
		{"passed: handlers run, the Once one once", "echo", "ok",
			[]string{"any echo", "mw1 echo", "mw2 echo", "once echo"}, ""},
		{"passed again: no Once handler left", "echo", "ok",
			[]string{"any echo", "mw1 echo", "mw2 echo"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := c.on(t)
			if tc.refused != "" {
				c.send(map[string]any{"op": "emit", "name": "a", "ev": tc.ev, "args": []any{tc.arg}, "tag": "never"})
				l := c.expectEvent("a", "refused")
				if l.Arg(3) != tc.refused || l.Arg(4) != (tc.ev == "forbidden") {
					t.Fatalf("refused event %s", l.Raw)
				}
			} else if l := c.emitAck("a", tc.ev, tc.arg); l.Arg(2) != tc.arg {
				t.Fatalf("ack %s", l.Raw)
			}
			if got := take(); !slices.Equal(got, tc.want) {
				t.Fatalf("server saw %q, want %q", got, tc.want)
			}
		})
	}
	// The refused events were never acknowledged.
	c.none("an ack of a refused event", func(l node.Line) bool { return l.Ev == "ack" && l.Arg(1) == "never" })

	t.Run("without OnError the refusal is logged and the socket goes on", func(t *testing.T) {
		c := c.on(t)
		c.connect("b", "/", map[string]any{"forceNew": true, "query": map[string]any{"errors": "no"}})
		c.emit("b", "forbidden", 1)
		if l := c.emitAck("b", "echo", "after"); l.Arg(2) != "after" {
			t.Fatalf("ack %s", l.Raw)
		}
		c.noEvent("b", "refused")
		c.noEvent("b", "disconnect")
	})
}
