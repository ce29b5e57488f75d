package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// decodeSeeds are valid and invalid packets used to seed the fuzzers.
var decodeSeeds = []string{
	`0`, `0/custom`, `0/admin,{"token":"x"}`, `1/admin,`, `2["hello",1]`,
	`2/admin,12["project:delete",123]`, `212["foo"]`, `31[]`, `3/admin,13["bar"]`,
	`4{"message":"Not authorized"}`, `4"x"`, `51-["hello",{"_placeholder":true,"num":0}]`,
	`61-/admin,456[{"_placeholder":true,"num":0}]`, `2abc["a"]`, `5x-["a"]`, `2-["a"]`,
	`2{}`, `2[1]`, "2[\"\xff\"]", `2["\ud800"]`,
}

func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Decode(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q) error %v does not wrap ErrMalformed", in, err)
			}
			return
		}
		if !p.Type.Valid() || !strings.HasPrefix(p.Namespace, "/") || strings.Contains(p.Namespace, ",") {
			t.Fatalf("Decode(%q) = %+v: bad header", in, p)
		}
		if p.Attachments < 0 || p.Attachments > MaxAttachments || (!p.Type.IsBinary() && p.Attachments != 0) {
			t.Fatalf("Decode(%q) = %+v: bad attachment count", in, p)
		}
		if p.Data != nil && !json.Valid(p.Data) {
			t.Fatalf("Decode(%q) = %+v: invalid JSON payload", in, p)
		}
		if p.Type == Event || p.Type == BinaryEvent {
			name, args, err := EventName(p.Data)
			if err != nil {
				t.Fatalf("Decode(%q) accepted an event EventName rejects: %v", in, err)
			}
			// The server's path skips the validation Decode did: same result.
			name2, args2, err := NewDecodedEventArgs(p.Data, nil)
			if err != nil || name2 != name || args2.Len() != len(args) {
				t.Fatalf("NewDecodedEventArgs(%q) = %q, %d args, %v; EventName: %q, %d args", p.Data, name2, args2.Len(), err, name, len(args))
			}
		}
		enc := AppendEncode(nil, p)
		p2, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(AppendEncode(Decode(%q))) = %v (encoded %q)", in, err, enc)
		}
		if !packetsEqual(p, p2) {
			t.Fatalf("round trip of %q: %+v != %+v", in, p, p2)
		}
		if enc2 := AppendEncode(nil, p2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not canonical: %q then %q", enc, enc2)
		}
	})
}

// parseErrOK reports whether err wraps one of the sentinels ParseValue may return.
func parseErrOK(err error) bool {
	return errors.Is(err, ErrInvalidJSON) || errors.Is(err, ErrBadPlaceholder) || errors.Is(err, ErrTooDeep)
}

func FuzzParseValue(f *testing.F) {
	f.Add([]byte(`["ev",1,{"b":[true,null],"a":-1.5e3}]`), uint8(0))
	f.Add([]byte(`["ev",{"_placeholder":true,"num":0},{"x":{"num":1,"_placeholder":true}}]`), uint8(2))
	f.Add([]byte(`{"k":"<\u00e9>","k":[[]]}`), uint8(0))
	f.Add([]byte(`[{"_placeholder":true,"num":5}]`), uint8(1))
	f.Add([]byte(`"\ud83d\ude00\ud83d"`), uint8(0))
	f.Add([]byte(strings.Repeat("[", 101)+strings.Repeat("]", 101)), uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, n uint8) {
		atts := make([][]byte, n%4)
		for i := range atts {
			atts[i] = []byte{byte(i), 0xff}
		}
		v, err := ParseValue(in, atts)
		if err != nil {
			if !parseErrOK(err) {
				t.Fatalf("ParseValue(%q) unexpected error %v", in, err)
			}
			return
		}
		// Re-encode. A top-level array is spread into the arguments so that it
		// keeps its depth; anything else is wrapped in a one-element array.
		arr, isArray := v.([]any)
		var out []byte
		var outAtts [][]byte
		if isArray {
			out, outAtts, err = MarshalArgs(arr...)
		} else {
			out, outAtts, err = MarshalArgs(v)
		}
		if err != nil {
			if !isArray && errors.Is(err, ErrTooDeep) {
				return
			}
			t.Fatalf("MarshalArgs(ParseValue(%q)) error %v", in, err)
		}
		if err := CheckPlaceholders(out, len(outAtts)); err != nil {
			t.Fatalf("MarshalArgs output %s fails CheckPlaceholders: %v", out, err)
		}
		v2, err := ParseValue(out, outAtts)
		if err != nil {
			t.Fatalf("ParseValue(MarshalArgs(ParseValue(%q))) = %v (encoded %s)", in, err, out)
		}
		if !isArray {
			v2 = v2.([]any)[0]
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip of %q: %#v != %#v", in, v, v2)
		}
		// Without escapes and placeholders, the text itself survives (compacted).
		if isArray && !bytes.Contains(in, []byte(`\`)) {
			if c, err := CountPlaceholders(in); err == nil && c == 0 {
				if want := compactJSON(t, string(in)); string(out) != want {
					t.Fatalf("MarshalArgs(ParseValue(%q)) = %s, want %s", in, out, want)
				}
			}
		}
	})
}

func FuzzSplitArray(f *testing.F) {
	for _, s := range []string{`[]`, `["a",1,{"b":[2]}]`, ` [ "x" , "]" ] `, `[1,]`, `{}`, `["\"",[[[]]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		elems, err := SplitArray(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrNotArray) {
				t.Fatalf("SplitArray(%q) unexpected error %v", in, err)
			}
			return
		}
		var sb bytes.Buffer
		sb.WriteByte('[')
		for i, e := range elems {
			if !json.Valid(e) || len(e) == 0 || isSpace(e[0]) || isSpace(e[len(e)-1]) {
				t.Fatalf("SplitArray(%q) element %d = %q", in, i, e)
			}
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.Write(e)
		}
		sb.WriteByte(']')
		var want []json.RawMessage
		if err := json.Unmarshal(in, &want); err != nil {
			t.Fatalf("encoding/json rejects %q: %v", in, err)
		}
		if len(want) != len(elems) {
			t.Fatalf("SplitArray(%q) has %d elements, encoding/json %d", in, len(elems), len(want))
		}
		again, err := SplitArray(sb.Bytes())
		if err != nil || !reflect.DeepEqual(again, elems) {
			t.Fatalf("SplitArray(join(SplitArray(%q))) = %q, %v", in, again, err)
		}
	})
}

func FuzzEventName(f *testing.F) {
	for _, s := range []string{`["a"]`, `0[""]`, `["h\u00e9",1]`, `[]`, `[1]`, `["\ud83d\ude00"]`, `["\udc00\ud800x"]`, `{"a":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		name, args, err := EventName(in)
		// Decode reads a payload only from '['; other leading bytes would be
		// taken as a namespace or an ack id, so only compare in that case.
		comparable := len(in) > 0 && in[0] == '['
		decoded, derr := Decode(append([]byte{'2'}, in...))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("EventName(%q) error %v does not wrap ErrMalformed", in, err)
			}
			if comparable && derr == nil {
				t.Fatalf("Decode accepts event %q that EventName rejects: %v", in, err)
			}
			return
		}
		if comparable {
			if derr != nil {
				t.Fatalf("EventName accepts %q but Decode rejects it: %v", in, derr)
			}
			if !bytes.Equal(decoded.Data, in) {
				t.Fatalf("Decode data %q, want %q", decoded.Data, in)
			}
		}
		var ref []json.RawMessage
		if err := json.Unmarshal(in, &ref); err != nil || len(ref) != len(args)+1 {
			t.Fatalf("encoding/json disagrees on %q: %v", in, err)
		}
		var refName string
		if err := json.Unmarshal(ref[0], &refName); err != nil {
			// A numeric name: the official parser accepts it as String(n),
			// which reads back as the same number (Infinity past float64).
			want, werr := strconv.ParseFloat(string(ref[0]), 64)
			back, berr := strconv.ParseFloat(strings.TrimPrefix(strings.Replace(name, "Infinity", "Inf", 1), "+"), 64)
			if (werr != nil && !errors.Is(werr, strconv.ErrRange)) || berr != nil || back != want {
				t.Fatalf("EventName(%q) = %q, which reads back as %v, want %v", in, name, back, want)
			}
		} else if refName != name {
			t.Fatalf("EventName(%q) = %q, encoding/json says %q", in, name, refName)
		}
	})
}

func FuzzCheckPlaceholders(f *testing.F) {
	f.Add([]byte(`["a",{"_placeholder":true,"num":0}]`), 1)
	f.Add([]byte(`["a",{"num":1,"_placeholder":true},[{"_placeholder":true,"num":0}]]`), 2)
	f.Add([]byte(`["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`), 2)
	f.Add([]byte(`[{"\u005fplaceholder":true,"num":0}]`), 1)
	f.Add([]byte(`[{"_placeholder":true,"num":-1}]`), 1)
	f.Add([]byte(`["a"]`), 0)
	f.Fuzz(func(t *testing.T, in []byte, announced int) {
		has := HasPlaceholder(in)
		count, cerr := CountPlaceholders(in)
		if cerr != nil && !errors.Is(cerr, ErrInvalidJSON) && !errors.Is(cerr, ErrBadPlaceholder) {
			t.Fatalf("CountPlaceholders(%q) unexpected error %v", in, cerr)
		}
		if cerr == nil && has != (count > 0) {
			t.Fatalf("HasPlaceholder(%q) = %v but CountPlaceholders = %d", in, has, count)
		}
		err := CheckPlaceholders(in, announced)
		if err != nil {
			if !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrBadPlaceholder) {
				t.Fatalf("CheckPlaceholders(%q, %d) unexpected error %v", in, announced, err)
			}
		} else if cerr != nil || count != announced {
			t.Fatalf("CheckPlaceholders(%q, %d) = nil but CountPlaceholders = %d, %v", in, announced, count, cerr)
		}
		// ParseValue must agree on what a placeholder is.
		atts := make([][]byte, 0, 4)
		if err == nil && announced <= 4 {
			for i := range announced {
				atts = append(atts, []byte{byte(i)})
			}
		}
		v, perr := ParseValue(in, atts)
		switch {
		case perr != nil && errors.Is(perr, ErrTooDeep):
		case perr != nil && errors.Is(perr, ErrBadPlaceholder):
			if !has {
				t.Fatalf("ParseValue(%q) found a placeholder HasPlaceholder missed: %v", in, perr)
			}
		case perr != nil:
			if cerr == nil {
				t.Fatalf("ParseValue(%q) = %v but CountPlaceholders accepted it", in, perr)
			}
		default:
			if cerr != nil {
				t.Fatalf("ParseValue(%q) accepted input CountPlaceholders rejected: %v", in, cerr)
			}
			_, outAtts, merr := MarshalArgs(v)
			if merr == nil && len(outAtts) != count {
				t.Fatalf("ParseValue(%q) replaced %d placeholders, CountPlaceholders says %d", in, len(outAtts), count)
			}
		}
	})
}
