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
// # Logging
//
// The server logs through the [log/slog] logger of its [Config]: Debug for
// the session lifecycle, Warn for protocol errors, never per packet.
package gateway
