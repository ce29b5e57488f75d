package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/actorio/actorio/internal/clusterlink"
	pb "github.com/actorio/actorio/proto"
)

// warmID is the member id WarmUp's message says is leaving.
const warmID = "warm-up"

// WarmUp makes a node's gRPC server serve one connection and waits until a
// message sent on it has reached the node's actor. The connection stays
// open until done is called, which must come after the node has closed:
// the server's goroutine for a connection that ends reads grpc's logger,
// and when the node's Close ends it, it does so in Close's goroutine,
// after every node of the test started; when the client ends it, it reads
// it in its own goroutine, unordered with the nodes started meanwhile.
//
// Why: protoactor's Remote.Start rewrites grpc's global logger, which grpc
// reads whenever a server starts serving and whenever a connection opens
// or closes. For the race detector, a second node started in the same
// process races with the first node's server goroutine, which reads it
// just after the first Remote.Start, unless something orders the two.
// Every goroutine this connection involves, the server's serving goroutine
// included, leads to the node's actor, whose lock the wait takes; the
// client's own goroutines are ordered by the wait for the connection's
// readiness. So a test starts its nodes one after the other, warming each
// up before starting the next, and before any traffic between nodes
// (whose connections would open and close outside any such order).
func WarmUp(cn clusterlink.Node) (done func(), err error) {
	n := cn.(*node)
	addr := n.address()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithBlock())
	if err != nil {
		return nil, err
	}
	stream, err := remote.NewRemotingClient(conn).Receive(context.Background())
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	done = func() {
		_ = stream.CloseSend()
		_ = conn.Close()
	}
	data, err := proto.Marshal(&pb.NodeLeaving{MemberId: warmID})
	if err == nil {
		err = stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{
			ConnectRequest: &remote.ConnectRequest{ConnectionType: &remote.ConnectRequest_ServerConnection{
				ServerConnection: &remote.ServerConnection{SystemId: warmID, Address: warmID},
			}},
		}})
	}
	if err == nil {
		_, err = stream.Recv()
	}
	if err == nil {
		err = stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{
			MessageBatch: &remote.MessageBatch{
				TypeNames: []string{string(proto.MessageName(&pb.NodeLeaving{}))},
				Targets:   []*actor.PID{actor.NewPID(addr, nodeActorName)},
				Envelopes: []*remote.MessageEnvelope{{MessageData: data}},
			},
		}})
	}
	for err == nil {
		n.mu.Lock()
		arrived := n.left[warmID]
		n.mu.Unlock()
		if arrived {
			break
		}
		if ctx.Err() != nil {
			err = errors.New("the warm-up message did not arrive")
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		done()
		return nil, err
	}
	if conn.GetState() != connectivity.Ready {
		done()
		return nil, errors.New("the warm-up connection is not ready")
	}
	return done, nil
}

// Kill stops a node the way a crash would: it stops probing and stops
// serving, without telling anyone. Close still cleans up after it.
func Kill(cn clusterlink.Node) {
	n := cn.(*node)
	n.closed.Store(true)
	if n.static != nil {
		_ = n.static.Shutdown(false)
	}
	n.peers.Store(&[]peer{})
	n.c.Remote.Shutdown(false)
}

// WaitingBroadcasts returns how many broadcasts with acks that other nodes
// asked for still wait for this node's sockets.
func WaitingBroadcasts(cn clusterlink.Node) int {
	n := 0
	cn.(*node).acking.Range(func(any, any) bool { n++; return true })
	return n
}

// SetMaxQueue sets the bound on what a node queues for one other node, as
// ClusterOptions.MaxQueueBytes would (negative: none).
func SetMaxQueue(cn clusterlink.Node, bytes int64) {
	cn.(*node).maxQueue = bytes
}

// LinkProto is the TLS ALPN protocol of a node link.
const LinkProto = linkProto

// HandOverProto is the TLS ALPN protocol of a connection that hands
// requests over to a node (handover.go).
const HandOverProto = handOverProto

// LinkHello returns what opens a node link once connected (appendHello).
func LinkHello(plain bool, secret, addr, member string) []byte {
	var b []byte
	if plain {
		b = append(b, linkMagic...)
	}
	return appendHello(b, secret, addr, member)
}

// LinkFrame returns m as one frame of a node link.
func LinkFrame(m proto.Message) ([]byte, error) { return appendLinkFrame(nil, m) }

// LinkAnswerTimeout is how long a link's node may leave a mark unanswered
// before the link is closed; LinkCheck how often the links are looked at.
const (
	LinkAnswerTimeout = linkAnswerTimeout
	LinkCheck         = linkCheck
)

// LinkMarks returns how many marks the node's link check has sent.
func LinkMarks(cn clusterlink.Node) int64 { return cn.(*node).linkMarks.Load() }

// SetOldHandOver has cn take the node at addr for a node of an older
// build, which takes long-polling requests as HTTP only (old), or not.
func SetOldHandOver(cn clusterlink.Node, addr string, old bool) {
	cn.(*node).oldHandOver.Store(addr, old)
}

// HandedOver returns how many requests handed over on the links cn served.
func HandedOver(cn clusterlink.Node) int64 { return cn.(*node).handedOver.Load() }
