package actorio_test

import (
	"errors"
	"testing"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/gateway"
)

// TestOneErrServerClosed checks that the packages share one ErrServerClosed,
// so that errors.Is matches it whichever layer reported it.
func TestOneErrServerClosed(t *testing.T) {
	if !errors.Is(gateway.ErrServerClosed, actorio.ErrServerClosed) || !errors.Is(actorio.ErrServerClosed, disconnect.ErrServerClosed) {
		t.Errorf("gateway %q, actorio %q, disconnect %q: not one value",
			gateway.ErrServerClosed, actorio.ErrServerClosed, disconnect.ErrServerClosed)
	}
}

// TestReasonNames checks that each package's name for a reason is the
// disconnect package's string.
func TestReasonNames(t *testing.T) {
	tests := []struct {
		want disconnect.Reason
		got  []string
	}{
		{disconnect.TransportClose, []string{actorio.ReasonTransportClose, gateway.ReasonTransportClose, client.ReasonTransportClose}},
		{disconnect.TransportError, []string{actorio.ReasonTransportError, gateway.ReasonTransportError, client.ReasonTransportError}},
		{disconnect.PingTimeout, []string{actorio.ReasonPingTimeout, gateway.ReasonPingTimeout, client.ReasonPingTimeout}},
		{disconnect.ParseError, []string{actorio.ReasonParseError, gateway.ReasonParseError, client.ReasonParseError}},
		{disconnect.ForcedClose, []string{actorio.ReasonForcedClose, gateway.ReasonForcedClose}},
		{disconnect.ForcedServerClose, []string{actorio.ReasonForcedServerClose, gateway.ReasonForcedServerClose}},
		{disconnect.ServerNamespaceDisconnect, []string{actorio.ReasonServerNamespaceDisconnect}},
		{disconnect.ClientNamespaceDisconnect, []string{actorio.ReasonClientNamespaceDisconnect}},
		{disconnect.ServerShuttingDown, []string{actorio.ReasonServerShuttingDown}},
		{disconnect.HandlerPanic, []string{actorio.ReasonHandlerPanic}},
		{disconnect.SlowConsumer, []string{actorio.ReasonSlowConsumer, gateway.ReasonSlowConsumer}},
		{disconnect.IOServerDisconnect, []string{client.ReasonIOServerDisconnect}},
		{disconnect.IOClientDisconnect, []string{client.ReasonIOClientDisconnect}},
	}
	for _, tc := range tests {
		for i, got := range tc.got {
			if got != tc.want {
				t.Errorf("%q: name %d is %q", tc.want, i, got)
			}
		}
	}
}
