package socketio

import (
	"encoding/json"
	"fmt"
)

// SplitArray splits the raw JSON array raw into its elements.
//
// Each element is a byte-exact sub-slice of raw (no re-encoding, surrounding
// whitespace trimmed, capacity clipped to its length). An empty array yields
// a nil slice and no error. Invalid JSON yields an error wrapping
// ErrInvalidJSON; any other JSON value yields one wrapping ErrNotArray.
func SplitArray(raw []byte) ([]json.RawMessage, error) {
	if !validJSON(raw) {
		return nil, fmt.Errorf("socketio: split array: %w", ErrInvalidJSON)
	}
	return splitValidArray(raw)
}

// splitValidArray is SplitArray for raw already known to be valid JSON.
func splitValidArray(raw []byte) ([]json.RawMessage, error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return nil, fmt.Errorf("socketio: split array: %w", ErrNotArray)
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return nil, nil
	}
	n := countElements(raw[i:])
	elems := make([]json.RawMessage, 0, n)
	for i < len(raw) {
		end := skipValue(raw, i)
		if end < 0 {
			return nil, fmt.Errorf("socketio: split array: element %d: %w", len(elems), ErrInvalidJSON)
		}
		elems = append(elems, json.RawMessage(raw[i:end:end]))
		i = skipSpace(raw, end)
		if i >= len(raw) {
			break
		}
		if raw[i] == ']' {
			return elems, nil
		}
		if raw[i] != ',' {
			break
		}
		i = skipSpace(raw, i+1)
	}
	return nil, fmt.Errorf("socketio: split array: %w", ErrInvalidJSON)
}

// countElements returns the number of top-level elements of the array whose
// body (after '[') starts b, assuming it is non-empty and well-formed.
func countElements(b []byte) int {
	n, depth := 1, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			e := skipString(b, i)
			if e < 0 {
				return n
			}
			i = e - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return n
			}
			depth--
		case ',':
			if depth == 0 {
				n++
			}
		}
	}
	return n
}

// EventName returns the event name (the first element, unescaped) of the
// EVENT or BINARY_EVENT payload data and the raw remaining arguments as
// byte-exact sub-slices of data. A numeric name (which the official parser
// accepts) is returned as JavaScript's String(n) writes it: 1 gives "1".
//
// It fails with an error wrapping ErrMalformed when data is not a JSON array
// whose first element is a string or a number.
func EventName(data []byte) (name string, args []json.RawMessage, err error) {
	if !validJSON(data) {
		return "", nil, fmt.Errorf("%w: event payload: %w", ErrMalformed, ErrInvalidJSON)
	}
	return eventName(data)
}

// eventName is EventName for data already known to be valid JSON.
func eventName(data []byte) (name string, args []json.RawMessage, err error) {
	elems, err := splitValidArray(data)
	if err != nil {
		return "", nil, fmt.Errorf("%w: event payload: %w", ErrMalformed, err)
	}
	if len(elems) == 0 || len(elems[0]) == 0 {
		return "", nil, fmt.Errorf("%w: event payload must start with a string or number event name", ErrMalformed)
	}
	if isNumberStart(elems[0][0]) {
		name, ok := numberName(elems[0])
		if !ok {
			return "", nil, fmt.Errorf("%w: event name: %w", ErrMalformed, ErrInvalidJSON)
		}
		return name, elems[1:], nil
	}
	if elems[0][0] != '"' {
		return "", nil, fmt.Errorf("%w: event payload must start with a string or number event name", ErrMalformed)
	}
	name, ok := unquote(elems[0])
	if !ok {
		return "", nil, fmt.Errorf("%w: event name: %w", ErrMalformed, ErrInvalidJSON)
	}
	return name, elems[1:], nil
}
