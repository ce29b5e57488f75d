package actors

import "github.com/actorio/actorio/disconnect"

// Disconnect reasons, as Socket.IO v4 servers report them: the names this
// package uses for the disconnect package's constants.
const (
	ReasonTransportClose            = disconnect.TransportClose
	ReasonTransportError            = disconnect.TransportError
	ReasonPingTimeout               = disconnect.PingTimeout
	ReasonParseError                = disconnect.ParseError
	ReasonForcedClose               = disconnect.ForcedClose
	ReasonForcedServerClose         = disconnect.ForcedServerClose
	ReasonServerNamespaceDisconnect = disconnect.ServerNamespaceDisconnect
	ReasonClientNamespaceDisconnect = disconnect.ClientNamespaceDisconnect
	ReasonServerShuttingDown        = disconnect.ServerShuttingDown
	ReasonHandlerPanic              = disconnect.HandlerPanic
	ReasonSlowConsumer              = disconnect.SlowConsumer
)
