package node

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Line is one line printed by a script's out(ev, ...args).
type Line struct {
	Ev   string            `json:"ev"`
	Args []json.RawMessage `json:"args"`
	// Raw is the line as printed, without the trailing newline.
	Raw string `json:"-"`

	bad bool // not a JSON object with an "ev" field
}

// String returns the raw line.
func (l Line) String() string { return l.Raw }

// Decode unmarshals argument i into v with encoding/json. Use [Bin] for
// fields that hold bytes sent as {"$bin": ...}.
func (l Line) Decode(i int, v any) error {
	if i < 0 || i >= len(l.Args) {
		return fmt.Errorf("node: line %q has %d args, no arg %d", l.Ev, len(l.Args), i)
	}
	return json.Unmarshal(l.Args[i], v)
}

// Arg returns argument i decoded generically: JSON objects become
// map[string]any, arrays []any, numbers float64, and {"$bin": b64}
// becomes []byte. A missing argument is nil.
func (l Line) Arg(i int) any {
	if i < 0 || i >= len(l.Args) {
		return nil
	}
	var v any
	if err := json.Unmarshal(l.Args[i], &v); err != nil {
		return nil
	}
	return unbin(v)
}

// Values returns all arguments as [Line.Arg] does.
func (l Line) Values() []any {
	vs := make([]any, len(l.Args))
	for i := range l.Args {
		vs[i] = l.Arg(i)
	}
	return vs
}

func unbin(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["$bin"].(string); ok && len(x) == 1 {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				return b
			}
		}
		for k, e := range x {
			x[k] = unbin(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = unbin(e)
		}
		return x
	default:
		return v
	}
}

// Bin is a byte slice that travels between Go and the prelude as
// {"$bin": "<base64>"}. Values of this type passed to [Proc.Send] reach
// the script as Buffers, and Buffers/Uint8Arrays printed by out() can be
// decoded into it.
type Bin []byte

// MarshalJSON implements json.Marshaler.
func (b Bin) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"$bin": base64.StdEncoding.EncodeToString(b)})
}

// UnmarshalJSON implements json.Unmarshaler.
func (b *Bin) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		*b = nil
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("node: Bin wants {\"$bin\": base64}: %w", err)
	}
	s, ok := m["$bin"]
	if !ok || len(m) != 1 {
		return errors.New("node: Bin wants an object with the single key \"$bin\"")
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("node: Bin: %w", err)
	}
	*b = raw
	return nil
}
