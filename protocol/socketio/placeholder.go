package socketio

import (
	"bytes"
	"fmt"
	"math"
)

// placeholderKind classifies a JSON object with respect to the binary placeholder form.
type placeholderKind int

const (
	// notPlaceholder is an ordinary object.
	notPlaceholder placeholderKind = iota
	// validPlaceholder is {"_placeholder":true,"num":N} with N a non-negative decimal integer.
	validPlaceholder
	// badPlaceholder has the placeholder form but its num is not a usable index.
	badPlaceholder
)

// maxKeyLiteral bounds the raw length of a key literal that could still decode
// to "_placeholder" (every character written as a six-byte \u escape, plus quotes).
const maxKeyLiteral = 6*len("_placeholder") + 2

// placeholderKey classifies an object key literal: 1 for "_placeholder", 2 for "num", 0 otherwise.
func placeholderKey(lit []byte) int {
	switch string(lit) {
	case `"_placeholder"`:
		return 1
	case `"num"`:
		return 2
	}
	if len(lit) > maxKeyLiteral || bytes.IndexByte(lit, '\\') < 0 {
		return 0
	}
	var buf [maxKeyLiteral]byte
	k, ok := appendUnquote(buf[:0], lit)
	if !ok {
		return 0
	}
	switch string(k) {
	case "_placeholder":
		return 1
	case "num":
		return 2
	}
	return 0
}

// matchPlaceholder classifies the object starting at b[i] (which should be
// '{'), returning the index just past it when it has the placeholder form.
//
// The placeholder form is an object with exactly two members whose keys
// decode to "_placeholder" and "num" (in either order), the former with the
// literal value true and the latter with a scalar value. The num value must be
// a plain decimal integer (no sign, fraction or exponent) for the placeholder
// to be valid; otherwise the object is reported as a bad placeholder. Any
// other object, including one whose num is an object or array, is ordinary.
// The work done is bounded by the length of the two members, never by the
// nesting below them.
func matchPlaceholder(b []byte, i int) (kind placeholderKind, num int, end int) {
	if i < 0 || i >= len(b) || b[i] != '{' {
		return notPlaceholder, 0, 0
	}
	var sawFlag, sawNum bool
	var numLit []byte
	j := i + 1
	for m := 0; m < 2; m++ {
		j = skipSpace(b, j)
		if m == 1 {
			if j >= len(b) || b[j] != ',' {
				return notPlaceholder, 0, 0
			}
			j = skipSpace(b, j+1)
		}
		ke := skipString(b, j)
		if ke < 0 {
			return notPlaceholder, 0, 0
		}
		key := placeholderKey(b[j:ke])
		if key == 0 {
			return notPlaceholder, 0, 0
		}
		j = skipSpace(b, ke)
		if j >= len(b) || b[j] != ':' {
			return notPlaceholder, 0, 0
		}
		j = skipSpace(b, j+1)
		if j >= len(b) || b[j] == '{' || b[j] == '[' {
			return notPlaceholder, 0, 0
		}
		ve := skipValue(b, j)
		if ve < 0 {
			return notPlaceholder, 0, 0
		}
		switch key {
		case 1:
			if sawFlag || string(b[j:ve]) != "true" {
				return notPlaceholder, 0, 0
			}
			sawFlag = true
		case 2:
			if sawNum {
				return notPlaceholder, 0, 0
			}
			sawNum = true
			numLit = b[j:ve]
		}
		j = ve
	}
	j = skipSpace(b, j)
	if j >= len(b) || b[j] != '}' {
		return notPlaceholder, 0, 0
	}
	n, ok := parseDecimal(numLit, math.MaxInt32)
	if !ok {
		return badPlaceholder, 0, j + 1
	}
	return validPlaceholder, int(n), j + 1
}

// scanPlaceholders calls visit with the num of every valid placeholder object
// in b, in textual order, until visit returns false. It returns an error
// wrapping ErrBadPlaceholder for an object of placeholder form with an
// unusable num. b must already be valid JSON. The scan is iterative.
func scanPlaceholders(b []byte, visit func(num int) bool) error {
	for i := 0; i < len(b); {
		switch b[i] {
		case '"':
			e := skipString(b, i)
			if e < 0 {
				return fmt.Errorf("unterminated string: %w", ErrInvalidJSON)
			}
			i = e
		case '{':
			kind, num, end := matchPlaceholder(b, i)
			switch kind {
			case validPlaceholder:
				if !visit(num) {
					return nil
				}
				i = end
			case badPlaceholder:
				return fmt.Errorf("%w: num is not a non-negative integer at offset %d", ErrBadPlaceholder, i)
			default:
				i++
			}
		default:
			i++
		}
	}
	return nil
}

// hasPlaceholderHint reports whether raw may contain a placeholder key: either
// the literal key or a \u escape that could spell it.
func hasPlaceholderHint(raw []byte) bool {
	return bytes.Contains(raw, []byte(`"_placeholder"`)) || bytes.Contains(raw, []byte(`\u`))
}

// HasPlaceholder reports whether the raw JSON raw contains at least one object
// of the binary placeholder form {"_placeholder":true,"num":N} (valid or not,
// see CheckPlaceholders); it reports false for invalid JSON.
func HasPlaceholder(raw []byte) bool {
	if !hasPlaceholderHint(raw) || !validJSON(raw) {
		return false
	}
	found := false
	err := scanPlaceholders(raw, func(int) bool {
		found = true
		return false
	})
	return found || err != nil
}

// CountPlaceholders returns the number of valid placeholder objects in the raw
// JSON raw (duplicates counted), failing on invalid JSON or a placeholder
// whose num is not a non-negative integer.
func CountPlaceholders(raw []byte) (int, error) {
	if !hasPlaceholderHint(raw) {
		if !validJSON(raw) {
			return 0, fmt.Errorf("socketio: count placeholders: %w", ErrInvalidJSON)
		}
		return 0, nil
	}
	if !validJSON(raw) {
		return 0, fmt.Errorf("socketio: count placeholders: %w", ErrInvalidJSON)
	}
	n := 0
	if err := scanPlaceholders(raw, func(int) bool { n++; return true }); err != nil {
		return 0, fmt.Errorf("socketio: count placeholders: %w", err)
	}
	return n, nil
}

// CheckPlaceholders verifies that the placeholders in the raw JSON raw match
// the announced attachment count: their nums must be exactly 0..announced-1,
// each appearing once (in any order).
//
// A placeholder is an object with exactly two members, keys "_placeholder"
// and "num" in either order (escapes allowed), the first with the literal
// value true and the second with a scalar value; num must then be a plain
// decimal integer (no sign, fraction or exponent). Objects that differ in any
// other way, such as an extra member or a false flag, are ordinary objects.
//
// It fails with an error wrapping ErrInvalidJSON for invalid JSON and
// ErrBadPlaceholder otherwise, including when announced is negative or above
// MaxAttachments.
func CheckPlaceholders(raw []byte, announced int) error {
	if !validJSON(raw) {
		return fmt.Errorf("socketio: check placeholders: %w", ErrInvalidJSON)
	}
	if announced < 0 || announced > MaxAttachments {
		return fmt.Errorf("%w: announced count %d outside 0..%d", ErrBadPlaceholder, announced, MaxAttachments)
	}
	if announced == 0 && !hasPlaceholderHint(raw) {
		return nil
	}
	var seen [(MaxAttachments + 63) / 64]uint64
	count := 0
	var bad error
	err := scanPlaceholders(raw, func(num int) bool {
		if num >= announced {
			bad = fmt.Errorf("%w: num %d out of range for %d attachments", ErrBadPlaceholder, num, announced)
			return false
		}
		w, bit := num/64, uint64(1)<<(num%64)
		if seen[w]&bit != 0 {
			bad = fmt.Errorf("%w: num %d used twice", ErrBadPlaceholder, num)
			return false
		}
		seen[w] |= bit
		count++
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return fmt.Errorf("socketio: check placeholders: %w", err)
	}
	if count != announced {
		return fmt.Errorf("socketio: check placeholders: %w: %d announced, %d found", ErrBadPlaceholder, announced, count)
	}
	return nil
}
