package actors

// In-process messages: plain Go values, carrying what their receiver
// talks to. Protobuf (package proto) is for what crosses nodes.

// InboundEvent is an EVENT or BINARY_EVENT a client sent, on its way from
// the connection's inbound route to its socket actor.
type InboundEvent struct {
	// Data is the event's JSON array (event name first), valid JSON.
	Data []byte
	// Attachments are the binary attachments of a BINARY_EVENT.
	Attachments [][]byte
	// ID is the ack id the client asked for, when HasID is set.
	ID    uint64
	HasID bool
}

// endSocket asks a socket actor to end its socket with reason; notify
// sends the client a DISCONNECT packet first, closeTransport then closes
// the whole connection. Sent to a connection actor, it closes the
// connection at a socket's request (Socket.Disconnect(true)). err is the
// error the transport ended with, if any (SocketRef.Description).
type endSocket struct {
	reason                 string
	notify, closeTransport bool
	err                    error
}

// transportClosed tells a connection actor that its transport ended,
// with the error the gateway gave, if any.
type transportClosed struct {
	reason string
	err    error
}

// connectTimeout tells a connection actor that its connect timeout passed.
type connectTimeout struct{}

// socketReady tells a namespace supervisor that its socket id passed its
// middleware and is in its rooms.
type socketReady struct{ id string }

// recoverySweep makes a namespace supervisor drop the expired sessions
// and log entries of connection state recovery.
type recoverySweep struct{}

// claimTimeout ends the wait of req, the restore request of the session
// with private id pid (see namespaceActor.deferSpawn), if it still waits:
// a later request for the same session has its own timeout.
type claimTimeout struct {
	pid string
	req *spawnSocket
}

// drain asks a namespace supervisor to disconnect every socket with
// reason and to answer drained once none is left.
type drain struct{ reason string }

// drained answers drain.
type drained struct{}
