// Package gateway is an Engine.IO version 4 server: the HTTP long-polling
// and WebSocket transports, the upgrade from one to the other, the
// heartbeat, the session bookkeeping and the limits on connections and
// queues. With Config.AllowEIO3 it also serves Engine.IO version 3
// clients (see "Engine.IO v3").
//
// It knows nothing of Socket.IO: the Data of a Message packet is opaque to
// it. Namespaces, events and acknowledgements belong to the layers above
// (package actors, then package actorio), which use it as follows.
//
// # Sessions
//
// A [Server] is an [http.Handler] serving one path. Each successful
// handshake creates a [Conn] identified by a random session id and calls
// [Handler.OnOpen] synchronously from the goroutine that served the
// handshake, after the open packet has been written and before any inbound
// packet is read. OnOpen installs the connection's [Receiver] with
// [Conn.SetReceiver]. The next layer sends with [Conn.Send] (or
// [Conn.SendNow]), ends the session with [Conn.Close], and bounds what it
// has taken but not yet handled with [Conn.Hold] and [Conn.Release]
// (Config.MaxInboundBytes, Config.MaxInboundPackets): while that bound is
// reached the transport reads nothing more, so TCP flow control holds the
// client back. An [Observer] installed with [Server.SetObserver] is told
// of sessions opening, upgrading and ending.
//
// # Ordering and concurrency
//
// Outbound packets are appended to a queue owned by the Conn: Send and
// SendNow do not wait for the client (except while Server.Close runs, when
// the caller may have to write the queue itself), and a queue over
// Config.MaxQueueBytes or Config.MaxQueuePackets closes the session with
// "slow consumer". The
// active transport only drains the queue, so a transport upgrade neither
// loses nor duplicates packets, and order is preserved. Inbound Message
// packets reach [Receiver.OnPacket] one at a time per Conn, in the order
// they were read, from a transport goroutine. [Receiver.OnClose] is called
// exactly once per Conn, never before OnOpen has returned; no OnPacket call
// starts after it or runs concurrently with it. It runs on the goroutine
// that ended the session (a transport's, a heartbeat timer's, the caller
// of Conn.Close or Server.Close) or, when OnOpen or OnPacket was running,
// on that goroutine right after it returns. Ping, pong, probe, upgrade and
// noop packets are handled inside the package; a ping from the client ends
// the session ("transport error"), as Engine.IO v4 lets only the server
// ping. [Conn] methods are safe for concurrent use.
//
// # Engine.IO v3
//
// With [Config.AllowEIO3], a request whose EIO query parameter is not "4"
// is served as Engine.IO v3, as Node's engine.io does; [Conn.Protocol]
// tells the layer above. What changes is on the wire only, and the
// heartbeat: polling payloads and WebSocket binary frames use v3's
// framing (package engineio), a polling client that asked b64 gets
// binary messages as base64 text and the others a binary payload, and
// the client pings while the server answers each ping with a pong and
// closes the session with "ping timeout" when no ping came for
// PingInterval + PingTimeout (a pong from the client is "transport
// error"). A request naming a session of the other revision gets 400
// {"code":3,"message":"Bad request"}. The handshake, the upgrade (probe,
// noop, upgrade packet), close and noop packets, and every limit work as
// for v4.
//
// # Compression
//
// A polling response from Config.CompressionThreshold on is gzipped for a
// client that accepts gzip. With [Config.PerMessageDeflate], a WebSocket
// whose client offered permessage-deflate compresses each message from
// its threshold on, on its own (no context takeover: gorilla/websocket
// offers nothing else), when the connection's writer writes it. Without
// context takeover a message compresses to the same bytes on every
// connection, so a packet sent [SendOptions].Shared to many (a broadcast)
// is compressed once, by the first connection to write it, and copied by
// the others (sharedframes.go). A packet sent with
// [SendOptions].Uncompressed is never compressed, and a polling response
// made only of such packets is not gzipped.
//
// # Goroutines
//
// The goroutines of a Server are those net/http serves its requests on and
// those it starts itself when a session needs one:
//
//   - Polling: none. A GET waits for packets on the HTTP server's goroutine
//     that serves it; a POST's packets are handed to OnPacket on the
//     goroutine serving the POST.
//   - WebSocket, on Linux over plain TCP: none while the session is idle.
//     Its reader waits in the server's poller (an epoll set of its own,
//     two goroutines per server while it has WebSockets) and a goroutine
//     reads while the client's bytes are at hand (about 4 × GOMAXPROCS
//     such goroutines at a time at most, so that thousands of clients
//     sending or hanging up at once wait in the kernel, not as
//     goroutines); a delivery the receiver suspends (Conn.Suspend) holds
//     none either. The probe and upgrade
//     packet of an upgrade are read the same way, the HTTP handler
//     returning at once. Elsewhere (TLS, other systems): one read
//     goroutine per session, started once the handshake (or the upgrade)
//     is complete, and during an upgrade the goroutine serving the
//     WebSocket request reads the probe and the upgrade packet itself.
//   - WebSocket writes: a writer goroutine is started only when packets are
//     queued and none runs; it writes what is queued, batched into one
//     write where it can, and ends when the queue is empty, so an idle
//     session has no writer. SendNow first tries to write on the caller's
//     goroutine without blocking (Linux and macOS) and leaves to a writer
//     goroutine only what the socket did not take; so does the end of a
//     session (what its close flushes, the close frame, the close).
//   - A short-lived goroutine closes a session whose queue overflowed, so
//     that OnClose never runs inside the caller's Send.
//   - Timers: one per server for the heartbeats (its callback runs the
//     heartbeats due in turn: see beats), one per closed polling session
//     kept for its client's last GET, which forgets it, and one per
//     upgrade read through the poller, for Config.UpgradeTimeout.
//   - [ReadyListener]: three per listener (accept, epoll wait, the wait's
//     end), none per connection.
//
// [Server.Close] closes every session with reason "forced server close",
// flushing what is queued (then a close packet on polling, a bare close
// frame on a WebSocket; a session still in its OnOpen too) for at most a
// second,
// answers 503 to every request but the polls that fetch a closed session's
// last packets, and waits for every request it is serving, every
// heartbeat callback in progress and every goroutine it started.
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
// # Logging and counters
//
// The server logs through the [log/slog] logger of its [Config]: Debug for
// the session lifecycle, Warn for protocol errors, refused requests and
// slow consumers, never per packet. Its counters ([Server.Count],
// [Server.PollingCount], [Server.BytesIn], [Server.PacketsIn] and the
// like) may be read at any time, from any goroutine.
package gateway
