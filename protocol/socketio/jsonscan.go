package socketio

import (
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the small, allocation-free JSON scanning helpers shared by
// the package. They never index out of range, but they only fully make sense
// on input already accepted by validJSON.

// isSpace reports whether c is insignificant JSON whitespace.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// skipSpace returns the index of the first non-whitespace byte of b at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the JSON string literal starting at
// b[i], or -1 if b[i] is not '"' or the literal is unterminated.
func skipString(b []byte, i int) int {
	if i < 0 || i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// anyBelow is not zero if and only if some byte of x is below n, for n up
// to 0x80 (the high bit of each such byte is set, and maybe of bytes above
// it, which the subtraction borrowed from).
func anyBelow(x, n uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	return (x - ones*n) &^ x & highs
}

// plainRun returns the index of the first byte of b at or after i that is
// '"', '\\' or a control character (below 0x20), or len(b): the end of a
// string literal's run of bytes that need no look. It tests eight bytes at
// a time.
func plainRun(b []byte, i int) int {
	const ones = 0x0101010101010101
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// x ^ c*ones has a zero byte where x has the byte c.
		if anyBelow(x, 0x20)|anyBelow(x^(ones*'"'), 1)|anyBelow(x^(ones*'\\'), 1) != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

// skipValue returns the index just past the JSON value starting at b[i], or -1
// if none can be delimited. Containers are skipped iteratively, so arbitrary
// nesting costs no stack.
func skipValue(b []byte, i int) int {
	if i < 0 || i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				if i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		start := i
		for i < len(b) && !isSpace(b[i]) && b[i] != ',' && b[i] != ']' && b[i] != '}' && b[i] != ':' {
			i++
		}
		if i == start {
			return -1
		}
		return i
	}
}

// hexRune decodes the four hexadecimal digits at s[i:i+4].
func hexRune(s []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendUnquote appends the decoded contents of the JSON string literal lit
// (quotes included) to dst. Unpaired UTF-16 surrogates decode to U+FFFD, as
// in encoding/json. It reports false if lit is not a well-formed literal.
func appendUnquote(dst, lit []byte) ([]byte, bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return dst, false
	}
	s := lit[1 : len(lit)-1]
	for i := 0; i < len(s); {
		c := s[i]
		if c == '"' || c < 0x20 {
			return dst, false
		}
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' && s[j] != '"' && s[j] >= 0x20 {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(s) {
			return dst, false
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hexRune(s, i+2)
			if !ok {
				return dst, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if r < 0xDC00 && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2, ok = hexRune(s, i+2)
				}
				if ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
					r = utf16.DecodeRune(r, r2)
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, false
		}
		i += 2
	}
	return dst, true
}

// unquote returns the decoded contents of the JSON string literal lit.
func unquote(lit []byte) (string, bool) {
	if len(lit) >= 2 && lit[0] == '"' && lit[len(lit)-1] == '"' {
		inner := lit[1 : len(lit)-1]
		simple := true
		for _, c := range inner {
			if c == '\\' || c == '"' || c < 0x20 {
				simple = false
				break
			}
		}
		if simple {
			return string(inner), true
		}
	}
	b, ok := appendUnquote(nil, lit)
	if !ok {
		return "", false
	}
	return string(b), true
}

// readString returns the decoded contents of the JSON string literal
// starting at b[i] and the index just past it; it reports false if there is
// no well-formed literal there. A literal without escapes is read in one pass.
func readString(b []byte, i int) (string, int, bool) {
	if i < 0 || i >= len(b) || b[i] != '"' {
		return "", i, false
	}
	for j := i + 1; j < len(b); j++ {
		if c := b[j]; c == '"' {
			return string(b[i+1 : j]), j + 1, true
		} else if c == '\\' || c < 0x20 {
			break
		}
	}
	end := skipString(b, i)
	if end < 0 {
		return "", i, false
	}
	s, ok := unquote(b[i:end])
	if !ok {
		return "", i, false
	}
	return s, end, true
}

// validNumber reports whether s follows the JSON number grammar.
func validNumber(s string) bool { return scanNumber(s, 0) == len(s) }

// scanNumber checks the number at s[i] and returns the index just past it,
// or -1: an optional minus, 0 or digits not starting with 0, an optional
// fraction, an optional exponent.
func scanNumber[S ~string | ~[]byte](s S, i int) int {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = skipDigits(s, i+1)
	default:
		return -1
	}
	if i < len(s) && s[i] == '.' {
		j := skipDigits(s, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := skipDigits(s, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// skipDigits returns the index of the first byte of s at or after i that is
// not a decimal digit.
func skipDigits[S ~string | ~[]byte](s S, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
