package actorio

import (
	"time"

	"github.com/actorio/actorio/actors"
)

// Defaults of ConnectionStateRecovery.
const (
	// DefaultMaxDisconnectionDuration is the default
	// ConnectionStateRecovery.MaxDisconnectionDuration.
	DefaultMaxDisconnectionDuration = 2 * time.Minute
	// DefaultRecoveryMaxPackets is the default ConnectionStateRecovery.MaxPackets.
	DefaultRecoveryMaxPackets = 10000
	// DefaultRecoveryMaxBytes is the default ConnectionStateRecovery.MaxBytes.
	DefaultRecoveryMaxBytes = 64 << 20
)

// ConnectionStateRecovery configures connection state recovery (Socket.IO
// v4.6+): a client that loses its connection and reconnects within
// MaxDisconnectionDuration gets the same socket id, its rooms and its Data
// back, and every packet emitted to it meanwhile, in order and once.
//
// Each namespace logs the events it sends that ask for no ack and are not
// volatile (broadcasts and Socket.Emit), appending an offset string as the
// event's last argument; clients send the offset of the last event they
// got when they reconnect. With Options.BindSessionToAddress, a session is
// restored only for a client at the IP address it had. A socket ending with a reason where the client
// did not leave by choice (transport close or error, ping timeout, forced
// close, slow consumer, server shutting down) keeps its session. On a
// restored socket Recovered reports true and the connection handlers run
// again.
//
// The log is per namespace and shared by its sockets: a broadcast is logged
// once, whatever the number of receivers. It keeps entries for
// MaxDisconnectionDuration within MaxPackets and MaxBytes; a client whose
// missed packets are no longer all in the log gets a new session, as when
// recovery is off. Packets with acks and volatile packets are not logged
// (an ack callback cannot outlive its socket).
//
// With recovery on, a packet that asks for no ack is given its offset and
// queued to its receivers in one hold of the namespace's lock, so that
// every client gets the log in its order; no actor hop is added.
type ConnectionStateRecovery struct {
	// MaxDisconnectionDuration is how long a disconnected session can be
	// restored. Default 2 minutes.
	MaxDisconnectionDuration time.Duration
	// RunMiddlewares runs the namespace middleware again for a restored
	// socket; by default it is skipped, the socket having passed it before.
	RunMiddlewares bool
	// MaxPackets bounds the packets each namespace logs. Default 10000;
	// negative means unlimited.
	MaxPackets int
	// MaxBytes bounds the bytes of the packets each namespace logs,
	// attachments included. Default 64 MiB; negative means unlimited.
	MaxBytes int64
}

// actors returns the configuration of the namespace actors, defaults
// applied; nil when recovery is off.
func (c *ConnectionStateRecovery) actors(bindAddress bool) *actors.Recovery {
	if c == nil {
		return nil
	}
	r := &actors.Recovery{
		MaxDisconnectionDuration: c.MaxDisconnectionDuration,
		SkipMiddlewares:          !c.RunMiddlewares,
		MaxPackets:               c.MaxPackets,
		MaxBytes:                 c.MaxBytes,
		BindAddress:              bindAddress,
	}
	if r.MaxDisconnectionDuration == 0 {
		r.MaxDisconnectionDuration = DefaultMaxDisconnectionDuration
	}
	switch {
	case r.MaxPackets == 0:
		r.MaxPackets = DefaultRecoveryMaxPackets
	case r.MaxPackets < 0:
		r.MaxPackets = 0 // actors.Recovery: zero is no bound
	}
	switch {
	case r.MaxBytes == 0:
		r.MaxBytes = DefaultRecoveryMaxBytes
	case r.MaxBytes < 0:
		r.MaxBytes = 0
	}
	return r
}
