// Package gateway is an Engine.IO version 4 server: the HTTP long-polling
// and WebSocket transports, the upgrade from one to the other, the
// heartbeat and session bookkeeping.
//
// # Sessions
//
// A [Server] is an [http.Handler]. Each successful handshake creates a
// [Conn] identified by a random session id, and calls [Handler.OnOpen]
// synchronously from the goroutine that served the handshake, after the
// open packet has been written and before any inbound packet is read. OnOpen
// installs the connection's [Receiver] with [Conn.SetReceiver].
//
// # Ordering and concurrency
//
// Outbound packets are appended to a queue owned by the Conn
// ([Conn.Send] never blocks); the active transport only drains it, so a
// transport upgrade neither loses nor duplicates packets, and order is
// preserved. Inbound Message packets reach [Receiver.OnPacket] one at a
// time per Conn, from transport goroutines. [Receiver.OnClose] is called
// exactly once per Conn, and no OnPacket call starts after it or runs
// concurrently with it. Heartbeat packets (ping, pong), probes, upgrade and
// noop packets are handled inside the package.
//
// # Goroutines
//
// A polling session uses no goroutine of its own: its heartbeat runs on
// timers and its requests on the HTTP server's goroutines. A WebSocket
// connection uses the serving goroutine as its read loop plus one writer
// goroutine. [Server.Close] closes every session and waits for every
// goroutine the server started and every request it is serving.
//
// # Origins
//
// Every request passes the origin policy before anything else, so that a
// refused request reaches neither [Config.AllowRequest] nor a session.
// Browsers send an Origin header with cross-origin requests (and with
// every WebSocket handshake); other clients, such as the Go and Node
// Socket.IO clients, send none. The policy accepts:
//
//   - a request without an Origin header;
//   - a same-origin request: the host and port of its Origin equal the
//     request's Host (the scheme is not compared, since a proxy may
//     terminate TLS);
//   - a cross-origin request whose origin [CORS.Origins] lists, or any
//     origin when it holds "*".
//
// With a nil [Config.CORS], the default, that is same origin only. A
// refused request, an OPTIONS preflight included, gets HTTP 403
// {"code":4,"message":"Forbidden"} without any CORS header, and a Warn
// log. [Config.CheckOrigin], when set, replaces the policy for WebSocket
// requests. A reverse proxy that rewrites the Host header makes browser
// requests look cross-origin: list the public origin in CORS.Origins.
//
// # Session ids
//
// Session ids come from [NewID]: 120 bits from crypto/rand. With
// [Config.BindSessionToAddress] a session also answers only requests from
// the remote IP address of its handshake; requests with its id from
// elsewhere get the answer of an unknown id and leave it untouched.
//
// # Logging
//
// The server logs through the [log/slog] logger of its [Config]: Debug for
// the session lifecycle, Warn for protocol errors, never per packet.
package gateway
