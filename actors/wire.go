package actors

import (
	"fmt"
	"log/slog"

	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/protocol/engineio"
	"github.com/actorio/actorio/protocol/msgpack"
	"github.com/actorio/actorio/protocol/socketio"
)

// Parser is how a server's Socket.IO packets travel in Engine.IO
// messages; every connection of a server uses the same, as in Node.
type Parser uint8

const (
	// ParserJSON is Socket.IO's own: a text message, then one binary
	// message per attachment.
	ParserJSON Parser = iota
	// ParserMsgpack is the npm socket.io-msgpack-parser's: one binary
	// message per packet (package protocol/msgpack).
	ParserMsgpack
)

// SetParser sets the parser of the runtime's connections; it must be
// called before the first connection opens.
func (rt *Runtime) SetParser(p Parser) { rt.parser = p }

// The server works with packets in their text form (a frame, with JSON
// data whose binary placeholders point into attachments) everywhere:
// broadcasts, the recovery log and its offsets, other nodes, observers.
// The parser's form exists only at the connection's edge: packets turns
// a frame into Engine.IO messages just before they are queued (once per
// broadcast, whatever the number of receivers), and the inbound route
// turns a msgpack message into the text form as it reads it.

// send queues one Socket.IO packet on c (now: as gateway.Conn.SendNow
// does, else as Send) in the Engine.IO messages of the runtime's parser.
// The usual packet, one text message, goes without a slice made for it.
func (rt *Runtime) send(c *gateway.Conn, now bool, frame []byte, atts [][]byte) error {
	if len(atts) == 0 && rt.parser != ParserMsgpack {
		pkt := engineio.Packet{Type: engineio.Message, Data: frame}
		if now {
			return c.SendNow(pkt)
		}
		return c.Send(pkt)
	}
	pkts := rt.packets(frame, atts)
	if now {
		return c.SendNow(pkts...)
	}
	return c.Send(pkts...)
}

// packets wraps one Socket.IO packet into the Engine.IO messages of the
// runtime's parser. A frame msgpack cannot carry (a bug: the server makes
// its frames) is logged and yields no message.
func (rt *Runtime) packets(frame []byte, atts [][]byte) []engineio.Packet {
	if rt.parser != ParserMsgpack {
		return framePackets(frame, atts)
	}
	b, err := msgpack.AppendFrame(make([]byte, 0, msgpack.FrameSize(frame, atts)), frame, atts)
	if err != nil {
		rt.log.Error("actorio: packet not sent: msgpack cannot carry it", slog.Any("err", err))
		return nil
	}
	return []engineio.Packet{{Type: engineio.Message, Data: b, Binary: true}}
}

// decodeMsgpack reads one Engine.IO message of a msgpack connection: a
// whole Socket.IO packet, in the text form the route handles.
func (r *inbound) decodeMsgpack(m engineio.Packet) (socketio.Packet, [][]byte, error) {
	if !m.Binary {
		return socketio.Packet{}, nil, fmt.Errorf("text message on a msgpack connection")
	}
	pkt, atts, err := msgpack.Decode(m.Data)
	if err != nil {
		return pkt, nil, fmt.Errorf("decode msgpack packet: %w", err)
	}
	if max := r.a.opts.MaxAttachmentBytes; max > 0 {
		var n int64
		for _, a := range atts {
			n += int64(len(a))
		}
		if n > max {
			return pkt, nil, fmt.Errorf("binary data over %d bytes", max)
		}
	}
	return pkt, atts, nil
}
