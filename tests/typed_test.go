package tests

import (
	"testing"

	"github.com/actorio/actorio"
)

// TestTypedHandler: actorio.On[T] decodes the first argument of an event
// sent by the official client into a struct, binary attachment included,
// and answers an event that does not decode with an error ack, without
// calling the handler.
func TestTypedHandler(t *testing.T) {
	type move struct {
		X, Y  int
		Note  string `json:"note"`
		Photo []byte `json:"photo"`
	}
	got := make(chan move, 4)
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			actorio.On(s, "move", func(s *actorio.Socket, m move, ack actorio.AckFunc) {
				got <- m
				if ack != nil {
					_ = ack(m.X + m.Y)
				}
			})
		})
	})
	c := startClients(t, ts)
	c.connect("a", "/", wsOnly)

	for _, tc := range []struct {
		name    string
		arg     any
		wantAck string // JSON of the ack's first argument
		want    *move
	}{
		{"struct", map[string]any{"X": 2, "Y": 3, "note": "go"}, `5`, &move{X: 2, Y: 3, Note: "go"}},
		{"binary field", map[string]any{"X": 1, "photo": []byte{0, 255}}, `1`, &move{X: 1, Photo: []byte{0, 255}}},
		{"wrong type", "north", `{"error":"argument 0: json: cannot unmarshal string into Go value of type tests.move"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := c.emitAck("a", "move", tc.arg)
			if !jsonEq(t, string(l.Args[2]), tc.wantAck) {
				t.Errorf("ack %s, want %s", l.Args[2], tc.wantAck)
			}
			if tc.want == nil {
				select {
				case m := <-got:
					t.Errorf("handler called with %+v", m)
				default:
				}
				return
			}
			m := recv(t, got, step, "the typed handler")
			if m.X != tc.want.X || m.Y != tc.want.Y || m.Note != tc.want.Note || string(m.Photo) != string(tc.want.Photo) {
				t.Errorf("handler got %+v, want %+v", m, *tc.want)
			}
		})
	}
}
