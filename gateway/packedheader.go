package gateway

import (
	"encoding/binary"
	"net/http"
	"strings"
)

// packedHeader holds a request's headers in one string, as a session keeps
// them for its whole life: net/http's map with a slice per key costs two to
// three times the bytes of the headers themselves, for every idle
// connection. Each key is its length (uvarint), the key, its number of
// values (uvarint), then each value as its length and bytes.
type packedHeader string

// packHeader packs h in one allocation of the exact size (a handshake
// makes one: it was a buffer sized for the longest lengths, then a copy).
func packHeader(h http.Header) packedHeader {
	n := 0
	for k, vs := range h {
		n += uvarintLen(len(k)) + len(k) + uvarintLen(len(vs))
		for _, v := range vs {
			n += uvarintLen(len(v)) + len(v)
		}
	}
	var b strings.Builder
	b.Grow(n)
	var lb [binary.MaxVarintLen64]byte
	put := func(x int) { b.Write(binary.AppendUvarint(lb[:0], uint64(x))) }
	for k, vs := range h {
		put(len(k))
		b.WriteString(k)
		put(len(vs))
		for _, v := range vs {
			put(len(v))
			b.WriteString(v)
		}
	}
	return packedHeader(b.String())
}

// uvarintLen returns how many bytes x takes as a uvarint.
func uvarintLen(x int) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// header unpacks p into a new map whose strings share p's bytes.
func (p packedHeader) header() http.Header {
	keys, vals := 0, 0
	for i := 0; i < len(p); {
		var n, nv int
		n, i = p.uvarint(i)
		i += n
		nv, i = p.uvarint(i)
		keys++
		vals += nv
		for range nv {
			n, i = p.uvarint(i)
			i += n
		}
	}
	h := make(http.Header, keys)
	all := make([]string, vals)
	for i := 0; i < len(p); {
		var n, nv int
		n, i = p.uvarint(i)
		k := string(p[i : i+n])
		i += n
		nv, i = p.uvarint(i)
		vs := all[:nv:nv]
		all = all[nv:]
		for j := range nv {
			n, i = p.uvarint(i)
			vs[j] = string(p[i : i+n])
			i += n
		}
		h[k] = vs
	}
	return h
}

// uvarint reads the uvarint at i and returns it with the index after it.
func (p packedHeader) uvarint(i int) (int, int) {
	v, n := 0, 0
	for shift := 0; ; shift += 7 {
		c := p[i+n]
		n++
		v |= int(c&0x7f) << shift
		if c < 0x80 {
			return v, i + n
		}
	}
}
