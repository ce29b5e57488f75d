// Package differential runs one scenario script, with the official
// socket.io-client and raw Engine.IO requests, against Node's socket.io
// and against actorio serving the same app, and compares what each client
// observed, in order (events, acks, disconnect reasons, close codes, HTTP
// statuses), after normalising the ids either server makes up.
//
// The app is defined twice: refserver.mjs on Node, app_test.go on
// actorio. runner.mjs holds the scenarios. A scenario whose recordings
// differ fails, unless knownDifferences lists it with the exact
// difference recorded (DIFFERENCES.md says why); one listed there that no
// longer differs fails too, so that its entry goes once the server is fixed.
//
//	go test ./tests/differential -run TestDifferential -v
//	go test ./tests/differential -run TestDifferential -args -scenarios=rooms/leave,ack/client-to-server -dump
package differential

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/leakcheck"
	"github.com/actorio/actorio/internal/logbuf"
	"github.com/actorio/actorio/internal/node"
	"github.com/actorio/actorio/internal/testkit"
)

var (
	//go:embed refserver.mjs
	refServerJS string
	//go:embed runner.mjs
	runnerJS string
)

var (
	scenariosFlag   = flag.String("scenarios", "", "comma-separated scenario names to run (default: all)")
	dumpFlag        = flag.Bool("dump", false, "log both recordings of every scenario")
	concurrencyFlag = flag.Int("concurrency", 8, "scenarios each runner runs at once")
	updateFlag      = flag.Bool("update-known", false, "rewrite known_test.go with the differences recorded now (then explain each in DIFFERENCES.md)")
)

// profiles are the option sets of the servers both sides start, named as
// in refserver.mjs, which gives Node's server the same settings.
var profiles = map[string]func() actorio.Options{
	"main": func() actorio.Options { return actorio.Options{} },
	"hb": func() actorio.Options {
		return actorio.Options{
			PingInterval:   300 * time.Millisecond,
			PingTimeout:    200 * time.Millisecond,
			ConnectTimeout: 450 * time.Millisecond,
		}
	},
	"small": func() actorio.Options { return actorio.Options{MaxHTTPBufferSize: 1000} },
	"rec": func() actorio.Options {
		return actorio.Options{ConnectionStateRecovery: &actorio.ConnectionStateRecovery{
			MaxDisconnectionDuration: 2 * time.Minute,
		}}
	},
	// Node's cleanupEmptyChildNamespaces is actorio's default.
	"cleanup": func() actorio.Options { return actorio.Options{} },
	// Node's default, which keeps empty child namespaces.
	"keep": func() actorio.Options { return actorio.Options{KeepEmptyChildNamespaces: true} },
	// Node's cors: {origin: '*'}.
	"cors": func() actorio.Options { return actorio.Options{CORS: &actorio.CORS{Origins: []string{"*"}}} },
	// Node's cors with an allow-list and every other setting.
	"corslist": func() actorio.Options {
		return actorio.Options{CORS: &actorio.CORS{
			Origins: []string{"https://app.example"}, Credentials: true, MaxAge: 10 * time.Minute,
			Methods: []string{"GET", "POST"}, AllowedHeaders: []string{"X-Token", "Content-Type"},
		}}
	},
}

// recording is what the clients of one scenario observed: client name ->
// records, each the JSON text of one observation.
type recording map[string][]string

func TestDifferential(t *testing.T) {
	node.RequirePackage(t, "socket.io")
	node.RequirePackage(t, "ws")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Second)
	defer cancel()

	goURLs := startActorio(t)

	ref := node.Run(t, ctx, refServerJS, nil)
	l := ref.Expect(t, "listening", 20*time.Second)
	var ports map[string]int
	if err := l.Decode(0, &ports); err != nil {
		t.Fatalf("reference server: %v", err)
	}
	nodeURLs := map[string]string{}
	for name, port := range ports {
		nodeURLs[name] = fmt.Sprintf("http://127.0.0.1:%d", port)
	}

	type result struct {
		recs map[string]recording
		err  error
	}
	run := func(urls map[string]string) <-chan result {
		b, _ := json.Marshal(urls)
		p := node.Run(t, ctx, runnerJS, map[string]string{
			"URLS":        string(b),
			"SCENARIOS":   *scenariosFlag,
			"CONCURRENCY": fmt.Sprint(*concurrencyFlag),
		})
		ch := make(chan result, 1)
		go func() {
			recs, err := collect(p)
			ch <- result{recs, err}
		}()
		return ch
	}
	start := time.Now()
	nodeCh, goCh := run(nodeURLs), run(goURLs)
	nodeRes, goRes := <-nodeCh, <-goCh
	t.Logf("both runners done in %v", time.Since(start).Round(time.Millisecond))
	if nodeRes.err != nil {
		t.Fatalf("runner against Node: %v", nodeRes.err)
	}
	if goRes.err != nil {
		t.Fatalf("runner against actorio: %v", goRes.err)
	}

	names := make([]string, 0, len(nodeRes.recs))
	for name := range nodeRes.recs {
		names = append(names, name)
	}
	sort.Strings(names)
	if *scenariosFlag == "" {
		for name := range knownDifferences {
			if _, ok := nodeRes.recs[name]; !ok {
				t.Errorf("knownDifferences lists %q, which is no scenario of runner.mjs", name)
			}
		}
	}
	recorded := map[string]string{}
	for _, name := range names {
		if d := diffRecordings(nodeRes.recs[name], goRes.recs[name]); d != "" {
			recorded[name] = d
		}
	}
	if *updateFlag {
		writeKnown(t, names, recorded)
		return
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			n, g := nodeRes.recs[name], goRes.recs[name]
			if *dumpFlag {
				t.Logf("node:\n%s\nactorio:\n%s", n, g)
			}
			for _, rec := range []recording{n, g} {
				for _, line := range rec["_"] {
					t.Errorf("scenario failed to run: %s", line)
				}
			}
			diff := recorded[name]
			known, isKnown := knownDifferences[name]
			switch {
			case diff == "" && isKnown:
				t.Errorf("actorio now behaves as Node here: remove %q from knownDifferences and DIFFERENCES.md", name)
			case diff == "":
			case !isKnown:
				t.Errorf("actorio differs from Node (- Node only, + actorio only):\n%s", diff)
			case !known.matches(diff):
				t.Errorf("the known difference changed (DIFFERENCES.md); recorded now (- Node only, + actorio only):\n%s\nexpected:\n%s",
					diff, strings.Join(known.trimmed(), "or:\n"))
			default:
				t.Logf("known difference (DIFFERENCES.md):\n%s", diff)
			}
		})
	}
}

// knownDiff is the difference a scenario is known to record: one text as
// diffRecordings prints it, after a newline, or several when actorio's
// side of the difference depends on timing.
type knownDiff []string

func (k knownDiff) trimmed() []string {
	out := make([]string, len(k))
	for i, d := range k {
		out[i] = strings.TrimPrefix(d, "\n")
	}
	return out
}

func (k knownDiff) matches(diff string) bool {
	return slices.Contains(k.trimmed(), diff)
}

// writeKnown rewrites known_test.go: the entries of the scenarios run
// become what they recorded now (an entry that already allowed that
// difference keeps its alternatives), the others stay.
func writeKnown(t *testing.T, ran []string, recorded map[string]string) {
	known := maps.Clone(knownDifferences)
	for _, name := range ran {
		d, ok := recorded[name]
		switch {
		case !ok:
			delete(known, name)
		case !known[name].matches(d):
			known[name] = knownDiff{"\n" + d}
		}
	}
	var sb strings.Builder
	sb.WriteString(knownHeader)
	for _, name := range sortedKeys(known) {
		fmt.Fprintf(&sb, "\t%q: {\n", name)
		for _, d := range known[name] {
			lit := "`" + d + "`"
			if strings.Contains(d, "`") {
				lit = strconv.Quote(d)
			}
			fmt.Fprintf(&sb, "\t\t%s,\n", lit)
		}
		sb.WriteString("\t},\n")
	}
	sb.WriteString("}\n")
	src, err := format.Source([]byte(sb.String()))
	if err != nil {
		t.Fatalf("formatting known_test.go: %v", err)
	}
	if err := os.WriteFile("known_test.go", src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote known_test.go: %d known differences", len(known))
}

const knownHeader = `package differential

// knownDifferences maps a scenario of runner.mjs to the exact difference
// its recordings show (see knownDiff), as diffRecordings prints it (- Node
// only, + actorio only), for the differences DIFFERENCES.md explains.
// Delete an entry once actorio behaves as Node; -update-known rewrites
// this file from what the servers do now.
var knownDifferences = map[string]knownDiff{
`

// String lays a recording out one record a line, per client.
func (r recording) String() string {
	var sb strings.Builder
	for _, c := range sortedKeys(r) {
		fmt.Fprintf(&sb, "client %s:\n", c)
		for _, line := range r[c] {
			sb.WriteString("  " + line + "\n")
		}
	}
	return sb.String()
}

// collect reads the runner's results until its "end" line.
func collect(p *node.Proc) (map[string]recording, error) {
	recs := map[string]recording{}
	for {
		l, err := p.Next(90 * time.Second)
		if err != nil {
			return nil, fmt.Errorf("%w\nstderr:\n%s", err, p.Stderr())
		}
		switch l.Ev {
		case "result":
			var name string
			var rec recording
			if err := l.Decode(0, &name); err != nil {
				return nil, err
			}
			if err := l.Decode(1, &rec); err != nil {
				return nil, err
			}
			recs[name] = rec
		case "end":
			return recs, nil
		default:
			return nil, fmt.Errorf("unexpected line from the runner: %s\nstderr:\n%s", l.Raw, p.Stderr())
		}
	}
}

// startActorio starts one actorio server with the reference app per
// profile on 127.0.0.1 and returns their URLs by profile. At cleanup it
// closes them and fails the test if goroutines are left behind.
func startActorio(t *testing.T) map[string]string {
	t.Helper()
	baseline := runtime.NumGoroutine()
	var logs logbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	urls := map[string]string{}
	// Runs after the servers' cleanups, registered later.
	t.Cleanup(func() {
		if n, dump := leakcheck.Settle(baseline, 2*time.Second); dump != "" {
			t.Errorf("goroutine leak: %d before the servers started, %d after Close\n%s", baseline, n, dump)
		}
		if t.Failed() && logs.String() != "" {
			t.Logf("actorio logs:\n%s", logs.String())
		}
	})
	for name, mk := range profiles {
		opts := mk()
		opts.Logger = logger.With("profile", name)
		// Listening and serving as the README advises (actorio.Listen,
		// actorio.Serve): a refused WebSocket upgrade's connection is then
		// closed, as Node closes it (http/refused-upgrade-*).
		ln, err := actorio.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		urls[name] = testkit.StartServer(t, testkit.ServerConfig{
			Options:       opts,
			Setup:         (&refApp{}).setup,
			CheckClose:    true,
			Name:          name,
			Listener:      ln,
			ServeUpgrades: true,
		}).URL
	}
	return urls
}

// diffRecordings returns "" when node and actorio recorded the same
// thing, else, for each client whose records differ, a line diff.
func diffRecordings(nodeRec, goRec recording) string {
	clients := map[string]bool{}
	for c := range nodeRec {
		clients[c] = true
	}
	for c := range goRec {
		clients[c] = true
	}
	var sb strings.Builder
	for _, c := range sortedKeys(clients) {
		a, b := nodeRec[c], goRec[c]
		if slices.Equal(a, b) {
			continue
		}
		fmt.Fprintf(&sb, "client %s:\n", c)
		sb.WriteString(lineDiff(a, b))
	}
	return sb.String()
}

// lineDiff is a longest-common-subsequence diff of a and b: every line,
// prefixed "  " (both), "- " (a only) or "+ " (b only).
func lineDiff(a, b []string) string {
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			sb.WriteString("  " + a[i] + "\n")
			i++
			j++
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			sb.WriteString("- " + a[i] + "\n")
			i++
		default:
			sb.WriteString("+ " + b[j] + "\n")
			j++
		}
	}
	return sb.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestDifferencesDocumented checks that every known difference has its
// reason in DIFFERENCES.md.
func TestDifferencesDocumented(t *testing.T) {
	doc, err := os.ReadFile("DIFFERENCES.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range knownDifferences {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("DIFFERENCES.md does not explain the known difference `%s`", name)
		}
	}
}
