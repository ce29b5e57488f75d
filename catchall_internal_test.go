package actorio

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/actorio/actorio/client"
	pb "github.com/actorio/actorio/proto"
)

// TestOnAnyOutgoingOfABroadcastFromAnotherNode hands a broadcast to the
// server as its cluster receiver gets one from another node, already
// framed: the receiving socket's OnAnyOutgoing handlers see it as the
// client does. (Starting two nodes in one process needs the warm-up of
// package cluster's tests for the race detector; the receiver is the
// whole of what differs from a local broadcast.)
func TestOnAnyOutgoingOfABroadcastFromAnotherNode(t *testing.T) {
	srv, err := NewServer(Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		web.Close()
	})
	seen := make(chan string, 4)
	joined := make(chan struct{})
	srv.OnConnection(func(s *Socket) {
		s.Join("r")
		s.OnAnyOutgoing(func(_ *Socket, ev string, args Args) { seen <- ev + " " + args.String(0) + " " + string(args.Bytes(1)) })
		close(joined)
	})
	c, err := client.New(web.URL, client.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	got := make(chan string, 4)
	c.On("tick", func(a client.Args, _ client.AckFunc) { got <- "tick " + a.String(0) + " " + string(a.Bytes(1)) })
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-joined:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
	}
	data, atts, err := encodeEventData("tick", []any{"from another node", []byte("bin")})
	if err != nil {
		t.Fatal(err)
	}
	clusterReceiver{s: srv}.Broadcast("/", &pb.Broadcast{Target: target([]string{"r"}, nil, nil), Frame: eventPacket("/", 0, false, data, atts), Attachments: atts}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for _, ch := range []chan string{seen, got} {
		select {
		case v := <-ch:
			if v != "tick from another node bin" {
				t.Fatalf("got %q", v)
			}
		case <-ctx.Done():
			t.Fatal("the broadcast did not arrive")
		}
	}
}
