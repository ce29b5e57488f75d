package socketio

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseValue(t *testing.T) {
	a0, a1 := []byte{0xde, 0xad}, []byte{}
	atts := [][]byte{a0, a1}
	tests := []struct {
		in   string
		want any
	}{
		{`null`, nil},
		{`true`, true},
		{` false `, false},
		{`"h\u00e9\n"`, "hé\n"},
		{`-1.50e+10`, json.Number("-1.50e+10")},
		{`12345678901234567890123`, json.Number("12345678901234567890123")},
		{`[]`, []any{}},
		{`{}`, Object{}},
		{`{"b":1,"a":[2,"x"],"b":null}`, Object{{"b", json.Number("1")}, {"a", []any{json.Number("2"), "x"}}, {"b", nil}}},
		{`["ev",{"_placeholder":true,"num":1}]`, []any{"ev", a1}},
		{`{"k":{"num":0,"_placeholder":true}}`, Object{{"k", a0}}},
		{`[{ "_placeholder" : true , "num" : 0 }]`, []any{a0}},
		{`[{"\u005fplaceholder":true,"n\u0075m":0}]`, []any{a0}},
		{`[{"_placeholder":false,"num":0}]`, []any{Object{{"_placeholder", false}, {"num", json.Number("0")}}}},
		{`[{"_placeholder":true,"num":0,"x":1}]`, []any{Object{{"_placeholder", true}, {"num", json.Number("0")}, {"x", json.Number("1")}}}},
		{`[{"_placeholder":true}]`, []any{Object{{"_placeholder", true}}}},
		{`[{"_placeholder":true,"num":[0]}]`, []any{Object{{"_placeholder", true}, {"num", []any{json.Number("0")}}}}},
		{`[{"_placeholder":"true","num":0}]`, []any{Object{{"_placeholder", "true"}, {"num", json.Number("0")}}}},
		{`["{\"_placeholder\":true,\"num\":5}"]`, []any{`{"_placeholder":true,"num":5}`}},
		{strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), nested(MaxDepth)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseValue([]byte(tt.in), atts)
			if err != nil {
				t.Fatalf("ParseValue(%q) error: %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseValue(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

// nested returns n nested empty []any values.
func nested(n int) any {
	v := []any{}
	for i := 1; i < n; i++ {
		v = []any{v}
	}
	return v
}

func TestParseValueSharesAttachments(t *testing.T) {
	att := []byte{1, 2, 3}
	v, err := ParseValue([]byte(`[{"_placeholder":true,"num":0}]`), [][]byte{att})
	if err != nil {
		t.Fatal(err)
	}
	got := v.([]any)[0].([]byte)
	if &got[0] != &att[0] {
		t.Error("ParseValue copied the attachment")
	}
}

// parseValueErrorTests are the ParseValue error cases; they also seed FuzzParseValue.
var parseValueErrorTests = []struct {
	in   string
	atts int
	err  error
}{
	{``, 0, ErrInvalidJSON},
	{`[1,]`, 0, ErrInvalidJSON},
	{`{"a":1} x`, 0, ErrInvalidJSON},
	{"\"\xff\"", 0, ErrInvalidJSON},
	{`[{"_placeholder":true,"num":0}]`, 0, ErrBadPlaceholder},
	{`[{"_placeholder":true,"num":2}]`, 2, ErrBadPlaceholder},
	{`[{"_placeholder":true,"num":-1}]`, 2, ErrBadPlaceholder},
	{`[{"_placeholder":true,"num":1.0}]`, 2, ErrBadPlaceholder},
	{`[{"_placeholder":true,"num":1e0}]`, 2, ErrBadPlaceholder},
	{`[{"_placeholder":true,"num":"0"}]`, 2, ErrBadPlaceholder},
	{`[{"_placeholder":true,"num":null}]`, 2, ErrBadPlaceholder},
	{`[{"_placeholder":true,"num":99999999999999999999999}]`, 2, ErrBadPlaceholder},
	{strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), 0, ErrTooDeep},
	{strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1), 0, ErrTooDeep},
	{strings.Repeat("[", 9000) + strings.Repeat("]", 9000), 0, ErrTooDeep},
	{strings.Repeat("[", 20000) + strings.Repeat("]", 20000), 0, ErrInvalidJSON},
}

func TestParseValueErrors(t *testing.T) {
	for _, tt := range parseValueErrorTests {
		name := tt.in
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			atts := make([][]byte, tt.atts)
			_, err := ParseValue([]byte(tt.in), atts)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ParseValue error = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestParseValueRoundTrip(t *testing.T) {
	atts := [][]byte{{1}, {2, 2}}
	tests := []string{
		`["ev"]`,
		`["ev",1,-0,1.50,1E+2,"<b>&amp;</b>",true,false,null]`,
		`["ev",{"z":1,"a":{"y":[],"b":{}},"z":2}]`,
		`["ev",{"_placeholder":true,"num":0},[{"x":{"_placeholder":true,"num":1}}]]`,
		"[\"é\u2028<>&\"]",
		` [ "spaced" , { "k" : [ 1 , 2 ] } ] `,
	}
	for _, in := range tests {
		t.Run(in, func(t *testing.T) {
			v, err := ParseValue([]byte(in), atts)
			if err != nil {
				t.Fatal(err)
			}
			out, outAtts, err := MarshalArgs(v.([]any)...)
			if err != nil {
				t.Fatal(err)
			}
			if want := compactJSON(t, in); string(out) != want {
				t.Errorf("MarshalArgs(ParseValue(x)) = %s, want %s", out, want)
			}
			n, _ := CountPlaceholders([]byte(in))
			if !reflect.DeepEqual(outAtts, atts[:n]) && !(n == 0 && outAtts == nil) {
				t.Errorf("attachments = %v, want %v", outAtts, atts[:n])
			}
		})
	}
}

func TestObject(t *testing.T) {
	o := Object{{"b", 1}, {"a", "<x>"}, {"b", []byte{1, 2}}, {"n", Object{{"z", nil}, {"y", []any{true}}}}}
	if v, ok := o.Get("b"); !ok || !reflect.DeepEqual(v, []byte{1, 2}) {
		t.Errorf("Get(b) = %v, %v; want last member", v, ok)
	}
	if _, ok := o.Get("missing"); ok {
		t.Error("Get(missing) found a member")
	}
	got, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"b":1,"a":"<x>","b":"AQI=","n":{"z":null,"y":[true]}}`; string(got) != want {
		t.Errorf("MarshalJSON = %s, want %s", got, want)
	}
	// Inside a value handled by encoding/json, Object keeps its order too.
	got, err = json.Marshal(struct{ O Object }{Object{{"z", 1}, {"a", 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"O":{"z":1,"a":2}}`; string(got) != want {
		t.Errorf("json.Marshal = %s, want %s", got, want)
	}
	if got, err := Object(nil).MarshalJSON(); err != nil || string(got) != "null" {
		t.Errorf("nil Object = %s, %v", got, err)
	}
	if got, err := (Object{}).MarshalJSON(); err != nil || string(got) != "{}" {
		t.Errorf("empty Object = %s, %v", got, err)
	}
}

// compactJSON returns in without insignificant whitespace.
func compactJSON(t testing.TB, in string) string {
	t.Helper()
	var sb strings.Builder
	inString, escaped := false, false
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case isSpace(c):
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}
