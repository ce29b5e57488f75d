package actorio

import "github.com/actorio/actorio/protocol/socketio"

// Args are the arguments of a received event or acknowledgement: raw JSON
// values plus the binary attachments their placeholders point to.
type Args = socketio.Args

// Object is a JSON object that keeps its key order.
type Object = socketio.Object

func newArgs(data []byte, atts [][]byte, skip int) (Args, error) {
	return socketio.NewArgs(data, atts, skip)
}
