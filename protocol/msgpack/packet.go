package msgpack

import (
	"fmt"
	"math"
	"sync"

	"github.com/actorio/actorio/protocol/socketio"
)

// fixups keeps the encoders' scratch lists of container headers.
var fixups = sync.Pool{New: func() any { return new([]fixup) }}

// AppendPacket appends the msgpack form of p to dst and returns the
// extended slice. p.Data is JSON (or nil: no "data" key) whose binary
// placeholders point into atts; p.Attachments is not read. BINARY_EVENT
// and BINARY_ACK are written as type 2 and 3, as the npm parser knows no
// other, and the namespace "" as "/". The keys come in the order Node's
// server writes them: "id" first in an ACK, after "data" in an EVENT.
//
// The error wraps socketio.ErrMalformed when p.Data is not one JSON value
// or p.Type is not a packet type; dst is then returned unchanged.
func AppendPacket(dst []byte, p socketio.Packet, atts [][]byte) ([]byte, error) {
	t := p.Type
	switch t {
	case socketio.BinaryEvent:
		t = socketio.Event
	case socketio.BinaryAck:
		t = socketio.Ack
	}
	if !t.Valid() {
		return dst, fmt.Errorf("%w: packet type %d", socketio.ErrMalformed, p.Type)
	}
	n := byte(2)
	if p.Data != nil {
		n++
	}
	if p.HasID {
		n++
	}
	start := len(dst)
	fix := fixups.Get().(*[]fixup)
	defer fixups.Put(fix)
	e := encoder{in: p.Data, atts: atts, out: dst, fix: (*fix)[:0]}
	defer func() { *fix = e.fix[:0] }()
	e.out = append(e.out, 0x80|n)
	if p.HasID && t == socketio.Ack {
		e.out = appendUint(append(e.out, 0xa2, 'i', 'd'), p.ID)
	}
	e.out = append(e.out, 0xa4, 't', 'y', 'p', 'e', byte(t))
	if p.Data != nil {
		e.out = append(e.out, 0xa4, 'd', 'a', 't', 'a')
		end, err := e.value(0, 0)
		if err == nil && skipSpace(p.Data, end) != len(p.Data) {
			err = errJSON(end, "data after the value")
		}
		if err != nil {
			return dst[:start], fmt.Errorf("msgpack: %s data: %w", p.Type, err)
		}
	}
	if p.HasID && t != socketio.Ack {
		e.out = appendUint(append(e.out, 0xa2, 'i', 'd'), p.ID)
	}
	nsp := p.Namespace
	if nsp == "" {
		nsp = "/"
	}
	e.out = appendStr(append(e.out, 0xa3, 'n', 's', 'p'), nsp)
	e.finish()
	return e.out, nil
}

// AppendFrame appends the msgpack form of frame, a Socket.IO packet in
// the text form socketio.AppendEncode writes, and its attachments: the
// frame's header is read, not checked beyond what the translation needs,
// and its JSON is checked as it is translated.
func AppendFrame(dst []byte, frame []byte, atts [][]byte) ([]byte, error) {
	p, err := parseFrame(frame)
	if err != nil {
		return dst, err
	}
	return AppendPacket(dst, p, atts)
}

// FrameSize returns a capacity that holds the msgpack form of frame and
// atts in most cases (a string with many escapes may need more).
func FrameSize(frame []byte, atts [][]byte) int {
	n := len(frame) + 24
	for _, a := range atts {
		n += len(a) + 5
	}
	return n
}

// parseFrame reads the header of a text Socket.IO packet:
// <type>[<n>-][<namespace>,][<id>]<data>.
func parseFrame(b []byte) (socketio.Packet, error) {
	p := socketio.Packet{Namespace: "/"}
	if len(b) == 0 || b[0] < '0' || b[0] > '0'+byte(socketio.BinaryAck) {
		return p, fmt.Errorf("%w: frame without a packet type", socketio.ErrMalformed)
	}
	p.Type = socketio.PacketType(b[0] - '0')
	i := 1
	if p.Type.IsBinary() {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == 1 || i >= len(b) || b[i] != '-' {
			return p, fmt.Errorf("%w: %s frame without attachment count", socketio.ErrMalformed, p.Type)
		}
		i++
	}
	if i < len(b) && b[i] == '/' {
		j := i
		for j < len(b) && b[j] != ',' {
			j++
		}
		if ns := b[i:j]; len(ns) > 1 {
			p.Namespace = string(ns)
		}
		i = min(j+1, len(b))
	}
	if i < len(b) && b[i] >= '0' && b[i] <= '9' {
		var id uint64
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			d := uint64(b[i] - '0')
			if id > (math.MaxUint64-d)/10 {
				return p, fmt.Errorf("%w: ack id overflows uint64", socketio.ErrMalformed)
			}
			id = id*10 + d
		}
		p.ID, p.HasID = id, true
	}
	if i < len(b) {
		p.Data = b[i:]
	}
	return p, nil
}

// Decode reads one msgpack Socket.IO packet. The packet's Data is JSON in
// which each binary value is a placeholder for its attachment, returned in
// order (sub-slices of b); an EVENT or ACK with binary data is returned as
// BINARY_EVENT or BINARY_ACK with its attachment count set.
//
// It accepts what the npm parser's decoder accepts: a map whose "type" is
// an integer from 0 to 4, whose "nsp" is a string and whose "data" fits
// the type (CONNECT: none or a map, DISCONNECT: none, CONNECT_ERROR: a map
// or a string, EVENT and ACK: an array), with an "id" that is an integer
// when present; and, as the text parser does, it also refuses an EVENT
// whose array does not start with a string or number event name, an ACK
// without id, and a negative id. An id on another type is ignored. Every
// error wraps socketio.ErrMalformed.
func Decode(b []byte) (socketio.Packet, [][]byte, error) {
	var p socketio.Packet
	d := decoder{in: b}
	if len(b) == 0 {
		return p, nil, errAt(0, "empty packet")
	}
	var n int
	switch c := b[0]; {
	case c >= 0x80 && c < 0x90:
		n, d.i = int(c&0x0f), 1
	case c == 0xde || c == 0xdf:
		d.i = 1
		var err error
		if n, err = d.length(2 << (c - 0xde)); err != nil {
			return p, nil, err
		}
	default:
		return p, nil, errAt(0, "packet is not a map")
	}
	d.out = make([]byte, 0, len(b)+len(b)/2+16)
	var (
		typ, id       int64 = -1, -1
		nsp           []byte
		hasNsp        bool
		data          []byte
		badType, badI bool
	)
	for range n {
		if d.i >= len(b) {
			return p, nil, errAt(d.i, "truncated")
		}
		name := d.keyName()
		mark, marks := len(d.out), len(d.atts)
		switch name {
		case "type", "id":
			v, ok, undefined, err := d.integer()
			if err != nil {
				return p, nil, err
			}
			switch {
			case name == "type" && undefined:
				typ, badType = -1, false
			case name == "type":
				typ, badType = v, !ok
			case undefined:
				id, badI = -1, false
			default:
				id, badI = v, !ok || v < 0
			}
		case "nsp":
			s, ok, err := d.rawStr()
			if err != nil {
				return p, nil, err
			}
			if !ok {
				// Not a string (undefined included): the npm parser
				// refuses the packet, unless a later "nsp" is one.
				if _, err := d.value(0); err != nil {
					return p, nil, err
				}
				s = nil
			}
			nsp, hasNsp = s, ok
		case "data":
			// The last "data" wins, as in JavaScript.
			d.out, d.atts = d.out[:0], d.atts[:0]
			undefined, err := d.value(0)
			if err != nil {
				return p, nil, err
			}
			data = nil
			if !undefined {
				data = d.out
			}
			continue
		default:
			if name == "" {
				// A key that is not a str: JavaScript makes it some
				// other property name.
				if err := d.key(); err != nil {
					return p, nil, err
				}
			}
			if _, err := d.value(0); err != nil {
				return p, nil, err
			}
		}
		if name != "data" {
			d.out, d.atts = d.out[:mark], d.atts[:marks]
		}
	}
	if d.i != len(b) {
		return p, nil, errAt(d.i, fmt.Sprintf("%d trailing bytes", len(b)-d.i))
	}
	if badType || typ < int64(socketio.Connect) || typ > int64(socketio.ConnectError) {
		return p, nil, fmt.Errorf("%w: invalid packet type", socketio.ErrMalformed)
	}
	p.Type = socketio.PacketType(typ)
	if !hasNsp {
		return p, nil, fmt.Errorf("%w: invalid namespace", socketio.ErrMalformed)
	}
	if string(nsp) == "/" {
		p.Namespace = "/"
	} else {
		p.Namespace = string(nsp)
	}
	if badI {
		return p, nil, fmt.Errorf("%w: invalid packet id", socketio.ErrMalformed)
	}
	var first byte
	if len(data) > 0 {
		first = data[0]
	}
	switch p.Type {
	case socketio.Connect:
		if data != nil && first != '{' {
			return p, nil, fmt.Errorf("%w: CONNECT data must be a map", socketio.ErrMalformed)
		}
	case socketio.Disconnect:
		if data != nil {
			return p, nil, fmt.Errorf("%w: DISCONNECT packet must not have data", socketio.ErrMalformed)
		}
	case socketio.ConnectError:
		if first != '{' && first != '"' {
			return p, nil, fmt.Errorf("%w: CONNECT_ERROR data must be a map or a string", socketio.ErrMalformed)
		}
	case socketio.Event:
		if first != '[' {
			return p, nil, fmt.Errorf("%w: EVENT data must be an array", socketio.ErrMalformed)
		}
		if len(data) < 2 || !(data[1] == '"' || data[1] == '-' || (data[1] >= '0' && data[1] <= '9')) {
			return p, nil, fmt.Errorf("%w: EVENT data must start with a string or number event name", socketio.ErrMalformed)
		}
	case socketio.Ack:
		if first != '[' {
			return p, nil, fmt.Errorf("%w: ACK data must be an array", socketio.ErrMalformed)
		}
		if id < 0 {
			return p, nil, fmt.Errorf("%w: ACK packet without id", socketio.ErrMalformed)
		}
	}
	p.Data = data
	if len(data) > 0 {
		p.Data = data[:len(data):len(data)]
	}
	if p.Type == socketio.Event || p.Type == socketio.Ack {
		if id >= 0 {
			p.ID, p.HasID = uint64(id), true
		}
		if len(d.atts) > 0 {
			p.Type += socketio.BinaryEvent - socketio.Event
			p.Attachments = len(d.atts)
			return p, d.atts, nil
		}
	}
	return p, nil, nil
}

// keyName reads a top-level key that is a str and returns it when it is
// one the packet uses ("type", "nsp", "data", "id"), or "-" for another
// str; it reads nothing and returns "" for a key that is not a str.
func (d *decoder) keyName() string {
	c := d.in[d.i]
	if c < 0xa0 || c >= 0xc0 {
		if c >= 0xd9 && c <= 0xdb {
			s, _, err := d.rawStr()
			if err != nil {
				d.i = len(d.in) // the value read that follows fails
				return "-"
			}
			return known(s)
		}
		return ""
	}
	n := int(c & 0x1f)
	if len(d.in)-d.i-1 < n {
		d.i = len(d.in)
		return "-"
	}
	s := d.in[d.i+1 : d.i+1+n]
	d.i += 1 + n
	return known(s)
}

func known(s []byte) string {
	switch string(s) {
	case "type":
		return "type"
	case "nsp":
		return "nsp"
	case "data":
		return "data"
	case "id":
		return "id"
	}
	return "-"
}

// rawStr reads a str and returns its bytes; ok is false, with nothing
// read, when the next value is not a str.
func (d *decoder) rawStr() (s []byte, ok bool, err error) {
	if d.i >= len(d.in) {
		return nil, false, errAt(d.i, "truncated")
	}
	c := d.in[d.i]
	var n int
	switch {
	case c >= 0xa0 && c < 0xc0:
		n = int(c & 0x1f)
		d.i++
	case c >= 0xd9 && c <= 0xdb:
		d.i++
		if n, err = d.length(1 << (c - 0xd9)); err != nil {
			return nil, false, err
		}
	default:
		return nil, false, nil
	}
	s, err = d.take(n)
	return s, err == nil, err
}

// integer reads a number for "type" or "id": ok is false when it is not an
// integer that fits an int64, undefined when it is notepack.io's
// undefined. Anything else is read and reported as not ok.
func (d *decoder) integer() (v int64, ok, undefined bool, err error) {
	if d.i >= len(d.in) {
		return 0, false, false, errAt(d.i, "truncated")
	}
	c := d.in[d.i]
	switch {
	case c < 0x80:
		d.i++
		return int64(c), true, false, nil
	case c >= 0xe0:
		d.i++
		return int64(int8(c)), true, false, nil
	case c >= 0xcc && c <= 0xcf:
		d.i++
		b, err := d.take(1 << (c - 0xcc))
		if err != nil {
			return 0, false, false, err
		}
		u := beUint(b)
		return int64(u), u <= math.MaxInt64, false, nil
	case c >= 0xd0 && c <= 0xd3:
		d.i++
		b, err := d.take(1 << (c - 0xd0))
		if err != nil {
			return 0, false, false, err
		}
		return beInt(b), true, false, nil
	case c == 0xca || c == 0xcb:
		d.i++
		b, err := d.take(4 << (c - 0xca))
		if err != nil {
			return 0, false, false, err
		}
		var f float64
		if c == 0xca {
			f = float64(math.Float32frombits(uint32(beUint(b))))
		} else {
			f = math.Float64frombits(beUint(b))
		}
		if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return 0, false, false, nil
		}
		return int64(f), true, false, nil
	case c == 0xd4 && len(d.in)-d.i >= 3 && d.in[d.i+1] == 0:
		d.i += 3
		return 0, false, true, nil
	}
	mark, marks := len(d.out), len(d.atts)
	_, err = d.value(0)
	d.out, d.atts = d.out[:mark], d.atts[:marks]
	return 0, false, false, err
}
