package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary be the server processes the load generator
// re-executes (it passes childEnv=1 and the -serve flags).
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestSmoke runs every scenario with tiny sizes against actorio and raw,
// and node when it is installed: each server answers the three requests
// and the table comes out. A few seconds.
func TestSmoke(t *testing.T) {
	servers := "actorio,raw"
	if nodeAvailable() {
		servers = "actorio,node,raw"
	} else {
		t.Log("node or node_modules/socket.io missing: node not benchmarked")
	}
	var out, errb bytes.Buffer
	code := run([]string{
		"-servers", servers,
		"-c", "3", "-t", "200ms", "-warmup", "50ms",
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
	for _, want := range []string{"| echo: acks/s |", "| fan-out: delivered msgs/s |", "| idle: server RSS per connection (KB), N=10 |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "| echo: acks/s |") || strings.HasPrefix(line, "| fan-out: delivered msgs/s |") {
			cells := strings.Split(line, "|")
			if strings.TrimSpace(cells[2]) == "—" || strings.TrimSpace(cells[4]) == "—" {
				t.Errorf("missing figure: %s", line)
			}
		}
	}
}

func TestFlagsRejectUnknownNames(t *testing.T) {
	var errb bytes.Buffer
	for _, args := range [][]string{{"-servers", "actorio,bogus"}, {"-scenarios", "nope"}, {"-serve", "node"}, {"-c", "0"}} {
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
