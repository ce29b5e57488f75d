package socketio

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
)

// ReservedEvents are the event names Socket.IO keeps for its own lifecycle:
// a peer may neither send nor emit an event of one of these names.
var ReservedEvents = []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

// IsReserved reports whether name is one of ReservedEvents.
func IsReserved(name string) bool {
	for _, r := range ReservedEvents {
		if name == r {
			return true
		}
	}
	return false
}

// HasReservedName reports whether the EVENT or BINARY_EVENT payload data,
// valid JSON as Decode returns it, names a reserved event. The official
// parser refuses such a packet as malformed. It costs a few comparisons
// and allocates only for an escaped name.
func HasReservedName(data []byte) bool {
	k := skipSpace(data, 0)
	if k >= len(data) || data[k] != '[' {
		return false
	}
	k = skipSpace(data, k+1)
	end := skipString(data, k)
	if end < 0 {
		return false
	}
	lit := data[k:end]
	if bytes.IndexByte(lit, '\\') < 0 {
		lit = lit[1 : len(lit)-1]
		for _, r := range ReservedEvents {
			if string(lit) == r {
				return true
			}
		}
		return false
	}
	name, ok := unquote(lit)
	return ok && IsReserved(name)
}

// numberName returns the event name a JavaScript peer gives a numeric
// event name: String(n), the number's shortest round-trip decimal text,
// in exponent form from 1e21 up and below 1e-6, and "Infinity" for a
// number too large for a float64 (1e1000), as JSON.parse makes it.
func numberName(lit []byte) (string, bool) {
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return "", false
	}
	switch a := math.Abs(f); {
	case math.IsInf(f, 1):
		return "Infinity", true
	case math.IsInf(f, -1):
		return "-Infinity", true
	case a == 0:
		return "0", true // JavaScript's String(-0) is "0" too
	case a >= 1e21 || a < 1e-6:
		// Go writes "1e+21" and "1.5e-07"; JavaScript "1e+21" and "1.5e-7".
		m, e, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
		sign, digits := e[:1], strings.TrimLeft(e[1:], "0")
		return m + "e" + sign + digits, true
	default:
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
}

// isNumberStart reports whether c starts a JSON number.
func isNumberStart(c byte) bool { return c == '-' || (c >= '0' && c <= '9') }
