// Package clusterlink is the seam between a Server (package actorio) and
// its node of a cluster (package cluster): the server calls a Node to reach
// the other nodes, and the Node calls the server's Receiver with what they
// sent. Applications never use it: they pass a provider from package
// cluster in actorio.ClusterOptions.
package clusterlink

import (
	"context"
	"log/slog"
	"net"

	"github.com/actorio/actorio/gateway"
	pb "github.com/actorio/actorio/proto"
)

// Config is what a node needs of actorio.ClusterOptions, which documents
// each field.
type Config struct {
	Name              string
	Address           string
	AdvertisedAddress string
	TLS               *TLS
	Secret            string
	Insecure          bool
	MaxQueueBytes     int64
}

// TLS is actorio.ClusterTLS: the files of a node's certificate, its key
// and the cluster's CA.
type TLS struct {
	CertFile, KeyFile, CAFile string
}

// EmitFlags are the flags of a broadcast with acks that cross nodes with
// it: Volatile skips the sockets that cannot take it now, Uncompressed
// sends it without WebSocket compression.
type EmitFlags struct {
	Volatile, Uncompressed bool
}

// SessionTagLen is the length of a node's session tag, which starts the id
// of every Engine.IO session of the node, so that the other nodes find
// the node of a session by its id (Node.Route, Receiver.SessionRoute).
const SessionTagLen = 8

// Provider starts a server's node of a cluster; package cluster's Static
// and Protoactor implement it.
type Provider interface {
	// JoinCluster starts the node: what the other nodes send, it hands to
	// recv; log is the server's logger.
	JoinCluster(c Config, log *slog.Logger, recv Receiver) (Node, error)
}

// Node is a server's running node of a cluster (package cluster).
// Its methods never wait for another node, except ServerSideEmitWithAck,
// BroadcastWithAck and FetchSockets.
type Node interface {
	// Nodes returns the cluster addresses of the nodes alive as this node
	// sees them, its own first.
	Nodes() []string
	// Broadcast hands b, a broadcast of the namespace nsp encoded on this
	// node, to every other node alive, which delivers it to its own
	// sockets. b is shared, not copied: nobody may change it.
	Broadcast(nsp string, b *pb.Broadcast)
	// ServerSideEmit sends data, the JSON array [event, args...], and its
	// attachments to every other node alive.
	ServerSideEmit(data []byte, atts [][]byte)
	// ServerSideEmitWithAck does the same and waits, until ctx ends, for
	// one acknowledgement from each of those nodes, or for the nodes that
	// did not answer to leave the cluster.
	ServerSideEmitWithAck(ctx context.Context, data []byte, atts [][]byte) ([]*pb.NodeEventAck, error)
	// ChangeRooms makes the sockets t selects in the namespace nsp, on
	// every other node alive, join rooms (leave them when leave).
	ChangeRooms(nsp string, t *pb.Target, rooms []string, leave bool)
	// DisconnectSockets disconnects the sockets t selects in the namespace
	// nsp on every other node alive; closeTransport also closes their
	// connections.
	DisconnectSockets(nsp string, t *pb.Target, closeTransport bool)
	// BroadcastWithAck sends the event data (the JSON array [event,
	// args...]) and its attachments to the sockets t selects in the
	// namespace nsp on every other node alive, hands each acknowledgement
	// to onAck as it comes (one at a time), and calls done exactly once,
	// when every such node has finished (all its receivers answered or
	// left), has left the cluster, or ctx ended (with ctx's error), with
	// how many receivers did not answer on the nodes that finished. It
	// does not wait: done is called from the goroutine that saw the end,
	// possibly before BroadcastWithAck returns, and must not block.
	BroadcastWithAck(ctx context.Context, nsp string, t *pb.Target, f EmitFlags, data []byte, atts [][]byte, onAck func(data []byte, atts [][]byte), done func(missing int, err error))
	// FetchSockets asks every other node alive for the sockets t selects
	// in the namespace nsp and returns the answers, one per node, once
	// every such node answered or left the cluster, or ctx ended (then
	// with the answers received so far and ctx's error).
	FetchSockets(ctx context.Context, nsp string, t *pb.Target) ([]*pb.NodeFetchSocketsReply, error)
	// SocketCommand sends c to the node whose member id is member, which
	// applies it to its socket; it is dropped when that node is gone.
	SocketCommand(member string, c *pb.NodeSocketCommand)
	// SessionState hands the state of one of this node's sessions to
	// every other node alive, after what was queued for it before; it
	// sets s.MemberId.
	SessionState(s *pb.NodeSession)
	// ClaimSession asks the node whose member id is member to give up a
	// session and returns it, nil when that node does not hold it; the
	// answer comes after what that node sent this one before. It fails
	// with cluster.ErrNodeUnreachable when that node is not alive, or
	// when ctx ends.
	ClaimSession(ctx context.Context, member string, c *pb.NodeSessionClaim) (*pb.NodeSession, error)
	// Alive reports whether the node whose member id is member is alive
	// and reachable as this node sees it.
	Alive(member string) bool
	// Route asks every other node alive whether tag is its session tag,
	// and returns the cluster address of the first one to claim it, or
	// false once each answered no, or when ctx ends.
	Route(ctx context.Context, tag string) (address string, ok bool)
	// DialHandOver opens a connection, secured as the links are, to the
	// node at address (a cluster address Route returned), on which that
	// node serves HTTP/1.1 with its Receiver's HandOver (a WebSocket
	// upgrade for one of its sessions).
	DialHandOver(ctx context.Context, address string) (net.Conn, error)
	// HandOverRequest sends r, a long-polling request for a session of
	// the node at address (a cluster address Route returned), on the link
	// to that node, which serves it with its Receiver's ServeHandOver, and
	// returns that node's answer. When ctx ends first, the node is told
	// (its request's context ends) and ctx's error returned; when the
	// node is dropped or unreachable, cluster.ErrNodeUnreachable. It sets
	// r's request id and reply address. The answer's body, when not
	// empty, is the answer's alone, from package bufpool: the caller may
	// give it back once done with it.
	HandOverRequest(ctx context.Context, address string, r *pb.NodeHandOver) (*pb.NodeHandOverReply, error)
	// LinkHandOver reports whether the node at address (a cluster address
	// Route returned) takes long-polling requests on the link
	// (HandOverRequest); a node of an older build does not, and takes them
	// as HTTP on a connection from DialHandOver.
	LinkHandOver(address string) bool
	// Close leaves the cluster: the other nodes stop sending to this one.
	Close() error
}

// Receiver is how a Node hands its server what the other nodes
// sent, one message at a time per kind, in the order each node sent them.
type Receiver interface {
	// Broadcast delivers a broadcast of the namespace nsp to this node's
	// sockets, if the namespace exists here. With held not nil, the
	// connections' writers it would start wait for held.Release (the
	// node delivers what its link has buffered, then releases them).
	Broadcast(nsp string, b *pb.Broadcast, held *gateway.Held)
	// ServerSideEmit runs the handlers of a server-side event; ack is nil
	// unless the sender waits for an acknowledgement.
	ServerSideEmit(data []byte, atts [][]byte, ack func(data []byte, atts [][]byte))
	// ChangeRooms makes the sockets t selects in the namespace nsp join
	// rooms, or leave them when leave.
	ChangeRooms(nsp string, t *pb.Target, rooms []string, leave bool)
	// DisconnectSockets disconnects the sockets t selects in the namespace
	// nsp; closeTransport also closes their connections.
	DisconnectSockets(nsp string, t *pb.Target, closeTransport bool)
	// BroadcastWithAck sends the event data (the JSON array [event,
	// args...]) and its attachments to the sockets t selects in the
	// namespace nsp and hands each acknowledgement to onAck, without
	// waiting for them: it calls done exactly once, with the number of
	// receivers that did not answer, when every receiver answered or
	// left or ctx ended (from the goroutine that saw it, possibly before
	// BroadcastWithAck returns). done must not block. onAck's last tells
	// that no other receiver is awaited, so that done follows at once; a
	// false last promises nothing.
	BroadcastWithAck(ctx context.Context, nsp string, t *pb.Target, f EmitFlags, data []byte, atts [][]byte, onAck func(data []byte, atts [][]byte, last bool), done func(missing int))
	// FetchSockets describes the sockets t selects in the namespace nsp,
	// until ctx ends.
	FetchSockets(ctx context.Context, nsp string, t *pb.Target) []*pb.NodeSocketInfo
	// SocketCommand applies c to the socket it names, if it is still
	// connected here.
	SocketCommand(c *pb.NodeSocketCommand)
	// OwnsSessionTag reports whether tag is this node's session tag.
	OwnsSessionTag(tag string) bool
	// HandOver serves a connection another node opened to hand a
	// WebSocket upgrade for one of its sessions over to this one, as
	// HTTP/1.1, and closes it once done.
	HandOver(conn net.Conn)
	// ServeHandOver serves a long-polling request another node handed
	// over for one of this node's sessions (Node.HandOverRequest) and
	// returns the answer, once written or once ctx ended (the client went
	// away, or the other node stopped waiting). pooled: the answer's body
	// came from package bufpool and is the answer's alone, so that the
	// node gives it back once the link wrote it.
	ServeHandOver(ctx context.Context, r *pb.NodeHandOver) (reply *pb.NodeHandOverReply, pooled bool)
	// EndHandOvers ends the sessions of the long-polling requests being
	// served for other nodes, as closing the server does, so that those
	// requests are answered (a GET with its session's last packets): the
	// node is leaving the cluster, and sends those answers before its
	// goodbyes.
	EndHandOvers()
	// SessionState keeps the state of another node's session (connection
	// state recovery), if its namespace exists here.
	SessionState(s *pb.NodeSession)
	// ClaimSession gives up, for another node, the session c names: it
	// ends its socket if connected and returns its state, nil when this
	// node does not hold it or ctx ends.
	ClaimSession(ctx context.Context, c *pb.NodeSessionClaim) *pb.NodeSession
}
