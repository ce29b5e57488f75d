// Package client is a Socket.IO v4 client (Engine.IO v4, Socket.IO protocol
// revision 5): it talks to actorio servers and to the Node.js `socket.io`
// v4 server alike.
//
// # Managers and sockets
//
// A [Manager] owns one Engine.IO connection to a server: HTTP long-polling
// upgraded to WebSocket (the default), or WebSocket only, or polling only.
// It answers the server's heartbeat, and when the connection is lost it
// reconnects with an exponential, jittered backoff, as the JavaScript
// client does. A [Socket] is one namespace of that connection; several
// sockets ([Manager.Socket]) share, multiplexed, one Manager. [New] is the
// short way: a Manager of its own and the socket of the URL's path.
//
// Sockets are created disconnected so that handlers can be registered
// first; [Socket.Connect] starts the connection. With Options.AutoConnect
// (the JavaScript client's autoConnect) [Manager.Socket] and [New] connect
// the socket they return.
//
// # Events
//
// Every user-facing event fires on the Socket, by its classic name:
//
//	connecting        an attempt to connect starts
//	connect           the namespace is connected
//	disconnect        the connection ended (args: reason, and a description for a transport close or error)
//	connect_failed    the first connection could not be made and no reconnection is allowed or left
//	error             an error no other event covers, such as a refusal by the server's middleware
//	message           the server's send (with an ack when the server asked for one)
//	<custom>          any other event the server emits
//	reconnecting      a reconnection attempt starts (args: attempt number, from 1)
//	reconnect         a reconnection succeeded (args: attempts it took)
//	reconnect_failed  reconnection attempts ran out
//
// The Socket.IO v4 names are delivered as well: connect_error (every failed
// attempt and every refusal), reconnect_attempt (with reconnecting) and
// reconnect_error (every failed reconnection attempt).
//
// On the first connection the order is connecting, connect. A momentary
// loss gives disconnect, then for each attempt reconnecting,
// reconnect_attempt, connecting (and connect_error, reconnect_error when it
// fails), and finally reconnect, connect. When reconnection attempts run
// out, reconnect_failed follows the last failed attempt, then
// connect_failed if the socket never connected since its Connect call.
//
// Only the client fires these lifecycle events. An event the server emits
// under one of their names, or under disconnecting, newListener or
// removeListener, reaches no handler ([Socket.OnAny] included), is not
// acknowledged, and is logged; message, the server's send, is an ordinary
// event. [Socket.Emit] refuses the names the JavaScript client refuses
// (connect, connect_error, disconnect, disconnecting, newListener,
// removeListener) with [ErrReservedEvent].
//
// [Socket.On] subscribes to any event by name with an [EventHandler];
// lifecycle events carry their payload as [Args] (the reason, the attempt
// number, or an object with "message" and "data"). [Socket.OnEvent]
// receives every lifecycle event as a typed [Event] instead. The
// disconnect of a "transport close" or "transport error" carries a
// [Description], the JavaScript client's second argument ("websocket
// connection closed" with the close code, "xhr poll error"…).
//
// [Socket.OnAny], [Socket.PrependAny], [Socket.OnAnyOutgoing] and
// [Socket.PrependAnyOutgoing] are the JavaScript client's catch-all
// listeners; each returns the function that removes that registration,
// since Go functions cannot be compared as offAny(fn) compares them, and
// [Socket.OffAny] and [Socket.OffAnyOutgoing] remove them all. An
// outgoing handler sees each event when it leaves (a buffered one when
// the socket connects, each try of the retry queue), never an
// acknowledgement.
//
// # Manager events
//
// A [Manager] has the events of the JavaScript client's Manager
// ([Manager.On], [Manager.OnEvent]): open, close (reason, description),
// ping, error, reconnect_attempt, reconnect, reconnect_error and
// reconnect_failed, in the same order; see [Manager.On]. They are
// delivered on a goroutine of the Manager, one at a time, in order; their
// order relative to a socket's events is not defined.
//
// # Connection state recovery
//
// A server with connection state recovery on (Socket.IO v4.6 and later)
// gives a socket that lost its connection its session back when it
// reconnects in time: the same id, the same rooms, and the events emitted
// to it meanwhile. The server answers CONNECT with a private session id and
// appends an offset to every event it emits without an acknowledgement
// request. The socket keeps the session id and the last offset (the last
// argument of an event, when it is a string) and sends them as "pid" and
// "offset", ahead of the auth object's own keys, with the CONNECT of every
// reconnection. [Socket.Recovered] reports whether the last connection
// restored the session. The missed events, which the server sends before
// its CONNECT answer, are delivered once each, in order, right after the
// connect event and before any later event. As with the JavaScript
// client, handlers see the offset as an extra last string argument.
// Disconnect, Close and a disconnection by the server end the session: the
// next Connect starts a new one.
//
// # Acknowledgement timeout and retries
//
// Options.AckTimeout and Options.Retries are the ackTimeout and retries
// options of the JavaScript client (v4.6). AckTimeout bounds the wait of
// [Socket.EmitWithAck] beside its ctx: an acknowledgement that does not
// come in time fails it with an error wrapping [ErrAckTimeout], which
// itself wraps context.DeadlineExceeded.
//
// With Retries > 0, each socket sends its events (not the Volatile ones)
// through a queue: one at a time, in order, each with an acknowledgement
// request, a plain [Socket.Emit] included; the next one leaves once the
// previous is acknowledged or given up. An event not acknowledged within
// AckTimeout is sent again, with a new ack id; once sent 1+Retries times
// it is given up: EmitWithAck fails with ErrAckTimeout, and a plain Emit's
// loss is logged at Warn. The event in flight when the connection ends
// (lost, or ended by either side) is sent again right after the next
// connection; as in the JavaScript client, that send counts as a try, so
// with AckTimeout set an event whose last try the connection interrupted
// is given up with [ErrDisconnected]. Without AckTimeout only that resend
// applies: no event is ever given up, and the queue waits for each
// acknowledgement as long as it takes. An EmitWithAck whose ctx ends
// leaves the queue, sent or not, and the next event goes. The queue, like
// the send buffer, is kept across Disconnect and sent after the next
// Connect; Close fails the EmitWithAck calls in it with [ErrClosed].
//
// Delivery is then at least once: the server may receive an event more
// than once, its handler running for each copy. Its handlers must
// acknowledge every event, since only the acknowledgement stops the
// resends, and should tolerate duplicates.
//
// # Concurrency and ordering
//
// Every method is safe for concurrent use. The events of one Socket are
// delivered one at a time, in order, on a goroutine of that Socket, never
// while the package holds a lock: a handler may call any method, Close
// included. A slow handler delays the events of its own Socket only.
// Emits made while the socket is not connected are buffered and sent, in
// order, right after the connection is made (before the connect event);
// [Socket.Volatile] emits are dropped instead. With Options.Retries they
// wait in the socket's retry queue, whose head is sent at that point.
//
// # Goroutines
//
// A Manager runs one lifecycle goroutine from a [Socket.Connect] that finds
// it idle until no socket wants the connection any more, reconnection
// gives up, or [Manager.Close]: it dials, waits for the loss of the
// session and reconnects. An open Engine.IO session adds a reader and a
// writer: GET and POST loops on polling, read and write loops on
// WebSocket; an upgrade adds a short-lived goroutine that probes the
// WebSocket, pauses polling and then starts the WebSocket reader and
// writer. Timers end a session whose server stopped pinging, bound a
// closing session's flush and end the tries of the retry queue
// (Options.AckTimeout). Each Socket has one goroutine for its events,
// started with its first event; it lives until Manager.Close (Disconnect
// does not end it); so does the Manager's, for its own events. Manager.Close (and [Socket.Close], which closes the
// socket's Manager) stops and waits for all of them, except one still
// running an event handler, which ends when that handler returns. The
// package never prints; it logs through the [log/slog] logger of
// [Options].
package client
