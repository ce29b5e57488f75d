package main

import (
	"net/http"
	"testing"
)

// The Socket.IO suite: 32 tests against the application at /socket.io/, 16
// at the Engine.IO level and 16 at the Socket.IO level.

// Placeholders of the binary tests.
const (
	ph0 = `{"_placeholder":true,"num":0}`
	ph1 = `{"_placeholder":true,"num":1}`
)

// TestSocketIOSuite checks every behaviour of the official Socket.IO v5
// protocol suite (socket.io-protocol, test-suite/), in its order.
func TestSocketIOSuite(t *testing.T) {
	runSuite(t, 32, []conformanceTest{
		{name: "engine.io/handshake/polling/opens a session", run: at(sioPath, pollingOpensSession)},
		{name: "engine.io/handshake/polling/rejects an invalid EIO", run: at(sioPath, pollingRejectsInvalidEIO)},
		{name: "engine.io/handshake/polling/rejects an invalid transport", run: at(sioPath, pollingRejectsInvalidTransport)},
		{name: "engine.io/handshake/polling/rejects an invalid method", run: at(sioPath, pollingRejectsInvalidMethod)},
		{name: "engine.io/handshake/websocket/opens a session", run: at(sioPath, webSocketOpensSession)},
		{name: "engine.io/handshake/websocket/rejects an invalid EIO", run: at(sioPath, webSocketRejectsInvalidEIO)},
		{name: "engine.io/handshake/websocket/rejects an invalid transport", run: at(sioPath, webSocketRejectsInvalidTransport)},

		{name: "engine.io/heartbeat/polling/sends pings and takes pongs", timeout: heartbeatTimeout, run: at(sioPath, pollingPingPong)},
		{name: "engine.io/heartbeat/polling/closes on ping timeout", timeout: heartbeatTimeout, run: at(sioPath, pollingPingTimeout)},
		{name: "engine.io/heartbeat/websocket/sends pings and takes pongs", timeout: heartbeatTimeout, run: at(sioPath, webSocketPingPong)},
		{name: "engine.io/heartbeat/websocket/closes on ping timeout", timeout: heartbeatTimeout, run: at(sioPath, webSocketPingTimeout)},

		{name: "engine.io/close/polling/client close packet ends the session", run: at(sioPath, pollingForcefulClose)},
		{name: "engine.io/close/websocket/client close packet ends the session", run: at(sioPath, webSocketForcefulClose)},

		{name: "engine.io/upgrade/upgrades polling to websocket", run: sioUpgrade},
		{name: "engine.io/upgrade/refuses polling after the upgrade", run: sioUpgradeRefusesPolling},
		{name: "engine.io/upgrade/ignores a second websocket after the upgrade", run: sioUpgradeIgnoresSecondWebSocket},

		{name: "socket.io/connect/main namespace", run: connectMain},
		{name: "socket.io/connect/main namespace with a payload", run: connectMainWithPayload},
		{name: "socket.io/connect/custom namespace", run: connectCustom},
		{name: "socket.io/connect/custom namespace with a payload", run: connectCustomWithPayload},
		{name: "socket.io/connect/refuses an unknown namespace", run: connectUnknownNamespace},
		{name: "socket.io/connect/closes on an invalid handshake", run: connectInvalidHandshake},
		{name: "socket.io/connect/closes without a handshake", run: connectNoHandshake},

		{name: "socket.io/disconnect/main namespace keeps the connection", run: disconnectMain},
		{name: "socket.io/disconnect/custom namespace then event on main", run: disconnectCustom},

		{name: "socket.io/message/plain-text event", run: messagePlainText},
		{name: "socket.io/message/event with binary attachments", run: messageBinary},
		{name: "socket.io/message/plain-text event with an ack", run: messageAck},
		{name: "socket.io/message/binary event with an ack", run: messageBinaryAck},
		{name: "socket.io/message/closes on an unknown packet type", run: closesOn("4abc")},
		{name: "socket.io/message/closes on an invalid payload", run: closesOn(`42{}`)},
		{name: "socket.io/message/closes on an invalid ack id", run: closesOn(`42abc["message-with-ack",1,"2",{"3":[false]}]`)},
	})
}

// ---- upgrade, Socket.IO suite versions ----

func sioUpgrade(t *testing.T, s *server) {
	sid := s.openPolling(sioPath)
	ws := s.dial(sioPath, "EIO=4&transport=websocket&sid="+sid)
	ws.sendText("2probe")
	ws.expectText("3probe")
	ws.sendText("5")
}

func sioUpgradeRefusesPolling(t *testing.T, s *server) {
	sid := s.openPolling(sioPath)
	ws := s.dial(sioPath, "EIO=4&transport=websocket&sid="+sid)
	ws.sendText("2probe")
	ws.sendText("5")
	expectStatus(t, "GET after the upgrade", s.get(sioPath, pollingQuery(sid)), http.StatusBadRequest, nil)
}

func sioUpgradeIgnoresSecondWebSocket(t *testing.T, s *server) {
	sid := s.openPolling(sioPath)
	ws := s.dial(sioPath, "EIO=4&transport=websocket&sid="+sid)
	ws.sendText("2probe")
	ws.sendText("5")
	s.expectIgnored(sioPath, "EIO=4&transport=websocket&sid="+sid)
}

// ---- connect ----

// connectTo opens a WebSocket session, sends CONNECT, and checks the reply
// (prefix then exactly {"sid": string}) and the "auth" event that follows.
func connectTo(t *testing.T, s *server, connect, replyPrefix, auth string) *wsConn {
	t.Helper()
	ws := s.openWebSocket(sioPath)
	ws.sendText(connect)
	checkSIDOnly(t, ws.readText(), replyPrefix)
	ws.expectText(auth)
	return ws
}

// connected is the suites' common start: a WebSocket session joined to "/".
func connected(t *testing.T, s *server) *wsConn {
	t.Helper()
	return connectTo(t, s, "40", "40", `42["auth",{}]`)
}

func connectMain(t *testing.T, s *server) {
	connectTo(t, s, "40", "40", `42["auth",{}]`)
}

func connectMainWithPayload(t *testing.T, s *server) {
	connectTo(t, s, `40{"token":"123"}`, "40", `42["auth",{"token":"123"}]`)
}

func connectCustom(t *testing.T, s *server) {
	connectTo(t, s, "40/custom,", "40/custom,", `42/custom,["auth",{}]`)
}

func connectCustomWithPayload(t *testing.T, s *server) {
	connectTo(t, s, `40/custom,{"token":"abc"}`, "40/custom,", `42/custom,["auth",{"token":"abc"}]`)
}

func connectUnknownNamespace(t *testing.T, s *server) {
	ws := s.openWebSocket(sioPath)
	ws.sendText("40/random") // no trailing comma
	ws.expectText(`44/random,{"message":"Invalid namespace"}`)
}

func connectInvalidHandshake(t *testing.T, s *server) {
	ws := s.openWebSocket(sioPath)
	ws.sendText("4abc")
	ws.expectClosed()
}

func connectNoHandshake(t *testing.T, s *server) {
	// No CONNECT and no pong: the server must close within the 2 s limit.
	s.dial(sioPath, "EIO=4&transport=websocket").expectClosed()
}

// ---- disconnect ----

func disconnectMain(t *testing.T, s *server) {
	ws := connected(t, s)
	ws.sendText("41")
	// The Engine.IO connection stays: the next frame is the server's ping.
	ws.expectText("2")
}

func disconnectCustom(t *testing.T, s *server) {
	ws := connected(t, s)
	ws.expectText("2") // a ping, left unanswered: 200 ms from here on
	ws.sendText("40/custom")
	ws.read() // CONNECT reply
	ws.read() // auth event
	ws.sendText("41/custom")
	ws.sendText(`42["message","message to main namespace"]`)
	ws.expectText(`42["message-back","message to main namespace"]`)
}

// ---- message ----

func messagePlainText(t *testing.T, s *server) {
	ws := connected(t, s)
	ws.sendText(`42["message",1,"2",{"3":[true]}]`)
	ws.expectText(`42["message-back",1,"2",{"3":[true]}]`)
}

// expectBinaryPacket reads three non-ping frames: header, then the
// attachments 01 02 03 and 04 05 06.
func expectBinaryPacket(t *testing.T, ws *wsConn, header string) {
	t.Helper()
	got := ws.readPackets(3)
	if got[0].binary || string(got[0].data) != header {
		t.Fatalf("got %v, want %q", got[0], header)
	}
	for i, want := range []string{"\x01\x02\x03", "\x04\x05\x06"} {
		if f := got[i+1]; !f.binary || string(f.data) != want {
			t.Fatalf("attachment %d: got %v, want binary frame %v", i, f, []byte(want))
		}
	}
}

func sendBinaryPacket(ws *wsConn, header string) {
	ws.sendText(header)
	ws.sendBinary([]byte{1, 2, 3})
	ws.sendBinary([]byte{4, 5, 6})
}

func messageBinary(t *testing.T, s *server) {
	ws := connected(t, s)
	sendBinaryPacket(ws, `452-["message",`+ph0+`,`+ph1+`]`)
	expectBinaryPacket(t, ws, `452-["message-back",`+ph0+`,`+ph1+`]`)
}

func messageAck(t *testing.T, s *server) {
	ws := connected(t, s)
	ws.sendText(`42456["message-with-ack",1,"2",{"3":[false]}]`)
	ws.expectText(`43456[1,"2",{"3":[false]}]`)
}

func messageBinaryAck(t *testing.T, s *server) {
	ws := connected(t, s)
	sendBinaryPacket(ws, `452-789["message-with-ack",`+ph0+`,`+ph1+`]`)
	expectBinaryPacket(t, ws, `462-789[`+ph0+`,`+ph1+`]`)
}

// closesOn checks that a connected client sending packet is disconnected.
func closesOn(packet string) func(t *testing.T, s *server) {
	return func(t *testing.T, s *server) {
		ws := connected(t, s)
		ws.sendText(packet)
		ws.expectClosed()
	}
}
