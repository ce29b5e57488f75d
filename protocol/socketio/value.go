package socketio

import (
	"encoding/json"
	"fmt"
)

// MaxDepth is the deepest nesting of JSON arrays and objects that ParseValue
// accepts and that MarshalArgs will encode; the outermost container is depth 1.
const MaxDepth = 100

// Object is a JSON object that keeps its members in their original order, so
// that values can be echoed back unchanged.
type Object []Member

// Member is one key/value pair of an Object.
type Member struct {
	// Key is the member name.
	Key string
	// Value is the member value, of any type MarshalArgs accepts.
	Value any
}

// Get returns the value of the last member named key (the one JavaScript's
// JSON.parse would keep) and whether such a member exists.
func (o Object) Get(key string) (any, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if o[i].Key == key {
			return o[i].Value, true
		}
	}
	return nil, false
}

// MarshalJSON encodes o as a compact JSON object with members in order and no
// HTML escaping; a nil Object encodes as null and []byte values as base64
// strings, as encoding/json would (only MarshalArgs turns them into attachments).
func (o Object) MarshalJSON() ([]byte, error) {
	e := encoder{base64Bytes: true}
	if err := e.value(o, 1); err != nil {
		return nil, fmt.Errorf("%w: object: %w", ErrMarshal, err)
	}
	return e.buf, nil
}

// ParseValue decodes the raw JSON raw into a generic tree.
//
// Objects become Object (member order and duplicates kept), arrays []any,
// numbers json.Number (exact text kept), strings string, booleans bool and
// null nil; empty objects and arrays are non-nil. An object of placeholder
// form (see CheckPlaceholders; keys in any order) is replaced by
// attachments[N] itself, not a copy. It fails with an error wrapping
// ErrInvalidJSON for invalid JSON or invalid UTF-8, ErrBadPlaceholder for a
// placeholder whose num is not an index into attachments, and ErrTooDeep for
// containers nested deeper than MaxDepth. It never recurses more than MaxDepth
// levels.
func ParseValue(raw []byte, attachments [][]byte) (any, error) {
	if !validJSON(raw) {
		return nil, fmt.Errorf("socketio: parse value: %w", ErrInvalidJSON)
	}
	p := parser{b: raw, atts: attachments}
	v, end, err := p.value(skipSpace(raw, 0), 1)
	if err != nil {
		return nil, fmt.Errorf("socketio: parse value: %w", err)
	}
	if skipSpace(raw, end) != len(raw) {
		return nil, fmt.Errorf("socketio: parse value: trailing data: %w", ErrInvalidJSON)
	}
	return v, nil
}

// parser is a recursive-descent reader over JSON already checked by validJSON.
type parser struct {
	b    []byte
	atts [][]byte
}

// errAt returns an ErrInvalidJSON error for offset i (only reachable on input validJSON rejected).
func errAt(i int) error {
	return fmt.Errorf("unexpected input at offset %d: %w", i, ErrInvalidJSON)
}

// value parses the value starting at b[i] at container depth depth and returns it with the index just past it.
func (p *parser) value(i, depth int) (any, int, error) {
	b := p.b
	if i >= len(b) {
		return nil, i, errAt(i)
	}
	switch c := b[i]; c {
	case '{':
		kind, num, end := matchPlaceholder(b, i)
		switch kind {
		case validPlaceholder:
			if num >= len(p.atts) {
				return nil, i, fmt.Errorf("%w: num %d out of range for %d attachments", ErrBadPlaceholder, num, len(p.atts))
			}
			return p.atts[num], end, nil
		case badPlaceholder:
			return nil, i, fmt.Errorf("%w: num is not a non-negative integer at offset %d", ErrBadPlaceholder, i)
		}
		if depth > MaxDepth {
			return nil, i, fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		return p.object(i, depth)
	case '[':
		if depth > MaxDepth {
			return nil, i, fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		return p.array(i, depth)
	case '"':
		end := skipString(b, i)
		if end < 0 {
			return nil, i, errAt(i)
		}
		s, ok := unquote(b[i:end])
		if !ok {
			return nil, i, errAt(i)
		}
		return s, end, nil
	case 't', 'f', 'n':
		end := skipValue(b, i)
		if end < 0 {
			return nil, i, errAt(i)
		}
		switch string(b[i:end]) {
		case "true":
			return true, end, nil
		case "false":
			return false, end, nil
		case "null":
			return nil, end, nil
		}
		return nil, i, errAt(i)
	default:
		end := skipValue(b, i)
		if end < 0 || !validNumber(string(b[i:end])) {
			return nil, i, errAt(i)
		}
		return json.Number(b[i:end]), end, nil
	}
}

// object parses the object starting at b[i] ('{').
func (p *parser) object(i, depth int) (any, int, error) {
	b := p.b
	obj := Object{}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return obj, i + 1, nil
	}
	for {
		ke := skipString(b, i)
		if ke < 0 {
			return nil, i, errAt(i)
		}
		key, ok := unquote(b[i:ke])
		if !ok {
			return nil, i, errAt(i)
		}
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return nil, i, errAt(i)
		}
		v, end, err := p.value(skipSpace(b, i+1), depth+1)
		if err != nil {
			return nil, i, err
		}
		obj = append(obj, Member{Key: key, Value: v})
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, i, errAt(i)
		}
		switch b[i] {
		case '}':
			return obj, i + 1, nil
		case ',':
			i = skipSpace(b, i+1)
		default:
			return nil, i, errAt(i)
		}
	}
}

// array parses the array starting at b[i] ('[').
func (p *parser) array(i, depth int) (any, int, error) {
	b := p.b
	arr := []any{}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return arr, i + 1, nil
	}
	for {
		v, end, err := p.value(i, depth+1)
		if err != nil {
			return nil, i, err
		}
		arr = append(arr, v)
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, i, errAt(i)
		}
		switch b[i] {
		case ']':
			return arr, i + 1, nil
		case ',':
			i = skipSpace(b, i+1)
		default:
			return nil, i, errAt(i)
		}
	}
}
