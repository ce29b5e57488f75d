package socketio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// MarshalArgs encodes args as a compact JSON array, moving every []byte into
// a binary attachment.
//
// Each []byte (including a nil or empty one) found directly in args or at any
// depth inside []any, map[string]any, Object or [][]byte is replaced by
// {"_placeholder":true,"num":N}, where N is its index in the returned
// attachments. json.RawMessage values are validated and written verbatim
// (only insignificant whitespace is removed; a nil one is null). Strings,
// booleans, integers, floats, json.Number, nil and the containers above are
// encoded directly; any other value goes through encoding/json with HTML
// escaping off (so "<" stays "<"), and []byte values hidden inside it are
// base64 strings as usual. Map keys are sorted; Object keeps its order.
// Errors wrap ErrMarshal (and ErrTooDeep beyond MaxDepth, which also stops
// reference cycles among []any, map[string]any and Object values).
//
// For example MarshalArgs("ev", 1, []byte{1}) returns
// ["ev",1,{"_placeholder":true,"num":0}] and one attachment.
func MarshalArgs(args ...any) (data []byte, attachments [][]byte, err error) {
	return AppendMarshalArgs(nil, nil, args...)
}

// AppendMarshalArgs is MarshalArgs appending the JSON array to dst and the
// attachments to atts, for buffer reuse.
//
// Placeholder numbers are indexes into the returned attachment slice, so they
// start at len(atts); pass atts[:0] to number from zero. On error dst and
// atts are returned with their original lengths.
func AppendMarshalArgs(dst []byte, atts [][]byte, args ...any) ([]byte, [][]byte, error) {
	n0, a0 := len(dst), len(atts)
	e := encoder{buf: append(dst, '['), atts: atts}
	for i, a := range args {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.value(a, 2); err != nil {
			return e.buf[:n0], e.atts[:a0], fmt.Errorf("%w: argument %d: %w", ErrMarshal, i, err)
		}
	}
	e.buf = append(e.buf, ']')
	return e.buf, e.atts, nil
}

// encoder accumulates the JSON text and attachments of one MarshalArgs call.
type encoder struct {
	buf         []byte
	atts        [][]byte
	base64Bytes bool          // encode []byte as base64 strings instead of placeholders
	scratch     *bytes.Buffer // lazily created; output of the encoding/json fallback
	enc         *json.Encoder // lazily created; writes to scratch, HTML escaping off
}

// value appends the JSON encoding of v; depth is the depth v would have as a container.
func (e *encoder) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case string:
		e.buf = appendString(e.buf, x)
	case bool:
		e.buf = strconv.AppendBool(e.buf, x)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case int8, int16, int32, int64:
		// Rarer than int: one case per signedness, read through reflect.
		e.buf = strconv.AppendInt(e.buf, reflect.ValueOf(x).Int(), 10)
	case uint, uint8, uint16, uint32, uint64:
		e.buf = strconv.AppendUint(e.buf, reflect.ValueOf(x).Uint(), 10)
	case float64:
		return e.float(x, 64)
	case float32:
		return e.float(float64(x), 32)
	case json.Number:
		if x == "" {
			e.buf = append(e.buf, '0')
		} else if validNumber(string(x)) {
			e.buf = append(e.buf, x...)
		} else {
			return fmt.Errorf("invalid json.Number %q", x)
		}
	case json.RawMessage:
		return e.raw(x)
	case []byte:
		e.bytes(x)
	case [][]byte:
		if done, err := e.open(x == nil, depth, '['); done {
			return err
		}
		for i, b := range x {
			e.comma(i)
			e.bytes(b)
		}
		e.buf = append(e.buf, ']')
	case []any:
		if done, err := e.open(x == nil, depth, '['); done {
			return err
		}
		for i, el := range x {
			e.comma(i)
			if err := e.value(el, depth+1); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
	case map[string]any:
		if done, err := e.open(x == nil, depth, '{'); done {
			return err
		}
		for i, k := range sortedKeys(x) {
			if err := e.member(i, k, x[k], depth); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, '}')
	case Object:
		if done, err := e.open(x == nil, depth, '{'); done {
			return err
		}
		for i, m := range x {
			if err := e.member(i, m.Key, m.Value, depth); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, '}')
	default:
		return e.fallback(v)
	}
	return nil
}

// open starts a container at depth depth: it writes null for a nil one and
// reports done, fails with ErrTooDeep beyond MaxDepth, or writes opening.
func (e *encoder) open(isNil bool, depth int, opening byte) (done bool, err error) {
	switch {
	case isNil:
		e.buf = append(e.buf, "null"...)
		return true, nil
	case depth > MaxDepth:
		return true, ErrTooDeep
	}
	e.buf = append(e.buf, opening)
	return false, nil
}

// comma writes the comma before the element at index i of a container.
func (e *encoder) comma(i int) {
	if i > 0 {
		e.buf = append(e.buf, ',')
	}
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// member appends key:v as the member at index i of an object at depth depth.
func (e *encoder) member(i int, key string, v any, depth int) error {
	e.comma(i)
	e.buf = appendString(e.buf, key)
	e.buf = append(e.buf, ':')
	return e.value(v, depth+1)
}

// bytes appends b as a placeholder (recording the attachment) or as a base64 string.
func (e *encoder) bytes(b []byte) {
	if !e.base64Bytes {
		e.buf = append(e.buf, `{"_placeholder":true,"num":`...)
		e.buf = strconv.AppendInt(e.buf, int64(len(e.atts)), 10)
		e.buf = append(e.buf, '}')
		e.atts = append(e.atts, b)
		return
	}
	if b == nil {
		e.buf = append(e.buf, "null"...)
		return
	}
	e.buf = append(e.buf, '"')
	e.buf = base64.StdEncoding.AppendEncode(e.buf, b)
	e.buf = append(e.buf, '"')
}

// float appends f in the shortest form that round-trips at the given bit
// size, switching to exponent notation outside [1e-6, 1e21) like JavaScript.
func (e *encoder) float(f float64, bits int) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("unsupported float value %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(e.buf)
	e.buf = strconv.AppendFloat(e.buf, f, format, -1, bits)
	if n := len(e.buf); format == 'e' && n-start >= 4 && e.buf[n-4] == 'e' && e.buf[n-2] == '0' {
		// strconv pads the exponent to two digits ("1e-07"); JavaScript does not ("1e-7").
		e.buf[n-2] = e.buf[n-1]
		e.buf = e.buf[:n-1]
	}
	return nil
}

// raw appends the validated JSON text m without insignificant whitespace.
func (e *encoder) raw(m json.RawMessage) error {
	if len(m) == 0 {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	if !validJSON(m) {
		return fmt.Errorf("json.RawMessage: %w", ErrInvalidJSON)
	}
	if !slices.ContainsFunc(m, isSpace) {
		e.buf = append(e.buf, m...)
		return nil
	}
	s := e.scratchBuffer()
	if err := json.Compact(s, m); err != nil {
		return fmt.Errorf("json.RawMessage: %w", err)
	}
	e.buf = append(e.buf, s.Bytes()...)
	return nil
}

// scratchBuffer returns the encoder's reset scratch buffer, creating it on first use.
func (e *encoder) scratchBuffer() *bytes.Buffer {
	if e.scratch == nil {
		e.scratch = new(bytes.Buffer)
	}
	e.scratch.Reset()
	return e.scratch
}

// fallback appends the encoding/json encoding of v, without HTML escaping.
func (e *encoder) fallback(v any) error {
	s := e.scratchBuffer()
	if e.enc == nil {
		e.enc = json.NewEncoder(s)
		e.enc.SetEscapeHTML(false)
	}
	if err := e.enc.Encode(v); err != nil {
		return err
	}
	e.buf = append(e.buf, bytes.TrimSuffix(s.Bytes(), []byte{'\n'})...)
	return nil
}

// appendString appends s as a JSON string literal: '"', '\\' and control
// characters are escaped, invalid UTF-8 becomes \ufffd, everything else
// (including '<', '>', '&', U+2028 and U+2029) is written as is.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
