package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/cluster"
)

// BenchmarkFanOut compares a room broadcast whose receivers are spread over
// three nodes with the same broadcast on one node, everything (servers,
// clients) in this process on 127.0.0.1:
//
//	go test -run '^$' -bench FanOut -benchtime 3000x ./cluster/
//
// "delivered" waits until every receiver got every message: ns/op is then
// the time of one broadcast to all its receivers, deliveries/s the
// throughput and cpu-µs/op the CPU the whole process spent per broadcast
// (servers, nodes and clients); "emit" times the Emit calls alone, the
// sender's cost.
func BenchmarkFanOut(b *testing.B) {
	const receivers = 30
	payload := strings.Repeat("x", 100)

	// One node, no cluster.
	single, err := actorio.NewServer(actorio.Options{Logger: testLog()})
	if err != nil {
		b.Fatal(err)
	}
	single.OnConnection(joinOnAsk)
	singleHTTP := httptest.NewServer(single)
	defer func() { _ = single.Close(); singleHTTP.Close() }()
	var singleCount atomic.Int64
	for range receivers {
		benchClient(b, singleHTTP.URL, &singleCount)
	}

	// Three nodes, receivers split evenly, the sender on the first.
	var count atomic.Int64
	nodes, urls := benchNodes(b, func(srv *actorio.Server) { srv.OnConnection(joinOnAsk) })
	for _, u := range urls {
		for range receivers / 3 {
			benchClient(b, u, &count)
		}
	}

	run := func(srv *actorio.Server, counter *atomic.Int64, wait bool) func(b *testing.B) {
		return func(b *testing.B) {
			base := counter.Load()
			cpu := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				if err := srv.To("room").Emit("m", i, payload); err != nil {
					b.Fatal(err)
				}
			}
			want := base + int64(b.N)*receivers
			if wait {
				waitCount(b, counter, want)
				b.ReportMetric(float64(b.N)*receivers/b.Elapsed().Seconds(), "deliveries/s")
				b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
			}
			b.StopTimer()
			waitCount(b, counter, want)
		}
	}
	b.Run("delivered/single-node", run(single, &singleCount, true))
	b.Run("delivered/three-nodes", run(nodes[0], &count, true))
	b.Run("emit/single-node", run(single, &singleCount, false))
	b.Run("emit/three-nodes", run(nodes[0], &count, false))
}

// benchNodes starts three nodes of one cluster on 127.0.0.1, each set up
// by setup, and waits until each sees the others; it returns them and
// their URLs.
func benchNodes(b *testing.B, setup func(*actorio.Server)) ([]*actorio.Server, []string) {
	return benchCluster(b, 3, nil, setup)
}

// benchCluster is benchNodes for count nodes, their links secured with
// tls(i) for node i when tls is not nil, plain otherwise.
func benchCluster(b *testing.B, count int, tls func(i int) *actorio.ClusterTLS, setup func(*actorio.Server)) ([]*actorio.Server, []string) {
	b.Helper()
	var nodes []*actorio.Server
	var urls, seeds []string
	for i := range count {
		rec := &recorder{p: &cluster.Static{Seeds: seeds}}
		co := &actorio.ClusterOptions{Insecure: true, Name: "bench", Address: "127.0.0.1:0", Provider: rec}
		if tls != nil {
			co.Insecure, co.TLS, co.Secret = false, tls(i), "the benchmark's own secret"
		}
		srv, err := actorio.NewServer(actorio.Options{Logger: testLog(), Cluster: co})
		if err != nil {
			b.Fatal(err)
		}
		setup(srv)
		hs := httptest.NewServer(srv)
		b.Cleanup(func() { _ = srv.Close(); hs.Close() })
		if i < count-1 && tls == nil { // WarmUp dials a plain gRPC connection
			done, err := cluster.WarmUp(rec.node)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(done)
		}
		seeds = append(seeds, srv.ClusterNodes()[0])
		nodes = append(nodes, srv)
		urls = append(urls, hs.URL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for slices.ContainsFunc(nodes, func(n *actorio.Server) bool { return len(n.ClusterNodes()) != count }) {
		if time.Now().After(deadline) {
			b.Fatal("the nodes did not see each other")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nodes, urls
}

// BenchmarkHandOverPoll times long-polling GETs that reach a node which
// does not hold their session, so that it hands each over on its link to
// the session's node, whose answer (the messages queued for the session)
// comes back the same way; in this process, on 127.0.0.1, links plain
// and secured (mutual TLS and a secret):
//
//	go test -run '^$' -bench HandOverPoll -benchmem ./cluster/
//
// One op: the session's node queues msgs messages of 256 bytes for its
// socket, then the client's GETs to the other node take them all (in one
// answer mostly). cpu-µs/op is the CPU the whole process spent per op
// (both nodes and the client); allocs and bytes are the whole process's
// too.
func BenchmarkHandOverPoll(b *testing.B) {
	dir := b.TempDir()
	ca := newTestCA(b, dir, "ca")
	certs := []*actorio.ClusterTLS{ca.issue(b, dir, "node0"), ca.issue(b, dir, "node1")}
	payload := strings.Repeat("p", 256)
	for _, secure := range []bool{false, true} {
		var tlsOf func(int) *actorio.ClusterTLS
		if secure {
			tlsOf = func(i int) *actorio.ClusterTLS { return certs[i] }
		}
		sockets := make(chan *actorio.Socket, 1)
		_, urls := benchCluster(b, 2, tlsOf, func(srv *actorio.Server) {
			srv.OnConnection(func(s *actorio.Socket) { sockets <- s })
		})
		c := &pollBenchClient{b: b, hc: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
		b.Cleanup(c.hc.CloseIdleConnections)
		c.handshake(urls[0])
		s := <-sockets
		for _, msgs := range []int{32, 256} { // answers of about 9 and 70 KB
			name := fmt.Sprintf("links=plain/msgs=%d", msgs)
			if secure {
				name = fmt.Sprintf("links=tls/msgs=%d", msgs)
			}
			b.Run(name, func(b *testing.B) {
				c.b = b
				cpu := cpuTime()
				b.ResetTimer()
				for range b.N {
					for range msgs {
						if err := s.Emit("m", payload); err != nil {
							b.Fatal(err)
						}
					}
					for got := 0; got < msgs; {
						got += c.poll(urls[1])
					}
				}
				b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}

// pollBenchClient is BenchmarkHandOverPoll's long-polling client: text
// packets of Engine.IO v4, without gzip. It reads each answer into a
// buffer of its own, so that what it allocates stays small beside the
// servers'.
type pollBenchClient struct {
	b     *testing.B
	hc    *http.Client
	query string // the session's query string
	home  string // the URL of the session's node
	buf   bytes.Buffer
}

// handshake opens a session on the node at url and joins "/".
func (c *pollBenchClient) handshake(url string) {
	c.home = url
	open := c.request(http.MethodGet, url+"/socket.io/?EIO=4&transport=polling", "")
	var hs struct {
		SID string `json:"sid"`
	}
	if !bytes.HasPrefix(open, []byte("0")) || json.Unmarshal(open[1:], &hs) != nil {
		c.b.Fatalf("handshake: %q", open)
	}
	c.query = "/socket.io/?EIO=4&transport=polling&sid=" + hs.SID
	c.request(http.MethodPost, url+c.query, "40")
	if got := c.request(http.MethodGet, url+c.query, ""); !bytes.HasPrefix(got, []byte("40")) {
		c.b.Fatalf("CONNECT: %q", got)
	}
}

// poll sends a GET to the node at url and returns how many events its
// answer held, answering a ping on the way.
func (c *pollBenchClient) poll(url string) int {
	events, ping := 0, false
	for p := range bytes.SplitSeq(c.request(http.MethodGet, url+c.query, ""), []byte{0x1e}) {
		switch {
		case bytes.HasPrefix(p, []byte("42")):
			events++
		case string(p) == "2":
			ping = true
		}
	}
	if ping {
		c.request(http.MethodPost, c.home+c.query, "3")
	}
	return events
}

// request sends a request with body and returns the answer's body, valid
// until the next request.
func (c *pollBenchClient) request(method, url, body string) []byte {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		c.b.Fatal(err)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.b.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	c.buf.Reset()
	_, err = c.buf.ReadFrom(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		c.b.Fatalf("%s %s: %d %q, %v", method, url, res.StatusCode, c.buf.Bytes(), err)
	}
	return c.buf.Bytes()
}

// BenchmarkServerSideEmitWithAck times a server-side event with an ack
// from each of the two other nodes of a cluster of three, in this process
// on 127.0.0.1:
//
//	go test -run '^$' -bench ServerSideEmitWithAck ./cluster/
//
// ns/op is one round, from the emit to the last ack; cpu-µs/op the CPU
// the whole process spent per round.
func BenchmarkServerSideEmitWithAck(b *testing.B) {
	nodes, _ := benchNodes(b, func(srv *actorio.Server) {
		srv.OnServerSideEmit("ask", func(args actorio.Args, ack actorio.AckFunc) {
			if ack != nil {
				_ = ack(args.String(0))
			}
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cpu := cpuTime()
	b.ResetTimer()
	for range b.N {
		acks, err := nodes[0].ServerSideEmitWithAck(ctx, "ask", "q")
		if err != nil || len(acks) != 2 {
			b.Fatalf("ServerSideEmitWithAck: %d acks, %v", len(acks), err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}

// benchClient connects a WebSocket client to url that joins "room" and
// counts the "m" events it gets.
func benchClient(b *testing.B, url string, count *atomic.Int64) {
	b.Helper()
	s, err := client.New(url, client.Options{
		Transports:          []string{client.TransportWebSocket},
		DisableReconnection: true,
		Logger:              testLog(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	s.On("m", func(client.Args, client.AckFunc) { count.Add(1) })
	if err := s.Connect(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.EmitWithAck(ctx, "join", "room"); err != nil {
		b.Fatal(err)
	}
}

// joinOnAsk makes a socket join the rooms its "join" event names, then ack.
func joinOnAsk(s *actorio.Socket) {
	s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
		for i := range args.Len() {
			s.Join(args.String(i))
		}
		if ack != nil {
			_ = ack()
		}
	})
}

// cpuTime returns the CPU time this process has used, user and system:
// servers, nodes and clients together.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitCount waits until counter reaches want.
func waitCount(b *testing.B, counter *atomic.Int64, want int64) {
	deadline := time.Now().Add(60 * time.Second)
	for counter.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("%d deliveries of %d after a minute", counter.Load(), want)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
