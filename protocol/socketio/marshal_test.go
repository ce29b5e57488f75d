package socketio

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

type testStruct struct {
	Name string `json:"name"`
	Raw  []byte `json:"raw"`
}

func TestMarshalArgs(t *testing.T) {
	b0, b1, b2 := []byte{1}, []byte{2, 2}, []byte{}
	tests := []struct {
		name string
		args []any
		want string
		atts [][]byte
	}{
		{"none", nil, `[]`, nil},
		{"brief example", []any{"ev", 1, b0}, `["ev",1,{"_placeholder":true,"num":0}]`, [][]byte{b0}},
		{"scalars", []any{nil, true, false, int8(-8), uint64(math.MaxUint64), int64(math.MinInt64)}, `[null,true,false,-8,18446744073709551615,-9223372036854775808]`, nil},
		{"integer types", []any{int(-1), int8(math.MinInt8), int16(math.MinInt16), int32(math.MinInt32), int64(math.MaxInt64), uint(1), uint8(math.MaxUint8), uint16(math.MaxUint16), uint32(math.MaxUint32), uint64(0)}, `[-1,-128,-32768,-2147483648,9223372036854775807,1,255,65535,4294967295,0]`, nil},
		{"floats", []any{1.0, 1.5, math.Copysign(0, -1), 1e21, 1e20, 1e-7, 1e-6, 123456789.125, float32(0.1), 5e-324}, `[1,1.5,-0,1e+21,100000000000000000000,1e-7,0.000001,123456789.125,0.1,5e-324]`, nil},
		{"html not escaped", []any{"<a href=\"x\">&</a>"}, `["<a href=\"x\">&</a>"]`, nil},
		{"string escapes", []any{"\x00\x1f\b\f\n\r\t\\\"\x7f\u2028é", "bad\xffutf8"}, `["\u0000\u001f\b\f\n\r\t\\\"` + "\x7f\u2028é" + `","bad\ufffdutf8"]`, nil},
		{"json.Number", []any{json.Number("1.50e+10"), json.Number("")}, `[1.50e+10,0]`, nil},
		{"raw message", []any{json.RawMessage(`{"b":1,"a":"<"}`), json.RawMessage(" [1, 2] "), json.RawMessage(nil)}, `[{"b":1,"a":"<"},[1,2],null]`, nil},
		{"nested bytes", []any{"ev", []any{b0, map[string]any{"z": b1, "a": Object{{"y", []any{b2}}}}}}, `["ev",[{"_placeholder":true,"num":0},{"a":{"y":[{"_placeholder":true,"num":1}]},"z":{"_placeholder":true,"num":2}}]]`, [][]byte{b0, b2, b1}},
		{"bytes slice", []any{[][]byte{b0, b1}}, `[[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]]`, [][]byte{b0, b1}},
		{"nil containers", []any{[]any(nil), map[string]any(nil), Object(nil), [][]byte(nil)}, `[null,null,null,null]`, nil},
		{"nil bytes", []any{[]byte(nil)}, `[{"_placeholder":true,"num":0}]`, [][]byte{nil}},
		{"empty containers", []any{[]any{}, map[string]any{}, Object{}}, `[[],{},{}]`, nil},
		{"fallback struct", []any{testStruct{Name: "<x>", Raw: []byte{1, 2}}}, `[{"name":"<x>","raw":"AQI="}]`, nil},
		{"fallback map", []any{map[string]int{"b": 2, "a": 1}, []string{"x"}}, `[{"a":1,"b":2},["x"]]`, nil},
		{"object in fallback", []any{[]Object{{{"z", 1}, {"a", "<"}}}}, `[[{"z":1,"a":"<"}]]`, nil},
		{"map key escaping", []any{map[string]any{"a\"b": 1, "<": 2}}, `[{"<":2,"a\"b":1}]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, atts, err := MarshalArgs(tt.args...)
			if err != nil {
				t.Fatalf("MarshalArgs error: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("MarshalArgs = %s\nwant           %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("MarshalArgs output is not valid JSON: %s", got)
			}
			if !reflect.DeepEqual(atts, tt.atts) {
				t.Errorf("attachments = %v, want %v", atts, tt.atts)
			}
			if err := CheckPlaceholders(got, len(atts)); err != nil {
				t.Errorf("CheckPlaceholders: %v", err)
			}
		})
	}
}

func TestMarshalArgsErrors(t *testing.T) {
	cyclic := []any{nil}
	cyclic[0] = cyclic
	cyclicMap := map[string]any{}
	cyclicMap["self"] = cyclicMap
	tests := []struct {
		name string
		args []any
		err  error
	}{
		{"NaN", []any{math.NaN()}, ErrMarshal},
		{"Inf", []any{[]any{math.Inf(1)}}, ErrMarshal},
		{"bad number", []any{json.Number("01")}, ErrMarshal},
		{"bad raw", []any{json.RawMessage(`{`)}, ErrInvalidJSON},
		{"bad raw utf8", []any{json.RawMessage("\"\xff\"")}, ErrInvalidJSON},
		{"channel", []any{make(chan int)}, ErrMarshal},
		{"cycle slice", []any{cyclic}, ErrTooDeep},
		{"cycle map", []any{cyclicMap}, ErrTooDeep},
		{"too deep", []any{nested(MaxDepth)}, ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("prefix")
			atts := [][]byte{{9}}
			gotDst, gotAtts, err := AppendMarshalArgs(dst, atts, []byte{1}, tt.args[0])
			if !errors.Is(err, tt.err) || !errors.Is(err, ErrMarshal) {
				t.Fatalf("error = %v, want %v and ErrMarshal", err, tt.err)
			}
			if string(gotDst) != "prefix" || len(gotAtts) != 1 {
				t.Errorf("on error got dst %q and %d attachments, want originals", gotDst, len(gotAtts))
			}
		})
	}
	// One level less than the failing case above fits: the argument array is depth 1.
	if _, _, err := MarshalArgs(nested(MaxDepth - 1)); err != nil {
		t.Errorf("MarshalArgs(depth MaxDepth) = %v", err)
	}
}

func TestAppendMarshalArgs(t *testing.T) {
	dst := []byte("451-")
	atts := [][]byte{{7}}
	out, outAtts, err := AppendMarshalArgs(dst, atts, "ev", []byte{8})
	if err != nil {
		t.Fatal(err)
	}
	if want := `451-["ev",{"_placeholder":true,"num":1}]`; string(out) != want {
		t.Errorf("AppendMarshalArgs = %s, want %s", out, want)
	}
	if !reflect.DeepEqual(outAtts, [][]byte{{7}, {8}}) {
		t.Errorf("attachments = %v", outAtts)
	}
}

func TestMarshalArgsLargeObject(t *testing.T) {
	var o Object
	for i := range 50 {
		o = append(o, Member{strings.Repeat("k", i), i})
	}
	out, _, err := MarshalArgs(o)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseValue(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	back := v.([]any)[0].(Object)
	for i, m := range back {
		if m.Key != o[i].Key {
			t.Fatalf("member %d key %q, want %q", i, m.Key, o[i].Key)
		}
	}
}
