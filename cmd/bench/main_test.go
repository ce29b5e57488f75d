//go:build linux

package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be the server processes the load generator
// re-executes (it passes childEnv=1 and the -serve flags).
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestSmoke runs every single-process scenario with tiny sizes against
// actorio and raw, echo and echorate against sio-floor too,
// and node when it is installed (and then rstorm, whose clients are Node
// processes, with 50 clients): each server answers the three requests
// and the table comes out. A few seconds.
func TestSmoke(t *testing.T) {
	servers := "actorio,raw,sio-floor"
	scenarios := "echo,echorate,fanout,idle,pecho,pfanout,storm,pstorm"
	wantRows := []string{"| echo: acks/s |", "| echo at 300/s offered: latency p99 (ms) |", "| fan-out: delivered msgs/s |", "| idle: server RSS per connection (KB), N=10 |",
		"| long-polling echo: acks/s |", "| long-polling fan-out: delivered msgs/s |", "| storm, WebSocket: time until all 20 connected (s) |",
		"| storm, polling then upgrade: time until all 20 connected (s) |"}
	if nodeAvailable() {
		servers = "actorio,node,raw,sio-floor"
		// rstorm's clients are the official client, in Node.
		scenarios += ",rstorm"
		wantRows = append(wantRows, "| reconnect storm: time from the kill until all 50 reconnected (s) |")
	} else {
		t.Log("node or node_modules/socket.io missing: node not benchmarked, rstorm not run")
	}
	var out, errb bytes.Buffer
	code := run([]string{
		"-servers", servers, "-scenarios", scenarios, "-storm-n", "20", "-rstorm-n", "50", "-rstorm-timeout", "30s",
		"-c", "3", "-t", "200ms", "-warmup", "50ms", "-echo-rate", "300",
		"-r", "5", "-m", "20", "-size", "32",
		"-n", "10", "-hold", "300ms", "-ping-interval", "100ms", "-settle", "20ms",
	}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s\nstdout:\n%s", code, errb.String(), out.String())
	}
	table := out.String()
	if strings.Contains(table, "Failures:") {
		t.Fatalf("a scenario failed:\n%s\nstderr:\n%s", table, errb.String())
	}
	for _, want := range wantRows {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	cell := tableCells(t, table)
	for _, row := range []string{"echo: acks/s", "fan-out: delivered msgs/s"} {
		if cell(row, "actorio") == "—" || cell(row, "raw gorilla ws") == "—" || cell(row, "ours/raw") == "—" {
			t.Errorf("missing figure in the row %q", row)
		}
	}
	// The floor echoes (ratios to it too), and runs nothing else.
	for _, c := range []struct{ row, column string }{{"echo: acks/s", "Socket.IO floor (codec on gorilla)"}, {"echo: server CPU per ack (µs)", "ours/floor"}} {
		if cell(c.row, c.column) == "—" {
			t.Errorf("missing figure in the row %q, column %q", c.row, c.column)
		}
	}
	if c := cell("fan-out: delivered msgs/s", "Socket.IO floor (codec on gorilla)"); c != "—" {
		t.Errorf("fan-out against the floor: %q; want none", c)
	}
	// Paced, not a closed loop (which runs thousands a second).
	for _, server := range []string{"actorio", "raw gorilla ws", "Socket.IO floor (codec on gorilla)"} {
		c := cell("echo at 300/s offered: acks/s", server)
		if v, err := strconv.ParseFloat(c, 64); err != nil || v <= 0 || v > 450 {
			t.Errorf("paced echo at 300/s, %s: %q acks/s", server, c)
		}
	}
	// Raw gorilla has no long-polling: actorio, and node if run.
	if row := "long-polling fan-out: delivered msgs/s"; cell(row, "actorio") == "—" || nodeAvailable() && cell(row, "node socket.io 4.8") == "—" {
		t.Errorf("missing figure in the row %q", row)
	}
	if nodeAvailable() {
		row := "reconnect storm: refusals (CONNECT_ERROR, HTTP error status)"
		if a, n, met := cell(row, "actorio"), cell(row, "node socket.io 4.8"), cell(row, "met"); a != "0" || n != "0" || met != "yes" {
			t.Errorf("%s: actorio %q, node %q, met %q; want 0, 0, yes", row, a, n, met)
		}
	}
}

// tableCells returns a function that reads one cell of the markdown table
// in out, by its row's metric and its column's heading ("" when the table
// has no such cell). The table's columns come from its heading line.
func tableCells(t *testing.T, out string) func(row, column string) string {
	t.Helper()
	var cols []string
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "| "), " |"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if cells[0] == "metric" {
			cols = cells
			continue
		}
		rows[cells[0]] = cells
	}
	if cols == nil {
		t.Fatalf("no table heading in:\n%s", out)
	}
	return func(row, column string) string {
		t.Helper()
		cells, ok := rows[row]
		i := slices.Index(cols, column)
		if !ok || i < 0 || i >= len(cells) {
			t.Errorf("the table has no cell (%q, %q)", row, column)
			return ""
		}
		return cells[i]
	}
}

// TestSmokeMsgpack runs the single-process scenarios with -parser
// msgpack: actorio's ParserMsgpack, and Node's socket.io with the npm
// parser when installed, against clients that speak it; and actorio on
// one core (-server-procs 1). sio-floor, asked for too, speaks JSON only
// and does not run.
func TestSmokeMsgpack(t *testing.T) {
	servers := "actorio,sio-floor"
	if nodeAvailable() {
		servers = "actorio,node,sio-floor"
	}
	var out, errb bytes.Buffer
	code := run([]string{
		"-servers", servers, "-scenarios", "echo,fanout,idle", "-parser", "msgpack", "-server-procs", "1",
		"-c", "3", "-t", "200ms", "-warmup", "50ms",
		"-r", "5", "-m", "20", "-size", "300",
		"-n", "10", "-hold", "300ms", "-ping-interval", "100ms", "-settle", "20ms",
	}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s\nstdout:\n%s", code, errb.String(), out.String())
	}
	table := out.String()
	if strings.Contains(table, "Failures:") {
		t.Fatalf("a scenario failed:\n%s\nstderr:\n%s", table, errb.String())
	}
	cell := tableCells(t, table)
	for _, row := range []string{"echo: acks/s", "fan-out: delivered msgs/s"} {
		if cell(row, "actorio") == "—" {
			t.Errorf("missing figure in the row %q", row)
		}
	}
	if strings.Contains(table, "Socket.IO floor") || strings.Contains(errb.String(), "vs sio-floor") {
		t.Errorf("sio-floor ran with -parser msgpack:\n%s\nstderr:\n%s", table, errb.String())
	}
	if !strings.Contains(table, "Go servers at GOMAXPROCS=1") {
		t.Errorf("the parameters do not say the Go servers ran at GOMAXPROCS=1:\n%s", table)
	}
}

// TestSmokeCrossNode runs the cross-node scenarios with tiny sizes
// against actorio's cluster (WebSocket and forwarded polling) and one
// node, and against Node socket.io with the Redis adapter and alone when
// node and the npm packages are installed. It needs redis-server.
func TestSmokeCrossNode(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server): the cross-node scenarios are not smoke-tested")
	}
	servers := "actorio-cluster,actorio-cluster-poll,actorio"
	if nodeAvailable() && redisAdapterAvailable() {
		servers += ",node-redis,node"
	} else {
		t.Log("node or node_modules/@socket.io/redis-adapter missing: node-redis not benchmarked")
	}
	var out, errb bytes.Buffer
	code := run([]string{
		"-servers", servers, "-scenarios", "xfanout,xack",
		"-xr", "6", "-xm", "20", "-xsize", "32", "-xrate", "100", "-xpaced", "200ms",
		"-xack-r", "3", "-xrounds", "5", "-xwarm", "1",
		"-ping-interval", "500ms", "-settle", "20ms",
	}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s\nstdout:\n%s", code, errb.String(), out.String())
	}
	table := out.String()
	if strings.Contains(table, "Failures:") || strings.Contains(table, "| echo:") {
		t.Fatalf("a scenario failed, or the first table came out:\n%s\nstderr:\n%s", table, errb.String())
	}
	want := map[string]bool{"| xfanout blast: delivered msgs/s |": false, "| xack: one round, emit until every ack, p50 (ms) |": false}
	for _, line := range strings.Split(table, "\n") {
		for prefix := range want {
			if !strings.HasPrefix(line, prefix) {
				continue
			}
			want[prefix] = true
			// Cells: metric, three ratios, target, met, then one per
			// server kind of xKinds.
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i, kind := range xKinds {
				if strings.Contains(servers, kind) && strings.TrimSpace(cells[6+i]) == "—" {
					t.Errorf("no figure for %s: %s", kind, line)
				}
			}
		}
	}
	for prefix, seen := range want {
		if !seen {
			t.Errorf("table lacks %q:\n%s", prefix, table)
		}
	}
}

func TestStamp(t *testing.T) {
	now := time.Now()
	b := appendStamp(nil, now)
	if len(b) != stampLen {
		t.Fatalf("stamp %q: %d bytes, want %d", b, len(b), stampLen)
	}
	got, ok := parseStamp(append(b, "xxx"...))
	if !ok || got != now.UnixMicro() {
		t.Fatalf("parseStamp(%q) = %d %v, want %d", b, got, ok, now.UnixMicro())
	}
	for _, bad := range []string{"", "123|", "12345678901234567x", "1234567890123456x"} {
		if _, ok := parseStamp([]byte(bad)); ok {
			t.Errorf("parseStamp(%q) accepted", bad)
		}
	}
}

func TestClusterPKI(t *testing.T) {
	p, err := newClusterPKI(2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.remove()
	if len(p.secret) < 16 || len(p.nodes) != 2 {
		t.Fatalf("secret of %d bytes, %d nodes", len(p.secret), len(p.nodes))
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(p.nodes[0].ca)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("CA: %v", err)
	}
	for _, n := range p.nodes {
		pair, err := tls.LoadX509KeyPair(n.cert, n.key)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, use := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{use}}); err != nil {
				t.Errorf("%s for use %v: %v", n.cert, use, err)
			}
		}
	}
	dir := p.dir
	p.remove()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", dir, err)
	}
}

func TestFlagsRejectUnknownNames(t *testing.T) {
	var errb bytes.Buffer
	for _, args := range [][]string{{"-servers", "actorio,bogus"}, {"-scenarios", "nope"}, {"-serve", "node"}, {"-c", "0"},
		{"-xsize", "8"}, {"-xhomes", "4"}, {"-xhomes", "0"}, {"-xr", "0"}, {"-parser", "cbor"}, {"-parser", "msgpack", "-scenarios", "pecho"}, {"-server-procs", "-1"}} {
		if _, err := parseFlags(args, &errb); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestRawFrameRoundTrip(t *testing.T) {
	b := appendRaw(nil, opBlast, 7, blastBody("room", 3, 256))
	op, id, body, err := parseRaw(b)
	if err != nil || op != opBlast || id != 7 {
		t.Fatalf("parseRaw = %q %d %v", op, id, err)
	}
	room, count, size, err := parseBlastBody(body)
	if err != nil || room != "room" || count != 3 || size != 256 {
		t.Fatalf("parseBlastBody = %q %d %d %v", room, count, size, err)
	}
	if _, _, _, err := parseRaw([]byte{opAck, 0}); err == nil {
		t.Fatal("short frame accepted")
	}
}

func redisAdapterAvailable() bool {
	root, err := moduleRoot()
	if err != nil {
		return false
	}
	for _, pkg := range []string{"@socket.io/redis-adapter", "redis"} {
		if _, err := os.Stat(filepath.Join(root, "node_modules", pkg, "package.json")); err != nil {
			return false
		}
	}
	return true
}

func nodeAvailable() bool {
	if _, err := exec.LookPath("node"); err != nil {
		return false
	}
	root, err := moduleRoot()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(root, "node_modules", "socket.io", "package.json"))
	return err == nil
}
