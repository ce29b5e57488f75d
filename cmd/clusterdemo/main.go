// Command clusterdemo serves the chat demo (package chatdemo: the page and
// its Socket.IO events) as one node of a cluster. Start several on one
// machine, each with its own HTTP and cluster ports, the later ones with
// the cluster address of one started before as seed:
//
//	go run ./cmd/clusterdemo -addr 127.0.0.1:3001 -node 127.0.0.1:7001
//	go run ./cmd/clusterdemo -addr 127.0.0.1:3002 -node 127.0.0.1:7002 -seeds 127.0.0.1:7001
//	go run ./cmd/clusterdemo -addr 127.0.0.1:3003 -node 127.0.0.1:7003 -seeds 127.0.0.1:7001
//
// then chat from http://127.0.0.1:3001 and http://127.0.0.1:3002 (or
// go run ./cmd/chat -url http://127.0.0.1:3002): a room's messages reach
// its members on every node.
package main

import (
	"flag"
	"log/slog"
	"os"
	"strings"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/cluster"
	"github.com/actorio/actorio/cmd/demo/chatdemo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "HTTP address to listen on")
	node := flag.String("node", "127.0.0.1:7000", "cluster address of this node (host:port)")
	seeds := flag.String("seeds", "", "comma-separated cluster addresses of nodes to join")
	name := flag.String("cluster", "chat", "cluster name")
	clientJS := flag.String("client-js", "", "serve this copy of socket.io.min.js at "+chatdemo.ClientJSPath+" (default: the one in "+chatdemo.ClientDist+" if present; the page tries the CDN when the node serves none)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *node, *name, strings.Split(*seeds, ","), *clientJS, log); err != nil {
		log.Error("clusterdemo stopped", "err", err)
		os.Exit(1)
	}
}

func run(addr, node, name string, seeds []string, clientJS string, log *slog.Logger) error {
	// The page loads socket.io-client from the node: -client-js, else
	// node_modules' copy (npm ci), served by ClientDir.
	var clientDir string
	if clientJS == "" {
		var err error
		if clientDir, err = chatdemo.FindClientDir(); err != nil {
			return err
		}
	}
	srv, err := actorio.NewServer(actorio.Options{
		Logger:    log,
		ClientDir: clientDir,
		Cluster: &actorio.ClusterOptions{
			Insecure: true,
			Name:     name,
			// The other nodes hand this one, through this port, the
			// requests for its sessions that a balancer sent them: no
			// sticky sessions.
			Address:  node,
			Provider: &cluster.Static{Seeds: seeds},
		},
	})
	if err != nil {
		return err
	}
	chatdemo.Register(srv)
	return chatdemo.Serve(srv, addr, clientJS, log, "clusterdemo listening", "node", srv.ClusterNodes()[0])
}
