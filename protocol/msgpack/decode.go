package msgpack

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/actorio/actorio/protocol/socketio"
)

// decoder writes JSON from msgpack in one pass; binary values become
// placeholders and their bytes attachments (sub-slices of the input).
type decoder struct {
	in   []byte
	i    int
	out  []byte
	atts [][]byte
}

func errAt(i int, what string) error {
	return fmt.Errorf("%w: msgpack at offset %d: %s", socketio.ErrMalformed, i, what)
}

// take returns the next n bytes of the input.
func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || len(d.in)-d.i < n {
		return nil, errAt(d.i, "truncated")
	}
	b := d.in[d.i : d.i+n : d.i+n]
	d.i += n
	return b, nil
}

// length reads a big-endian length of size bytes (1, 2 or 4).
func (d *decoder) length(size int) (int, error) {
	b, err := d.take(size)
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return int(b[0]), nil
	case 2:
		return int(binary.BigEndian.Uint16(b)), nil
	}
	return int(binary.BigEndian.Uint32(b)), nil
}

// value writes the msgpack value at d.in[d.i] as JSON. It reports
// notepack.io's undefined (fixext 1 of type 0) and writes nothing for it:
// the caller writes null in an array and drops the member of a map.
func (d *decoder) value(depth int) (undefined bool, err error) {
	if d.i >= len(d.in) {
		return false, errAt(d.i, "truncated")
	}
	start := d.i
	c := d.in[d.i]
	d.i++
	switch {
	case c < 0x80:
		d.out = strconv.AppendUint(d.out, uint64(c), 10)
		return false, nil
	case c >= 0xe0:
		d.out = strconv.AppendInt(d.out, int64(int8(c)), 10)
		return false, nil
	case c < 0x90:
		return false, d.mapping(int(c&0x0f), depth)
	case c < 0xa0:
		return false, d.array(int(c&0x0f), depth)
	case c < 0xc0:
		return false, d.str(int(c & 0x1f))
	}
	switch c {
	case 0xc0:
		d.out = append(d.out, "null"...)
	case 0xc2:
		d.out = append(d.out, "false"...)
	case 0xc3:
		d.out = append(d.out, "true"...)
	case 0xc4, 0xc5, 0xc6: // bin 8, 16, 32
		n, err := d.length(1 << (c - 0xc4))
		if err != nil {
			return false, err
		}
		return false, d.binary(n)
	case 0xc7, 0xc8, 0xc9: // ext 8, 16, 32
		n, err := d.length(1 << (c - 0xc7))
		if err != nil {
			return false, err
		}
		t, err := d.take(1)
		if err != nil {
			return false, err
		}
		if t[0] == 0 { // notepack.io's ArrayBuffer
			return false, d.binary(n)
		}
		return false, d.ext(int8(t[0]), n)
	case 0xca:
		b, err := d.take(4)
		if err != nil {
			return false, err
		}
		d.out = appendJSONFloat(d.out, float64(math.Float32frombits(binary.BigEndian.Uint32(b))), 32)
	case 0xcb:
		b, err := d.take(8)
		if err != nil {
			return false, err
		}
		d.out = appendJSONFloat(d.out, math.Float64frombits(binary.BigEndian.Uint64(b)), 64)
	case 0xcc, 0xcd, 0xce, 0xcf:
		b, err := d.take(1 << (c - 0xcc))
		if err != nil {
			return false, err
		}
		d.out = strconv.AppendUint(d.out, beUint(b), 10)
	case 0xd0, 0xd1, 0xd2, 0xd3:
		b, err := d.take(1 << (c - 0xd0))
		if err != nil {
			return false, err
		}
		d.out = strconv.AppendInt(d.out, beInt(b), 10)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16
		n := 1 << (c - 0xd4)
		t, err := d.take(1)
		if err != nil {
			return false, err
		}
		switch {
		case t[0] == 0 && n == 1: // notepack.io's undefined
			_, err := d.take(1)
			return err == nil, err
		case t[0] == 0 && n == 8: // notepack.io's Date
			b, err := d.take(8)
			if err != nil {
				return false, err
			}
			d.out = appendDate(d.out, beInt(b))
			return false, nil
		}
		return false, d.ext(int8(t[0]), n)
	case 0xd9, 0xda, 0xdb:
		n, err := d.length(1 << (c - 0xd9))
		if err != nil {
			return false, err
		}
		return false, d.str(n)
	case 0xdc, 0xdd:
		n, err := d.length(2 << (c - 0xdc))
		if err != nil {
			return false, err
		}
		return false, d.array(n, depth)
	case 0xde, 0xdf:
		n, err := d.length(2 << (c - 0xde))
		if err != nil {
			return false, err
		}
		return false, d.mapping(n, depth)
	default: // 0xc1, never used
		return false, errAt(start, "reserved type 0xc1")
	}
	return false, nil
}

// beUint reads a big-endian unsigned integer of 1, 2, 4 or 8 bytes.
func beUint(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	}
	return binary.BigEndian.Uint64(b)
}

// beInt reads a big-endian signed integer of 1, 2, 4 or 8 bytes.
func beInt(b []byte) int64 {
	switch len(b) {
	case 1:
		return int64(int8(b[0]))
	case 2:
		return int64(int16(binary.BigEndian.Uint16(b)))
	case 4:
		return int64(int32(binary.BigEndian.Uint32(b)))
	}
	return int64(binary.BigEndian.Uint64(b))
}

func (d *decoder) array(n, depth int) error {
	if depth >= MaxDepth {
		return fmt.Errorf("%w: %w", socketio.ErrMalformed, socketio.ErrTooDeep)
	}
	if n > len(d.in)-d.i {
		return errAt(d.i, "array longer than its input")
	}
	d.out = append(d.out, '[')
	for k := range n {
		if k > 0 {
			d.out = append(d.out, ',')
		}
		undefined, err := d.value(depth + 1)
		if err != nil {
			return err
		}
		if undefined {
			d.out = append(d.out, "null"...)
		}
	}
	d.out = append(d.out, ']')
	return nil
}

func (d *decoder) mapping(n, depth int) error {
	if depth >= MaxDepth {
		return fmt.Errorf("%w: %w", socketio.ErrMalformed, socketio.ErrTooDeep)
	}
	if n > (len(d.in)-d.i)/2 {
		return errAt(d.i, "map longer than its input")
	}
	d.out = append(d.out, '{')
	written := 0
	for range n {
		mark := len(d.out)
		if written > 0 {
			d.out = append(d.out, ',')
		}
		if err := d.key(); err != nil {
			return err
		}
		d.out = append(d.out, ':')
		undefined, err := d.value(depth + 1)
		if err != nil {
			return err
		}
		if undefined {
			d.out = d.out[:mark] // JSON.stringify leaves the member out
			continue
		}
		written++
	}
	d.out = append(d.out, '}')
	return nil
}

// key writes a map key as a JSON string: a str as it is, a number,
// boolean, nil or undefined as JavaScript turns it into a property name.
func (d *decoder) key() error {
	if d.i >= len(d.in) {
		return errAt(d.i, "truncated")
	}
	c := d.in[d.i]
	if (c >= 0xa0 && c < 0xc0) || (c >= 0xd9 && c <= 0xdb) {
		_, err := d.value(0)
		return err
	}
	d.out = append(d.out, '"')
	switch {
	case c < 0x80, c >= 0xe0, c >= 0xcc && c <= 0xd3, c == 0xc2, c == 0xc3:
		if _, err := d.value(0); err != nil {
			return err
		}
	case c == 0xc0:
		d.i++
		d.out = append(d.out, "null"...)
	case c == 0xca || c == 0xcb:
		size := 4 << (c - 0xca)
		d.i++
		b, err := d.take(size)
		if err != nil {
			return err
		}
		var f float64
		if size == 4 {
			f = float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
		} else {
			f = math.Float64frombits(binary.BigEndian.Uint64(b))
		}
		switch {
		case math.IsNaN(f):
			d.out = append(d.out, "NaN"...)
		case math.IsInf(f, 1):
			d.out = append(d.out, "Infinity"...)
		case math.IsInf(f, -1):
			d.out = append(d.out, "-Infinity"...)
		default:
			d.out = appendJSONFloat(d.out, f, 8*size)
		}
	case c == 0xd4 && len(d.in)-d.i >= 3 && d.in[d.i+1] == 0:
		d.i += 3
		d.out = append(d.out, "undefined"...)
	default:
		return errAt(d.i, "map key is not a string, number, boolean or nil")
	}
	d.out = append(d.out, '"')
	return nil
}

// str writes n bytes of the input as a JSON string; invalid UTF-8 becomes
// U+FFFD, as Node's Buffer.toString reads it.
func (d *decoder) str(n int) error {
	s, err := d.take(n)
	if err != nil {
		return err
	}
	d.out = appendJSONString(d.out, s)
	return nil
}

// binary makes the next n bytes an attachment and writes its placeholder.
func (d *decoder) binary(n int) error {
	b, err := d.take(n)
	if err != nil {
		return err
	}
	d.out = append(d.out, `{"_placeholder":true,"num":`...)
	d.out = strconv.AppendInt(d.out, int64(len(d.atts)), 10)
	d.out = append(d.out, '}')
	d.atts = append(d.atts, b)
	return nil
}

// ext writes an ext value notepack.io knows nothing of as it decodes it:
// [type, <binary>].
func (d *decoder) ext(t int8, n int) error {
	d.out = append(d.out, '[')
	d.out = strconv.AppendInt(d.out, int64(t), 10)
	d.out = append(d.out, ',')
	if err := d.binary(n); err != nil {
		return err
	}
	d.out = append(d.out, ']')
	return nil
}

// maxDateMs is the largest distance from the epoch a JavaScript Date
// holds, in milliseconds.
const maxDateMs = 8.64e15

// appendDate writes the time ms milliseconds from the epoch as
// Date.prototype.toJSON does ("2024-01-02T03:04:05.678Z", or a six-digit
// signed year outside 0 to 9999), or null where JavaScript has an invalid
// date.
func appendDate(b []byte, ms int64) []byte {
	if ms > maxDateMs || ms < -maxDateMs {
		return append(b, "null"...)
	}
	t := time.UnixMilli(ms).UTC()
	b = append(b, '"')
	switch y := t.Year(); {
	case y >= 0 && y <= 9999:
		b = appendPadded(b, y, 4)
	case y < 0:
		b = appendPadded(append(b, '-'), -y, 6)
	default:
		b = appendPadded(append(b, '+'), y, 6)
	}
	b = appendPadded(append(b, '-'), int(t.Month()), 2)
	b = appendPadded(append(b, '-'), t.Day(), 2)
	b = appendPadded(append(b, 'T'), t.Hour(), 2)
	b = appendPadded(append(b, ':'), t.Minute(), 2)
	b = appendPadded(append(b, ':'), t.Second(), 2)
	b = appendPadded(append(b, '.'), t.Nanosecond()/1e6, 3)
	return append(b, 'Z', '"')
}

func appendPadded(b []byte, n, width int) []byte {
	var buf [8]byte
	s := strconv.AppendInt(buf[:0], int64(n), 10)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendJSONFloat writes f as JSON.stringify writes a number: the
// shortest form that reads back (at bits precision), with an exponent
// outside [1e-6, 1e21); NaN and infinities as null, and -0 as 0.
func appendJSONFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	if f == 0 {
		return append(b, '0') // -0 too, as JSON.stringify
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if n := len(b); format == 'e' && n-start >= 4 && b[n-4] == 'e' && b[n-2] == '0' {
		// strconv pads the exponent to two digits ("1e-07"); JavaScript does not.
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b
}

// appendJSONString writes s as a JSON string literal: '"', '\\' and
// control characters escaped, invalid UTF-8 as U+FFFD, the rest as is.
func appendJSONString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			i++
			start = i
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
