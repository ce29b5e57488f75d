package actors

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/actorio/actorio/protocol/socketio"
)

// Socket.IO v2 clients (protocol 4), over the Engine.IO v3 sessions that
// the gateway serves with Config.AllowEIO3, differ from v5 clients where
// they join a namespace, as Node's server handles them for
// conn.protocol === 3:
//
//   - the connection is in the main namespace "/" from its start, without
//     a CONNECT from the client (Runtime.Open joins it);
//   - a CONNECT carries no payload: the query of its namespace
//     ("/admin?token=x") is the socket's auth ({"token":"x"});
//   - the server's CONNECT carries no payload either ("0", "0/admin,");
//   - a socket's id is not random: it is the Engine.IO session id in "/",
//     "<namespace>#<session id>" elsewhere, which the v2 client computes
//     for itself;
//   - a refusal by middleware is an ERROR packet whose payload is the
//     refusal's data when it has one, its message otherwise.
//
// Events, acks and their binary attachments are the same packets.

// v2Connect splits the namespace of a v2 client's CONNECT into the
// namespace's name and the auth the query stands for: a JSON object of its
// parameters, decoded as URLSearchParams does, in the order they first
// appear, the last value of a name winning (nil without a query or with
// no parameter).
func v2Connect(nsp string) (string, []byte) {
	name, query, ok := strings.Cut(nsp, "?")
	if !ok {
		return nsp, nil
	}
	var auth socketio.Object
	for pair := range strings.SplitSeq(query, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, v = queryUnescape(k), queryUnescape(v)
		i := 0
		for i < len(auth) && auth[i].Key != k {
			i++
		}
		if i < len(auth) {
			auth[i].Value = v
			continue
		}
		auth = append(auth, socketio.Member{Key: k, Value: v})
	}
	if name == "" {
		name = "/"
	}
	if len(auth) == 0 {
		return name, nil
	}
	b, err := auth.MarshalJSON()
	if err != nil {
		return name, nil
	}
	return name, b
}

// queryUnescape decodes one name or value of a query, '+' as a space; a
// malformed escape leaves it as it is.
func queryUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return strings.ReplaceAll(s, "+", " ")
}

// v2SocketID returns the id of the socket of a v2 client in namespace nsp
// on Engine.IO session sid.
func v2SocketID(nsp, sid string) string {
	if nsp == "/" {
		return sid
	}
	return nsp + "#" + sid
}

// v2ErrorPayload turns the payload of a v5 CONNECT_ERROR,
// {"message":…,"data":…}, into that of the v2 ERROR packet Node sends for
// the same refusal: data when it is truthy in JavaScript, else message.
func v2ErrorPayload(payload []byte) []byte {
	var body struct {
		Message json.RawMessage `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(payload, &body); err != nil {
		return payload
	}
	if truthy(body.Data) {
		return body.Data
	}
	if len(body.Message) > 0 {
		return body.Message
	}
	return payload
}

// truthy reports whether the JSON value v is truthy in JavaScript: present
// and not null, false, zero or the empty string.
func truthy(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0, string(v) == "null", string(v) == "false", string(v) == `""`:
		return false
	case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
		f, err := strconv.ParseFloat(string(v), 64)
		return err != nil || f != 0
	}
	return true
}
