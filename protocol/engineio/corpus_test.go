package engineio

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/actorio/actorio/protocol/internal/fuzzcorpus"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed files of testdata/fuzz from the seed lists")

// TestSeedCorpus checks that testdata/fuzz holds the seeds below; run
// `go test ./protocol/engineio -run TestSeedCorpus -update-corpus` after
// changing them.
func TestSeedCorpus(t *testing.T) {
	fuzzcorpus.Sync(t, "FuzzDecodeFrame", frameSeeds(), *updateCorpus)
	fuzzcorpus.Sync(t, "FuzzDecodePayload", payloadSeeds(), *updateCorpus)
	fuzzcorpus.Sync(t, "FuzzDecodePayloadV3", payloadV3Seeds(), *updateCorpus)
	fuzzcorpus.Sync(t, "FuzzDecodeBinaryPayloadV3", binaryPayloadV3Seeds(), *updateCorpus)
	fuzzcorpus.Sync(t, "FuzzDecodeFrameV3", frameV3Seeds(), *updateCorpus)
}

// typeSamples holds, for every packet type, the data a real peer sends
// with it (empty for a bare packet).
var typeSamples = []Packet{
	{Type: Open, Data: []byte(`{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)},
	{Type: Close},
	{Type: Ping},
	{Type: Ping, Data: []byte("probe")},
	{Type: Pong},
	{Type: Pong, Data: []byte("probe")},
	{Type: Message, Data: []byte("hello")},
	{Type: Message, Data: []byte("40")},
	{Type: Message, Data: []byte(`40/admin,{"token":"abc"}`)},
	{Type: Message, Data: []byte(`42["chat","héllo ✓ 😀"]`)},
	{Type: Message, Data: []byte(`421["echo",1,{"a":[true,null]}]`)},
	{Type: Message, Data: []byte(`431["ok"]`)},
	{Type: Message, Data: []byte(`451-["up",{"_placeholder":true,"num":0}]`)},
	{Type: Message, Data: []byte("41")},
	{Type: Upgrade},
	{Type: Noop},
}

// binarySamples are binary message contents.
var binarySamples = [][]byte{
	{}, {0}, {Separator}, {0xff, 0xfe, 0xfd}, []byte("4hello"), []byte("b"), {0xed, 0xa0, 0x80},
	pattern(300),
}

// invalidUTF8 are the classes of invalid UTF-8 a text packet may carry.
var invalidUTF8 = []string{
	"\xff", "\xff\xfe", "\x80", "\xc3\x28", "\xe2\x28\xa1", "\xc0\xaf", "\xed\xa0\x80",
	"\xf0\x9f\x98", "\xf4\x90\x80\x80", "ok\xc3",
}

// pattern returns n deterministic bytes covering every byte value.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/256)
	}
	return b
}

func frameSeeds() []fuzzcorpus.Seed {
	var seeds []fuzzcorpus.Seed
	for _, tt := range decodeFrameTests {
		seeds = append(seeds, fuzzcorpus.S("table-"+tt.name, []byte(tt.in), tt.binary))
	}
	for _, p := range typeSamples {
		seeds = append(seeds, fuzzcorpus.S("valid-"+p.Type.String(), AppendText(nil, p), false))
	}
	for i, b := range binarySamples {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("binary-%d", i), b, true))
	}
	for i, s := range invalidUTF8 {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("crasher-invalid-utf8-%d", i), []byte("4"+s), false))
	}
	for _, s := range []string{"7", "9", "a", "\x00", " 4x", "/", "44\x00", "\x1e"} {
		seeds = append(seeds, fuzzcorpus.S("crasher-unknown-type", []byte(s), false))
	}
	seeds = append(seeds,
		fuzzcorpus.S("edge-text-as-binary", []byte("4hello"), true),
		fuzzcorpus.S("edge-separator-in-message", []byte("4a\x1eb"), false),
		fuzzcorpus.S("edge-long-message", []byte("4"+strings.Repeat("x", 4000)), false),
		fuzzcorpus.S("edge-huge-attachment-count", []byte(`4999999999999999999999-["x"]`), false),
	)
	return seeds
}

func payloadSeeds() []fuzzcorpus.Seed {
	var seeds []fuzzcorpus.Seed
	for _, tt := range decodePayloadTests {
		seeds = append(seeds, fuzzcorpus.S("table-"+tt.name, []byte(tt.in)))
	}
	for _, p := range typeSamples {
		seeds = append(seeds, fuzzcorpus.S("valid-"+p.Type.String(), AppendPayload(nil, []Packet{p})))
	}
	for i, b := range binarySamples {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("binary-%d", i), AppendPayload(nil, []Packet{{Type: Message, Data: b, Binary: true}})))
	}
	// What clients batch: an event with its attachments, a pong with
	// messages, every type at once.
	seeds = append(seeds,
		fuzzcorpus.S("batch-binary-event", AppendPayload(nil, []Packet{
			{Type: Message, Data: []byte(`452-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)},
			{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true},
			{Type: Message, Data: pattern(100), Binary: true},
		})),
		fuzzcorpus.S("batch-pong-messages", AppendPayload(nil, []Packet{
			{Type: Pong}, {Type: Message, Data: []byte(`42["a"]`)}, {Type: Message, Data: []byte(`42["b"]`)},
		})),
		fuzzcorpus.S("batch-every-type", AppendPayload(nil, typeSamples)),
		fuzzcorpus.S("batch-many-noops", []byte(strings.Repeat("6\x1e", 999)+"6")),
	)
	for i, s := range invalidUTF8 {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("crasher-invalid-utf8-%d", i), []byte("42[\"ok\"]\x1e4"+s)))
	}
	for i, s := range []string{
		"\x1e", "\x1e\x1e", "4a\x1e\x1e", "7", "4a\x1e7", "\x00", "b=", "b====", "bAQ", "bAQI", "bAQID",
		"b-_8", "bAQ ID", "bAQID\nBA==", "bAQIDBA==\x1eb!", "4a\x1eb\xff", "B", "bAQIDBA==x",
	} {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("crasher-%d", i), []byte(s)))
	}
	seeds = append(seeds,
		fuzzcorpus.S("edge-long-binary", AppendPayload(nil, []Packet{{Type: Message, Data: pattern(3000), Binary: true}})),
	)
	return seeds
}

// v3Batches are the packet sequences a Socket.IO v2 client and the server
// exchange in one Engine.IO v3 payload.
var v3Batches = map[string][]Packet{
	"binary-event": {
		{Type: Message, Data: []byte(`52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)},
		{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true},
		{Type: Message, Data: pattern(100), Binary: true},
	},
	"ping-messages":  {{Type: Ping}, {Type: Message, Data: []byte(`2["a"]`)}, {Type: Message, Data: []byte(`0/admin?token=x,`)}},
	"every-type":     typeSamples,
	"server-answers": {{Type: Pong}, {Type: Message, Data: []byte("0")}, {Type: Message, Data: []byte(`4/admin,"refused"`)}, {Type: Noop}},
}

func payloadV3Seeds() []fuzzcorpus.Seed {
	var seeds []fuzzcorpus.Seed
	for _, tt := range decodePayloadV3Tests {
		seeds = append(seeds, fuzzcorpus.S("table-"+tt.name, []byte(tt.in)))
	}
	for _, p := range typeSamples {
		seeds = append(seeds, fuzzcorpus.S("valid-"+p.Type.String(), AppendPayloadV3(nil, []Packet{p})))
	}
	for i, b := range binarySamples {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("binary-%d", i), AppendPayloadV3(nil, []Packet{{Type: Message, Data: b, Binary: true}})))
	}
	for name, pkts := range v3Batches {
		seeds = append(seeds, fuzzcorpus.S("batch-"+name, AppendPayloadV3(nil, pkts)))
	}
	for i, s := range invalidUTF8 {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("crasher-invalid-utf8-%d", i), []byte("2:40"+fmt.Sprint(len(s)+1)+":4"+s)))
	}
	for i, s := range []string{"0", ":", "0:0:", "1:", "1:b", "2:b4", "3:b4A", "-1:4", "1:4x", "4294967296:4"} {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("crasher-%d", i), []byte(s)))
	}
	return seeds
}

func binaryPayloadV3Seeds() []fuzzcorpus.Seed {
	var seeds []fuzzcorpus.Seed
	for _, tt := range decodeBinaryPayloadV3Tests {
		seeds = append(seeds, fuzzcorpus.S("table-"+tt.name, tt.in))
	}
	for _, p := range typeSamples {
		seeds = append(seeds, fuzzcorpus.S("valid-"+p.Type.String(), AppendBinaryPayloadV3(nil, []Packet{p})))
	}
	for i, b := range binarySamples {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("binary-%d", i), AppendBinaryPayloadV3(nil, []Packet{{Type: Message, Data: b, Binary: true}})))
	}
	for name, pkts := range v3Batches {
		seeds = append(seeds, fuzzcorpus.S("batch-"+name, AppendBinaryPayloadV3(nil, pkts)))
	}
	for i, b := range [][]byte{{255}, {0, 255}, {1, 255, 4}, {0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 255}, {1, 2, 255, 4}} {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("crasher-%d", i), b))
	}
	return seeds
}

func frameV3Seeds() []fuzzcorpus.Seed {
	var seeds []fuzzcorpus.Seed
	for _, tt := range decodeFrameV3Tests {
		seeds = append(seeds, fuzzcorpus.S("table-"+tt.name, []byte(tt.in), tt.binary))
	}
	for _, p := range typeSamples {
		seeds = append(seeds, fuzzcorpus.S("valid-"+p.Type.String(), AppendTextV3(nil, p), false))
	}
	for i, b := range binarySamples {
		seeds = append(seeds,
			fuzzcorpus.S(fmt.Sprintf("binary-%d", i), append([]byte{byte(Message)}, b...), true),
			fuzzcorpus.S(fmt.Sprintf("base64-%d", i), AppendTextV3(nil, Packet{Type: Message, Data: b, Binary: true}), false))
	}
	for i, s := range invalidUTF8 {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("crasher-invalid-utf8-%d", i), []byte("4"+s), false))
	}
	return seeds
}
