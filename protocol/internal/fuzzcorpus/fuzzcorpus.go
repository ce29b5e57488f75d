// Package fuzzcorpus keeps the committed seed corpora of the codec fuzz
// targets in step with the seed lists declared in Go.
//
// Each codec package declares its seeds in a corpus_test.go file and calls
// [Sync] from a test. Sync checks that every seed is committed as
// testdata/fuzz/<FuzzName>/<seed name>, in the "go test fuzz v1" format that
// `go test` reads, and rewrites the files when the package's tests run with
// -update-corpus. Other files in those directories (regressions that a
// fuzzer found, written by the go tool) are left alone.
//
// Plain `go test` runs every corpus file as a seed input of its fuzz target,
// so the committed corpus is checked on every test run; `.ci/fuzz` fuzzes
// from it for a bounded time.
package fuzzcorpus

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Seed is one input of a fuzz target: the values of its arguments, in the
// order the target takes them.
type Seed struct {
	// Label says what the seed exercises, such as "valid-event-ns-id" or
	// "crasher-attachment-count-overflow"; it starts the file name.
	Label string
	// Values are the arguments: []byte, string, bool, int or uint8.
	Values []any
}

// S builds a Seed.
func S(label string, values ...any) Seed { return Seed{Label: label, Values: values} }

// Marshal encodes values in the "go test fuzz v1" corpus file format.
func Marshal(values ...any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch x := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", x)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", x)
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", x)
		case int:
			fmt.Fprintf(&b, "int(%d)\n", x)
		case uint8:
			fmt.Fprintf(&b, "byte(%q)\n", x)
		default:
			return nil, fmt.Errorf("fuzzcorpus: unsupported seed value type %T", v)
		}
	}
	return b.Bytes(), nil
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9-]+`)

// FileName returns the corpus file name of s: its label, made file-safe,
// followed by a hash of its content, so that seeds never collide.
func FileName(s Seed, content []byte) string {
	label := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(s.Label), "-"), "-")
	if len(label) > 60 {
		label = label[:60]
	}
	sum := sha256.Sum256(content)
	return "seed-" + label + "-" + hex.EncodeToString(sum[:4])
}

// Sync checks that testdata/fuzz/<fuzzName> (relative to the package under
// test) holds exactly the seed files of seeds, among any other files; with
// update set it writes the missing or different ones and removes stale
// "seed-" files instead of failing.
func Sync(t *testing.T, fuzzName string, seeds []Seed, update bool) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", fuzzName)
	want := make(map[string][]byte, len(seeds))
	for _, s := range seeds {
		content, err := Marshal(s.Values...)
		if err != nil {
			t.Fatalf("seed %q: %v", s.Label, err)
		}
		name := FileName(s, content)
		if _, dup := want[name]; dup {
			t.Fatalf("%s: seed %q is listed twice", fuzzName, s.Label)
		}
		want[name] = content
	}
	if update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if _, ok := want[name]; ok || !strings.HasPrefix(name, "seed-") {
			continue
		}
		if !update {
			t.Errorf("%s: stale seed file %s (run the test with -update-corpus)", fuzzName, name)
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range want {
		path := filepath.Join(dir, name)
		got, err := os.ReadFile(path)
		if err == nil && bytes.Equal(got, content) {
			continue
		}
		if !update {
			t.Errorf("%s: seed file %s is missing or differs (run the test with -update-corpus)", fuzzName, name)
			continue
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
