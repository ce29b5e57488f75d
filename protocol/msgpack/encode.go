package msgpack

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/actorio/actorio/protocol/socketio"
)

// MaxDepth is the deepest nesting of arrays and maps (JSON or msgpack)
// either direction accepts, as json.Valid bounds the JSON parser's input.
const MaxDepth = 10000

// encoder writes msgpack from JSON in one pass. A container's element
// count is known only at its end, so each container first gets a 5-byte
// header (array 32 or map 32) and a fixup; finish then rewrites every
// header at its smallest size, as notepack.io writes it, moving the bytes
// between them down in a single pass.
type encoder struct {
	in   []byte
	atts [][]byte
	out  []byte
	fix  []fixup
}

// fixup is a container header to rewrite: at pos, n elements of kind
// (fixarray 0x90 or fixmap 0x80).
type fixup struct {
	pos  int
	n    uint32
	kind byte
}

func errJSON(i int, what string) error {
	return fmt.Errorf("%w: %w at offset %d: %s", socketio.ErrMalformed, socketio.ErrInvalidJSON, i, what)
}

// value writes the JSON value starting at e.in[i] (after spaces) and
// returns the index past it.
func (e *encoder) value(i, depth int) (int, error) {
	i = skipSpace(e.in, i)
	if i >= len(e.in) {
		return i, errJSON(i, "value expected")
	}
	switch c := e.in[i]; {
	case c == '{':
		if num, end, ok := e.placeholder(i); ok {
			e.out = appendBin(e.out, e.atts[num])
			return end, nil
		}
		return e.container(i, depth, '}', 0x80)
	case c == '[':
		return e.container(i, depth, ']', 0x90)
	case c == '"':
		return e.string(i)
	case c == 't':
		return e.literal(i, "true", 0xc3)
	case c == 'f':
		return e.literal(i, "false", 0xc2)
	case c == 'n':
		return e.literal(i, "null", 0xc0)
	case c == '-' || (c >= '0' && c <= '9'):
		return e.number(i)
	}
	return i, errJSON(i, "unexpected character")
}

func (e *encoder) literal(i int, lit string, code byte) (int, error) {
	if len(e.in)-i < len(lit) || string(e.in[i:i+len(lit)]) != lit {
		return i, errJSON(i, "bad literal")
	}
	e.out = append(e.out, code)
	return i + len(lit), nil
}

// container writes the array or object at e.in[i].
func (e *encoder) container(i, depth int, closing, kind byte) (int, error) {
	if depth >= MaxDepth {
		return i, fmt.Errorf("%w: %w", socketio.ErrMalformed, socketio.ErrTooDeep)
	}
	f := len(e.fix)
	e.fix = append(e.fix, fixup{pos: len(e.out), kind: kind})
	if kind == 0x80 {
		e.out = append(e.out, 0xdf, 0, 0, 0, 0)
	} else {
		e.out = append(e.out, 0xdd, 0, 0, 0, 0)
	}
	i = skipSpace(e.in, i+1)
	var n uint32
	if i < len(e.in) && e.in[i] == closing {
		return i + 1, nil
	}
	for {
		var err error
		if kind == 0x80 {
			i = skipSpace(e.in, i)
			if i >= len(e.in) || e.in[i] != '"' {
				return i, errJSON(i, "object key expected")
			}
			if i, err = e.string(i); err != nil {
				return i, err
			}
			i = skipSpace(e.in, i)
			if i >= len(e.in) || e.in[i] != ':' {
				return i, errJSON(i, "':' expected")
			}
			i++
		}
		if i, err = e.value(i, depth+1); err != nil {
			return i, err
		}
		n++
		i = skipSpace(e.in, i)
		if i >= len(e.in) {
			return i, errJSON(i, "unterminated container")
		}
		if e.in[i] == closing {
			e.fix[f].n = n
			return i + 1, nil
		}
		if e.in[i] != ',' {
			return i, errJSON(i, "',' expected")
		}
		i++
	}
}

// finish rewrites the container headers from start on at their smallest
// size.
func (e *encoder) finish() {
	if len(e.fix) == 0 {
		return
	}
	out := e.out
	w, r := e.fix[0].pos, e.fix[0].pos
	for _, f := range e.fix {
		w += copy(out[w:], out[r:f.pos])
		w += putHeader(out[w:], f.kind, f.n)
		r = f.pos + 5
	}
	w += copy(out[w:], out[r:])
	e.out = out[:w]
	e.fix = e.fix[:0]
}

// putHeader writes the smallest header of a container of n elements into
// b (at least 5 bytes) and returns its length.
func putHeader(b []byte, kind byte, n uint32) int {
	switch {
	case n < 16:
		b[0] = kind | byte(n)
		return 1
	case n < 1<<16:
		b[0] = 0xdc // array 16
		if kind == 0x80 {
			b[0] = 0xde // map 16
		}
		binary.BigEndian.PutUint16(b[1:], uint16(n))
		return 3
	}
	b[0] = 0xdd
	if kind == 0x80 {
		b[0] = 0xdf
	}
	binary.BigEndian.PutUint32(b[1:], n)
	return 5
}

// string writes the JSON string at e.in[i] as a msgpack str.
func (e *encoder) string(i int) (int, error) {
	j := i + 1
	for j < len(e.in) {
		c := e.in[j]
		if c == '"' {
			e.out = appendStr(e.out, e.in[i+1:j])
			return j + 1, nil
		}
		if c == '\\' {
			return e.escapedString(i)
		}
		if c < 0x20 {
			return j, errJSON(j, "control character in string")
		}
		j++
	}
	return j, errJSON(i, "unterminated string")
}

// escapedString writes a JSON string holding escapes: unescaped after a
// 5-byte header, which is then shrunk to its smallest size.
func (e *encoder) escapedString(i int) (int, error) {
	hdr := len(e.out)
	e.out = append(e.out, 0xdb, 0, 0, 0, 0)
	j := i + 1
	for {
		if j >= len(e.in) {
			return j, errJSON(i, "unterminated string")
		}
		c := e.in[j]
		switch {
		case c == '"':
			body := len(e.out) - hdr - 5
			var h [5]byte
			hl := strHeader(h[:], body)
			copy(e.out[hdr+hl:], e.out[hdr+5:])
			copy(e.out[hdr:], h[:hl])
			e.out = e.out[:hdr+hl+body]
			return j + 1, nil
		case c < 0x20:
			return j, errJSON(j, "control character in string")
		case c != '\\':
			e.out = append(e.out, c)
			j++
			continue
		}
		if j+1 >= len(e.in) {
			return j, errJSON(j, "unterminated escape")
		}
		switch esc := e.in[j+1]; esc {
		case '"', '\\', '/':
			e.out = append(e.out, esc)
		case 'b':
			e.out = append(e.out, '\b')
		case 'f':
			e.out = append(e.out, '\f')
		case 'n':
			e.out = append(e.out, '\n')
		case 'r':
			e.out = append(e.out, '\r')
		case 't':
			e.out = append(e.out, '\t')
		case 'u':
			r, ok := hex4(e.in, j+2)
			if !ok {
				return j, errJSON(j, "bad \\u escape")
			}
			j += 6
			if utf16.IsSurrogate(r) {
				// A pair makes one character; a lone half becomes U+FFFD,
				// as encoding/json reads it.
				if r2, ok := hex4(e.in, j+2); ok && j+1 < len(e.in) && e.in[j] == '\\' && e.in[j+1] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						j += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			e.out = utf8.AppendRune(e.out, r)
			continue
		default:
			return j, errJSON(j, "bad escape")
		}
		j += 2
	}
}

// hex4 reads the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || len(b)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number writes the JSON number at e.in[i]: as an integer when its value
// is one (notepack.io's rule for JavaScript numbers), else as a float 64.
func (e *encoder) number(i int) (int, error) {
	j := i
	if e.in[j] == '-' {
		j++
	}
	d := j
	for j < len(e.in) && e.in[j] >= '0' && e.in[j] <= '9' {
		j++
	}
	if j == d || (e.in[d] == '0' && j-d > 1) {
		return j, errJSON(i, "bad number")
	}
	integer := true
	if j < len(e.in) && e.in[j] == '.' {
		integer = false
		j++
		k := j
		for j < len(e.in) && e.in[j] >= '0' && e.in[j] <= '9' {
			j++
		}
		if j == k {
			return j, errJSON(i, "bad fraction")
		}
	}
	if j < len(e.in) && (e.in[j] == 'e' || e.in[j] == 'E') {
		integer = false
		j++
		if j < len(e.in) && (e.in[j] == '+' || e.in[j] == '-') {
			j++
		}
		k := j
		for j < len(e.in) && e.in[j] >= '0' && e.in[j] <= '9' {
			j++
		}
		if j == k {
			return j, errJSON(i, "bad exponent")
		}
	}
	lit := e.in[i:j]
	if integer && j-d <= 20 {
		u, ok := uint64(0), true
		for _, c := range e.in[d:j] {
			v := uint64(c - '0')
			if u > (math.MaxUint64-v)/10 {
				ok = false
				break
			}
			u = u*10 + v
		}
		switch {
		case ok && d == i:
			e.out = appendUint(e.out, u)
			return j, nil
		case ok && u <= 1<<63:
			e.out = appendInt(e.out, -int64(u-1)-1)
			return j, nil
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil && !math.IsInf(f, 0) {
		return j, errJSON(i, "bad number")
	}
	e.out = appendFloat(e.out, f)
	return j, nil
}

// appendFloat writes f as notepack.io writes a JavaScript number: an
// integer when it is one (and fits 64 bits), else a float 64.
func appendFloat(b []byte, f float64) []byte {
	if f == math.Trunc(f) && !math.IsInf(f, 0) {
		switch {
		case f >= 0 && f < 1<<64:
			return appendUint(b, uint64(f))
		case f < 0 && f >= -1<<63:
			return appendInt(b, int64(f))
		}
	}
	b = append(b, 0xcb)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
}

// appendUint writes u in the smallest unsigned form.
func appendUint(b []byte, u uint64) []byte {
	switch {
	case u < 0x80:
		return append(b, byte(u))
	case u < 0x100:
		return append(b, 0xcc, byte(u))
	case u < 0x10000:
		return append(b, 0xcd, byte(u>>8), byte(u))
	case u < 0x100000000:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(u))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), u)
}

// appendInt writes n in the smallest form, signed when negative.
func appendInt(b []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendUint(b, uint64(n))
	case n >= -32:
		return append(b, byte(n))
	case n >= -0x80:
		return append(b, 0xd0, byte(n))
	case n >= -0x8000:
		return append(b, 0xd1, byte(n>>8), byte(n))
	case n >= -0x80000000:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

// strHeader writes the header of a str of n bytes into h and returns its
// length.
func strHeader(h []byte, n int) int {
	switch {
	case n < 32:
		h[0] = 0xa0 | byte(n)
		return 1
	case n < 0x100:
		h[0], h[1] = 0xd9, byte(n)
		return 2
	case n < 0x10000:
		h[0] = 0xda
		binary.BigEndian.PutUint16(h[1:], uint16(n))
		return 3
	}
	h[0] = 0xdb
	binary.BigEndian.PutUint32(h[1:], uint32(n))
	return 5
}

// appendStr writes s as a msgpack str.
func appendStr[T string | []byte](b []byte, s T) []byte {
	var h [5]byte
	b = append(b, h[:strHeader(h[:], len(s))]...)
	return append(b, s...)
}

// appendBin writes p as a msgpack bin.
func appendBin(b, p []byte) []byte {
	switch n := len(p); {
	case n < 0x100:
		b = append(b, 0xc4, byte(n))
	case n < 0x10000:
		b = append(b, 0xc5, byte(n>>8), byte(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, p...)
}

// placeholder reports whether the object at e.in[i] is a binary
// placeholder of an attachment e has: exactly the members "_placeholder":
// true and "num": N (a plain decimal below len(e.atts)), in either order.
// Other objects, placeholders pointing nowhere included, are written as
// maps, as with no attachments at all.
func (e *encoder) placeholder(i int) (num, end int, ok bool) {
	if len(e.atts) == 0 {
		return 0, 0, false
	}
	j := skipSpace(e.in, i+1)
	flag, haveNum := false, false
	for m := 0; m < 2; m++ {
		if m == 1 {
			if j >= len(e.in) || e.in[j] != ',' {
				return 0, 0, false
			}
			j = skipSpace(e.in, j+1)
		}
		var key string
		switch {
		case hasPrefix(e.in[j:], `"_placeholder"`):
			key, j = "p", j+len(`"_placeholder"`)
		case hasPrefix(e.in[j:], `"num"`):
			key, j = "n", j+len(`"num"`)
		default:
			return 0, 0, false
		}
		j = skipSpace(e.in, j)
		if j >= len(e.in) || e.in[j] != ':' {
			return 0, 0, false
		}
		j = skipSpace(e.in, j+1)
		switch {
		case key == "p" && !flag && hasPrefix(e.in[j:], "true"):
			flag, j = true, j+4
		case key == "n" && !haveNum:
			k := j
			n := 0
			for j < len(e.in) && e.in[j] >= '0' && e.in[j] <= '9' && j-k < 10 {
				n = n*10 + int(e.in[j]-'0')
				j++
			}
			if j == k || (e.in[k] == '0' && j-k > 1) || n >= len(e.atts) {
				return 0, 0, false
			}
			num, haveNum = n, true
		default:
			return 0, 0, false
		}
		j = skipSpace(e.in, j)
	}
	if j >= len(e.in) || e.in[j] != '}' {
		return 0, 0, false
	}
	return num, j + 1, true
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
