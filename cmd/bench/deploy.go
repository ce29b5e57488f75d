//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// deployment is what one server kind of the cross-node scenarios runs
// on: one process (actorio, node), or several nodes of a cluster
// (actorio-cluster, actorio-cluster-poll) or sharing a redis-server
// (node-redis).
type deployment struct {
	kind    string
	servers []*serverProc // in the order clients are spread over them
	redis   *serverProc   // node-redis only
	pki     *clusterPKI   // actorio's cluster with TLS only
}

// addrs returns the HTTP addresses of the servers.
func (d *deployment) addrs() []string {
	out := make([]string, len(d.servers))
	for i, s := range d.servers {
		out[i] = s.addr
	}
	return out
}

// procs returns every process of the deployment, redis-server included.
func (d *deployment) procs() []*serverProc {
	if d.redis == nil {
		return d.servers
	}
	return append(d.servers[:len(d.servers):len(d.servers)], d.redis)
}

// cpu returns the CPU time all its processes used.
func (d *deployment) cpu() (time.Duration, error) {
	var sum time.Duration
	for _, p := range d.procs() {
		c, err := p.cpu()
		if err != nil {
			return 0, err
		}
		sum += c
	}
	return sum, nil
}

// peakRSS returns the sum of its processes' peak RSS (VmHWM).
func (d *deployment) peakRSS() (int64, error) {
	var sum int64
	for _, p := range d.procs() {
		m, err := p.mem()
		if err != nil {
			return 0, err
		}
		sum += m.HWM
	}
	return sum, nil
}

// alive reports an error when one of its processes has exited.
func (d *deployment) alive() error {
	var errs []error
	for _, p := range d.procs() {
		errs = append(errs, p.alive())
	}
	return errors.Join(errs...)
}

// stop stops every process, at once, and removes the certificates.
func (d *deployment) stop() {
	var wg sync.WaitGroup
	for _, p := range d.procs() {
		wg.Go(p.stop)
	}
	wg.Wait()
	if d.pki != nil {
		d.pki.remove()
	}
}

// startDeployment starts the processes of kind for scenario scen and
// waits until they form one server.
func startDeployment(ctx context.Context, cfg config, scen, kind string, logw io.Writer) (d *deployment, err error) {
	d = &deployment{kind: kind}
	defer func() {
		if err != nil {
			d.stop()
			d = nil
		}
	}()
	profile := func(l *launch, i int) {
		if cfg.profileDir != "" {
			base := fmt.Sprintf("%s-%s-%d", kind, scen, i+1)
			l.cpuProfile = filepath.Join(cfg.profileDir, base+".cpu.pprof")
			l.memProfile = filepath.Join(cfg.profileDir, base+".heap.pprof")
		}
	}
	switch kind {
	case kindActorio, kindNode:
		l := launch{kind: kind}
		if kind == kindActorio {
			profile(&l, 0)
		}
		s, err := startServer(ctx, cfg, l, logw)
		if err != nil {
			return d, err
		}
		d.servers = append(d.servers, s)
		return d, nil
	case kindCluster, kindClusterPoll:
		if cfg.clusterTLS {
			if d.pki, err = newClusterPKI(cfg.nodes); err != nil {
				return d, err
			}
		}
		seeds := "-"
		for i := range cfg.nodes {
			l := launch{kind: kindActorio, name: fmt.Sprintf("%s node %d", kind, i+1),
				args: []string{"-cluster-seeds=" + seeds, "-cluster-size=" + strconv.Itoa(cfg.nodes)}}
			if d.pki != nil {
				c := d.pki.nodes[i]
				l.args = append(l.args, "-cluster-cert="+c.cert, "-cluster-key="+c.key, "-cluster-ca="+c.ca)
				l.env = []string{secretEnv + "=" + d.pki.secret}
			}
			l.env = append(l.env, "GOMAXPROCS="+strconv.Itoa(nodeProcs(cfg)))
			profile(&l, i)
			s, err := startServer(ctx, cfg, l, logw)
			if err != nil {
				return d, err
			}
			d.servers = append(d.servers, s)
			if i == 0 {
				if len(s.info) == 0 {
					return d, fmt.Errorf("%s: the first node printed no cluster address", kind)
				}
				seeds = s.info[0]
			}
		}
	case kindNodeRedis:
		if d.redis, err = startRedis(ctx, cfg, logw); err != nil {
			return d, err
		}
		for i := range cfg.nodes {
			l := launch{kind: kindNode, name: fmt.Sprintf("%s node %d", kind, i+1),
				args: []string{"--redis", "redis://" + d.redis.addr, "--cluster-size", strconv.Itoa(cfg.nodes)}}
			s, err := startServer(ctx, cfg, l, logw)
			if err != nil {
				return d, err
			}
			d.servers = append(d.servers, s)
		}
	default:
		return d, fmt.Errorf("no deployment of %q", kind)
	}
	// Every process sees all the others.
	deadline := time.After(cfg.startTimeout)
	for _, s := range d.servers {
		select {
		case <-s.joined:
		case <-s.exited:
			return d, s.alive()
		case <-deadline:
			return d, fmt.Errorf("%s: %s did not see %d servers in %v\n%s", kind, s.kind, cfg.nodes, cfg.startTimeout, s.stderrTail())
		case <-ctx.Done():
			return d, ctx.Err()
		}
	}
	return d, nil
}

// nodeProcs returns the GOMAXPROCS of each node of actorio's clusters:
// -cluster-procs, or the machine's cores shared out among the nodes, at
// least one each. At the runtime's default each node would run as many
// threads of Go code as the machine has cores, several times the cores in
// all, and the nodes' scheduling would fight over them.
func nodeProcs(cfg config) int {
	if cfg.clusterProcs > 0 {
		return cfg.clusterProcs
	}
	return max(1, runtime.NumCPU()/cfg.nodes)
}

// startRedis starts a redis-server of its own on a free port of
// 127.0.0.1, without persistence.
func startRedis(ctx context.Context, cfg config, logw io.Writer) (*serverProc, error) {
	if _, err := exec.LookPath(cfg.redisBin); err != nil {
		return nil, fmt.Errorf("node-redis needs redis-server (apt-get install redis-server): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(cfg.redisBin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning")
	return spawn(ctx, cfg, "redis-server", cmd, logw, func() (string, bool) { return addr, redisPing(addr) })
}

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// redisPing reports whether a Redis server answers PING at addr.
func redisPing(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}
