package engineio

import (
	"bytes"
	"errors"
	"testing"
	"unsafe"
)

func TestPacketTypeString(t *testing.T) {
	tests := []struct {
		t    PacketType
		want string
	}{
		{Open, "open"}, {Close, "close"}, {Ping, "ping"}, {Pong, "pong"},
		{Message, "message"}, {Upgrade, "upgrade"}, {Noop, "noop"},
		{PacketType(7), "PacketType(7)"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("%d.String() = %q, want %q", tt.t, got, tt.want)
		}
	}
}

// decodeFrameTests are the DecodeFrame cases; they also seed FuzzDecodeFrame.
var decodeFrameTests = []struct {
	name   string
	in     string
	binary bool
	want   Packet
	err    bool
}{
	{"message", "4hello", false, Packet{Type: Message, Data: []byte("hello")}, false},
	{"ping probe", "2probe", false, Packet{Type: Ping, Data: []byte("probe")}, false},
	{"bare pong", "3", false, Packet{Type: Pong}, false},
	{"upgrade", "5", false, Packet{Type: Upgrade}, false},
	{"noop", "6", false, Packet{Type: Noop}, false},
	{"utf8", "4héllo✓", false, Packet{Type: Message, Data: []byte("héllo✓")}, false},
	{"binary frame", "\x01\x02\xff", true, Packet{Type: Message, Data: []byte{1, 2, 0xff}, Binary: true}, false},
	{"empty binary frame", "", true, Packet{Type: Message, Data: []byte{}, Binary: true}, false},
	{"empty text", "", false, Packet{}, true},
	{"unknown type", "abc", false, Packet{}, true},
	{"type 7", "7x", false, Packet{}, true},
	{"invalid utf8", "4\xff\xfe", false, Packet{}, true},
}

// TestPacketSize keeps Packet at a slice and one word: outgoing queues
// hold a Packet per packet per receiver.
func TestPacketSize(t *testing.T) {
	want := unsafe.Sizeof([]byte(nil)) + unsafe.Sizeof(uintptr(0))
	if got := unsafe.Sizeof(Packet{}); got != want {
		t.Fatalf("Packet is %d bytes, want %d: keep Data first, then the one-byte fields", got, want)
	}
}

func TestDecodeFrame(t *testing.T) {
	for _, tt := range decodeFrameTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFrame([]byte(tt.in), tt.binary)
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

func TestAppendText(t *testing.T) {
	tests := []struct {
		p    Packet
		want string
	}{
		{Packet{Type: Message, Data: []byte("hi")}, "4hi"},
		{Packet{Type: Ping}, "2"},
		{Packet{Type: Pong, Data: []byte("probe")}, "3probe"},
		{Packet{Type: Noop}, "6"},
	}
	for _, tt := range tests {
		if got := string(AppendText([]byte("x"), tt.p)); got != "x"+tt.want {
			t.Errorf("AppendText(%+v) = %q, want %q", tt.p, got, "x"+tt.want)
		}
	}
}

func TestAppendPayload(t *testing.T) {
	tests := []struct {
		name string
		pkts []Packet
		want string
	}{
		{"none", nil, ""},
		{"one", []Packet{{Type: Message, Data: []byte("hello")}}, "4hello"},
		{"several", []Packet{
			{Type: Message, Data: []byte("test1")},
			{Type: Message, Data: []byte("test2")},
			{Type: Ping},
		}, "4test1\x1e4test2\x1e2"},
		{"binary", []Packet{
			{Type: Message, Data: []byte("hello")},
			{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true},
		}, "4hello\x1ebAQIDBA=="},
		{"empty binary", []Packet{{Type: Message, Binary: true}}, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendPayload(nil, tt.pkts)
			if string(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if n := PayloadLen(tt.pkts); n != len(got) {
				t.Fatalf("PayloadLen = %d, want %d", n, len(got))
			}
		})
	}
}

// decodePayloadTests are the DecodePayload cases; they also seed FuzzDecodePayload.
var decodePayloadTests = []struct {
	name string
	in   string
	want []Packet
	err  bool
}{
	{"one", "4hello", []Packet{{Type: Message, Data: []byte("hello")}}, false},
	{"several", "4test1\x1e4test2\x1e4test3", []Packet{
		{Type: Message, Data: []byte("test1")},
		{Type: Message, Data: []byte("test2")},
		{Type: Message, Data: []byte("test3")},
	}, false},
	{"text and binary", "4hello\x1ebAQIDBA==", []Packet{
		{Type: Message, Data: []byte("hello")},
		{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true},
	}, false},
	{"pong and close", "3\x1e1", []Packet{{Type: Pong}, {Type: Close}}, false},
	{"empty binary", "b", []Packet{{Type: Message, Data: []byte{}, Binary: true}}, false},
	{"empty body", "", nil, true},
	{"garbage", "abc", nil, true},
	{"empty packet in middle", "4a\x1e\x1e4b", nil, true},
	{"trailing separator", "4a\x1e", nil, true},
	{"leading separator", "\x1e4a", nil, true},
	{"bad base64", "b!!!", nil, true},
	{"invalid utf8", "4\xc3\x28", nil, true},
}

func TestDecodePayload(t *testing.T) {
	for _, tt := range decodePayloadTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodePayload([]byte(tt.in))
			if tt.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d packets %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if !equalPacket(got[i], tt.want[i]) {
					t.Errorf("packet %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	pkts := []Packet{
		{Type: Message, Data: []byte("a")},
		{Type: Message, Data: []byte{0, 0x1e, 0xff}, Binary: true},
		{Type: Ping, Data: []byte("probe")},
		{Type: Noop},
	}
	got, err := DecodePayload(AppendPayload(nil, pkts))
	if err != nil {
		t.Fatal(err)
	}
	for i := range pkts {
		if !equalPacket(got[i], pkts[i]) {
			t.Errorf("packet %d = %+v, want %+v", i, got[i], pkts[i])
		}
	}
}

func equalPacket(a, b Packet) bool {
	return a.Type == b.Type && a.Binary == b.Binary && bytes.Equal(a.Data, b.Data)
}
