package actorio_test

import (
	"errors"
	"testing"

	"github.com/actorio/actorio"
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
		{disconnect.TransportClose, []string{disconnect.TransportClose, disconnect.TransportClose, disconnect.TransportClose}},
		{disconnect.TransportError, []string{disconnect.TransportError, disconnect.TransportError, disconnect.TransportError}},
		{disconnect.PingTimeout, []string{disconnect.PingTimeout, disconnect.PingTimeout, disconnect.PingTimeout}},
		{disconnect.ParseError, []string{disconnect.ParseError, disconnect.ParseError, disconnect.ParseError}},
		{disconnect.ForcedClose, []string{disconnect.ForcedClose, disconnect.ForcedClose}},
		{disconnect.ForcedServerClose, []string{disconnect.ForcedServerClose, disconnect.ForcedServerClose}},
		{disconnect.ServerNamespaceDisconnect, []string{disconnect.ServerNamespaceDisconnect}},
		{disconnect.ClientNamespaceDisconnect, []string{disconnect.ClientNamespaceDisconnect}},
		{disconnect.ServerShuttingDown, []string{disconnect.ServerShuttingDown}},
		{disconnect.HandlerPanic, []string{disconnect.HandlerPanic}},
		{disconnect.SlowConsumer, []string{disconnect.SlowConsumer, disconnect.SlowConsumer}},
		{disconnect.IOServerDisconnect, []string{disconnect.IOServerDisconnect}},
		{disconnect.IOClientDisconnect, []string{disconnect.IOClientDisconnect}},
	}
	for _, tc := range tests {
		for i, got := range tc.got {
			if got != tc.want {
				t.Errorf("%q: name %d is %q", tc.want, i, got)
			}
		}
	}
}
