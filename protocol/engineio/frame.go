package engineio

import (
	"fmt"
	"unicode/utf8"
)

// DecodeFrame decodes the content of one WebSocket frame.
//
// A binary frame is always a binary Message whose Data is data itself. A
// text frame is a type character followed by UTF-8 data; the returned Data
// aliases data[1:] (nil when empty). Errors wrap [ErrMalformed].
func DecodeFrame(data []byte, binaryFrame bool) (Packet, error) {
	if binaryFrame {
		return Packet{Type: Message, Data: data, Binary: true}, nil
	}
	return decodeText(data)
}

// decodeText decodes a text-encoded packet (type character and data).
func decodeText(data []byte) (Packet, error) {
	if len(data) == 0 {
		return Packet{}, fmt.Errorf("empty packet: %w", ErrMalformed)
	}
	t, ok := typeFromChar(data[0])
	if !ok {
		return Packet{}, fmt.Errorf("unknown packet type %q: %w", data[0], ErrMalformed)
	}
	if !utf8.Valid(data[1:]) {
		return Packet{}, fmt.Errorf("invalid UTF-8 in %s packet: %w", t, ErrMalformed)
	}
	var d []byte
	if len(data) > 1 {
		d = data[1:]
	}
	return Packet{Type: t, Data: d}, nil
}

// AppendText appends the text encoding of p (type character then Data) to
// dst and returns the extended slice. It ignores p.Binary; binary messages
// are sent as binary frames whose content is p.Data alone.
func AppendText(dst []byte, p Packet) []byte {
	dst = append(dst, p.Type.Char())
	return append(dst, p.Data...)
}
