// Package cluster makes several actorio servers, the nodes, act as one
// Socket.IO server, over protoactor-go's cluster membership and remote
// (gRPC between nodes: the membership, probes of Static) and links of its
// own between the nodes (broadcasts, room changes, acks, server-side
// events, everything else), on the same cluster port. A server joins with a few lines of options:
//
//	srv, err := actorio.NewServer(actorio.Options{
//		Cluster: &actorio.ClusterOptions{
//			Name:     "chat",
//			Address:  "10.0.0.1:7001", // this node's cluster port
//			Provider: &cluster.Static{Seeds: []string{"10.0.0.1:7001", "10.0.0.2:7001"}},
//			TLS:      &actorio.ClusterTLS{CertFile: "node.crt", KeyFile: "node.key", CAFile: "ca.crt"},
//			Secret:   os.Getenv("CLUSTER_SECRET"),
//		},
//	})
//
// The providers of this package, [Static] and [Protoactor], start a node
// for the server (actorio.ClusterProvider). The two meet through package
// internal/clusterlink: the server calls its node to reach the other
// nodes, and the node hands the server what they sent; neither package
// imports the other. Without Options.Cluster a server is a single node
// and nothing of this package runs; a program that does not import it
// does not link it either.
//
// # What crosses nodes
//
// Namespace broadcasts: Emit on what To, In, Except, Broadcast and
// Volatile select, from a Server, a Namespace or a Socket. The sending
// node encodes the packet once, delivers it to its own sockets, and sends
// every other node alive one message (proto NodeBroadcast: the encoded
// frame, its attachments and the target rooms and exclusions), which that
// node hands to its supervisor of the namespace as an ordinary local
// broadcast: each selected socket gets the packet once, whichever node it
// is on. Rooms and exclusions are resolved on each node against its own
// sockets; socket ids are unique across nodes. Local (on a
// BroadcastOperator, a Namespace or the Server) keeps a broadcast on its
// node.
//
// Room changes and disconnections: SocketsJoin, SocketsLeave and
// DisconnectSockets, from a BroadcastOperator or a Namespace (not Local),
// send every other node one message (proto NodeRoomChange,
// NodeDisconnect: the namespace, the target and the rooms or the close
// flag), which that node hands to its supervisor of the namespace. They
// travel with the broadcasts, so a broadcast that the same goroutine emits
// after SocketsJoin reaches, on every node, the sockets that joined; one
// from another node may come before the change.
//
// Broadcasts with acknowledgements: BroadcastOperator.EmitWithAck (not
// Local) sends every other node one NodeBroadcastWithAck with the event's
// JSON and the time left before the caller's deadline. That node frames the
// event with an ack id of its own, sends it to its selected sockets as a
// local EmitWithAck would, sends the acknowledgements back in batches (those
// that come within 2 ms of each other, NodeBroadcastAcks) and ends with
// NodeBroadcastAckDone, which carries the acknowledgements not sent yet,
// once every receiver answered or left, or at that deadline. A round whose
// receivers all answer within 2 ms costs one message back per node. The caller returns once
// its own sockets and every other node finished, or when its ctx ends,
// with every acknowledgement received from any node; a node that leaves
// meanwhile is no longer waited for, nor is one that is dropped or
// unreachable (see below). When ctx ends first
// (deadline or cancel), the caller tells every other node
// (NodeBroadcastCancel), which stops waiting for its receivers and drops
// the acknowledgements they still owe.
//
// Fetching sockets: BroadcastOperator.FetchRemoteSockets (and
// Namespace's; not Local) sends every other node one NodeFetchSockets;
// each answers with the id, rooms and Data (as JSON) of its selected
// sockets (NodeFetchSocketsReply). The caller returns its own sockets (as
// *actorio.Socket) and a handle per socket of another node once every
// node answered, left, was dropped or became unreachable, or when its ctx
// ends, then with the sockets it has and ctx's error. A handle's Emit,
// Join, Leave and Disconnect send one NodeSocketCommand to the node that
// owns the socket, which applies it to that socket if it is still
// connected there (else ignores it), after the broadcasts the same
// goroutine emitted before. FetchSockets
// stays on its node and returns *actorio.Socket.
//
// Server-side events: Server.ServerSideEmit reaches the handlers the other
// nodes registered with Server.OnServerSideEmit (not the sender's own), and
// ServerSideEmitWithAck collects one acknowledgement per other node. The
// handlers of a node run one event at a time, apart from its broadcasts.
//
// # Ordering, delivery, blocking
//
// Broadcasts that one goroutine emits one after the other reach every
// socket, on every node, in that order: messages to a node leave on one
// connection in the order they were queued, and are handed on in that
// order. Nothing is ordered between different senders, as on one node.
//
// Delivery is at most once. A broadcast reaches the nodes the sender's
// membership holds alive when it is emitted; what is in flight to a node
// that dies is lost. Nothing is retried and nothing is acknowledged.
//
// Emit, SocketsJoin, SocketsLeave, DisconnectSockets and the methods of a
// remote socket handle never wait for another node: they queue one message
// per node and return. While a node is dead but not yet dropped, or slower
// than the sender, what is sent to it waits in the sender's memory (the
// link drops it once a connection attempt has failed; at most one attempt
// a second), up to ClusterOptions.MaxQueueBytes per node (64 MiB
// by default): the sender counts the bytes it queues for each node and,
// every quarter of the bound, sends a mark (NodeQueueMark) that the node
// answers once everything before it reached it; past the bound, what is
// sent to that node is dropped, and logged at Warn at most every 10 s,
// until its answers catch up. A node dropped from the membership frees its
// queue. Note that probes share the queue: a sender that floods a node
// faster than it takes delays its probes, which may get it dropped (and
// then taken back, see Healing). ServerSideEmitWithAck,
// BroadcastOperator.EmitWithAck and FetchRemoteSockets are the only calls
// that wait, up to their context, and never for a node that has left. Nor
// do they wait for a node whose connection failed or was lost (what was
// queued for it is gone: no answer can come) until a connection to it
// opens again, nor, past the moment it is dropped, for a node that stopped
// answering with its connection open (a stalled process, a partition):
// they return what the other nodes answered and an error that wraps
// ErrNodeUnreachable, at once for a node known unreachable, within the
// failure detection time of the provider (see Membership) for a stalled
// one.
//
// A node also watches its links, whatever the provider: each second, a
// link that carried something since the other node last answered gets a
// mark
// (NodeQueueMark; neither marks nor their answers count as carrying
// something, so quiet links stay quiet). A link whose mark has gone
// unanswered for 10 s is closed, logged at Warn, with protoactor's
// connection to that node, and the node is unreachable until the next
// message opens a new connection. This finds what a provider cannot: two
// nodes that both reach the membership service (etcd, say) while the
// connections between them stall (a route that drops their packets, a
// NAT that forgot them), which the kernel would report only after
// minutes. A call waiting for such a node returns within about 12 s, and
// a connection opened during the stall is given up the same way once it
// ends.
//
// # Membership
//
// A node sends to the members of its cluster topology, which comes from
// its provider:
//
//   - Static needs no external service: each node probes the nodes it
//     knows over the cluster connection, in rounds (all at once, each
//     probe waiting up to ProbeTimeout, then a pause of ProbeInterval),
//     and learns of the others from the answers and from the probes it
//     receives, so one seed is enough. A node that stops answering is
//     dropped after MaxFailures probes in a row, which takes at most
//     MaxFailures × (ProbeInterval + ProbeTimeout), 6 s with the defaults.
//     Made for one machine, tests and small fixed deployments.
//   - Protoactor takes protoactor-go cluster providers, for production:
//     this module's etcd one (package cluster/etcd, rather than
//     protoactor-go's, which can miss a node that registers while it
//     starts), or protoactor-go's Consul
//     (cluster/clusterproviders/consul), Kubernetes (…/k8s), ZooKeeper
//     (…/zk). They decide when a node is dead (a lease, a TTL check, a
//     pod's status). Each brings its client library into the build; this
//     package does not import them.
//
// Whatever the provider, a node that Server.Close stops tells the others,
// which stop sending to it before Close returns (or after half a second,
// for a node that does not answer). A restarted node, at the same address
// or not, has a new member id and joins. Server.ClusterNodes lists the
// nodes a server sends to.
//
// # Healing
//
// With Static, a node dropped without leaving is taken back as soon as it
// answers again: one that stalled (a long GC pause, a VM migration, CPU
// starvation, SIGSTOP) or that a partition cut off. Its member id is not
// blocked (Static does not go through protoactor-go's member list, which
// blocks the id of every member it drops, for good): the others keep
// probing it at every round, and at once when it probes them, and its
// first answer makes it a member again, with the same member id; its own
// sockets, rooms and Data are untouched, as nothing of a node depends on
// the others holding it, and the handles FetchRemoteSockets returned for
// them work again. What was sent between the drop and the rejoin is lost
// (delivery is at most once). Each probe lists the nodes its sender sends
// to, so a node learns that another dropped it even while it still holds
// that one alive (it stalled, or was cut off in one direction only).
//
// The logs say it. A node that drops another logs at Warn "cluster node
// dropped" and, when it takes it back, at Info "cluster node rejoined"
// (with how long it was out); a node dropped by another that it still held
// alive logs at Warn "cluster node dropped this node" and, once that node
// sends to it again, at Info "cluster node took this node back". Both
// sides of a partition log the first pair about each other.
//
// The bound: once a partition ends (messages sent from then on arrive),
// or a stalled node runs again, every node sends to every other again
// within ProbeInterval + ProbeTimeout, 2 s with the defaults, plus the time
// the messages take. Each node probes every other node, dropped or not, at
// every round; a round in flight at that moment ends within ProbeTimeout,
// the next one starts within ProbeInterval, and its probes, sent after the
// end, are answered; a node holds another alive from its first answer, and
// then sends to it. In practice it is faster: the probes of the nodes
// that were cut off reach the others, which probe them back at once (50 ms
// in the tests, for both). This holds for partitions shorter than ten
// minutes: past that, a node learnt from others is forgotten and a seed is
// probed every tenth round only, so a longer partition heals through the
// seeds, within about 10 × (ProbeInterval + ProbeTimeout) and a round more
// (22 s with the defaults), as long as a node of one side has a seed on the
// other. On a real network, a connection attempt that began during the
// partition may still be under way when it ends: protoactor-go waits for
// it (gRPC gives up after 20 s) and 2 s more before a new one, which can
// add as much (tests on one machine stall connections, which then resume).
//
// With Protoactor, protoactor-go blocks the member id of a node that its
// provider drops (an expired lease, a failed health check) on every node,
// itself included. With cluster/etcd the node comes back under its member
// id's next generation as soon as it reaches etcd again: its provider
// registers it again once it sees its lease lost, lists the members anew
// and watches from there, and the node logs at Warn that it rejoined
// under a new member id. The bound, from the moment it reaches etcd again:
// its etcd client's reconnection, and the provider's next try (Retry, 1 s
// by default). The client gives a connection attempt 5 s (one made into a
// partition that drops packets hangs until then) and waits at most Retry
// between two attempts, whatever the outage's length, so the bound is
// about 5 s plus twice Retry. gRPC's defaults (20 s per attempt, waits
// growing to 2 min) would leave a node out for minutes after a long
// outage. A connection to etcd that stalls without being closed is given
// up 15 s after the node last heard from etcd (the client's keepalive
// pings), then the same holds; without the pings the node stayed out for
// good. Measured in TestEtcdMembership: 0.55 s after a 3.5 s cut
// (connections refused), and 0.02 to 0.28 s, once 5.6 s (an attempt was
// hanging when the partition ended), after a 30 s partition whose
// connection attempts hang; with gRPC's defaults that one took more than
// 10 s. After a 10 s stall of its connection, 5.0 s. With other providers the node logs
// at Warn that the membership dropped it and that only a restart, with a
// new member id, brings it back.
//
// # Connection state recovery
//
// With actorio.Options.ConnectionStateRecovery, a client restores its
// session on any node, its own node alive or dead: every node keeps a
// replica of every other node's sessions (NodeSession) and logs every
// logged packet under numbers its sending node gave it, so that an offset
// means the same on every node. ARCHITECTURE.md ("Recovery on any node")
// has the design and its measured limits.
//
// # Not yet across nodes
//
// A broadcast through a dynamic parent namespace (OfFunc, OfRegexp)
// reaches, on the other nodes, only the children that also exist on the
// sending node.
//
// # Sessions on any node
//
// An Engine.IO session lives on the node that opened it, and its id
// starts with that node's tag. A long-polling request or a WebSocket
// upgrade for it that reaches another node (a round-robin balancer) is
// handed to its node, found with a NodeRouteQuery on the links to the
// other nodes alive (the answer is kept for the node's other sessions):
// no sticky sessions are needed (handover.go). A long-polling request
// goes as a NodeHandOver on the link to that node and its answer comes
// back as a NodeHandOverReply; an upgrade goes as HTTP/1.1 on a
// connection of its own to that node's cluster port, opened and secured
// as a link is but with an ALPN protocol (or magic line) of its own. That
// node's server answers it as if the client had reached it, whatever its
// own HTTP endpoint.
//
// # Security
//
// A node needs ClusterOptions.TLS and Secret, or Insecure. With TLS, the
// links are mutual TLS 1.3: each node presents its certificate and
// accepts only a certificate the cluster's CA signed (host names are not
// checked). With Secret, every call and every link between nodes carries
// it and a node refuses a call or a link without it. A refused link (a TLS
// handshake that fails, a wrong or missing secret, a link that sends no
// hello within 5 s) is logged at Warn: the first of each reason per remote
// host, then their count at most every 10 s. Insecure allows plain links:
// any peer that reaches a cluster port can then broadcast to the node's
// clients, so keep such ports on a private network.
//
// # Goroutines
//
// A node adds to its server:
//
//   - protoactor's actor system for the cluster, separate from the
//     server's own, whose dispatcher goroutines run the node's two actors:
//     one answers Static's probes, the other runs the
//     server-side event handlers (handed to it by the links' readers),
//     one event at a time;
//   - protoactor remote's gRPC server and one connection per other node;
//   - per other node it sends to, a link: a writer goroutine, and one that
//     watches the connection while it is open; per other node that sends
//     to it, a reader goroutine, which handles what comes (broadcasts,
//     room changes, disconnections, socket commands, acknowledgements,
//     server-side events, goodbyes) one message at a time, in order;
//   - one goroutine per NodeFetchSockets that another node sent, so that
//     its wait does not hold up the messages behind it; it ends when its
//     namespace answered, at the asking node's deadline, or when this
//     node closes. A NodeBroadcastWithAck has none: its event is queued
//     for the sockets by the reader, and its end is sent by the last ack
//     or by the deadline's timer (or a cancel);
//   - one goroutine that watches the links' answers, every second;
//   - with Static, one goroutine that probes, which starts a short-lived
//     goroutine per node it probes in a round.
//
// Server.Close closes the node first and stops them all. It takes
// milliseconds, but may wait for the other nodes to confirm the goodbye (at
// most 0.5 s). It waits for the goroutines this package starts except the
// probes of a round in flight, which end within ProbeTimeout after it.
// protoactor's goroutines finish exiting after Close returns: within
// milliseconds, but about 2 s for a connection writer trying to reach a
// node that has gone (protoactor sleeps 2 s after a failed attempt), and,
// for one blocked writing to a node that stalled, when that node reads
// again or its connection breaks.
package cluster
