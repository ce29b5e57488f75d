package socketio

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/actorio/actorio/protocol/internal/fuzzcorpus"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed files of testdata/fuzz from the seed lists")

// TestSeedCorpus checks that testdata/fuzz holds the seeds below; run
// `go test ./protocol/socketio -run TestSeedCorpus -update-corpus` after
// changing them.
func TestSeedCorpus(t *testing.T) {
	fuzzcorpus.Sync(t, "FuzzDecode", decodeCorpus(), *updateCorpus)
	fuzzcorpus.Sync(t, "FuzzParseValue", parseValueCorpus(), *updateCorpus)
	fuzzcorpus.Sync(t, "FuzzSplitArray", splitArrayCorpus(), *updateCorpus)
	fuzzcorpus.Sync(t, "FuzzEventName", eventNameCorpus(), *updateCorpus)
	fuzzcorpus.Sync(t, "FuzzCheckPlaceholders", placeholderCorpus(), *updateCorpus)
	fuzzcorpus.Sync(t, "FuzzValidJSON", validJSONCorpus(), *updateCorpus)
}

// placeholders returns the JSON array ["up", {placeholder 0}, …] with n
// placeholders, in reverse order when reverse is set.
func placeholders(n int, reverse bool) string {
	var sb strings.Builder
	sb.WriteString(`["up"`)
	for i := range n {
		num := i
		if reverse {
			num = n - 1 - i
		}
		sb.WriteString(`,{"_placeholder":true,"num":`)
		sb.WriteString(strconv.Itoa(num))
		sb.WriteString(`}`)
	}
	sb.WriteString(`]`)
	return sb.String()
}

// deep returns a JSON value nested n levels deep, as arrays or objects.
func deep(n int, objects bool) string {
	if objects {
		return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)
	}
	return strings.Repeat("[", n) + strings.Repeat("]", n)
}

// Payloads that are valid for each packet type.
var (
	namespaces    = []string{"/", "/admin", "/a/b?x=1", "/é"}
	eventPayloads = []string{
		`["ev"]`, `["ev",1,"two",{"three":[3]},null,true,false]`, `["h\u00e9\"",-1.5e3,1E+2,0]`,
		`["😀",{"k":"<>&\u2028"},[[]],{}]`, ` ["spaced" , { "a" : 1 } ] `,
	}
	ackPayloads     = []string{`[]`, `["ok"]`, `[null,{"a":[1,2]}]`}
	connectPayloads = []string{``, `{}`, `{"token":"x","n":[1]}`}
	errorPayloads   = []string{`{"message":"Not authorized"}`, `{"message":"x","data":{"a":1}}`, `"Invalid namespace"`}
	ackIDs          = []struct {
		has bool
		id  uint64
	}{{false, 0}, {true, 0}, {true, 12}, {true, math.MaxUint64}}
)

// validPackets encodes a packet of every type with every namespace, ack id
// and attachment count that type allows.
func validPackets() []fuzzcorpus.Seed {
	var seeds []fuzzcorpus.Seed
	add := func(p Packet) {
		label := fmt.Sprintf("valid-%s-att%d-id%t", strings.ToLower(p.Type.String()), p.Attachments, p.HasID)
		seeds = append(seeds, fuzzcorpus.S(label, AppendEncode(nil, p)))
	}
	data := func(s string) []byte {
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	for _, ns := range namespaces {
		for _, d := range connectPayloads {
			add(Packet{Type: Connect, Namespace: ns, Data: data(d)})
		}
		add(Packet{Type: Disconnect, Namespace: ns})
		for _, d := range errorPayloads {
			add(Packet{Type: ConnectError, Namespace: ns, Data: data(d)})
		}
		for _, id := range ackIDs {
			for _, d := range eventPayloads {
				add(Packet{Type: Event, Namespace: ns, ID: id.id, HasID: id.has, Data: data(d)})
			}
			for _, n := range []int{0, 1, 2} {
				add(Packet{Type: BinaryEvent, Namespace: ns, ID: id.id, HasID: id.has, Attachments: n, Data: data(placeholders(n, n == 2))})
			}
			if !id.has {
				continue
			}
			for _, d := range ackPayloads {
				add(Packet{Type: Ack, Namespace: ns, ID: id.id, HasID: true, Data: data(d)})
			}
			add(Packet{Type: BinaryAck, Namespace: ns, ID: id.id, HasID: true, Attachments: 1, Data: []byte(`[{"_placeholder":true,"num":0}]`)})
		}
	}
	add(Packet{Type: BinaryEvent, Namespace: "/", Attachments: MaxAttachments, Data: []byte(placeholders(MaxAttachments, true))})
	return seeds
}

func decodeCorpus() []fuzzcorpus.Seed {
	seeds := validPackets()
	for _, tt := range decodeValidTests {
		seeds = append(seeds, fuzzcorpus.S("table-valid", []byte(tt.in)))
	}
	for _, tt := range decodeInvalidTests {
		seeds = append(seeds, fuzzcorpus.S("table-"+tt.name, []byte(tt.in)))
	}
	for i, s := range decodeSeeds {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("fuzz-seed-%d", i), []byte(s)))
	}
	// Hostile headers and payloads, as a client may send them; the ones
	// with a leading '4' are whole Engine.IO message texts, which Decode
	// must reject or read as a CONNECT_ERROR.
	for i, s := range []string{
		`51000-["x"]`, `5999999-["x"]`, `5` + strings.Repeat("9", 30) + `-["x"]`, `51001-` + placeholders(1001, false),
		`451000-["x"]`, `45999999-["x"]`, `4` + strings.Repeat("9", 25) + `-["x"]`, `42["x"]`,
		`2["x",` + deep(10_000, false) + `]`, `2["x",` + deep(9_998, false) + `]`, `2["x",` + deep(3_000, true) + `]`,
		`2[` + strings.Repeat(`"a",`, 2000) + `"a"]`, `0/` + strings.Repeat("n", 3000) + `,`,
		"2[\"\xff\"]", "2/\xc3\x28,[\"a\"]", "2[\"\xed\xa0\x80\"]", "2[\"a\"]\xf0\x9f\x98", "0/a\x00,", "2[\"\\u0000\"]",
		`2["\ud800"]`, `2["\udc00\ud800"]`, `0/a,b,{}`, `0/a,,`, `2/a,b["x"]`, `21/x,["x"]`, `5-1["x"]`,
		`2["x"]` + strings.Repeat(" ", 100), "2[\"x\"]\t\r\n", `2 ["x"]`, `3` + strings.Repeat("1", 21) + `[]`,
		`6-1[]`, `60-1[]`, `51-[{"_placeholder":true,"num":0}`, `0{"a":1}{}`, `1/`, `1,`, `4{}`, `4""`,
	} {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("hostile-%d", i), []byte(s)))
	}
	return seeds
}

func parseValueCorpus() []fuzzcorpus.Seed {
	var seeds []fuzzcorpus.Seed
	for _, tt := range parseValueErrorTests {
		seeds = append(seeds, fuzzcorpus.S("table-error", []byte(tt.in), uint8(tt.atts)))
	}
	for i, s := range []string{
		`null`, `true`, ` false `, `"h\u00e9\n"`, `-1.50e+10`, `12345678901234567890123`, `[]`, `{}`, `0`, `-0`,
		`{"b":1,"a":[2,"x"],"b":null}`, `["ev",{"_placeholder":true,"num":1}]`, `{"k":{"num":0,"_placeholder":true}}`,
		`[{ "_placeholder" : true , "num" : 0 }]`, `[{"\u005fplaceholder":true,"n\u0075m":0}]`,
		`[{"_placeholder":false,"num":0}]`, `[{"_placeholder":true,"num":0,"x":1}]`, `[{"_placeholder":true}]`,
		`[{"_placeholder":true,"num":[0]}]`, `[{"_placeholder":"true","num":0}]`, `["{\"_placeholder\":true,\"num\":5}"]`,
		`[{"_placeholder":true,"num":00}]`, `[{"_placeholder":true,"num":3}]`, `{"_placeholder":true,"num":0}`,
		deep(MaxDepth, false), deep(MaxDepth, true), deep(MaxDepth+1, false), deep(10_001, false), deep(5_000, true),
		`"\ud83d\ude00\ud83d"`, `"\udc00"`, "\"\xed\xa0\x80\"", "\"\xff\"", `"\u0000"`, `1e999`, `-`, `01`, `[1,]`,
		`{"a" 1}`, `{"a":1,}`, `[1 2]`, `["a"] x`, "\t[\r\n]\n", `"` + strings.Repeat(`\\`, 100) + `"`,
	} {
		for _, n := range []uint8{0, 2} {
			if n > 0 && len(s) > 1000 {
				break // attachments change nothing deep down
			}
			seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("value-%d", i), []byte(s), n))
		}
	}
	seeds = append(seeds, fuzzcorpus.S("placeholders-3", []byte(placeholders(3, true)), uint8(3)))
	return seeds
}

func splitArrayCorpus() []fuzzcorpus.Seed {
	var seeds []fuzzcorpus.Seed
	for _, tt := range splitArrayTests {
		seeds = append(seeds, fuzzcorpus.S("table", []byte(tt.in)))
	}
	for i, s := range []string{
		"[" + deep(5000, false) + ",1]", "[" + deep(10_000, false) + "]", "[" + deep(2000, true) + "]",
		`[` + strings.Repeat(`1,`, 3000) + `1]`, `["\"\\",1]`, `["\u005d",{"]":"["}]`, "[\"\xff\"]", "[\"\xed\xa0\x80\"]",
		` [ ] `, "[\t\r\n]", `[[]`, `[]]`, `[,]`, `[1,,2]`, `[-]`, `[01]`, `[1.]`, `[.5]`, `[1e]`, `[tru]`, `[nul]`,
		`["a":1]`, `[{"a"}]`, `[{"a":}]`, `["` + strings.Repeat("x", 2000) + `"]`, `[null,true,false,-0.0e-0]`,
	} {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("array-%d", i), []byte(s)))
	}
	return seeds
}

// validJSONCorpus is splitArrayCorpus's arrays, the event payloads and
// deep objects: validJSON takes the same bytes.
func validJSONCorpus() []fuzzcorpus.Seed {
	seeds := splitArrayCorpus()
	for i, s := range append(slices.Clone(eventPayloads), deep(10_000, true), deep(10_001, true), `{"a":1,"b":[{}]}`, `"\u00e9\ud83d"`) {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("value-%d", i), []byte(s)))
	}
	return seeds
}

func eventNameCorpus() []fuzzcorpus.Seed {
	var seeds []fuzzcorpus.Seed
	for _, tt := range eventNameTests {
		seeds = append(seeds, fuzzcorpus.S("table", []byte(tt.in)))
	}
	for _, d := range eventPayloads {
		seeds = append(seeds, fuzzcorpus.S("valid", []byte(d)))
	}
	for i, s := range []string{
		`[""]`, `["connect"]`, `["disconnect",1]`, `["\u0000"]`, `["\udc00\ud800x"]`, `["\\"]`, "[\"\xff\"]",
		`[null,"a"]`, `[true]`, `[["a"]]`, `[{"a":"b"}]`, `["a"` + strings.Repeat(`,1`, 2000) + `]`,
		`["x",` + deep(10_000, false) + `]`, `["x",` + deep(9_998, false) + `]`, `["` + strings.Repeat("é", 1000) + `"]`,
		` ["a"]`, `["a"] `, `["a",]`, `["a"`, `"a"`, `[]`,
	} {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("event-%d", i), []byte(s)))
	}
	return seeds
}

func placeholderCorpus() []fuzzcorpus.Seed {
	var seeds []fuzzcorpus.Seed
	for _, tt := range placeholderTests {
		seeds = append(seeds, fuzzcorpus.S("table", []byte(tt.in), tt.announced))
	}
	for _, n := range []int{-1, 0, 1, MaxAttachments, MaxAttachments + 1, math.MaxInt} {
		seeds = append(seeds, fuzzcorpus.S("announced", []byte(placeholders(1, false)), n))
	}
	seeds = append(seeds,
		fuzzcorpus.S("max-attachments", []byte(placeholders(MaxAttachments, true)), MaxAttachments),
		fuzzcorpus.S("over-max-attachments", []byte(placeholders(MaxAttachments+1, false)), MaxAttachments+1),
		fuzzcorpus.S("deep-placeholder", []byte(strings.Repeat("[", 99)+`{"_placeholder":true,"num":0}`+strings.Repeat("]", 99)), 1),
		fuzzcorpus.S("escaped-keys", []byte(`[{"\u005f\u0070laceholder":true,"\u006eum":0}]`), 1),
		fuzzcorpus.S("num-leading-zero", []byte(`[{"_placeholder":true,"num":01}]`), 2),
		fuzzcorpus.S("num-huge", []byte(`[{"_placeholder":true,"num":99999999999999999999999999}]`), 1),
		fuzzcorpus.S("num-object", []byte(`[{"_placeholder":true,"num":{"x":0}}]`), 1),
		fuzzcorpus.S("duplicate-key", []byte(`[{"_placeholder":true,"_placeholder":true,"num":0}]`), 1),
		fuzzcorpus.S("placeholder-in-string", []byte(`["{\"_placeholder\":true,\"num\":0}"]`), 0),
		fuzzcorpus.S("invalid-utf8", []byte("[{\"_placeholder\":true,\"num\":0},\"\xff\"]"), 1),
	)
	return seeds
}
