package tests

import (
	"testing"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
)

// TestSocketLookupAndCloseConn: Namespace.Socket finds a connected socket
// by id (Node's namespace.sockets.get) and stops finding it once it ended;
// Socket.CloseConn closes the connection as Node's socket.conn.close():
// the server's socket ends with "forced close", the official client sees
// "transport close" and reconnects by itself.
func TestSocketLookupAndCloseConn(t *testing.T) {
	for _, tr := range []map[string]any{wsOnly, pollingOnly} {
		name := tr["transports"].([]string)[0]
		t.Run(name, func(t *testing.T) {
			dl := newDisconnectLog()
			var nsp *actorio.Namespace
			ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
				nsp = srv.Of("/")
				srv.OnConnection(func(s *actorio.Socket) {
					dl.watch(s)
					s.On("close-me", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) { s.CloseConn() })
				})
			})
			c := startClients(t, ts).on(t)
			id := c.connect("a", "/", tr)
			var s *actorio.Socket
			waitUntil(t, step, "the socket by id", func() bool {
				var ok bool
				s, ok = nsp.Socket(id)
				return ok
			})
			if s.ID() != id {
				t.Fatalf("Socket(%s) returned %s", id, s.ID())
			}
			if _, ok := nsp.Socket("no-such-id"); ok {
				t.Error("Socket found an id that does not exist")
			}
			if err := s.Emit("hello", 1); err != nil {
				t.Fatal(err)
			}
			c.expectEvent("a", "hello")

			c.emit("a", "close-me")
			if l := c.expect("disconnect", "a"); l.Arg(1) != "transport close" {
				t.Errorf("client disconnect reason %v, want transport close", l.Arg(1))
			}
			dl.expectOnce(t, dl.waitID(t, id).ID, disconnect.ForcedClose)
			if _, ok := nsp.Socket(id); ok {
				t.Error("Socket still finds the socket after its connection closed")
			}
			// The client reconnects by itself, with a new socket.
			again := c.expect("connect", "a").Arg(1).(string)
			if again == id {
				t.Errorf("reconnected with the same id %s", id)
			}
		})
	}
}
