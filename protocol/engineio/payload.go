package engineio

import (
	"bytes"
	"encoding/base64"
	"fmt"
)

// Separator is the record separator that joins packets in a long-polling payload.
const Separator byte = 0x1e

// AppendPayload appends the long-polling encoding of pkts to dst: packets
// are joined by [Separator], and binary Message packets are written as 'b'
// followed by the standard base64 encoding of Data.
func AppendPayload(dst []byte, pkts []Packet) []byte {
	for i, p := range pkts {
		if i > 0 {
			dst = append(dst, Separator)
		}
		if p.Binary && p.Type == Message {
			dst = append(dst, 'b')
			dst = base64.StdEncoding.AppendEncode(dst, p.Data)
			continue
		}
		dst = AppendText(dst, p)
	}
	return dst
}

// PayloadLen returns the number of bytes AppendPayload would append for pkts.
func PayloadLen(pkts []Packet) int {
	n := 0
	for i, p := range pkts {
		if i > 0 {
			n++
		}
		if p.Binary && p.Type == Message {
			n += 1 + base64.StdEncoding.EncodedLen(len(p.Data))
			continue
		}
		n += 1 + len(p.Data)
	}
	return n
}

// DecodePayload decodes a long-polling body into its packets.
//
// Text packets alias body; binary packets get freshly allocated Data. An
// empty body or packet, an unknown type, bad base64 or invalid UTF-8 is an
// error wrapping [ErrMalformed].
func DecodePayload(body []byte) ([]Packet, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("empty payload: %w", ErrMalformed)
	}
	pkts := make([]Packet, 0, bytes.Count(body, []byte{Separator})+1)
	for i := 0; len(body) > 0; i++ {
		var rec []byte
		if j := bytes.IndexByte(body, Separator); j >= 0 {
			rec, body = body[:j], body[j+1:]
			if len(body) == 0 {
				// A trailing separator announces one more, empty, packet.
				return nil, fmt.Errorf("packet %d: empty packet after separator: %w", i+1, ErrMalformed)
			}
		} else {
			rec, body = body, nil
		}
		p, err := decodeRecord(rec)
		if err != nil {
			return nil, fmt.Errorf("packet %d: %w", i, err)
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// decodeRecord decodes one packet of a payload.
func decodeRecord(rec []byte) (Packet, error) {
	if len(rec) > 0 && rec[0] == 'b' {
		enc := base64.StdEncoding
		data := make([]byte, enc.DecodedLen(len(rec)-1))
		n, err := enc.Decode(data, rec[1:])
		if err != nil {
			return Packet{}, fmt.Errorf("bad base64 (%w): %w", err, ErrMalformed)
		}
		return Packet{Type: Message, Data: data[:n], Binary: true}, nil
	}
	return decodeText(rec)
}
