package socketio

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// packetsEqual reports whether a and b describe the same packet.
func packetsEqual(a, b Packet) bool {
	return a.Type == b.Type && a.Namespace == b.Namespace && a.ID == b.ID && a.HasID == b.HasID &&
		bytes.Equal(a.Data, b.Data) && (a.Data == nil) == (b.Data == nil) && a.Attachments == b.Attachments
}

// decodeValidTests are the valid Decode cases; they also seed FuzzDecode.
var decodeValidTests = []struct {
	in        string
	want      Packet
	canonical bool // AppendEncode reproduces the input byte for byte
}{
	{`0`, Packet{Type: Connect, Namespace: "/"}, true},
	{`0/custom,`, Packet{Type: Connect, Namespace: "/custom"}, true},
	{`0/custom`, Packet{Type: Connect, Namespace: "/custom"}, false},
	{`0/`, Packet{Type: Connect, Namespace: "/"}, false},
	{`0/,`, Packet{Type: Connect, Namespace: "/"}, false},
	{`0{"token":"123"}`, Packet{Type: Connect, Namespace: "/", Data: []byte(`{"token":"123"}`)}, true},
	{`0/admin,{"token":"x"}`, Packet{Type: Connect, Namespace: "/admin", Data: []byte(`{"token":"x"}`)}, true},
	{`0/a/b?x=1,{}`, Packet{Type: Connect, Namespace: "/a/b?x=1", Data: []byte(`{}`)}, true},
	{`1`, Packet{Type: Disconnect, Namespace: "/"}, true},
	{`1/admin,`, Packet{Type: Disconnect, Namespace: "/admin"}, true},
	{`1/admin`, Packet{Type: Disconnect, Namespace: "/admin"}, false},
	{`2["hello",1]`, Packet{Type: Event, Namespace: "/", Data: []byte(`["hello",1]`)}, true},
	{`2/admin,12["project:delete",123]`, Packet{Type: Event, Namespace: "/admin", ID: 12, HasID: true, Data: []byte(`["project:delete",123]`)}, true},
	{`212["foo"]`, Packet{Type: Event, Namespace: "/", ID: 12, HasID: true, Data: []byte(`["foo"]`)}, true},
	{`20["foo"]`, Packet{Type: Event, Namespace: "/", ID: 0, HasID: true, Data: []byte(`["foo"]`)}, true},
	{`2012["foo"]`, Packet{Type: Event, Namespace: "/", ID: 12, HasID: true, Data: []byte(`["foo"]`)}, false},
	{`218446744073709551615["foo"]`, Packet{Type: Event, Namespace: "/", ID: 18446744073709551615, HasID: true, Data: []byte(`["foo"]`)}, true},
	{`2[ "a" , {"b":[1,2]} ]`, Packet{Type: Event, Namespace: "/", Data: []byte(`[ "a" , {"b":[1,2]} ]`)}, true},
	{"2[\"a\"]\n", Packet{Type: Event, Namespace: "/", Data: []byte("[\"a\"]\n")}, true},
	{`2["<é>\u00e9"]`, Packet{Type: Event, Namespace: "/", Data: []byte(`["<é>\u00e9"]`)}, true},
	{`3/admin,13["bar"]`, Packet{Type: Ack, Namespace: "/admin", ID: 13, HasID: true, Data: []byte(`["bar"]`)}, true},
	{`31[]`, Packet{Type: Ack, Namespace: "/", ID: 1, HasID: true, Data: []byte(`[]`)}, true},
	{`4{"message":"Not authorized"}`, Packet{Type: ConnectError, Namespace: "/", Data: []byte(`{"message":"Not authorized"}`)}, true},
	{`4/admin,{"message":"x","data":{"a":1}}`, Packet{Type: ConnectError, Namespace: "/admin", Data: []byte(`{"message":"x","data":{"a":1}}`)}, true},
	{`4"Invalid namespace"`, Packet{Type: ConnectError, Namespace: "/", Data: []byte(`"Invalid namespace"`)}, true},
	{`51-["hello",{"_placeholder":true,"num":0}]`, Packet{Type: BinaryEvent, Namespace: "/", Attachments: 1, Data: []byte(`["hello",{"_placeholder":true,"num":0}]`)}, true},
	{`52-/ns,7["a",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`, Packet{Type: BinaryEvent, Namespace: "/ns", ID: 7, HasID: true, Attachments: 2, Data: []byte(`["a",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`)}, true},
	{`50-["a"]`, Packet{Type: BinaryEvent, Namespace: "/", Data: []byte(`["a"]`)}, true},
	{`51000-["a"]`, Packet{Type: BinaryEvent, Namespace: "/", Attachments: 1000, Data: []byte(`["a"]`)}, true},
	{`61-/admin,456[{"_placeholder":true,"num":0}]`, Packet{Type: BinaryAck, Namespace: "/admin", ID: 456, HasID: true, Attachments: 1, Data: []byte(`[{"_placeholder":true,"num":0}]`)}, true},
}

func TestDecodeValid(t *testing.T) {
	for _, tt := range decodeValidTests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("Decode(%q) error: %v", tt.in, err)
			}
			if !packetsEqual(got, tt.want) {
				t.Fatalf("Decode(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			enc := AppendEncode(nil, got)
			if tt.canonical && string(enc) != tt.in {
				t.Errorf("AppendEncode = %q, want %q", enc, tt.in)
			}
			again, err := Decode(enc)
			if err != nil || !packetsEqual(again, got) {
				t.Errorf("Decode(AppendEncode) = %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

// decodeInvalidTests are the malformed Decode cases; they also seed FuzzDecode.
var decodeInvalidTests = []struct {
	name, in string
}{
	{"empty", ``},
	{"unknown type 7", `7`},
	{"unknown type letter", `a["x"]`},
	{"event object", `2{}`},
	{"event garbage", `2abc`},
	{"event empty array", `2[]`},
	{"event bool name", `2[true]`},
	{"event null name", `2[null,"a"]`},
	{"event without payload", `2`},
	{"event id without payload", `212`},
	{"ns without slash", `2abc["a"]`},
	{"event string", `2"a"`},
	{"event leading space", `2 ["a"]`},
	{"ack without id", `3["a"]`},
	{"ack object", `31{}`},
	{"ack without payload", `31`},
	{"binary without count", `5["a"]`},
	{"binary non-numeric count", `5x-["a"]`},
	{"binary dash only", `5-["a"]`},
	{"binary count without dash", `51["a"]`},
	{"binary count at end", `51`},
	{"binary count too large", `51001-["a"]`},
	{"binary count overflow", `5999999999999999999999999-["a"]`},
	{"binary ack without id", `61-[{"_placeholder":true,"num":0}]`},
	{"count on event", `21-["a"]`},
	{"dash on event", `2-["a"]`},
	{"count on connect", `01-{}`},
	{"invalid utf8 payload", "2[\"\xff\"]"},
	{"invalid utf8 namespace", "0/\xc3,"},
	{"invalid json", `2["a",]`},
	{"truncated json", `2["a"`},
	{"trailing garbage", `2["a"]x`},
	{"two values", `2["a"]["b"]`},
	{"connect bad payload", `0/ns,abc`},
	{"connect array", `0["a"]`},
	{"connect string", `0"a"`},
	{"connect with id", `01{}`},
	{"connect ns with id", `0/ns,1`},
	{"disconnect payload", `1{}`},
	{"disconnect ns payload", `1/admin,{}`},
	{"disconnect id", `112`},
	{"connect error without payload", `4`},
	{"connect error array", `4["a"]`},
	{"connect error id", `41{}`},
	{"30-digit ack id", `2123456789012345678901234567890["a"]`},
	{"21-digit ack id", `2000000000000000000001["a"]`},
	{"uint64 overflow", `218446744073709551616["a"]`},
	{"event ns no comma", `2/admin["a"]`},
	{"unexpected after id", `212abc`},
	{"unexpected after ns", `2/a,x["a"]`},
	{"nul", "\x00"},
	{"deep nesting", "2[\"a\"," + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "]"},
}

func TestDecodeInvalid(t *testing.T) {
	for _, tt := range decodeInvalidTests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode(%q) = %+v, want error", tt.in, p)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q) error %v does not wrap ErrMalformed", tt.in, err)
			}
		})
	}
}

func TestAppendEncode(t *testing.T) {
	tests := []struct {
		p    Packet
		want string
	}{
		{Packet{Type: Connect}, `0`},
		{Packet{Type: Connect, Namespace: "/"}, `0`},
		{Packet{Type: Connect, Namespace: "/admin", Data: []byte(`{"sid":"x"}`)}, `0/admin,{"sid":"x"}`},
		{Packet{Type: Disconnect, Namespace: "/admin"}, `1/admin,`},
		{Packet{Type: Event, Namespace: "/", Data: []byte(`["a"]`), ID: 0, HasID: true}, `20["a"]`},
		{Packet{Type: Event, Namespace: "/", Data: []byte(`["a"]`), ID: 5}, `2["a"]`},
		{Packet{Type: BinaryEvent, Namespace: "/x", Attachments: 0, Data: []byte(`["a"]`)}, `50-/x,["a"]`},
		{Packet{Type: BinaryAck, Namespace: "/x", Attachments: 2, ID: 9, HasID: true, Data: []byte(`[]`)}, `62-/x,9[]`},
		{Packet{Type: Ack, Attachments: 3, ID: 1, HasID: true, Data: []byte(`[]`)}, `31[]`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			prefix := []byte("4")
			got := AppendEncode(prefix, tt.p)
			if string(got) != "4"+tt.want {
				t.Errorf("AppendEncode = %q, want %q", got, "4"+tt.want)
			}
		})
	}
}

func TestPacketTypeString(t *testing.T) {
	tests := []struct {
		t     PacketType
		want  string
		valid bool
		bin   bool
	}{
		{Connect, "CONNECT", true, false},
		{Disconnect, "DISCONNECT", true, false},
		{Event, "EVENT", true, false},
		{Ack, "ACK", true, false},
		{ConnectError, "CONNECT_ERROR", true, false},
		{BinaryEvent, "BINARY_EVENT", true, true},
		{BinaryAck, "BINARY_ACK", true, true},
		{7, "PacketType(7)", false, false},
		{255, "PacketType(255)", false, false},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("PacketType(%d).String() = %q, want %q", byte(tt.t), got, tt.want)
		}
		if got := tt.t.Valid(); got != tt.valid {
			t.Errorf("PacketType(%d).Valid() = %v, want %v", byte(tt.t), got, tt.valid)
		}
		if got := tt.t.IsBinary(); got != tt.bin {
			t.Errorf("PacketType(%d).IsBinary() = %v, want %v", byte(tt.t), got, tt.bin)
		}
	}
}

func TestDecodeDataIsClipped(t *testing.T) {
	in := []byte(`2["a"]`)
	p, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	if cap(p.Data) != len(p.Data) {
		t.Errorf("cap(Data) = %d, want %d", cap(p.Data), len(p.Data))
	}
}

func TestDecodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations")
	}
	in := []byte(`212["message",{"a":[1,2,3],"b":"hello"}]`)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Decode(in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("Decode allocates %v times, want 0", allocs)
	}
}
