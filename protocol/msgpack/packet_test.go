package msgpack

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/actorio/actorio/protocol/socketio"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The expected bytes below are what socket.io-msgpack-parser 3.0.2
// (notepack.io 2.2.0) writes for the same packet in Node.
var encodeCases = []struct {
	name string
	p    socketio.Packet
	atts [][]byte
	want string
}{
	{"connect reply", socketio.Packet{Type: socketio.Connect, Namespace: "/", Data: []byte(`{"sid":"abc"}`)}, nil,
		"83a47479706500a46461746181a3736964a3616263a36e7370a12f"},
	{"event", socketio.Packet{Type: socketio.Event, Data: []byte(`["hello",1,-1,1.5,true,null,"é"]`)}, nil,
		"83a47479706502a46461746197a568656c6c6f01ffcb3ff8000000000000c3c0a2c3a9a36e7370a12f"},
	{"event with id", socketio.Packet{Type: socketio.Event, Namespace: "/chat", ID: 7, HasID: true, Data: []byte(`["ev",{"a":1,"b":[1,2]}]`)}, nil,
		"84a47479706502a46461746192a2657682a16101a162920102a2696407a36e7370a52f63686174"},
	{"ack, id first", socketio.Packet{Type: socketio.Ack, ID: 7, HasID: true, Data: []byte(`[300,-200,70000,-70000,5000000000,-5000000000]`)}, nil,
		"84a2696407a47479706503a46461746196cd012cd1ff38ce00011170d2fffeee90cf000000012a05f200d3fffffffed5fa0e00a36e7370a12f"},
	{"binary event is type 2", socketio.Packet{Type: socketio.BinaryEvent, Attachments: 1, Data: []byte(`["b",{"_placeholder":true,"num":0}]`)}, [][]byte{{1, 2, 3}},
		"83a47479706502a46461746192a162c403010203a36e7370a12f"},
	{"disconnect", socketio.Packet{Type: socketio.Disconnect, Namespace: "/x"}, nil,
		"82a47479706501a36e7370a22f78"},
	{"connect error", socketio.Packet{Type: socketio.ConnectError, Namespace: "/nope", Data: []byte(`{"message":"Invalid namespace"}`)}, nil,
		"83a47479706504a46461746181a76d657373616765b1496e76616c6964206e616d657370616365a36e7370a52f6e6f7065"},
	{"str 8, str 16, array 16", socketio.Packet{Type: socketio.Event, Data: []byte(`["` + strings.Repeat("x", 40) + `","` + strings.Repeat("y", 300) +
		`",[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19]]`)}, nil,
		"83a47479706502a46461746193d928" + strings.Repeat("78", 40) + "da012c" + strings.Repeat("79", 300) +
			"dc0014000102030405060708090a0b0c0d0e0f10111213a36e7370a12f"},
	{"numbers as JavaScript has them", socketio.Packet{Type: socketio.Event, Data: []byte(`["f",1e-7,0.1,-0,9007199254740994]`)}, nil,
		"83a47479706502a46461746195a166cb3e7ad7f29abcaf48cb3fb999999999999a00cf0020000000000002a36e7370a12f"},
	{"escapes", socketio.Packet{Type: socketio.Event, Data: []byte(`["a\"b\\c\n\u0001é\ud83d\ude00","` + "\u2028" + `"]`)}, nil,
		"83a47479706502a46461746192ad6122625c630a01c3a9f09f9880a3e280a8a36e7370a12f"},
	{"empty containers, spaces", socketio.Packet{Type: socketio.Event, Data: []byte(`[ "e" , [ ] , { } ] `)}, nil,
		"83a47479706502a46461746193a1659080a36e7370a12f"},
	{"map 16", socketio.Packet{Type: socketio.Event, Data: []byte(`["m",{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16}]`)}, nil,
		"83a47479706502a46461746192a16dde0011a26b3000a26b3101a26b3202a26b3303a26b3404a26b3505a26b3606a26b3707a26b3808a26b3909a36b31300aa36b31310ba36b31320ca36b31330da36b31340ea36b31350fa36b313610a36e7370a12f"},
	{"connect with auth", socketio.Packet{Type: socketio.Connect, Namespace: "/admin", Data: []byte(`{"token":"t"}`)}, nil,
		"83a47479706500a46461746181a5746f6b656ea174a36e7370a62f61646d696e"},
}

func TestAppendPacketAsNode(t *testing.T) {
	for _, c := range encodeCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := AppendPacket([]byte("prefix"), c.p, c.atts)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(got, []byte("prefix")) {
				t.Fatalf("prefix lost: %x", got)
			}
			if h := hex.EncodeToString(got[len("prefix"):]); h != c.want {
				t.Fatalf("got  %s\nwant %s", h, c.want)
			}
			frame := socketio.AppendEncode(nil, c.p)
			got2, err := AppendFrame(nil, frame, c.atts)
			if err != nil {
				t.Fatal(err)
			}
			if h := hex.EncodeToString(got2); h != c.want {
				t.Fatalf("AppendFrame(%q):\ngot  %s\nwant %s", frame, h, c.want)
			}
		})
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	for _, c := range encodeCases {
		t.Run(c.name, func(t *testing.T) {
			b, err := AppendPacket(nil, c.p, c.atts)
			if err != nil {
				t.Fatal(err)
			}
			p, atts, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			want := c.p
			if want.Namespace == "" {
				want.Namespace = "/"
			}
			if !want.HasID || (want.Type != socketio.Event && want.Type != socketio.Ack && !want.Type.IsBinary()) {
				want.ID, want.HasID = 0, false
			}
			if p.Type != want.Type || p.Namespace != want.Namespace || p.ID != want.ID || p.HasID != want.HasID ||
				p.Attachments != len(c.atts) {
				t.Fatalf("header %+v, want %+v", p, want)
			}
			// Data comes back compact, with strings as the JSON parser writes them.
			if want.Data != nil && !socketio.HasPlaceholder(want.Data) && !bytes.Contains(want.Data, []byte(`\`)) &&
				!bytes.ContainsAny(want.Data, " ") && !bytes.Contains(want.Data, []byte("e-7")) && string(p.Data) != string(want.Data) {
				t.Fatalf("data %s, want %s", p.Data, want.Data)
			}
			if len(atts) != len(c.atts) {
				t.Fatalf("%d attachments, want %d", len(atts), len(c.atts))
			}
			for i := range atts {
				if !bytes.Equal(atts[i], c.atts[i]) {
					t.Fatalf("attachment %d = %x, want %x", i, atts[i], c.atts[i])
				}
			}
		})
	}
}

// Packets as Node's notepack.io writes them, and what a handler gets.
func TestDecodeFromNode(t *testing.T) {
	cases := []struct {
		name, in string
		want     socketio.Packet
		atts     [][]byte
	}{
		{"undefined: null in an array, no member in a map", "83a47479706502a46461746193a175d4000082a161d40000a16201a36e7370a12f",
			socketio.Packet{Type: socketio.Event, Namespace: "/", Data: []byte(`["u",null,{"b":1}]`)}, nil},
		{"Date as toJSON writes it", "83a47479706502a46461746192a164d7000000018cc820db2ea36e7370a12f",
			socketio.Packet{Type: socketio.Event, Namespace: "/", Data: []byte(`["d","2024-01-02T03:04:05.678Z"]`)}, nil},
		{"ArrayBuffer (ext 8, type 0) is binary", "83a47479706502a46461746192a26162c702000908a36e7370a12f",
			socketio.Packet{Type: socketio.BinaryEvent, Namespace: "/", Attachments: 1, Data: []byte(`["ab",{"_placeholder":true,"num":0}]`)}, [][]byte{{9, 8}}},
		{"the JavaScript client's options are ignored", "85a47479706502a46461746192a17801a76f7074696f6e7381a8636f6d7072657373c3a2696403a36e7370a12f",
			socketio.Packet{Type: socketio.Event, Namespace: "/", ID: 3, HasID: true, Data: []byte(`["x",1]`)}, nil},
		{"CONNECT with undefined data", "83a47479706500a464617461d40000a36e7370a12f",
			socketio.Packet{Type: socketio.Connect, Namespace: "/"}, nil},
		{"number keys", "83a47479706502a46461746192a16b82a131a161a16202a36e7370a12f",
			socketio.Packet{Type: socketio.Event, Namespace: "/", Data: []byte(`["k",{"1":"a","b":2}]`)}, nil},
		{"other ext as [type, binary]", "83a47479706502a46461746192a178d5050102a36e7370a12f",
			socketio.Packet{Type: socketio.BinaryEvent, Namespace: "/", Attachments: 1, Data: []byte(`["x",[5,{"_placeholder":true,"num":0}]]`)}, [][]byte{{1, 2}}},
		{"float 32, NaN", "83a47479706502a46461746193a178ca3dcccccdcb7ff8000000000001a36e7370a12f",
			socketio.Packet{Type: socketio.Event, Namespace: "/", Data: []byte(`["x",0.1,null]`)}, nil},
		{"invalid UTF-8 and controls", "83a47479706502a46461746192a178a4ff0a1f22a36e7370a12f",
			socketio.Packet{Type: socketio.Event, Namespace: "/", Data: []byte("[\"x\",\"\uFFFD\\n\\u001f\\\"\"]")}, nil},
		{"ack with binary", "84a47479706503a2696400a46461746192c401ff81a178c40101a36e7370a12f",
			socketio.Packet{Type: socketio.BinaryAck, Namespace: "/", HasID: true, Attachments: 2,
				Data: []byte(`[{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]`)}, [][]byte{{0xff}, {1}}},
		{"id on CONNECT ignored", "83a47479706500a36e7370a12fa2696401",
			socketio.Packet{Type: socketio.Connect, Namespace: "/"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, atts, err := Decode(unhex(t, c.in))
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != c.want.Type || p.Namespace != c.want.Namespace || p.ID != c.want.ID || p.HasID != c.want.HasID ||
				p.Attachments != c.want.Attachments || string(p.Data) != string(c.want.Data) || (p.Data == nil) != (c.want.Data == nil) {
				t.Fatalf("got  %+v %s\nwant %+v %s", p, p.Data, c.want, c.want.Data)
			}
			if len(atts) != len(c.atts) {
				t.Fatalf("attachments %x, want %x", atts, c.atts)
			}
			for i := range atts {
				if !bytes.Equal(atts[i], c.atts[i]) {
					t.Fatalf("attachments %x, want %x", atts, c.atts)
				}
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	deep := strings.Repeat("91", MaxDepth+1) + "c0"
	cases := []struct{ name, in string }{
		{"empty", ""},
		{"not a map", "92a47479706502"},
		{"type 5 (the npm decoder knows 0 to 4)", "82a47479706505a36e7370a12f"},
		{"type as a string", "82a474797065a132a36e7370a12f"},
		{"type 1.5", "82a474797065cb3ff8000000000000a36e7370a12f"},
		{"no type", "81a36e7370a12f"},
		{"no nsp", "81a47479706501"},
		{"nsp not a string", "82a47479706501a36e737001"},
		{"DISCONNECT with data", "83a47479706501a464617461c0a36e7370a12f"},
		{"CONNECT with an array", "83a47479706500a46461746190a36e7370a12f"},
		{"CONNECT_ERROR without data", "82a47479706504a36e7370a12f"},
		{"EVENT with a map", "83a47479706502a46461746180a36e7370a12f"},
		{"EVENT without a name", "83a47479706502a46461746190a36e7370a12f"},
		{"EVENT named null", "83a47479706502a46461746191c0a36e7370a12f"},
		{"ACK without id", "83a47479706503a46461746190a36e7370a12f"},
		{"negative id", "84a47479706502a46461746191a178a2696401ffa36e7370a12f"},
		{"id 1.5", "84a47479706502a46461746191a178a26964cb3ff8000000000000a36e7370a12f"},
		{"trailing bytes", "82a47479706501a36e7370a12f00"},
		{"truncated", "82a47479706501a36e7370a1"},
		{"reserved 0xc1", "83a47479706502a46461746192a178c1a36e7370a12f"},
		{"array longer than its input", "83a47479706502a464617461ddffffffffa36e7370a12f"},
		{"map key an array", "83a47479706502a46461746192a17881900ba36e7370a12f"},
		{"too deep", "83a47479706502a46461746192a178" + deep + "a36e7370a12f"},
		{"bin longer than its input", "83a47479706502a46461746192a178c6ffffffff"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, _, err := Decode(unhex(t, c.in))
			if err == nil {
				t.Fatalf("accepted: %+v %s", p, p.Data)
			}
			if !errors.Is(err, socketio.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

func TestAppendPacketRefuses(t *testing.T) {
	cases := []struct {
		name string
		data string
	}{
		{"not JSON", `[abc]`},
		{"two values", `[1] [2]`},
		{"unterminated", `["a",`},
		{"bad escape", `["\x"]`},
		{"control character", "[\"\x01\"]"},
		{"leading zero", `[01]`},
		{"bad literal", `[tru]`},
		{"missing colon", `[{"a" 1}]`},
		{"too deep", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := AppendPacket([]byte("x"), socketio.Packet{Type: socketio.Event, Data: []byte(c.data)}, nil)
			if err == nil || !errors.Is(err, socketio.ErrMalformed) {
				t.Fatalf("err = %v", err)
			}
			if string(out) != "x" {
				t.Fatalf("dst changed: %q", out)
			}
		})
	}
	if _, err := AppendFrame(nil, []byte("9[]"), nil); err == nil {
		t.Fatal("frame of type 9 accepted")
	}
}

// A placeholder becomes bin only when it points at an attachment: other
// objects of that form stay maps, as the JSON parser leaves them.
func TestPlaceholders(t *testing.T) {
	cases := []struct {
		name, data string
		atts       [][]byte
		bins       int
	}{
		{"canonical", `[{"_placeholder":true,"num":0}]`, [][]byte{{1}}, 1},
		{"num first, spaces", `[{ "num" : 1 , "_placeholder" : true }]`, [][]byte{{1}, {2}}, 1},
		{"no attachments", `[{"_placeholder":true,"num":0}]`, nil, 0},
		{"out of range", `[{"_placeholder":true,"num":1}]`, [][]byte{{1}}, 0},
		{"flag false", `[{"_placeholder":false,"num":0}]`, [][]byte{{1}}, 0},
		{"third member", `[{"_placeholder":true,"num":0,"x":1}]`, [][]byte{{1}}, 0},
		{"num a string", `[{"_placeholder":true,"num":"0"}]`, [][]byte{{1}}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := AppendPacket(nil, socketio.Packet{Type: socketio.Ack, ID: 1, HasID: true, Data: []byte(c.data)}, c.atts)
			if err != nil {
				t.Fatal(err)
			}
			_, atts, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(atts) != c.bins {
				t.Fatalf("%d binaries, want %d (%x)", len(atts), c.bins, b)
			}
		})
	}
}

func TestParseFrame(t *testing.T) {
	cases := []struct {
		in   string
		want socketio.Packet
	}{
		{"0", socketio.Packet{Type: socketio.Connect, Namespace: "/"}},
		{"0/a,", socketio.Packet{Type: socketio.Connect, Namespace: "/a"}},
		{"0/a", socketio.Packet{Type: socketio.Connect, Namespace: "/a"}},
		{"2/a,12[1]", socketio.Packet{Type: socketio.Event, Namespace: "/a", ID: 12, HasID: true, Data: []byte("[1]")}},
		{"51-[1]", socketio.Packet{Type: socketio.BinaryEvent, Namespace: "/", Data: []byte("[1]")}},
		{"63-/b,0[]", socketio.Packet{Type: socketio.BinaryAck, Namespace: "/b", HasID: true, Data: []byte("[]")}},
	}
	for _, c := range cases {
		p, err := parseFrame([]byte(c.in))
		if err != nil || p.Type != c.want.Type || p.Namespace != c.want.Namespace || p.ID != c.want.ID ||
			p.HasID != c.want.HasID || string(p.Data) != string(c.want.Data) {
			t.Errorf("parseFrame(%q) = %+v, %v; want %+v", c.in, p, err, c.want)
		}
	}
	for _, in := range []string{"", "x", "5-[]", "5x[]", "2/a,99999999999999999999999[]"} {
		if _, err := parseFrame([]byte(in)); err == nil {
			t.Errorf("parseFrame(%q) accepted", in)
		}
	}
}
