// Package actors runs actorio's control plane on protoactor-go.
//
// Three kinds of actor exist. A connection actor owns one Engine.IO session:
// it receives the frames the gateway reads, decodes Socket.IO packets,
// assembles binary attachments and routes each packet to the socket actor of
// its namespace. A namespace supervisor owns the namespace's rooms and the
// registry of its sockets; it spawns one socket actor per namespace socket
// as its child and stops a child whose user handler panicked. A socket actor
// runs the user's middleware and handlers for one socket, one message at a
// time, in the order the client sent them.
//
// State ownership: a connection actor alone touches its routing table and
// pending binary packet; a namespace supervisor alone touches its room maps;
// a socket actor alone runs its socket's handlers. Peer holds what several
// goroutines read (the outbound Engine.IO connection, the ack table and a
// copy of the socket's rooms), each guarded by its own lock or atomic.
//
// Outbound data never takes an actor hop per receiver: a socket emit writes
// straight into the connection's queue, and a broadcast takes one hop to the
// namespace supervisor, which pushes the same encoded bytes into every
// receiver's queue.
package actors
