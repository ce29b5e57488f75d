package cluster

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/clusterlink"
	pb "github.com/actorio/actorio/proto"
)

// waitingServer serves each request handed over by waiting until its
// context ends, and reports each request's end.
type waitingServer struct {
	clusterlink.Receiver // the rest is not called
	ended                chan uint64
}

func (s waitingServer) ServeHandOver(ctx context.Context, m *pb.NodeHandOver) (*pb.NodeHandOverReply, bool) {
	<-ctx.Done()
	s.ended <- m.RequestId
	return &pb.NodeHandOverReply{Status: 200}, false
}

// TestHandOverEndsWithItsAsker: a long-polling request another node handed
// over is served until that node cancels it, or until its link from that
// node ends (the node died or left): its server's request then ends, as
// one whose client went away.
func TestHandOverEndsWithItsAsker(t *testing.T) {
	n := linkNode(t)
	s := waitingServer{ended: make(chan uint64, 4)}
	n.recv = s
	expectEnd := func(id uint64, what string) {
		t.Helper()
		select {
		case got := <-s.ended:
			if got != id {
				t.Fatalf("%s: request %d ended, want %d", what, got, id)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: request %d still served", what, id)
		}
	}

	const asker = "127.0.0.1:1" // its answers are never sent: each request is cancelled first
	n.handle(&pb.NodeHandOver{RequestId: 1, ReplyTo: asker, Method: "GET", Uri: "/"}, nil)
	n.handle(&pb.NodeHandOver{RequestId: 2, ReplyTo: asker, Method: "GET", Uri: "/"}, nil)
	n.handle(&pb.NodeHandOverCancel{RequestId: 1, ReplyTo: "127.0.0.1:2"}, nil) // another node's id 1: nothing
	n.handle(&pb.NodeHandOverCancel{RequestId: 2, ReplyTo: asker}, nil)
	expectEnd(2, "cancelled by its asker")

	// Request 1 came from asker too; the link from asker ends.
	mine, theirs := net.Pipe()
	n.linkWG.Add(1)
	served := make(chan struct{})
	go func() {
		defer close(served)
		n.serveLink(mine, bufio.NewReader(mine), asker)
	}()
	frame, err := appendLinkFrame(nil, &pb.NodeHandOver{RequestId: 3, ReplyTo: asker, Method: "GET", Uri: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := theirs.Write(frame); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.ended:
		t.Fatal("a request ended while its asker's link was up")
	case <-time.After(100 * time.Millisecond):
	}
	_ = theirs.Close()
	<-served
	got := map[uint64]bool{}
	for range 2 {
		select {
		case id := <-s.ended:
			got[id] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("once its asker's link ended, requests still served (ended: %v)", got)
		}
	}
	if !got[1] || !got[3] {
		t.Fatalf("once its asker's link ended, ended %v, want 1 and 3", got)
	}
	n.work.Wait()
}
