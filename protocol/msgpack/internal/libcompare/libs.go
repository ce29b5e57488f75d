package libcompare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tinylib/msgp/msgp"
	vm "github.com/vmihailenco/msgpack/v5"

	"github.com/actorio/actorio/protocol/socketio"
)

// packet is the npm parser's map, keys in the order Node's server writes
// an event's.
type packet struct {
	Type int    `msgpack:"type"`
	Data any    `msgpack:"data,omitempty"`
	ID   *int64 `msgpack:"id,omitempty"`
	Nsp  string `msgpack:"nsp"`
}

// tree reads JSON data into a tree of any, placeholders replaced by their
// attachments. Map key order is lost: a library's generic decoding has no
// ordered map.
func tree(data []byte, atts [][]byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return unplace(v, atts), nil
}

func unplace(v any, atts [][]byte) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 2 && x["_placeholder"] == true {
			if n, ok := x["num"].(json.Number); ok {
				if i, err := strconv.Atoi(string(n)); err == nil && i >= 0 && i < len(atts) {
					return atts[i]
				}
			}
		}
		for k, e := range x {
			x[k] = unplace(e, atts)
		}
	case []any:
		for i, e := range x {
			x[i] = unplace(e, atts)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// place is unplace's reverse: binaries become placeholders.
func place(v any, atts *[][]byte) any {
	switch x := v.(type) {
	case []byte:
		*atts = append(*atts, x)
		return socketio.Object{{Key: "_placeholder", Value: true}, {Key: "num", Value: len(*atts) - 1}}
	case map[string]any:
		for k, e := range x {
			x[k] = place(e, atts)
		}
	case []any:
		for i, e := range x {
			x[i] = place(e, atts)
		}
	}
	return v
}

// vmEncode translates a text frame with vmihailenco/msgpack.
func vmEncode(frame []byte, atts [][]byte) ([]byte, error) {
	p, err := socketio.Decode(frame)
	if err != nil {
		return nil, err
	}
	out := packet{Type: int(p.Type), Nsp: p.Namespace}
	if p.Type == socketio.BinaryEvent {
		out.Type = int(socketio.Event)
	}
	if p.HasID {
		id := int64(p.ID)
		out.ID = &id
	}
	if p.Data != nil {
		if out.Data, err = tree(p.Data, atts); err != nil {
			return nil, err
		}
	}
	return vm.Marshal(&out)
}

// vmDecode translates the npm parser's bytes with vmihailenco/msgpack.
func vmDecode(b []byte) (socketio.Packet, [][]byte, error) {
	var in struct {
		Type int    `msgpack:"type"`
		Data any    `msgpack:"data"`
		ID   *int64 `msgpack:"id"`
		Nsp  string `msgpack:"nsp"`
	}
	if err := vm.Unmarshal(b, &in); err != nil {
		return socketio.Packet{}, nil, err
	}
	p := socketio.Packet{Type: socketio.PacketType(in.Type), Namespace: in.Nsp}
	if in.ID != nil {
		p.ID, p.HasID = uint64(*in.ID), true
	}
	var atts [][]byte
	if in.Data != nil {
		data, err := json.Marshal(place(in.Data, &atts))
		if err != nil {
			return p, nil, err
		}
		p.Data = data
	}
	return p, atts, nil
}

// tlEncode translates a text frame with tinylib/msgp's append functions,
// walking the same tree (msgpack needs a container's length first).
func tlEncode(frame []byte, atts [][]byte) ([]byte, error) {
	p, err := socketio.Decode(frame)
	if err != nil {
		return nil, err
	}
	n := uint32(2)
	var data any
	if p.Data != nil {
		if data, err = tree(p.Data, atts); err != nil {
			return nil, err
		}
		n++
	}
	if p.HasID {
		n++
	}
	t := int64(p.Type)
	if p.Type == socketio.BinaryEvent {
		t = int64(socketio.Event)
	}
	o := make([]byte, 0, len(frame)+64)
	o = msgp.AppendMapHeader(o, n)
	o = msgp.AppendInt64(msgp.AppendString(o, "type"), t)
	if p.Data != nil {
		o = tlValue(msgp.AppendString(o, "data"), data)
	}
	if p.HasID {
		o = msgp.AppendUint64(msgp.AppendString(o, "id"), p.ID)
	}
	return msgp.AppendString(msgp.AppendString(o, "nsp"), p.Namespace), nil
}

func tlValue(o []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return msgp.AppendNil(o)
	case bool:
		return msgp.AppendBool(o, x)
	case int64:
		return msgp.AppendInt64(o, x)
	case float64:
		return msgp.AppendFloat64(o, x)
	case string:
		return msgp.AppendString(o, x)
	case []byte:
		return msgp.AppendBytes(o, x)
	case []any:
		o = msgp.AppendArrayHeader(o, uint32(len(x)))
		for _, e := range x {
			o = tlValue(o, e)
		}
		return o
	case map[string]any:
		o = msgp.AppendMapHeader(o, uint32(len(x)))
		for k, e := range x {
			o = tlValue(msgp.AppendString(o, k), e)
		}
		return o
	}
	panic(fmt.Sprintf("tlValue: %T", v))
}

// tlDecode translates the npm parser's bytes with tinylib/msgp's read
// functions, writing JSON as it reads (no tree).
func tlDecode(b []byte) (socketio.Packet, [][]byte, error) {
	var p socketio.Packet
	n, b, err := msgp.ReadMapHeaderBytes(b)
	if err != nil {
		return p, nil, err
	}
	var atts [][]byte
	for range n {
		var k []byte
		if k, b, err = msgp.ReadMapKeyZC(b); err != nil {
			return p, nil, err
		}
		switch string(k) {
		case "type":
			var t int
			t, b, err = msgp.ReadIntBytes(b)
			p.Type = socketio.PacketType(t)
		case "nsp":
			p.Namespace, b, err = msgp.ReadStringBytes(b)
		case "id":
			p.ID, b, err = msgp.ReadUint64Bytes(b)
			p.HasID = true
		case "data":
			p.Data, b, err = tlJSON(make([]byte, 0, len(b)*3/2), b, &atts)
		default:
			b, err = msgp.Skip(b)
		}
		if err != nil {
			return p, nil, err
		}
	}
	return p, atts, nil
}

func tlJSON(o, b []byte, atts *[][]byte) ([]byte, []byte, error) {
	var err error
	switch msgp.NextType(b) {
	case msgp.NilType:
		b, err = msgp.ReadNilBytes(b)
		o = append(o, "null"...)
	case msgp.BoolType:
		var v bool
		v, b, err = msgp.ReadBoolBytes(b)
		o = strconv.AppendBool(o, v)
	case msgp.IntType:
		var v int64
		v, b, err = msgp.ReadInt64Bytes(b)
		o = strconv.AppendInt(o, v, 10)
	case msgp.UintType:
		var v uint64
		v, b, err = msgp.ReadUint64Bytes(b)
		o = strconv.AppendUint(o, v, 10)
	case msgp.Float64Type:
		var v float64
		v, b, err = msgp.ReadFloat64Bytes(b)
		o = strconv.AppendFloat(o, v, 'g', -1, 64)
	case msgp.StrType:
		var s []byte
		s, b, err = msgp.ReadStringZC(b)
		o = strconv.AppendQuote(o, string(s))
	case msgp.BinType:
		var s []byte
		s, b, err = msgp.ReadBytesZC(b)
		*atts = append(*atts, s)
		o = append(o, `{"_placeholder":true,"num":`...)
		o = strconv.AppendInt(o, int64(len(*atts)-1), 10)
		o = append(o, '}')
	case msgp.ArrayType:
		var n uint32
		if n, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
			return o, b, err
		}
		o = append(o, '[')
		for i := range n {
			if i > 0 {
				o = append(o, ',')
			}
			if o, b, err = tlJSON(o, b, atts); err != nil {
				return o, b, err
			}
		}
		o = append(o, ']')
	case msgp.MapType:
		var n uint32
		if n, b, err = msgp.ReadMapHeaderBytes(b); err != nil {
			return o, b, err
		}
		o = append(o, '{')
		for i := range n {
			if i > 0 {
				o = append(o, ',')
			}
			var k []byte
			if k, b, err = msgp.ReadMapKeyZC(b); err != nil {
				return o, b, err
			}
			o = append(strconv.AppendQuote(o, string(k)), ':')
			if o, b, err = tlJSON(o, b, atts); err != nil {
				return o, b, err
			}
		}
		o = append(o, '}')
	default:
		return o, b, fmt.Errorf("type %v", msgp.NextType(b))
	}
	return o, b, err
}
