// Package defaults tests actorio as a user gets it: servers built with
// actorio.Options{} (only a logger set, to capture the log) and clients
// with their default options, at real time scales. Short timings stay in
// the other tests, which need them; here no default is shortened.
//
// Issue 12 is why: every other test pinged every two seconds or less, so
// none had a connection idle for longer than WriteTimeout, and an ack sent
// more than 10 s after the last write failed on a write deadline left
// set. TestIdleGaps fails on that bug (commit 8bf6f11's parent) for every
// WebSocket and upgraded client, as does tests/soak's TestSoakDefaults.
//
// All tests run in parallel and mostly sleep: TestMain raises -parallel
// (which defaults to GOMAXPROCS) unless it is given. The package takes
// about 2 min 10 s, the length of TestRecoveryWindow's second case; the
// rest is done in about 70 s. TestMain checks at the end that every
// goroutine started is gone.
//
// # Defaults and the tests that run them
//
//	default                              test
//	PingInterval 25 s                    TestIdleGaps (pings at ~25 and ~50 s, no fault), TestPingTimeout (ping at 25 s), every open packet (checkOpen)
//	PingTimeout 20 s                     TestPingTimeout (dropped with "ping timeout" at 45 s, WebSocket and polling), checkOpen
//	ConnectTimeout 45 s                  TestConnectTimeout (raw WebSocket and polling, official Manager on 3 transports); TestIdleGaps (joined sockets live past it)
//	UpgradeTimeout 10 s                  TestUpgradeTimeout (probe never completed); TestIdleGaps default transport (idle > 10 s after the upgrade)
//	WriteTimeout 10 s (gateway)          TestIdleGaps (direct writes after idle gaps > 10 s: the issue 12 bug), TestStalledReader/8 MiB ("transport error" at 10 s)
//	CloseTimeout 10 s                    TestCloseTimeout (Close gives up on a blocked handler at 10 s, its OnDisconnect runs once it returns)
//	MaxQueueBytes 16 MiB                 TestStalledReader/24 MiB ("slow consumer")
//	MaxHTTPBufferSize 1e6                TestMaxHTTPBufferSize (1e6 bytes pass, one more closes with 1009), checkOpen (maxPayload)
//	HTTPCompressionThreshold 1024        TestHTTPCompressionThreshold (1023 bytes plain, 1024 gzipped)
//	MaxDynamicNamespaces 1000            TestMaxDynamicNamespaces
//	Transports polling+websocket,        TestIdleGaps and TestConnectTimeout: websocket only, polling only, and the
//	  upgrades on                          clients' default (polling, then the upgrade)
//	Path /socket.io/                     every test
//	MaxQueuePackets, MaxConnections,     unlimited: tests/soak TestSoakDefaults (300 clients from one address)
//	  MaxConnectionsPerAddress, EventRate
//	ConnectionStateRecovery{}:           TestRecoveryWindow (restored after 15 s away, not after 2 min 5 s)
//	  MaxDisconnectionDuration 2 min
//	Go client: Timeout 20 s,             TestIdleGaps (client.Options{}), TestRecoveryWindow (back within the default delays),
//	  reconnection 1 s..5 s ±50%           tests/soak TestSoakDefaults; TestGoClientIdleAgainstNode (TestIdleGaps'
//	                                       scenarios against Node socket.io at its defaults, node-server.mjs)
//	socket.io-client defaults            TestIdleGaps, TestConnectTimeout (peer.mjs and the Manager script: only transports set)
//	socket.io-client 2.x defaults,       TestIdleGaps js-v2 (peer-v2.mjs, the server with AllowEIO3): Engine.IO v3,
//	  PingInterval 25 s, PingTimeout 20 s  where the client pings; no packet but pings for 62 s, longer than both together
//
// Not run at their defaults here: CORS (same origin; tests/security_test.go),
// BindSessionToAddress (off), MaxDisconnectionDuration's neighbours
// MaxPackets and MaxBytes of recovery, and the bounds added since this
// package was written (inbound bounds, attachments, namespaces per
// connection).
package defaults
