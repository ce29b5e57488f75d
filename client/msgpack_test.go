package client

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/actorio/actorio"
)

// The client with Options.Parser set to ParserMsgpack against Node's
// socket.io 4.8 with the npm socket.io-msgpack-parser, and against
// actorio with its ParserMsgpack: acks and binary both ways at any depth,
// and a middleware refusal's CONNECT_ERROR. Recovery with msgpack is in
// the recovery tests.

func TestNodeMsgpackEmitAckBinary(t *testing.T) {
	n := startNode(t, 0, map[string]string{"PARSER": "msgpack"})
	for _, tr := range [][]string{nil, {TransportWebSocket}, {TransportPolling}} {
		s := mustNew(t, n.URL, Options{Transports: tr, Parser: ParserMsgpack})
		r := record(s)
		mustConnect(t, s, r)
		if c := n.expect("connection"); c.str(1) != s.ID() {
			t.Fatalf("%v: server socket %s, client %s", tr, c.str(1), s.ID())
		}
		checkEchoAck(t, tr, s)
		ev := n.expect("event")
		if ev.str(1) != "echo" || ev.raw(3) != `{"$bin":"/wA="}` || ev.raw(4) != `{"list":[1,{"$bin":"AQI="}],"obj":{"b":{"$bin":"Aw=="}}}` {
			t.Fatalf("%v: server got %v", tr, ev.Args)
		}

		got := make(chan string, 1)
		s.On("news", func(a Args, ack AckFunc) {
			var v struct{ Blob []byte }
			_ = a.Decode(1, &v)
			got <- a.String(0) + " " + string(v.Blob) + " " + string(a.Bytes(2))
			if ack != nil {
				_ = ack("thanks", []byte("bin"))
			}
		})
		n.send(map[string]any{"cmd": "emit", "ev": "news", "ack": true, "args": []any{"hello", map[string]any{"blob": bin([]byte("deep"))}, bin([]byte("top"))}})
		if v := recv(t, got); v != "hello deep top" {
			t.Fatalf("%v: news %q", tr, v)
		}
		if a := n.expect("ack"); a.str(0) != "thanks" || a.raw(1) != `{"$bin":"Ymlu"}` {
			t.Fatalf("%v: ack %v", tr, a.Args)
		}
		must(t, s.Close())
		n.expect("disconnect")
	}
}

func TestNodeMsgpackMiddlewareRefusal(t *testing.T) {
	n := startNode(t, 0, map[string]string{"PARSER": "msgpack"})
	checkRefusal(t, n.URL+"/private")
}

func TestGoMsgpackEmitAckBinary(t *testing.T) {
	news := make(chan string, 1)
	g := startGo(t, actorio.Options{Parser: actorio.ParserMsgpack}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("echo", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				if ack != nil {
					_ = ack(args.Values()...)
				}
			})
			s.On("go", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				go func() {
					a, err := s.EmitWithAck(ctxT(t), "news", "hello", map[string]any{"blob": []byte("deep")}, []byte("top"))
					if err != nil {
						news <- err.Error()
						return
					}
					news <- a.String(0) + " " + string(a.Bytes(1))
				}()
			})
		})
		srv.Of("/private").Use(func(s *actorio.Socket) error {
			return &actorio.ConnectError{Message: "not authorized", Data: map[string]any{"code": 42, "why": "test"}}
		})
	})
	for _, tr := range [][]string{nil, {TransportWebSocket}, {TransportPolling}} {
		s := mustNew(t, g.URL, Options{Transports: tr, Parser: ParserMsgpack})
		r := record(s)
		mustConnect(t, s, r)
		checkEchoAck(t, tr, s)
		got := make(chan string, 1)
		s.On("news", func(a Args, ack AckFunc) {
			var v struct{ Blob []byte }
			_ = a.Decode(1, &v)
			got <- a.String(0) + " " + string(v.Blob) + " " + string(a.Bytes(2))
			if ack != nil {
				_ = ack("thanks", []byte("bin"))
			}
		})
		must(t, s.Emit("go"))
		if v := recv(t, got); v != "hello deep top" {
			t.Fatalf("%v: news %q", tr, v)
		}
		if v := recv(t, news); v != "thanks bin" {
			t.Fatalf("%v: server's ack %q", tr, v)
		}
		must(t, s.Close())
	}
	checkRefusal(t, g.URL+"/private")
}

// checkEchoAck sends text, binary and binary deep inside, and checks the
// server's ack that echoes them.
func checkEchoAck(t *testing.T, tr []string, s *Socket) {
	t.Helper()
	deep := map[string]any{"list": []any{1, []byte{1, 2}}, "obj": Object{{Key: "b", Value: []byte{3}}}}
	a, err := s.EmitWithAck(ctxT(t), "echo", "text", []byte{0xff, 0}, deep)
	must(t, err)
	var got struct {
		List []any
		Obj  struct{ B []byte }
	}
	must(t, a.Decode(2, &got))
	if a.Len() != 3 || a.String(0) != "text" || !bytes.Equal(a.Bytes(1), []byte{0xff, 0}) || !bytes.Equal(got.Obj.B, []byte{3}) || len(got.List) != 2 {
		t.Fatalf("%v: ack %s %v %+v", tr, a.Raw(0), a.Bytes(1), got)
	}
}

// checkRefusal connects to a namespace whose middleware refuses with a
// message and data.
func checkRefusal(t *testing.T, url string) {
	t.Helper()
	s := mustNew(t, url, Options{Parser: ParserMsgpack})
	r := record(s)
	must(t, s.Connect())
	r.wait(t, EventError, 1)
	r.quietFor(t, 150*time.Millisecond)
	expectSeq(t, "refusal", r.all(), []string{"connecting", "connect_error", "error"})
	var ce *ConnectError
	if !errors.As(r.errOf(EventConnectError), &ce) || ce.Message != "not authorized" || string(ce.Data) != `{"code":42,"why":"test"}` {
		t.Fatalf("connect_error %#v", r.errOf(EventConnectError))
	}
}
