// Package actors runs actorio's control plane on protoactor-go, and the
// data plane beside it.
//
// Three kinds of actor exist. A connection actor owns one Engine.IO
// session's lifecycle: the connect timeout, removing from the routing table
// a socket that ended on the server's side, and ending the connection's
// sockets when its transport closes. A namespace supervisor owns the
// registry of the namespace's sockets: it spawns one socket actor per
// namespace socket as its child, stops a child whose user handler panicked,
// and keeps the sessions of connection state recovery. A socket actor runs
// the user's middleware and handlers for one socket, one message at a
// time, in the order the client sent them.
//
// Beside the actors, on the goroutines that call them:
//   - a connection's inbound route (inbound.go) runs on the gateway's
//     reading goroutine: it decodes each Socket.IO packet and handles it
//     before the next is read (CONNECT and DISCONNECT change the routing
//     table, an EVENT goes to its socket actor, an ACK to the waiting
//     handler), so packets take effect in the order the client sent them;
//   - a namespace's room index (roomindex.go) and the delivery of its
//     broadcasts (rooms.go) run in the broadcasting goroutine, under the
//     namespace's lock, so what one goroutine writes to a connection keeps
//     its order whatever the path, and a broadcast takes no actor hop;
//   - a socket emit writes straight into its connection's queue.
//
// State ownership: the routing table of a connection is changed under its
// lock by its inbound route and its connection actor, and read without
// one; a namespace supervisor alone changes its registry of children (under
// a lock, as others look sockets up in it); a
// socket actor alone runs its socket's handlers; the room index and the
// packet log are guarded by the namespace's lock. SocketRef holds what several
// goroutines read (the outbound Engine.IO connection, the ack table, a copy
// of the socket's rooms, the socket's share of its connection's inbound
// bound), each guarded by its own lock or atomic.
package actors
