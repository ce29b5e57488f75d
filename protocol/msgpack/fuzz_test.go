package msgpack

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/actorio/actorio/protocol/socketio"
)

// FuzzMsgpackDecode checks that Decode never panics, that what it accepts
// is a packet the rest of the server can take (valid JSON, placeholders
// matching its attachments), and that encoding it again and decoding that
// gives the same packet.
func FuzzMsgpackDecode(f *testing.F) {
	for _, s := range decodeCorpus() {
		f.Add(s.Values[0].([]byte))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, atts, err := Decode(in)
		if err != nil {
			if !errors.Is(err, socketio.ErrMalformed) {
				t.Fatalf("Decode(%x) error %v does not wrap ErrMalformed", in, err)
			}
			return
		}
		if p.Data != nil && !json.Valid(p.Data) {
			t.Fatalf("Decode(%x): invalid JSON %q", in, p.Data)
		}
		if p.Attachments != len(atts) || (len(atts) > 0 && !p.Type.IsBinary()) {
			t.Fatalf("Decode(%x) = %+v with %d attachments", in, p, len(atts))
		}
		if p.Type.IsBinary() {
			if err := socketio.CheckPlaceholders(p.Data, len(atts)); err != nil {
				t.Fatalf("Decode(%x): placeholders %q: %v", in, p.Data, err)
			}
		}
		if p.Type == socketio.Event || p.Type == socketio.BinaryEvent {
			if _, _, err := socketio.NewDecodedEventArgs(p.Data, atts); err != nil {
				t.Fatalf("Decode(%x): event %q the server cannot read: %v", in, p.Data, err)
			}
		}
		enc, err := AppendPacket(nil, p, atts)
		if err != nil {
			t.Fatalf("AppendPacket(Decode(%x)) = %v", in, err)
		}
		p2, atts2, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(AppendPacket(Decode(%x))) = %v (%x)", in, err, enc)
		}
		// AppendPacket writes the namespace "" as "/" (a packet of the
		// server's own has no other empty namespace); Decode keeps a
		// client's "" as "", a namespace no server has, as Node does.
		wantNsp := p.Namespace
		if wantNsp == "" {
			wantNsp = "/"
		}
		if p2.Type != p.Type || p2.Namespace != wantNsp || p2.ID != p.ID || p2.HasID != p.HasID ||
			!bytes.Equal(p2.Data, p.Data) || !reflect.DeepEqual(atts2, atts) && len(atts) > 0 {
			t.Fatalf("round trip of %x: %+v %q != %+v %q", in, p, p.Data, p2, p2.Data)
		}
	})
}

// FuzzMsgpackEncode checks that AppendPacket takes exactly the JSON that
// encoding/json takes (nesting aside), never panics, and that decoding its
// output gives the same JSON value back.
func FuzzMsgpackEncode(f *testing.F) {
	for _, s := range encodeCorpus() {
		f.Add(s.Values[0].([]byte), s.Values[1].(uint8))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		atts := make([][]byte, n%4)
		for i := range atts {
			atts[i] = []byte{byte(i), 0xff}
		}
		out, err := AppendPacket(nil, socketio.Packet{Type: socketio.Ack, ID: 1, HasID: true, Data: data}, atts)
		valid := json.Valid(data)
		if err != nil {
			if !errors.Is(err, socketio.ErrMalformed) {
				t.Fatalf("AppendPacket(%q) error %v does not wrap ErrMalformed", data, err)
			}
			if valid && !errors.Is(err, socketio.ErrTooDeep) {
				t.Fatalf("AppendPacket(%q) refused valid JSON: %v", data, err)
			}
			return
		}
		if !valid {
			t.Fatalf("AppendPacket(%q) accepted invalid JSON", data)
		}
		p, got, err := decodeAny(out)
		if err != nil {
			t.Fatalf("decode of AppendPacket(%q) = %v (%x)", data, err, out)
		}
		for _, b := range got {
			if !slices.ContainsFunc(atts, func(a []byte) bool { return bytes.Equal(a, b) }) {
				t.Fatalf("AppendPacket(%q): binary %x is no attachment", data, b)
			}
		}
		var want, back any
		if json.Unmarshal(data, &want) != nil {
			return
		}
		if err := json.Unmarshal(p, &back); err != nil {
			t.Fatalf("decoded %q: %v", p, err)
		}
		if len(atts) == 0 && !reflect.DeepEqual(want, back) {
			t.Fatalf("AppendPacket(%q) came back as %q", data, p)
		}
	})
}

// decodeAny reads back the data of an ACK that AppendPacket wrote, even
// when it is not an array.
func decodeAny(b []byte) ([]byte, [][]byte, error) {
	d := decoder{in: b}
	// The map header, "id", id 1, "type", 3, "data": 1+3+1+5+1+5 bytes.
	d.i = 16
	if _, err := d.value(0); err != nil {
		return nil, nil, err
	}
	return d.out, d.atts, nil
}
