package cluster_test

import (
	"context"
	"net/http/httptest"
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
	b.Helper()
	var nodes []*actorio.Server
	var urls, seeds []string
	for i := range 3 {
		rec := &recorder{p: &cluster.Static{Seeds: seeds}}
		srv, err := actorio.NewServer(actorio.Options{
			Logger:  testLog(),
			Cluster: &actorio.ClusterOptions{Insecure: true, Name: "bench", Address: "127.0.0.1:0", Provider: rec},
		})
		if err != nil {
			b.Fatal(err)
		}
		setup(srv)
		hs := httptest.NewServer(srv)
		b.Cleanup(func() { _ = srv.Close(); hs.Close() })
		if i < 2 {
			done, err := cluster.WarmUp(rec.node)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(done)
			seeds = append(seeds, srv.ClusterNodes()[0])
		}
		nodes = append(nodes, srv)
		urls = append(urls, hs.URL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(nodes[0].ClusterNodes()) != 3 || len(nodes[1].ClusterNodes()) != 3 || len(nodes[2].ClusterNodes()) != 3 {
		if time.Now().After(deadline) {
			b.Fatal("the nodes did not see each other")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nodes, urls
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
