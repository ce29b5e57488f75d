package actors

// Disconnect reasons, as Socket.IO v4 servers report them.
const (
	ReasonTransportClose            = "transport close"
	ReasonTransportError            = "transport error"
	ReasonPingTimeout               = "ping timeout"
	ReasonParseError                = "parse error"
	ReasonForcedClose               = "forced close"
	ReasonForcedServerClose         = "forced server close"
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
	ReasonServerShuttingDown        = "server shutting down"
	ReasonHandlerPanic              = "handler panic"
	ReasonSlowConsumer              = "slow consumer"
)
