package tests

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/actorio/actorio"
)

// TestAcks checks acknowledgements both ways: client emit with ack, server
// EmitWithAck answered, not answered (timeout) and cut short by a
// disconnect, and a namespace-wide EmitWithAck collecting every ack.
func TestAcks(t *testing.T) {
	type result struct {
		args actorio.Args
		err  error
	}
	results := make(chan result, 8)
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("sum", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				var a, b int
				if err := args.Decode(0, &a); err != nil {
					t.Errorf("sum: %v", err)
				}
				if err := args.Decode(1, &b); err != nil {
					t.Errorf("sum: %v", err)
				}
				_ = ack(a+b, "ok", map[string]any{"a": a, "b": b})
				_ = ack("second call is ignored")
			})
			s.On("no-ack-wanted", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				results <- result{args, errors.New(map[bool]string{true: "ack is nil", false: "ack is set"}[ack == nil])}
			})
			// ask makes the server question the client from inside a
			// handler: the ack is resolved by the connection actor while
			// this socket's handler waits.
			s.On("ask", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				var ms int
				_ = args.Decode(0, &ms)
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
				defer cancel()
				r, err := s.EmitWithAck(ctx, "question", "meaning", 41)
				results <- result{r, err}
			})
		})
	})
	c := startClients(t, ts)

	t.Run("client to server", func(t *testing.T) {
		c := c.on(t)
		c.connect("a", "/", wsOnly)
		l := c.emitAck("a", "sum", 2, 3)
		if got := string(l.Args[2]) + " " + string(l.Args[3]) + " " + string(l.Args[4]); got != `5 "ok" {"a":2,"b":3}` {
			t.Errorf("ack args = %s", got)
		}
		if len(l.Args) != 5 {
			t.Errorf("ack has %d args, want 3: %s", len(l.Args)-2, l.Raw)
		}
		c.emit("a", "no-ack-wanted", "x")
		r := recv(t, results, step, "no-ack-wanted")
		if r.err.Error() != "ack is nil" || r.args.String(0) != "x" {
			t.Errorf("event without ack: %v %v", r.err, r.args.Values())
		}
	})

	t.Run("server to client", func(t *testing.T) {
		c := c.on(t)
		c.emit("a", "ask", 5000)
		ev := c.expectEvent("a", "question")
		if !reflect.DeepEqual(ev.Values()[2:], []any{true, "meaning", float64(41)}) {
			t.Errorf("client got %s", ev.Raw)
		}
		r := recv(t, results, step, "EmitWithAck's result")
		if r.err != nil {
			t.Fatalf("EmitWithAck: %v", r.err)
		}
		// The client's ack callback answers (its name, ...what it got).
		var n int
		if r.args.Len() != 3 || r.args.String(0) != "a" || r.args.String(1) != "meaning" || r.args.Decode(2, &n) != nil || n != 41 {
			t.Errorf("EmitWithAck returned %v", r.args.Values())
		}
	})

	t.Run("timeout", func(t *testing.T) {
		c := c.on(t)
		c.openNoAck("mute", "/", with(wsOnly, "forceNew", true))
		c.expect("connect", "mute")
		start := time.Now()
		c.emit("mute", "ask", 300)
		c.expectEvent("mute", "question")
		r := recv(t, results, step, "EmitWithAck's result")
		if !errors.Is(r.err, context.DeadlineExceeded) {
			t.Fatalf("EmitWithAck without an ack returned %v, %v; want context.DeadlineExceeded", r.args.Values(), r.err)
		}
		if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
			t.Errorf("EmitWithAck gave up after %v, want about 300ms", d)
		}
		// The socket still works afterwards.
		if l := c.emitAck("mute", "sum", 1, 1); l.Arg(2) != float64(2) {
			t.Errorf("sum after the timeout: %s", l.Raw)
		}
	})

	t.Run("disconnect before the ack", func(t *testing.T) {
		c := c.on(t)
		c.emit("mute", "ask", 5000)
		c.expectEvent("mute", "question")
		c.send(map[string]any{"op": "disconnect", "name": "mute"})
		r := recv(t, results, step, "EmitWithAck's result")
		if !errors.Is(r.err, actorio.ErrDisconnected) {
			t.Fatalf("EmitWithAck on a socket that left returned %v; want ErrDisconnected", r.err)
		}
	})

	t.Run("broadcast", func(t *testing.T) {
		c := c.on(t)
		c.connect("b", "/", with(wsOnly, "forceNew", true))
		c.connect("c", "/", with(pollingOnly, "forceNew", true))
		ctx := ctxStep(t, step)
		acks, err := ts.Srv.Of("/").EmitWithAck(ctx, "poll", "vote?")
		if err != nil {
			t.Fatalf("EmitWithAck: %v (acks %d)", err, len(acks))
		}
		var names []string
		for _, a := range acks {
			if a.Len() != 2 || a.String(1) != "vote?" {
				t.Errorf("ack %v", a.Values())
			}
			names = append(names, a.String(0))
		}
		slices.Sort(names)
		if !reflect.DeepEqual(names, []string{"a", "b", "c"}) {
			t.Errorf("acks came from %v, want a, b, c", names)
		}
		for _, name := range []string{"a", "b", "c"} {
			c.expectEvent(name, "poll")
		}
	})

	t.Run("broadcast timeout", func(t *testing.T) {
		c := c.on(t)
		c.openNoAck("mute2", "/", with(wsOnly, "forceNew", true))
		c.expect("connect", "mute2")
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		acks, err := ts.Srv.Of("/").EmitWithAck(ctx, "poll", "again?")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("EmitWithAck with a mute client returned %v", err)
		}
		if len(acks) != 3 {
			t.Errorf("got %d acks before the deadline, want 3", len(acks))
		}
	})
}
