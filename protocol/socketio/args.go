package socketio

import (
	"encoding/json"
	"fmt"
)

// Args are the arguments of a received event or acknowledgement: raw JSON
// values plus the binary attachments their placeholders point to.
type Args struct {
	raw  []json.RawMessage
	atts [][]byte
}

// NewArgs splits the JSON array data into arguments, dropping the first
// skip elements (1 for an event's name).
func NewArgs(data []byte, atts [][]byte, skip int) (Args, error) {
	elems, err := SplitArray(data)
	if err != nil {
		return Args{}, fmt.Errorf("split arguments: %w", err)
	}
	if skip > len(elems) {
		skip = len(elems)
	}
	return Args{raw: elems[skip:], atts: atts}, nil
}

// Len returns the number of arguments.
func (a Args) Len() int { return len(a.raw) }

// Raw returns argument i as received, with binary attachments still as
// placeholders; nil when out of range.
func (a Args) Raw(i int) json.RawMessage {
	if i < 0 || i >= len(a.raw) {
		return nil
	}
	return a.raw[i]
}

// Value returns argument i as a generic value: Object, []any, json.Number,
// string, bool, nil, or []byte for a binary attachment.
func (a Args) Value(i int) (any, error) {
	if i < 0 || i >= len(a.raw) {
		return nil, fmt.Errorf("argument %d of %d: %w", i, len(a.raw), ErrNoArg)
	}
	v, err := ParseValue(a.raw[i], a.atts)
	if err != nil {
		return nil, fmt.Errorf("argument %d: %w", i, err)
	}
	return v, nil
}

// Decode unmarshals argument i into v with encoding/json; a binary
// attachment fills a []byte at any depth.
func (a Args) Decode(i int, v any) error {
	if i < 0 || i >= len(a.raw) {
		return fmt.Errorf("argument %d of %d: %w", i, len(a.raw), ErrNoArg)
	}
	raw := a.raw[i]
	if len(a.atts) > 0 && HasPlaceholder(raw) {
		tree, err := ParseValue(raw, a.atts)
		if err != nil {
			return fmt.Errorf("argument %d: %w", i, err)
		}
		if b, ok := tree.([]byte); ok {
			if p, ok := v.(*[]byte); ok {
				*p = b
				return nil
			}
		}
		// encoding/json writes []byte as base64 and reads it back into
		// []byte fields, so a tree with attachments decodes as expected.
		if raw, err = json.Marshal(tree); err != nil {
			return fmt.Errorf("argument %d: %w", i, err)
		}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("argument %d: %w", i, err)
	}
	return nil
}

// String returns argument i when it is a JSON string, else "".
func (a Args) String(i int) string {
	var s string
	if a.Decode(i, &s) != nil {
		return ""
	}
	return s
}

// Bytes returns argument i when it is a binary attachment, else nil.
func (a Args) Bytes(i int) []byte {
	v, err := a.Value(i)
	if err != nil {
		return nil
	}
	b, _ := v.([]byte)
	return b
}

// Values returns every argument in a form Emit and ack send back unchanged:
// key order, number text and binary attachments are kept.
func (a Args) Values() []any {
	out := make([]any, len(a.raw))
	for i, raw := range a.raw {
		if len(a.atts) > 0 && HasPlaceholder(raw) {
			if v, err := ParseValue(raw, a.atts); err == nil {
				out[i] = v
				continue
			}
		}
		out[i] = raw
	}
	return out
}

// From returns the arguments from index i on (none when i is past the end).
func (a Args) From(i int) Args {
	if i < 0 {
		i = 0
	}
	if i > len(a.raw) {
		i = len(a.raw)
	}
	return Args{raw: a.raw[i:], atts: a.atts}
}

// NewEventArgs splits an EVENT payload into the event name and its
// arguments.
func NewEventArgs(data []byte, atts [][]byte) (string, Args, error) {
	name, elems, err := EventName(data)
	if err != nil {
		return "", Args{}, err
	}
	return name, Args{raw: elems, atts: atts}, nil
}

// NewDecodedEventArgs is NewEventArgs for the Data of an EVENT packet that
// Decode returned, which it has already checked to be valid JSON: it does
// not check it again.
func NewDecodedEventArgs(data []byte, atts [][]byte) (string, Args, error) {
	name, elems, err := eventName(data)
	if err != nil {
		return "", Args{}, err
	}
	return name, Args{raw: elems, atts: atts}, nil
}
