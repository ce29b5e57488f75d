package disconnect_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/actorio/actorio/disconnect"
)

// TestReasonsMatchNode checks that every disconnect reason the Node
// reference server and client declare has a constant here, spelt the same.
func TestReasonsMatchNode(t *testing.T) {
	server := []disconnect.Reason{
		disconnect.TransportClose, disconnect.TransportError, disconnect.PingTimeout,
		disconnect.ParseError, disconnect.ForcedClose, disconnect.ForcedServerClose,
		disconnect.ServerNamespaceDisconnect, disconnect.ClientNamespaceDisconnect,
		disconnect.ServerShuttingDown,
	}
	client := []disconnect.Reason{
		disconnect.IOServerDisconnect, disconnect.IOClientDisconnect, disconnect.PingTimeout,
		disconnect.TransportClose, disconnect.TransportError, disconnect.ParseError,
	}
	tests := []struct {
		name, file string
		ours       []disconnect.Reason
	}{
		{"server", "socket.io/dist/socket-types.d.ts", server},
		{"client", "socket.io-client/build/esm/socket.d.ts", client},
	}
	union := regexp.MustCompile(`type DisconnectReason = ([^;]+);`)
	member := regexp.MustCompile(`"([^"]+)"`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("..", "node_modules", tc.file))
			if err != nil {
				t.Skipf("Node reference not installed (npm ci): %v", err)
			}
			m := union.FindSubmatch(src)
			if m == nil {
				t.Fatalf("%s: no DisconnectReason union", tc.file)
			}
			var theirs []string
			for _, s := range member.FindAllSubmatch(m[1], -1) {
				theirs = append(theirs, string(s[1]))
			}
			slices.Sort(theirs)
			ours := slices.Sorted(slices.Values(tc.ours))
			if !slices.Equal(ours, theirs) {
				t.Errorf("reasons:\n ours  %q\n Node's %q", ours, theirs)
			}
		})
	}
}
