// Package chatdemo is the chat demo of cmd/demo (and cmd/clusterdemo) as a
// package, so that tests can serve it in-process: [Register] installs its
// Socket.IO events on a server, [Handler] (or [NewHandler]) serves them
// together with the page and the server's Prometheus metrics at /metrics,
// and [Serve] runs that until SIGINT or SIGTERM. [InstrumentAdmin] adds the
// admin namespace of package admin, and NewHandler can serve the admin
// dashboard's files; [FindClientDir] and [FindAdminUI] find what `npm ci`
// installed.
//
// Events: "join" (room name; acked with the room and the socket's rooms,
// and announced to the room as "joined"), "chat" (text; sent to the
// sender's rooms, except the sender, and acked with whether it had any)
// and "echo" (acked with its arguments unchanged, binary included; the
// page's "Echo file" form uses it).
//
// The page joins [DefaultRoom] as soon as it connects, so that pages chat
// before anyone picks a room; joining any other room leaves DefaultRoom, so
// that a page that picked rooms hears only those. Rooms other than
// DefaultRoom add up: a socket may be in several, and its chat goes to all.
package chatdemo

import (
	"github.com/actorio/actorio"
)

// DefaultRoom is the room the page joins on connecting and leaves when it
// joins another.
const DefaultRoom = "lobby"

// Register installs the demo's chat events on the namespace "/".
func Register(srv *actorio.Server) {
	srv.OnConnection(func(s *actorio.Socket) {
		s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			room := args.String(0)
			if room == "" {
				if ack != nil {
					_ = ack(map[string]string{"error": "room name required"})
				}
				return
			}
			if room != DefaultRoom {
				s.Leave(DefaultRoom)
			}
			s.Join(room)
			_ = s.To(room).Emit("joined", map[string]string{"id": s.ID(), "room": room})
			if ack != nil {
				_ = ack(map[string]any{"room": room, "rooms": s.Rooms()})
			}
		})
		s.On("chat", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			text := args.String(0)
			var rooms []string
			for _, r := range s.Rooms() {
				if r != s.ID() {
					rooms = append(rooms, r)
				}
			}
			if len(rooms) > 0 && text != "" {
				_ = s.To(rooms...).Emit("chat", map[string]string{"from": s.ID(), "text": text})
			}
			if ack != nil {
				_ = ack(len(rooms) > 0)
			}
		})
		s.On("echo", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			if ack != nil {
				_ = ack(args.Values()...)
			}
		})
	})
}
