package differential

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/actorio/actorio"
)

// refApp is the reference app of refserver.mjs defined again on actorio:
// the same namespaces, middlewares and handlers, so that a client sees
// the same thing from both servers. One refApp serves one server.
type refApp struct {
	mu      sync.Mutex
	reasons map[string][]string        // auth.tag -> "<nsp> <reason>"
	seqs    map[*actorio.Namespace]int // sockets each namespace accepted
	parents map[string]*actorio.Namespace
}

// connAuth is what the app reads from a client's CONNECT payload.
type connAuth struct {
	Tag    string   `json:"tag"`
	Join   []string `json:"join"`
	Greet  bool     `json:"greet"`
	Refuse bool     `json:"refuse"`
	Token  *string  `json:"token"`
}

func authOf(s *actorio.Socket) connAuth {
	var a connAuth
	if raw := s.Handshake().Auth; len(raw) > 0 {
		_ = json.Unmarshal(raw, &a)
	}
	return a
}

// setup installs the app on srv.
func (a *refApp) setup(srv *actorio.Server) {
	a.reasons = map[string][]string{}
	a.seqs = map[*actorio.Namespace]int{}
	a.parents = map[string]*actorio.Namespace{}

	srv.OnConnection(a.onConnection)
	srv.Of("/admin").OnConnection(a.onConnection)

	private := srv.Of("/private")
	private.Use(func(*actorio.Socket) error {
		return &actorio.ConnectError{Message: "not authorized", Data: actorio.Object{
			{Key: "code", Value: 42}, {Key: "why", Value: "private"},
		}}
	})
	private.OnConnection(a.onConnection)

	auth := srv.Of("/auth")
	auth.Use(func(s *actorio.Socket) error {
		tok := authOf(s).Token
		if tok != nil && *tok == "secret" {
			return nil
		}
		var got any
		if tok != nil && *tok != "" {
			got = *tok
		}
		return &actorio.ConnectError{Message: "bad token", Data: actorio.Object{{Key: "got", Value: got}}}
	})
	auth.OnConnection(a.onConnection)

	// A middleware that takes its time, as one that asks a database would.
	slow := srv.Of("/slow")
	slow.Use(func(*actorio.Socket) error {
		time.Sleep(time.Second)
		return nil
	})
	slow.OnConnection(a.onConnection)

	dyn := srv.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`))
	dyn.Use(func(s *actorio.Socket) error {
		if authOf(s).Refuse {
			return &actorio.ConnectError{Message: "refused by parent", Data: actorio.Object{
				{Key: "nsp", Value: s.Namespace().Name()},
			}}
		}
		return nil
	})
	dyn.OnConnection(a.onConnection)
	a.parents["dyn"] = dyn

	pdyn := srv.OfRegexp(regexp.MustCompile(`^/pdyn-\d+$`))
	pdyn.OnConnection(a.onConnection)
	a.parents["pdyn"] = pdyn
}

func (a *refApp) onConnection(s *actorio.Socket) {
	nsp := s.Namespace()
	a.mu.Lock()
	a.seqs[nsp]++
	a.mu.Unlock()
	auth := authOf(s)
	if auth.Tag != "" {
		s.OnDisconnect(func(s *actorio.Socket, reason string) {
			a.mu.Lock()
			a.reasons[auth.Tag] = append(a.reasons[auth.Tag], nsp.Name()+" "+reason)
			a.mu.Unlock()
		})
	}
	if len(auth.Join) > 0 {
		s.Join(auth.Join...)
	}
	if auth.Greet {
		_ = s.Emit("welcome", nsp.Name(), s.Recovered())
	}
	s.On("echo", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
		if ack != nil {
			_ = ack(args.Values()...)
			return
		}
		_ = s.Emit("echo", args.Values()...)
	})
	s.On("message", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
		_ = s.Send(args.Values()...)
	})
	s.On("run", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
		ops, err := args.Value(0)
		list, ok := ops.([]any)
		if err != nil || !ok {
			_ = s.Emit("bad-op", fmt.Sprint(err))
			return
		}
		a.runOps(s, list, ack)
	})
}

// op is one operation of a "run" event: an Object whose fields the
// accessors read.
type op actorio.Object

func (o op) get(key string) any {
	v, _ := actorio.Object(o).Get(key)
	return v
}

func (o op) str(key string) string {
	s, _ := o.get(key).(string)
	return s
}

func (o op) bool(key string) bool {
	b, _ := o.get(key).(bool)
	return b
}

func (o op) args() []any {
	l, _ := o.get("args").([]any)
	return l
}

func (o op) strs(key string) []string {
	var out []string
	l, _ := o.get(key).([]any)
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (o op) millis(key string) time.Duration {
	n, _ := o.get(key).(json.Number)
	ms, _ := n.Int64()
	return time.Duration(ms) * time.Millisecond
}

// runOps runs ops on s in order, as refserver.mjs's runOps does, then
// acks "done" unless an "ack" or "reasons" operation acked already (the
// AckFunc sends only its first call).
func (a *refApp) runOps(s *actorio.Socket, ops []any, ack actorio.AckFunc) {
	reply := func(args ...any) {
		if ack != nil {
			_ = ack(args...)
		}
	}
	// Emits with an ack wait for their answer: they run in goroutines
	// started once the handler acked, so that, as with Node's callbacks,
	// what the client receives does not depend on when they run.
	var later []func()
	for _, raw := range ops {
		obj, _ := raw.(actorio.Object)
		o := op(obj)
		switch o.str("op") {
		case "emit":
			_ = s.Emit(o.str("ev"), o.args()...)
		case "volatile":
			_ = s.Volatile().Emit(o.str("ev"), o.args()...)
		case "send":
			_ = s.Send(o.args()...)
		case "join":
			s.Join(o.strs("rooms")...)
		case "leave":
			s.Leave(o.str("room"))
		case "rooms":
			_ = s.Emit("rooms", s.Rooms())
		case "whoami":
			auth := s.Handshake().Auth
			if len(auth) == 0 {
				auth = json.RawMessage("{}")
			}
			_ = s.Emit("whoami", actorio.Object{
				{Key: "nsp", Value: s.Namespace().Name()},
				{Key: "id", Value: s.ID()},
				{Key: "auth", Value: auth},
				{Key: "recovered", Value: s.Recovered()},
			})
		case "seq":
			a.mu.Lock()
			n := a.seqs[s.Namespace()]
			a.mu.Unlock()
			_ = s.Emit("seq", s.Namespace().Name(), n)
		case "emitAck":
			later = append(later, func() { a.emitAck(s, o) })
		case "to":
			if f := a.broadcast(s, o); f != nil {
				later = append(later, f)
			}
		case "disconnect":
			s.Disconnect(o.bool("close"))
		case "reasons":
			a.mu.Lock()
			list := append([]string{}, a.reasons[o.str("tag")]...)
			a.mu.Unlock()
			reply(list)
			ack = nil
		case "ack":
			reply(o.args()...)
			ack = nil
		default:
			_ = s.Emit("bad-op", o.str("op"))
		}
	}
	reply("done")
	for _, f := range later {
		go f()
	}
}

// emitAck emits an event with an ack to s and, when the client answers
// or the timeout (default 5 s) passes, emits "answered" with the event's
// name, null or {"error":"timeout"}, and the answer.
func (a *refApp) emitAck(s *actorio.Socket, o op) {
	timeout := o.millis("timeout")
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	ev := o.str("ev")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := s.EmitWithAck(ctx, ev, o.args()...)
	if err != nil {
		_ = s.Emit("answered", ev, timeoutErr)
		return
	}
	_ = s.Emit("answered", append([]any{ev, nil}, resp.Values()...)...)
}

var timeoutErr = actorio.Object{{Key: "error", Value: "timeout"}}

// broadcast is the "to" operation: from "socket" (everyone but s, as
// socket.to and socket.broadcast), "parent" (a dynamic parent namespace),
// or the socket's namespace. With "timeout" it is a broadcast with acks,
// whose answers come back to s as "answered": it returns the function
// that sends it and waits, for runOps to call later.
func (a *refApp) broadcast(s *actorio.Socket, o op) func() {
	to, except := o.strs("to"), o.strs("except")
	var b *actorio.BroadcastOperator
	switch o.str("from") {
	case "socket":
		if len(to) > 0 {
			b = s.To(to...)
		} else {
			b = s.Broadcast()
		}
	case "parent":
		p := a.parents[o.str("parent")]
		if len(to) > 0 {
			b = p.To(to...)
		} else {
			b = p.Except()
		}
	default:
		if len(to) > 0 {
			b = s.Namespace().To(to...)
		} else {
			b = s.Namespace().Except()
		}
	}
	if len(except) > 0 {
		b = b.Except(except...)
	}
	if o.bool("volatile") {
		b = b.Volatile()
	}
	ev, args := o.str("ev"), o.args()
	timeout := o.millis("timeout")
	if timeout == 0 {
		_ = b.Emit(ev, args...)
		return nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		acks, err := b.EmitWithAck(ctx, ev, args...)
		responses := make([]any, 0, len(acks))
		for _, r := range acks {
			v, _ := r.Value(0)
			responses = append(responses, v)
		}
		sortByJSON(responses)
		var e any
		if err != nil {
			e = timeoutErr
		}
		_ = s.Emit("answered", ev, e, responses)
	}
}

// sortByJSON sorts vs by their JSON text, as refserver.mjs's sortByJSON.
func sortByJSON(vs []any) {
	key := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	slices.SortStableFunc(vs, func(x, y any) int {
		kx, ky := key(x), key(y)
		switch {
		case kx < ky:
			return -1
		case kx > ky:
			return 1
		}
		return 0
	})
}
