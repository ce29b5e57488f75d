package engineio

import (
	"bytes"
	"errors"
	"testing"
)

// The expected encodings below are what Node's engine.io 6.x (its v3
// parser) produces for the same packets.

func TestAppendPayloadV3(t *testing.T) {
	tests := []struct {
		name string
		pkts []Packet
		want string
	}{
		{"none", nil, ""},
		{"one", []Packet{{Type: Message, Data: []byte("hello")}}, "6:4hello"},
		{"utf-16 length", []Packet{{Type: Message, Data: []byte("😀é")}}, "4:4😀é"},
		{"binary as base64", []Packet{{Type: Message, Data: []byte{1, 2, 3}, Binary: true}}, "6:b4AQID"},
		{"empty binary", []Packet{{Type: Message, Binary: true}}, "2:b4"},
		{"bare packets", []Packet{{Type: Noop}, {Type: Pong}, {Type: Close}}, "1:61:31:1"},
		{"mixed", []Packet{
			{Type: Message, Data: []byte("hello")},
			{Type: Message, Data: []byte("😀é")},
			{Type: Message, Data: []byte{1, 2, 3}, Binary: true},
			{Type: Noop},
		}, "6:4hello4:4😀é6:b4AQID1:6"},
		{"two-digit length", []Packet{{Type: Message, Data: []byte(`2["chat","hi"]`)}}, `15:42["chat","hi"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendPayloadV3([]byte("x"), tt.pkts)
			if string(got) != "x"+tt.want {
				t.Fatalf("got %q, want %q", got, "x"+tt.want)
			}
			if n := PayloadV3Len(tt.pkts); n != len(got)-1 {
				t.Fatalf("PayloadV3Len = %d, want %d", n, len(got)-1)
			}
		})
	}
}

func TestAppendBinaryPayloadV3(t *testing.T) {
	pkts := []Packet{
		{Type: Message, Data: []byte("hi")},
		{Type: Message, Data: []byte{1, 2, 3}, Binary: true},
		{Type: Message, Data: []byte("xxxxxxxxxxxé")},
		{Type: Noop},
	}
	want := []byte{
		0, 3, 255, '4', 'h', 'i',
		1, 4, 255, 4, 1, 2, 3,
		0, 1, 4, 255, '4', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 0xc3, 0xa9,
		0, 1, 255, '6',
	}
	got := AppendBinaryPayloadV3(nil, pkts)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if n := BinaryPayloadV3Len(pkts); n != len(got) {
		t.Fatalf("BinaryPayloadV3Len = %d, want %d", n, len(got))
	}
	back, err := DecodeBinaryPayloadV3(got)
	if err != nil {
		t.Fatal(err)
	}
	checkPackets(t, back, pkts)
}

func TestAppendTextV3(t *testing.T) {
	for _, tt := range []struct {
		p    Packet
		want string
	}{
		{Packet{Type: Message, Data: []byte("hi")}, "4hi"},
		{Packet{Type: Message, Data: []byte{0xff, 0}, Binary: true}, "b4/wA="},
		{Packet{Type: Pong, Data: []byte("probe")}, "3probe"},
	} {
		if got := string(AppendTextV3(nil, tt.p)); got != tt.want {
			t.Errorf("AppendTextV3(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestHasBinary(t *testing.T) {
	if HasBinary([]Packet{{Type: Message, Data: []byte("a")}, {Type: Noop}}) {
		t.Error("text packets reported binary")
	}
	if !HasBinary([]Packet{{Type: Message, Data: []byte("a")}, {Type: Message, Binary: true}}) {
		t.Error("binary message not reported")
	}
}

// decodePayloadV3Tests are the DecodePayloadV3 cases; they also seed
// FuzzDecodePayloadV3. prefix is what a malformed payload yields before
// its fault.
var decodePayloadV3Tests = []struct {
	name   string
	in     string
	want   []Packet
	err    bool
	prefix int
}{
	{"one", "6:4hello", []Packet{{Type: Message, Data: []byte("hello")}}, false, 0},
	{"several", "6:4hello1:21:6", []Packet{{Type: Message, Data: []byte("hello")}, {Type: Ping}, {Type: Noop}}, false, 0},
	{"utf-16 length", "3:4😀0:6:4hello", []Packet{{Type: Message, Data: []byte("😀")}, {Type: Message, Data: []byte("hello")}}, false, 0},
	{"base64", "6:b4AQID", []Packet{{Type: Message, Data: []byte{1, 2, 3}, Binary: true}}, false, 0},
	{"ping probe", "6:2probe", []Packet{{Type: Ping, Data: []byte("probe")}}, false, 0},
	{"empty record only", "0:", nil, false, 0},
	{"leading zero", "06:4hello", []Packet{{Type: Message, Data: []byte("hello")}}, false, 0},
	{"colon in data", "4:4a:b", []Packet{{Type: Message, Data: []byte("a:b")}}, false, 0},
	{"empty body", "", nil, true, 0},
	{"no colon", "6", nil, true, 0},
	{"no length", ":4hello", nil, true, 0},
	{"short record", "7:4hello", nil, true, 0},
	{"trailing garbage", "6:4helloabc", []Packet{{Type: Message, Data: []byte("hello")}}, true, 1},
	{"second record bad", "2:4a9:4b", []Packet{{Type: Message, Data: []byte("a")}}, true, 1},
	{"unknown type", "2:7x", nil, true, 0},
	{"cut surrogate pair", "2:4😀", nil, true, 0},
	{"invalid utf8", "2:4\xff", nil, true, 0},
	{"base64 of a ping", "3:b2AA", nil, true, 0},
	{"bad base64", "4:b4!!", nil, true, 0},
	{"b alone", "1:b", nil, true, 0},
	{"huge length", "99999999999:4", nil, true, 0},
}

func TestDecodePayloadV3(t *testing.T) {
	for _, tt := range decodePayloadV3Tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodePayloadV3([]byte(tt.in))
			if tt.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				if len(got) != tt.prefix {
					t.Fatalf("got %d packets before the fault, want %d", len(got), tt.prefix)
				}
				checkPackets(t, got, tt.want)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			checkPackets(t, got, tt.want)
		})
	}
}

// decodeBinaryPayloadV3Tests are the DecodeBinaryPayloadV3 cases; they
// also seed FuzzDecodeBinaryPayloadV3.
var decodeBinaryPayloadV3Tests = []struct {
	name   string
	in     []byte
	want   []Packet
	err    bool
	prefix int
}{
	{"text and binary", []byte{0, 3, 255, '4', 'h', 'i', 1, 4, 255, 4, 1, 2, 3},
		[]Packet{{Type: Message, Data: []byte("hi")}, {Type: Message, Data: []byte{1, 2, 3}, Binary: true}}, false, 0},
	{"empty binary", []byte{1, 1, 255, 4}, []Packet{{Type: Message, Data: []byte{}, Binary: true}}, false, 0},
	{"base64 text record", []byte{0, 6, 255, 'b', '4', 'A', 'Q', 'I', 'D'}, []Packet{{Type: Message, Data: []byte{1, 2, 3}, Binary: true}}, false, 0},
	{"utf-8 text", []byte{0, 3, 255, '4', 0xc3, 0xa9}, []Packet{{Type: Message, Data: []byte("é")}}, false, 0},
	{"empty body", nil, nil, true, 0},
	{"kind 2", []byte{2, 1, 255, '6'}, nil, true, 0},
	{"no length", []byte{0, 255, '6'}, nil, true, 0},
	{"digit over 9", []byte{0, 10, 255, '6'}, nil, true, 0},
	{"no 255", []byte{0, 1, 1}, nil, true, 0},
	{"short record", []byte{0, 5, 255, '4', 'a'}, nil, true, 0},
	{"binary ping", []byte{1, 1, 255, 2}, nil, true, 0},
	{"empty binary record", []byte{1, 0, 255}, nil, true, 0},
	{"empty text record", []byte{0, 0, 255}, nil, true, 0},
	{"invalid utf8", []byte{0, 2, 255, '4', 0xff}, nil, true, 0},
	{"too many digits", []byte{0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 255}, nil, true, 0},
	{"second record bad", []byte{0, 1, 255, '6', 9}, []Packet{{Type: Noop}}, true, 1},
}

func TestDecodeBinaryPayloadV3(t *testing.T) {
	for _, tt := range decodeBinaryPayloadV3Tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeBinaryPayloadV3(tt.in)
			if tt.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				if len(got) != tt.prefix {
					t.Fatalf("got %d packets before the fault, want %d", len(got), tt.prefix)
				}
				checkPackets(t, got, tt.want)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			checkPackets(t, got, tt.want)
		})
	}
}

// decodeFrameV3Tests are the DecodeFrameV3 cases; they also seed
// FuzzDecodeFrameV3.
var decodeFrameV3Tests = []struct {
	name   string
	in     string
	binary bool
	want   Packet
	err    bool
}{
	{"message", "4hello", false, Packet{Type: Message, Data: []byte("hello")}, false},
	{"ping", "2", false, Packet{Type: Ping}, false},
	{"probe", "2probe", false, Packet{Type: Ping, Data: []byte("probe")}, false},
	{"upgrade", "5", false, Packet{Type: Upgrade}, false},
	{"binary frame", "\x04\x01\x02", true, Packet{Type: Message, Data: []byte{1, 2}, Binary: true}, false},
	{"empty binary message", "\x04", true, Packet{Type: Message, Data: []byte{}, Binary: true}, false},
	{"base64 text frame", "b4AQI=", false, Packet{Type: Message, Data: []byte{1, 2}, Binary: true}, false},
	{"empty binary frame", "", true, Packet{}, true},
	{"binary frame of a ping", "\x02", true, Packet{}, true},
	{"binary frame as v4", "\x01\x02", true, Packet{}, true},
	{"empty text", "", false, Packet{}, true},
	{"unknown type", "9", false, Packet{}, true},
	{"bad base64", "b4%%", false, Packet{}, true},
	{"invalid utf8", "4\xc3", false, Packet{}, true},
}

func TestDecodeFrameV3(t *testing.T) {
	for _, tt := range decodeFrameV3Tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFrameV3([]byte(tt.in), tt.binary)
			if tt.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !equalPacket(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPayloadV3RoundTrip(t *testing.T) {
	pkts := append([]Packet{}, typeSamples...)
	for _, b := range binarySamples {
		pkts = append(pkts, Packet{Type: Message, Data: b, Binary: true})
	}
	text, err := DecodePayloadV3(AppendPayloadV3(nil, pkts))
	if err != nil {
		t.Fatal(err)
	}
	checkPackets(t, text, pkts)
	bin, err := DecodeBinaryPayloadV3(AppendBinaryPayloadV3(nil, pkts))
	if err != nil {
		t.Fatal(err)
	}
	checkPackets(t, bin, pkts)
}

func TestUTF16Len(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"", 0}, {"abc", 3}, {"é", 1}, {"✓", 1}, {"😀", 2}, {"a😀é", 4}, {"\xff", 1},
	} {
		if got := utf16Len([]byte(tt.in)); got != tt.want {
			t.Errorf("utf16Len(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func checkPackets(t *testing.T, got, want []Packet) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d packets %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range got {
		if !equalPacket(got[i], want[i]) {
			t.Errorf("packet %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
