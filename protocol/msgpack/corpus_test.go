package msgpack

import (
	"encoding/hex"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/actorio/actorio/protocol/internal/fuzzcorpus"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed files of testdata/fuzz from the seed lists")

// TestSeedCorpus checks that testdata/fuzz holds the seeds below; run
// `go test ./protocol/msgpack -run TestSeedCorpus -update-corpus` after
// changing them.
func TestSeedCorpus(t *testing.T) {
	fuzzcorpus.Sync(t, "FuzzMsgpackDecode", decodeCorpus(), *updateCorpus)
	fuzzcorpus.Sync(t, "FuzzMsgpackEncode", encodeCorpus(), *updateCorpus)
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// decodeCorpus: the packets Node writes (encodeCases), those read from
// Node (TestDecodeFromNode's) and refused ones, and a few hostile ones.
func decodeCorpus() []fuzzcorpus.Seed {
	var seeds []fuzzcorpus.Seed
	for _, c := range encodeCases {
		seeds = append(seeds, fuzzcorpus.S("node-"+c.name, mustHex(c.want)))
	}
	for i, s := range []string{
		"83a47479706502a46461746193a175d4000082a161d40000a16201a36e7370a12f",
		"83a47479706502a46461746192a164d7000000018cc820db2ea36e7370a12f",
		"83a47479706502a46461746192a26162c702000908a36e7370a12f",
		"85a47479706502a46461746192a17801a76f7074696f6e7381a8636f6d7072657373c3a2696403a36e7370a12f",
		"83a47479706500a464617461d40000a36e7370a12f",
		"83a47479706502a46461746192a178d5050102a36e7370a12f",
		"83a47479706502a46461746193a178ca3dcccccdcb7ff8000000000001a36e7370a12f",
		"84a47479706503a2696400a46461746192c401ff81a178c40101a36e7370a12f",
		"82a47479706505a36e7370a12f",
		"84a47479706502a46461746191a178a2696401ffa36e7370a12f",
		"83a47479706502a464617461ddffffffffa36e7370a12f",
		"83a47479706502a46461746192a178" + strings.Repeat("91", 200) + "c0a36e7370a12f",
		"83a47479706502a46461746192a17881c0c0a36e7370a12f",
		"83a47479706502a46461746192a178d7000000ffffffffffffa36e7370a12f",
		"83a47479706502a46461746192a178dfffffffff",
	} {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("wire-%d", i), mustHex(s)))
	}
	return seeds
}

// encodeCorpus: JSON payloads, with a number of attachments.
func encodeCorpus() []fuzzcorpus.Seed {
	var seeds []fuzzcorpus.Seed
	for _, c := range encodeCases {
		if c.p.Data != nil {
			seeds = append(seeds, fuzzcorpus.S("case-"+c.name, c.p.Data, uint8(len(c.atts))))
		}
	}
	for i, s := range []string{
		`["x",{"_placeholder":true,"num":0},{"num":1,"_placeholder":true}]`, `{"_placeholder":true,"num":3}`,
		`"\ud800"`, `"\udc00\ud800x"`, `"\ud83d\ude00"`, `1e400`, `-1e400`, `1e-400`, `123456789012345678901234`,
		`-9223372036854775808`, `-9223372036854775809`, `18446744073709551615`, `18446744073709551616`, `1.0`, `-0.0`,
		strings.Repeat("[", 300) + strings.Repeat("]", 300), `[1,]`, `{"a":1,}`, `[01]`, `"\u00"`, `tru`, `[1 2]`,
		"\"\xff\"", `{"a" 1}`, `[` + strings.Repeat(`"ab\n",`, 40) + `0]`,
	} {
		seeds = append(seeds, fuzzcorpus.S(fmt.Sprintf("json-%d", i), []byte(s), uint8(i%4)))
	}
	return seeds
}
