package socketio

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// PacketType is the type of a Socket.IO packet, written as a single decimal digit on the wire.
type PacketType byte

// Socket.IO packet types.
const (
	// Connect requests (client) or confirms (server) the connection to a namespace.
	Connect PacketType = iota
	// Disconnect leaves a namespace.
	Disconnect
	// Event carries an event name and its arguments, optionally with an ack id.
	Event
	// Ack carries the response arguments to an event sent with an ack id.
	Ack
	// ConnectError refuses the connection to a namespace.
	ConnectError
	// BinaryEvent is an Event whose arguments reference binary attachments.
	BinaryEvent
	// BinaryAck is an Ack whose arguments reference binary attachments.
	BinaryAck
)

// MaxAttachments is the largest binary attachment count accepted in a packet header.
//
// It bounds the memory a peer can make the receiver reserve for pending
// attachments; real applications send far fewer buffers per packet.
const MaxAttachments = 1000

// maxDigits is the longest run of digits accepted for an ack id or attachment
// count: the length of the decimal form of math.MaxUint64.
const maxDigits = 20

// String returns the protocol name of t, such as "EVENT", or "PacketType(N)" for an unknown value.
func (t PacketType) String() string {
	switch t {
	case Connect:
		return "CONNECT"
	case Disconnect:
		return "DISCONNECT"
	case Event:
		return "EVENT"
	case Ack:
		return "ACK"
	case ConnectError:
		return "CONNECT_ERROR"
	case BinaryEvent:
		return "BINARY_EVENT"
	case BinaryAck:
		return "BINARY_ACK"
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the seven packet types defined by the protocol.
func (t PacketType) Valid() bool { return t <= BinaryAck }

// IsBinary reports whether t announces binary attachments (BINARY_EVENT or BINARY_ACK).
func (t PacketType) IsBinary() bool { return t == BinaryEvent || t == BinaryAck }

// allowsID reports whether packets of type t may carry an ack id.
func (t PacketType) allowsID() bool {
	return t == Event || t == Ack || t == BinaryEvent || t == BinaryAck
}

// Packet is one decoded Socket.IO packet header plus its raw JSON payload.
type Packet struct {
	// Type is the packet type.
	Type PacketType
	// Namespace is the namespace the packet belongs to; "/" when absent on the wire.
	Namespace string
	// ID is the ack id, valid only when HasID is true.
	ID uint64
	// HasID reports whether the packet carries an ack id.
	HasID bool
	// Data is the raw JSON payload exactly as received, or nil when absent.
	// Decode returns a sub-slice of its input (with capacity clipped to its length).
	Data []byte
	// Attachments is the number of binary attachments announced (BINARY_EVENT and BINARY_ACK only).
	Attachments int
}

// Decode parses the text part of a Socket.IO packet (without Engine.IO's leading '4').
//
// Every error wraps ErrMalformed. Decode rejects: empty input; an unknown
// type digit; an attachment count that is missing, not followed by '-',
// longer than 20 digits or above MaxAttachments on a binary type, or present
// on a non-binary type; a namespace not starting with '/'; an ack id longer
// than 20 digits, overflowing uint64, present on a type other than EVENT, ACK,
// BINARY_EVENT and BINARY_ACK, or missing on ACK and BINARY_ACK; input that is
// not valid UTF-8; a payload that is not valid JSON or has the wrong shape for
// the type: EVENT and BINARY_EVENT need an array whose first element is a
// string or a number, ACK and BINARY_ACK need an array, CONNECT takes no payload or an
// object, CONNECT_ERROR needs an object or a string, and DISCONNECT takes no
// payload. A namespace with no trailing comma extends to the end of the input
// ("0/custom"). Reserved event names are not checked (see
// HasReservedName), nor are binary
// placeholders (see CheckPlaceholders). Leading zeros in numbers are accepted;
// the payload must start right after the header but may end with JSON
// whitespace, and json.Valid limits its nesting to 10000 levels.
//
// Decode does not allocate, except for the Namespace string when it is not "/".
func Decode(text []byte) (Packet, error) {
	p := Packet{Namespace: "/"}
	if len(text) == 0 {
		return p, fmt.Errorf("%w: empty packet", ErrMalformed)
	}
	c := text[0]
	if c < '0' || c > '0'+byte(BinaryAck) {
		return p, fmt.Errorf("%w: unknown packet type %q", ErrMalformed, c)
	}
	p.Type = PacketType(c - '0')
	if !utf8.Valid(text) {
		return p, fmt.Errorf("%w: %s packet is not valid UTF-8", ErrMalformed, p.Type)
	}
	i := 1

	// Attachment count.
	j := digitRun(text, i)
	if p.Type.IsBinary() {
		if j == i {
			return p, fmt.Errorf("%w: %s packet without attachment count", ErrMalformed, p.Type)
		}
		if j >= len(text) || text[j] != '-' {
			return p, fmt.Errorf("%w: %s attachment count not followed by '-'", ErrMalformed, p.Type)
		}
		n, ok := parseDecimal(text[i:j], MaxAttachments)
		if !ok {
			return p, fmt.Errorf("%w: attachment count (%d digits) exceeds %d", ErrMalformed, j-i, MaxAttachments)
		}
		p.Attachments = int(n)
		i = j + 1
	} else if j < len(text) && text[j] == '-' {
		return p, fmt.Errorf("%w: attachment count on non-binary %s packet", ErrMalformed, p.Type)
	}
	header := i

	// Namespace.
	if i < len(text) && text[i] == '/' {
		ns := text[i:]
		if k := bytes.IndexByte(ns, ','); k >= 0 {
			ns = ns[:k]
			i += k + 1
		} else {
			i = len(text)
		}
		if len(ns) > 1 {
			p.Namespace = string(ns)
		}
	}

	// Ack id.
	if j := digitRun(text, i); j > i {
		if !p.Type.allowsID() {
			return p, fmt.Errorf("%w: ack id on %s packet", ErrMalformed, p.Type)
		}
		id, ok := parseDecimal(text[i:j], math.MaxUint64)
		if !ok {
			return p, fmt.Errorf("%w: ack id (%d digits) overflows uint64", ErrMalformed, j-i)
		}
		p.ID, p.HasID = id, true
		i = j
	}

	// Payload.
	if i < len(text) {
		switch text[i] {
		case '[', '{', '"':
			p.Data = text[i:len(text):len(text)]
		default:
			if i == header {
				// Nothing but the header precedes: this is where a namespace would start.
				return p, fmt.Errorf("%w: namespace must start with '/', found %q", ErrMalformed, text[i])
			}
			return p, fmt.Errorf("%w: unexpected %q before %s payload", ErrMalformed, text[i], p.Type)
		}
	}
	if err := checkPayload(&p); err != nil {
		return p, err
	}
	return p, nil
}

// checkPayload validates the presence, shape and JSON well-formedness of p.Data for p.Type.
func checkPayload(p *Packet) error {
	d := p.Data
	var first byte
	if len(d) > 0 {
		first = d[0]
	}
	switch p.Type {
	case Connect:
		if d != nil && first != '{' {
			return fmt.Errorf("%w: CONNECT payload must be a JSON object", ErrMalformed)
		}
	case Disconnect:
		if d != nil {
			return fmt.Errorf("%w: DISCONNECT packet must not have a payload", ErrMalformed)
		}
	case ConnectError:
		if first != '{' && first != '"' {
			return fmt.Errorf("%w: CONNECT_ERROR payload must be a JSON object or string", ErrMalformed)
		}
	case Event, BinaryEvent:
		if first != '[' {
			return fmt.Errorf("%w: %s payload must be a JSON array", ErrMalformed, p.Type)
		}
	case Ack, BinaryAck:
		if !p.HasID {
			return fmt.Errorf("%w: %s packet without ack id", ErrMalformed, p.Type)
		}
		if first != '[' {
			return fmt.Errorf("%w: %s payload must be a JSON array", ErrMalformed, p.Type)
		}
	}
	if d == nil {
		return nil
	}
	if !validJSON(d) {
		return fmt.Errorf("%w: %s payload: %w", ErrMalformed, p.Type, ErrInvalidJSON)
	}
	if p.Type == Event || p.Type == BinaryEvent {
		// The official parser takes a number as event name too.
		if k := skipSpace(d, 1); k >= len(d) || (d[k] != '"' && !isNumberStart(d[k])) {
			return fmt.Errorf("%w: %s payload must start with a string or number event name", ErrMalformed, p.Type)
		}
	}
	return nil
}

// AppendEncode appends the wire text of p to dst and returns the extended slice.
//
// It writes the type digit, the attachment count and '-' for binary types,
// the namespace followed by ',' unless it is "" or "/", the ack id when HasID
// is set, and p.Data verbatim. It does not validate p: encoding a packet that
// Decode would reject (for example a namespace containing ',') produces text
// that does not decode back to p.
func AppendEncode(dst []byte, p Packet) []byte {
	dst = strconv.AppendUint(dst, uint64(p.Type), 10)
	if p.Type.IsBinary() {
		dst = strconv.AppendInt(dst, int64(p.Attachments), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// digitRun returns the index of the first non-digit byte of b at or after i.
func digitRun(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// parseDecimal parses the decimal digits in b, reporting false when b is
// empty, longer than maxDigits, contains a non-digit or exceeds limit.
func parseDecimal(b []byte, limit uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > maxDigits {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (limit-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
