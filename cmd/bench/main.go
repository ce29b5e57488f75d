//go:build linux

// Command bench compares actorio with the Node.js socket.io v4 server and a
// raw gorilla/websocket server (the ceiling), side by side, on 127.0.0.1.
//
//	go run ./cmd/bench                        # echo, fanout, idle against actorio, node, raw (sio-floor: echo), ~1-2 min
//	go run ./cmd/bench -scenarios idle -n 10000
//	go run ./cmd/bench -servers actorio -scenarios echo -profile /tmp/prof
//
// Every server runs as its own process, started afresh for each scenario,
// so that its CPU time (/proc/<pid>/stat utime+stime) and memory
// (/proc/<pid>/status VmRSS and VmHWM) are its own:
//
//   - actorio: this binary re-executed with -serve=actorio;
//   - node: node cmd/bench/node/server.cjs (socket.io from ./node_modules);
//   - raw: this binary with -serve=raw, gorilla/websocket with a tiny
//     binary framing of its own and no Engine.IO or Socket.IO;
//   - sio-floor: this binary with -serve=sio-floor, Engine.IO and
//     Socket.IO over WebSocket on gorilla/websocket with actorio's codec
//     and nothing else (no sessions, actors, rooms or handler API), for
//     echo and echorate only: between raw's column and actorio's, it
//     shows what the protocol costs and what actorio's server adds.
//
// Each server offers the same three requests: echo (acked with its
// arguments), join (joins the room named by its argument, acked) and blast
// {room, count, size} (emits "msg" with a size-byte string count times to
// the room, then acks). This process is the load generator: a minimal
// Engine.IO v4 / Socket.IO v5 client over gorilla/websocket built on
// protocol/engineio and protocol/socketio (or the raw framing), and runs
// the scenarios:
//
//   - echo: C clients in a closed loop of echo-with-ack for T;
//   - echorate: the same clients sending -echo-rate echoes per second in
//     all, each at an even pace, below every server's capacity: latency
//     at an equal load, as a game's clients send at their tick rate;
//   - fanout: R receivers in one room, one blast of M messages;
//   - idle: N sockets held through heartbeats;
//
// and, with -scenarios, against actorio and node:
//
//   - pecho and pfanout: echo and fanout with long-polling clients only,
//     each keeping a GET pending as the official client does;
//   - storm and pstorm: as many clients as the file limit allows (or
//     -storm-n) connect at once, by WebSocket, or by long-polling then the
//     upgrade;
//   - rstorm: official socket.io-client instances (Node processes)
//     connect, then the server is killed and restarted under their
//     reconnections.
//
// It prints one markdown table: the ratios ours/node and ours/raw (and
// ours/floor when sio-floor ran) and the targets of the issue first, then
// each server's figures. With -repeat N the scenarios run N times,
// alternated (each run's servers one after the other, scenario by
// scenario), and the tables give each figure's median and each ratio's
// median of the runs' own ratios, with their ranges; their targets are
// judged on those. The load generator shares the machine's cores
// with the server under test; the table shows how much CPU each used.
//
// Two more scenarios compare several processes acting as one server,
// run with -scenarios xfanout,xack, against these servers:
//
//   - actorio-cluster: three actorio nodes (-nodes) in one cluster, their
//     links secured with mutual TLS from a throwaway CA made at start and
//     a random secret (-cluster-tls=false: plain links); WebSocket
//     clients;
//   - actorio-cluster-poll: the same cluster, with long-polling clients
//     that send every request after the handshake to the next node in
//     turn, so that nodes hand most requests over to the session's node;
//   - node-redis: three Node socket.io processes sharing a redis-server of
//     this run's own (127.0.0.1, a free port, no persistence) through
//     @socket.io/redis-adapter;
//   - actorio and node alone, as references.
//
// Receivers are spread round-robin over the processes (-xhomes picks
// some), the sender is a WebSocket client of the first:
//
//   - xfanout: a blast of M messages to the room, then a paced phase of
//     -xrate messages per second; each message carries its emit's
//     wall-clock timestamp, so the receivers note its latency;
//   - xack: rounds of a broadcast with ack to the room, each receiver
//     acking, timed by the sending server from its emit to the last ack.
//
// Their table has the ratios first (cluster over node-redis, polling over
// node-redis, cluster over actorio alone), then the targets of the issue,
// then each column's figures; server CPU sums every process of a column,
// redis-server included.
//
// It runs on Linux only: it reads its processes' figures from /proc,
// raises its own file limit, and has its child processes end with it
// (Pdeathsig).
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so the smoke test can re-execute itself as
// a server.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	if cfg.serve != "" {
		if err := serve(cfg, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "bench serve:", err)
			return 1
		}
		return 0
	}
	dialer.EnableCompression = cfg.compress
	if err := orchestrate(cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}
