// Package actorio is a Socket.IO v5 server (Engine.IO v4: HTTP long-polling,
// WebSocket and the upgrade between them) built on protoactor-go. The
// official socket.io-client v4 talks to it unchanged.
//
// A Server is an http.Handler. It holds namespaces ("/" always exists; Of
// adds more, OfFunc and OfRegexp add dynamic ones). A Namespace runs its
// middleware (Use) for every client that connects to it, then its
// connection handlers (OnConnection) with the new Socket.
//
// A Socket is one client in one namespace. Its event handlers (On, Once,
// OnAny) run one at a time in the order the client sent the events, each
// socket in its own actor: a slow or panicking handler affects only its
// socket. A panic disconnects that socket with disconnect.HandlerPanic. Every
// socket sees exactly one OnDisconnect call, with the reason.
//
// Rooms group the sockets of a namespace; every socket is in the room named
// by its id. Socket.Join and Leave change its rooms; To, In and Except
// select sockets for Emit. A broadcast is encoded once and the same bytes go
// to every receiver.
//
// Acknowledgements: a handler's AckFunc is non-nil when the client asked for
// one; Socket.EmitWithAck and BroadcastOperator.EmitWithAck wait for the
// client's answer until their context ends.
//
// Emit accepts any value encoding/json accepts; []byte values inside []any,
// map[string]any and Object travel as binary attachments. Received arguments
// come as Args, which decode into Go values or return them unchanged.
package actorio
