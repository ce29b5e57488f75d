package engineio

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Engine.IO version 3, spoken by Socket.IO v2 clients, differs from version
// 4 on the wire in two places: how a WebSocket frame carries binary data,
// and how a long-polling payload joins its packets. Packet types and text
// packets are the same.
//
// A v3 text payload writes each packet as its length, a colon, then the
// packet: "6:4hello2:40". The length counts UTF-16 code units, as
// JavaScript's string length does, so a character outside the Basic
// Multilingual Plane counts two. A binary message is written "b4" followed
// by the standard base64 of its data, the length counting those
// characters.
//
// A v3 binary payload, which a client that reads binary responses (XHR2)
// gets when binary messages are queued and sends with the content type
// application/octet-stream, writes each packet as one byte telling a text
// packet (0) from a binary one (1), the decimal digits of its length each
// as a byte of value 0 to 9, the byte 255, then the packet: a text packet
// as its type character and its UTF-8 data (the length counts bytes), a
// binary one as the byte 4 (the message type, as a number) and its data.
//
// On a WebSocket, a v3 binary frame starts with that same type byte, 4,
// before the data; a text frame may also carry a binary message in the
// "b4"+base64 form, for a client that cannot take binary frames.

// maxLengthDigits bounds the digits of a v3 payload length: more than
// enough for any payload held in memory, and no overflow.
const maxLengthDigits = 10

// AppendTextV3 appends the Engine.IO v3 text encoding of p to dst: a
// binary message as "b4" and the standard base64 of Data, any other
// packet as AppendText does.
func AppendTextV3(dst []byte, p Packet) []byte {
	if p.Binary && p.Type == Message {
		dst = append(dst, 'b', Message.Char())
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	return AppendText(dst, p)
}

// textLenV3 returns the number of bytes AppendTextV3 appends for p.
func textLenV3(p Packet) int {
	if p.Binary && p.Type == Message {
		return 2 + base64.StdEncoding.EncodedLen(len(p.Data))
	}
	return 1 + len(p.Data)
}

// unitsV3 returns the length of p's AppendTextV3 encoding in UTF-16 code
// units, which a v3 text payload writes before it.
func unitsV3(p Packet) int {
	if p.Binary && p.Type == Message {
		return textLenV3(p) // ASCII
	}
	return 1 + utf16Len(p.Data)
}

// utf16Len returns the number of UTF-16 code units of the UTF-8 text b, as
// JavaScript counts a string's length: two for a character outside the
// Basic Multilingual Plane, one for any other (an invalid byte included,
// which a decoder would replace by U+FFFD).
func utf16Len(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			n++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		i += size
		n++
		if r > 0xffff {
			n++
		}
	}
	return n
}

// AppendPayloadV3 appends the Engine.IO v3 text payload of pkts to dst:
// each packet as its length in UTF-16 code units, ':' and its
// AppendTextV3 encoding.
func AppendPayloadV3(dst []byte, pkts []Packet) []byte {
	for _, p := range pkts {
		dst = strconv.AppendInt(dst, int64(unitsV3(p)), 10)
		dst = append(dst, ':')
		dst = AppendTextV3(dst, p)
	}
	return dst
}

// PayloadV3Len returns the number of bytes AppendPayloadV3 would append
// for pkts.
func PayloadV3Len(pkts []Packet) int {
	total := 0
	for _, p := range pkts {
		total += decimalLen(unitsV3(p)) + 1 + textLenV3(p)
	}
	return total
}

// decimalLen returns the number of decimal digits of n >= 0.
func decimalLen(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// HasBinary reports whether pkts holds a binary message.
func HasBinary(pkts []Packet) bool {
	for _, p := range pkts {
		if p.Binary && p.Type == Message {
			return true
		}
	}
	return false
}

// AppendBinaryPayloadV3 appends the Engine.IO v3 binary payload of pkts to
// dst (see the package's v3 notes): what a client that reads binary
// responses gets when pkts holds a binary message.
func AppendBinaryPayloadV3(dst []byte, pkts []Packet) []byte {
	for _, p := range pkts {
		if p.Binary && p.Type == Message {
			dst = append(dst, 1)
			dst = appendLengthBytes(dst, 1+len(p.Data))
			dst = append(dst, 255, byte(Message))
			dst = append(dst, p.Data...)
			continue
		}
		dst = append(dst, 0)
		dst = appendLengthBytes(dst, 1+len(p.Data))
		dst = append(dst, 255)
		dst = AppendText(dst, p)
	}
	return dst
}

// BinaryPayloadV3Len returns the number of bytes AppendBinaryPayloadV3
// would append for pkts.
func BinaryPayloadV3Len(pkts []Packet) int {
	total := 0
	for _, p := range pkts {
		n := 1 + len(p.Data)
		total += 1 + decimalLen(n) + 1 + n
	}
	return total
}

// appendLengthBytes appends the decimal digits of n, each as a byte of
// value 0 to 9.
func appendLengthBytes(dst []byte, n int) []byte {
	var digits [20]byte
	i := len(digits)
	for {
		i--
		digits[i] = byte(n % 10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, digits[i:]...)
}

// DecodeFrameV3 decodes the content of one WebSocket frame of an Engine.IO
// v3 session: a binary frame is the message type byte (4) followed by the
// data, which the returned Data aliases; a text frame is a packet as
// DecodeFrame reads it, or a binary message as "b4" and base64 (decoded
// into a new slice). Errors wrap [ErrMalformed].
func DecodeFrameV3(data []byte, binaryFrame bool) (Packet, error) {
	if binaryFrame {
		if len(data) == 0 {
			return Packet{}, fmt.Errorf("empty binary frame: %w", ErrMalformed)
		}
		if data[0] != byte(Message) {
			return Packet{}, fmt.Errorf("binary frame of packet type %d: %w", data[0], ErrMalformed)
		}
		return Packet{Type: Message, Data: data[1:], Binary: true}, nil
	}
	return decodeRecordV3(data)
}

// decodeRecordV3 decodes one text-encoded v3 packet: "b4" and base64 for a
// binary message, otherwise a type character and UTF-8 data.
func decodeRecordV3(rec []byte) (Packet, error) {
	if len(rec) == 0 || rec[0] != 'b' {
		return decodeText(rec)
	}
	if len(rec) < 2 || rec[1] != Message.Char() {
		return Packet{}, fmt.Errorf("base64 packet that is not a message: %w", ErrMalformed)
	}
	enc := base64.StdEncoding
	data := make([]byte, enc.DecodedLen(len(rec)-2))
	n, err := enc.Decode(data, rec[2:])
	if err != nil {
		return Packet{}, fmt.Errorf("bad base64 (%w): %w", err, ErrMalformed)
	}
	return Packet{Type: Message, Data: data[:n], Binary: true}, nil
}

// DecodePayloadV3 decodes an Engine.IO v3 text payload (see
// AppendPayloadV3). A record of length zero ("0:") holds no packet and is
// skipped. Text packets alias body; binary ones get new Data.
//
// On a malformed payload it returns the packets decoded before the fault
// along with an error wrapping [ErrMalformed], so that a server may handle
// them before it closes the session, as Node's does. An empty body, a
// length that is not a decimal number, a record shorter than its length
// or cut inside a character, invalid UTF-8, an unknown type and bad
// base64 are malformed.
func DecodePayloadV3(body []byte) ([]Packet, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("empty payload: %w", ErrMalformed)
	}
	var pkts []Packet
	for i := 0; len(body) > 0; i++ {
		n, rest, err := readTextLength(body)
		if err != nil {
			return pkts, fmt.Errorf("record %d: %w", i, err)
		}
		k, err := utf16Prefix(rest, n)
		if err != nil {
			return pkts, fmt.Errorf("record %d: %w", i, err)
		}
		rec := rest[:k]
		body = rest[k:]
		if len(rec) == 0 {
			continue
		}
		p, err := decodeRecordV3(rec)
		if err != nil {
			return pkts, fmt.Errorf("record %d: %w", i, err)
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// readTextLength reads the decimal length and the colon that start a
// record of a v3 text payload.
func readTextLength(b []byte) (n int, rest []byte, err error) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		if i == maxLengthDigits {
			return 0, nil, fmt.Errorf("length of more than %d digits: %w", maxLengthDigits, ErrMalformed)
		}
		n = n*10 + int(b[i]-'0')
		i++
	}
	if i == 0 || i == len(b) || b[i] != ':' {
		return 0, nil, fmt.Errorf("record does not start with a length and ':': %w", ErrMalformed)
	}
	return n, b[i+1:], nil
}

// utf16Prefix returns the number of bytes of the UTF-8 text b that hold
// its first n UTF-16 code units. It fails when b is shorter, is not valid
// UTF-8 there, or would be cut between the two units of one character.
func utf16Prefix(b []byte, n int) (int, error) {
	i, units := 0, 0
	for units < n {
		if i == len(b) {
			return 0, fmt.Errorf("record shorter than its length %d: %w", n, ErrMalformed)
		}
		if b[i] < utf8.RuneSelf {
			i++
			units++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return 0, fmt.Errorf("invalid UTF-8: %w", ErrMalformed)
		}
		i += size
		units++
		if r > 0xffff {
			units++
		}
	}
	if units != n {
		return 0, fmt.Errorf("length %d cuts a character in two: %w", n, ErrMalformed)
	}
	return i, nil
}

// DecodeBinaryPayloadV3 decodes an Engine.IO v3 binary payload (see
// AppendBinaryPayloadV3), the body of a POST whose content type is
// application/octet-stream. Packets alias body, but for binary messages
// sent as base64 text.
//
// On a malformed payload it returns the packets decoded before the fault
// along with an error wrapping [ErrMalformed]: an empty body, a kind byte
// other than 0 and 1, a length without digits or with a byte over 9, a
// record shorter than its length, a text packet that DecodeFrameV3 would
// refuse, and a binary packet whose type byte is not 4.
func DecodeBinaryPayloadV3(body []byte) ([]Packet, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("empty payload: %w", ErrMalformed)
	}
	var pkts []Packet
	for i := 0; len(body) > 0; i++ {
		kind := body[0]
		if kind > 1 {
			return pkts, fmt.Errorf("record %d: kind byte %d: %w", i, kind, ErrMalformed)
		}
		n, j := 0, 1
		for ; j < len(body) && body[j] != 255; j++ {
			if body[j] > 9 || j > maxLengthDigits {
				return pkts, fmt.Errorf("record %d: bad length: %w", i, ErrMalformed)
			}
			n = n*10 + int(body[j])
		}
		if j == 1 || j == len(body) {
			return pkts, fmt.Errorf("record %d: bad length: %w", i, ErrMalformed)
		}
		rest := body[j+1:]
		if n > len(rest) {
			return pkts, fmt.Errorf("record %d: shorter than its length %d: %w", i, n, ErrMalformed)
		}
		rec := rest[:n]
		body = rest[n:]
		p, err := DecodeFrameV3(rec, kind == 1)
		if err != nil {
			return pkts, fmt.Errorf("record %d: %w", i, err)
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}
