package gateway

import (
	"net/url"
	"strings"
)

// maxScannedParams is the number of query parameters up to which
// queryValue scans the query itself; past it, it leaves the query to
// url.ParseQuery, whose own limit on parameters then applies.
const maxScannedParams = 64

// queryValue returns what url.ParseQuery(raw).Get(key) returns: see
// queryValues.
func queryValue(raw, key string) string {
	var v [1]string
	queryValues(raw, []string{key}, v[:])
	return v[0]
}

// queryValues sets vals[i] to what url.ParseQuery(raw).Get(keys[i])
// returns (the first value of the key, with the pairs ParseQuery drops
// skipped: those holding a semicolon or a bad escape), in one pass and
// without making the map: every request of a session looks up its sid,
// transport and EIO, and a long-polling client sends two requests per
// message.
func queryValues(raw string, keys, vals []string) {
	clear(vals)
	if strings.Count(raw, "&") >= maxScannedParams {
		q, _ := url.ParseQuery(raw)
		for i, k := range keys {
			vals[i] = q.Get(k)
		}
		return
	}
	var found uint64 // bit i: keys[i] has its value
	for raw != "" && found != 1<<len(keys)-1 {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, ok := unescapeQuery(k)
		if !ok {
			continue
		}
		for i, key := range keys {
			if found&(1<<i) != 0 || k != key {
				continue
			}
			if v, ok := unescapeQuery(v); ok {
				vals[i] = v
				found |= 1 << i
			}
			break
		}
	}
}

// unescapeQuery is url.QueryUnescape, without its work for the plain
// strings that query keys and session ids are.
func unescapeQuery(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, true
	}
	u, err := url.QueryUnescape(s)
	return u, err == nil
}
