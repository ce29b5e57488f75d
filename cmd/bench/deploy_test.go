//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestClusterProcs starts the nodes of a cluster deployment and reads
// the GOMAXPROCS each node process was started with: -cluster-procs, or
// the machine's cores shared out among the nodes; a one-node deployment
// keeps -server-procs (here none: what this process has, if anything).
func TestClusterProcs(t *testing.T) {
	share := strconv.Itoa(max(1, runtime.NumCPU()/2))
	for _, tc := range []struct {
		name string
		args []string
		kind string
		want string
	}{
		{"shared out", nil, kindCluster, share},
		{"asked for", []string{"-cluster-procs", "3"}, kindCluster, "3"},
		{"polling cluster", []string{"-cluster-procs", "1"}, kindClusterPoll, "1"},
		{"one node", []string{"-cluster-procs", "3"}, kindActorio, os.Getenv("GOMAXPROCS")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-nodes", "2", "-cluster-tls=false", "-ping-interval", "1s"}, tc.args...)
			cfg, err := parseFlags(args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d, err := startDeployment(ctx, cfg, scenXAck, tc.kind, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			defer d.stop()
			for i, s := range d.servers {
				if got := environValue(t, s.pid(), "GOMAXPROCS"); got != tc.want {
					t.Errorf("process %d of %s: GOMAXPROCS=%q, want %q", i+1, tc.kind, got, tc.want)
				}
			}
		})
	}
}

// environValue returns the value of the variable key in the environment
// process pid was started with ("" when it is not set; the last one when
// it is set twice, as os/exec passes it).
func environValue(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	var val string
	for kv := range bytes.SplitSeq(b, []byte{0}) {
		if k, v, ok := bytes.Cut(kv, []byte{'='}); ok && string(k) == key {
			val = string(v)
		}
	}
	return val
}

// TestNodeProcs checks the cores shared out among the nodes.
func TestNodeProcs(t *testing.T) {
	for _, tc := range []struct{ procs, nodes, want int }{
		{2, 3, 2},
		{0, 1, runtime.NumCPU()},
		{0, runtime.NumCPU() * 4, 1},
	} {
		cfg := config{clusterProcs: tc.procs, nodes: tc.nodes}
		if got := nodeProcs(cfg); got != tc.want {
			t.Errorf("-cluster-procs %d, %d nodes: %d, want %d", tc.procs, tc.nodes, got, tc.want)
		}
	}
}
