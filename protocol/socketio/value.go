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
		s, end, ok := readString(b, i)
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
	i, done := p.open(i, '}')
	for !done {
		key, ke, ok := readString(b, i)
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
		if i, done, err = p.next(end, '}'); err != nil {
			return nil, i, err
		}
	}
	return obj, i, nil
}

// array parses the array starting at b[i] ('[').
func (p *parser) array(i, depth int) (any, int, error) {
	arr := []any{}
	i, done := p.open(i, ']')
	for !done {
		v, end, err := p.value(i, depth+1)
		if err != nil {
			return nil, i, err
		}
		arr = append(arr, v)
		if i, done, err = p.next(end, ']'); err != nil {
			return nil, i, err
		}
	}
	return arr, i, nil
}

// open steps into the container opened at b[i] and returns the index of its
// first element, or, when it is empty (closing follows), the index just past
// it and done.
func (p *parser) open(i int, closing byte) (next int, done bool) {
	i = skipSpace(p.b, i+1)
	if i < len(p.b) && p.b[i] == closing {
		return i + 1, true
	}
	return i, false
}

// next steps over what follows the element that ends at b[end] in a
// container closed by closing: a comma, giving the index of the next element,
// or closing, giving the index just past the container and done.
func (p *parser) next(end int, closing byte) (int, bool, error) {
	i := skipSpace(p.b, end)
	if i >= len(p.b) {
		return i, false, errAt(i)
	}
	switch p.b[i] {
	case closing:
		return i + 1, true, nil
	case ',':
		return skipSpace(p.b, i+1), false, nil
	}
	return i, false, errAt(i)
}
