package socketio

import "unicode/utf8"

// maxJSONDepth is the deepest nesting validJSON accepts: encoding/json's
// limit, which json.Valid applies too.
const maxJSONDepth = 10000

// validJSON reports whether b is exactly one well-formed JSON value
// (RFC 8259, optionally surrounded by whitespace) encoded as valid UTF-8,
// nested at most maxJSONDepth deep: what utf8.Valid and json.Valid accept
// together (FuzzValidJSON holds it to them), in one pass over b without
// json.Valid's state machine of function values, which was 7% of a
// server's CPU per echoed event. Containers are followed on a stack of
// bytes, not by recursion.
func validJSON(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	var buf [64]byte
	stack := buf[:0] // the containers open: '{' or '['
	i := skipSpace(b, 0)
value:
	if i >= len(b) {
		return false
	}
	switch b[i] {
	case '{', '[':
		if len(stack) == maxJSONDepth {
			return false
		}
		open, end := b[i], byte('}')
		if open == '[' {
			end = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == end {
			i++
			break
		}
		stack = append(stack, open)
		if open == '{' {
			if i = scanMemberName(b, i); i < 0 {
				return false
			}
		}
		goto value
	case '"':
		if i = scanString(b, i); i < 0 {
			return false
		}
	case 't':
		if i = scanLiteral(b, i, "true"); i < 0 {
			return false
		}
	case 'f':
		if i = scanLiteral(b, i, "false"); i < 0 {
			return false
		}
	case 'n':
		if i = scanLiteral(b, i, "null"); i < 0 {
			return false
		}
	default:
		if i = scanNumber(b, i); i < 0 {
			return false
		}
	}
	// After a value: the next one of its container, or its end.
	for {
		i = skipSpace(b, i)
		if len(stack) == 0 {
			return i == len(b)
		}
		if i >= len(b) {
			return false
		}
		top := stack[len(stack)-1]
		switch {
		case b[i] == ',':
			i = skipSpace(b, i+1)
			if top == '{' {
				if i = scanMemberName(b, i); i < 0 {
					return false
				}
			}
			goto value
		case top == '{' && b[i] == '}', top == '[' && b[i] == ']':
			stack = stack[:len(stack)-1]
			i++
		default:
			return false
		}
	}
}

// scanMemberName checks an object member's name and its colon at b[i] and
// returns the index of its value (whitespace skipped), or -1.
func scanMemberName(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = scanString(b, i); i < 0 {
		return -1
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

// scanString checks the string literal at b[i] (b[i] is '"') and returns
// the index just past it, or -1: no control character unescaped, only
// JSON's escapes.
func scanString(b []byte, i int) int {
	for i = plainRun(b, i+1); i < len(b); i = plainRun(b, i+1) {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, ok := hexRune(b, i+1); !ok {
					return -1
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// scanLiteral checks that lit is at b[i] and returns the index past it, or
// -1.
func scanLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}
