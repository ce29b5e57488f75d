package tests

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/actorio/actorio"
)

// TestConnectNamespaces connects one client to "/" and "/admin" over one
// manager (the JS client multiplexes both namespaces on one Engine.IO
// session) and checks ids, handshake data and per-namespace routing.
func TestConnectNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      map[string]any
		transport string
	}{
		{"websocket", wsOnly, "websocket"},
		{"polling", pollingOnly, "polling"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type conn struct {
				nsp, id string
				hs      actorio.Handshake
			}
			conns := make(chan conn, 4)
			ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
				setup := func(s *actorio.Socket) {
					conns <- conn{s.Namespace().Name(), s.ID(), s.Handshake()}
					s.On("whoami", func(s *actorio.Socket, _ actorio.Args, ack actorio.AckFunc) {
						_ = ack(s.Namespace().Name(), s.ID())
					})
				}
				srv.OnConnection(setup)
				srv.Of("/admin").OnConnection(setup)
			})
			c := startClients(t, ts)
			opts := with(tc.opts,
				"query", map[string]any{"room": "lobby"},
				"extraHeaders", map[string]any{"x-actorio-test": "hello"})

			c.open("root", "/", opts)
			rootLine := c.expect("connect", "root").Values()
			c.open("admin", "/admin", with(opts, "auth", json.RawMessage(`{"token":"t-123","n":1}`)))
			adminLine := c.expect("connect", "admin").Values()
			rootID, adminID := rootLine[1].(string), adminLine[1].(string)
			for _, l := range [][]any{rootLine, adminLine} {
				if l[2] != tc.transport {
					t.Errorf("%s connected over %v, want %s", l[0], l[2], tc.transport)
				}
			}

			got := map[string]conn{}
			for range 2 {
				cn := recv(t, conns, step, "a connection handler")
				got[cn.nsp] = cn
			}
			root, admin := got["/"], got["/admin"]
			if root.id != rootID || admin.id != adminID {
				t.Errorf("server ids / = %q, /admin = %q; client ids %q, %q", root.id, admin.id, rootID, adminID)
			}
			if rootID == adminID || len(rootID) == 0 {
				t.Errorf("socket ids %q and %q should be distinct and non-empty", rootID, adminID)
			}

			// Both sockets ride the same manager and Engine.IO session.
			c.send(map[string]any{"op": "info", "name": "admin"})
			info := c.expect("info", "admin").Arg(1).(map[string]any)
			if !reflect.DeepEqual(info["sharesManagerWith"], []any{"root"}) {
				t.Errorf("admin socket shares its manager with %v, want [root]", info["sharesManagerWith"])
			}
			if root.hs.Time != admin.hs.Time || root.hs.URL != admin.hs.URL || root.hs.Address != admin.hs.Address {
				t.Errorf("namespaces see different handshakes: %+v vs %+v", root.hs, admin.hs)
			}

			for _, cn := range []conn{root, admin} {
				hs := cn.hs
				if q := hs.Query; q.Get("room") != "lobby" || q.Get("EIO") != "4" || q.Get("transport") != tc.transport {
					t.Errorf("%s: handshake query = %v", cn.nsp, q)
				}
				if h := hs.Headers.Get("X-Actorio-Test"); h != "hello" {
					t.Errorf("%s: header x-actorio-test = %q, want hello", cn.nsp, h)
				}
				if !strings.HasPrefix(hs.Address, "127.0.0.1:") {
					t.Errorf("%s: address %q", cn.nsp, hs.Address)
				}
				if want := strings.TrimPrefix(ts.URL, "http://"); hs.Host != want {
					t.Errorf("%s: host %q, want %q", cn.nsp, hs.Host, want)
				}
				if !strings.Contains(hs.URL, "/socket.io/") || hs.Secure || hs.Time.IsZero() {
					t.Errorf("%s: handshake URL %q secure %v time %v", cn.nsp, hs.URL, hs.Secure, hs.Time)
				}
			}
			if root.hs.Auth != nil {
				t.Errorf("/ auth = %s, want none", root.hs.Auth)
			}
			if got, want := string(admin.hs.Auth), `{"token":"t-123","n":1}`; got != want {
				t.Errorf("/admin auth = %s, want %s", got, want)
			}

			// Events reach the handler of their own namespace.
			for name, want := range map[string][]any{"root": {"/", rootID}, "admin": {"/admin", adminID}} {
				if got := c.emitAck(name, "whoami").Values()[2:]; !reflect.DeepEqual(got, want) {
					t.Errorf("whoami from %s = %v, want %v", name, got, want)
				}
			}

			// A namespace nobody created is refused; the others stay up.
			c.open("nope", "/nope", opts)
			l := c.expect("connect_error", "nope")
			if msg := l.Arg(1).(map[string]any)["message"]; msg != "Invalid namespace" {
				t.Errorf("connect_error for /nope: %s", l.Raw)
			}
			if got := c.emitAck("root", "whoami").Values()[2:]; !reflect.DeepEqual(got, []any{"/", rootID}) {
				t.Errorf("whoami after the refusal = %v", got)
			}
		})
	}
}
