package testkit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/logbuf"
)

// etcdLife bounds the etcd process of a test, whatever happens to the test.
const etcdLife = 3 * time.Minute

// StartEtcd starts a single-member etcd on 127.0.0.1 with free client and
// peer ports and a data directory of its own, waits until it is healthy
// and returns its client URL. The process is killed when t ends, or after
// etcdLife.
//
// The etcd binary is ACTORIO_ETCD, else etcd on PATH (Debian's package
// etcd-server installs /usr/bin/etcd). Without it t fails, unless
// ACTORIO_SKIP_ETCD=1 says to skip.
func StartEtcd(t testing.TB) string {
	t.Helper()
	if os.Getenv("ACTORIO_SKIP_ETCD") == "1" {
		t.Skip("ACTORIO_SKIP_ETCD=1: skipping the test against a real etcd")
	}
	bin := os.Getenv("ACTORIO_ETCD")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("etcd"); err != nil {
			t.Fatalf("etcd is not installed (%v): install it (Debian: apt-get install etcd-server; .ci/run does), "+
				"point ACTORIO_ETCD at the binary, or set ACTORIO_SKIP_ETCD=1 to skip this test", err)
		}
	}
	// A port found free may be taken before etcd binds it: then etcd exits
	// at once, and another pair of ports is tried.
	for attempt := 1; ; attempt++ {
		url, out, err := tryEtcd(t, bin)
		if err == nil {
			return url
		}
		if attempt == 3 || !strings.Contains(out, "address already in use") {
			t.Fatalf("etcd (%s): %v\n%s", bin, err, out)
		}
	}
}

// tryEtcd starts etcd once, as StartEtcd says, and returns its client URL,
// or its output and why it is not healthy.
func tryEtcd(t testing.TB, bin string) (url, output string, err error) {
	t.Helper()
	// etcd creates its data directory with the permissions it wants.
	dir := filepath.Join(t.TempDir(), "etcd") // removed once the process is killed: cleanups run last first
	clientURL := "http://" + FreeAddr(t)
	peerURL := "http://" + FreeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), etcdLife)
	cmd := exec.CommandContext(ctx, bin,
		"--name", "actorio-test",
		"--data-dir", dir,
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "actorio-test="+peerURL,
		"--initial-cluster-state", "new",
		"--logger", "zap",
		"--log-level", "warn",
	)
	out := new(logbuf.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		return "", "", fmt.Errorf("start: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel() // kills the process, if it still runs
		err := <-exited
		exited <- err
		if t.Failed() {
			t.Logf("etcd's output:\n%s", out.String())
		}
	})

	start := time.Now()
	for {
		select {
		case err := <-exited:
			exited <- err
			return "", out.String(), fmt.Errorf("exited before it was healthy: %v", err)
		default:
		}
		if etcdHealthy(clientURL) {
			t.Logf("etcd %s healthy at %s after %v", bin, clientURL, time.Since(start).Round(time.Millisecond))
			return clientURL, "", nil
		}
		if time.Since(start) > 20*time.Second {
			return "", out.String(), fmt.Errorf("not healthy at %s within 20 s", clientURL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// etcdHealthy reports whether etcd's /health endpoint at url says so.
func etcdHealthy(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url + "/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"health":"true"`))
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago
// (see FreeAddrs).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return FreeAddrs(t, 1)[0]
}

// FreeAddrs returns n distinct 127.0.0.1 addresses whose ports were free a
// moment ago, for a process the test starts to listen on later. They are
// chosen below the kernel's range of ephemeral ports
// (net.ipv4.ip_local_port_range), which it gives to the outgoing
// connections of every process: a port of that range, found free and
// closed, may be taken by any connection made meanwhile (a node process
// of TestPartitionHeals failed to bind one, in CI, beside the other
// packages' tests). Without room below the range, the kernel chooses.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	low := ephemeralLow()
	from := max(1024, low-16384)
	var addrs []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for tries := 0; len(addrs) < n; tries++ {
		addr := "127.0.0.1:0"
		if low-from >= 1024 && tries < 100*n {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(from+rand.IntN(low-from)))
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if addr == "127.0.0.1:0" {
				t.Fatal(err)
			}
			continue // taken: another
		}
		lns = append(lns, ln) // held until all are chosen: distinct
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// ephemeralLow returns the first port of the kernel's ephemeral range,
// Linux's default when it cannot be read.
func ephemeralLow() int {
	const linuxDefault = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return linuxDefault
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return linuxDefault
	}
	low, err := strconv.Atoi(f[0])
	if err != nil {
		return linuxDefault
	}
	return low
}
