package socketio

import (
	"bytes"
	"strconv"
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
// event name: the number's shortest decimal text, as String(n) writes it
// for the numbers JSON carries in practice.
func numberName(lit []byte) (string, bool) {
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return "", false
	}
	return strconv.FormatFloat(f, 'f', -1, 64), true
}

// isNumberStart reports whether c starts a JSON number.
func isNumberStart(c byte) bool { return c == '-' || (c >= '0' && c <= '9') }
