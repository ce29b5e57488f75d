package balancer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/actorio/actorio/cluster/etcd"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/cluster"
	"github.com/actorio/actorio/internal/protosuite"
)

// nodeEnv, when set in the environment, makes the test binary run one
// cluster node (runNode) instead of the tests: the tests start three of
// them as processes, so that one can be killed for real.
const nodeEnv = "ACTORIO_BALANCER_NODE"

// nodeStats is what a node process reports on /stats.
type nodeStats struct {
	Name  string `json:"name"`
	Nodes int    `json:"nodes"`
	// Forwarded counts the Engine.IO requests this node served that a
	// balancer had sent to another node, which handed them over.
	Forwarded int64 `json:"forwarded"`
	// ForwardedOnLink counts those that came on the link between the
	// nodes, from the asking node's cluster address: the long-polling
	// ones (an upgrade comes on a connection of its own).
	ForwardedOnLink int64 `json:"forwardedOnLink"`
	// Recoded counts those whose Accept-Encoding was not the client's:
	// the owner would then compress for the node in between, which would
	// unpack it again.
	Recoded int64 `json:"recoded"`
}

// clientEncodingHeader carries, from the node a request reached first to
// the node it is handed to, the Accept-Encoding the client sent.
const clientEncodingHeader = "X-Test-Client-Accept-Encoding"

// runNode runs one node: its name, HTTP address, cluster address and
// seeds come from the environment, and NODE_RECOVERY=1 turns connection
// state recovery on at its defaults. With NODE_TLS_DIR, its links are
// mutual TLS with DIR/ca.crt and DIR/<name>.crt and .key, and the secret
// NODE_SECRET; else they are plain. With NODE_HTTPS_CERT and
// NODE_HTTPS_KEY (files), it serves HTTPS rather than HTTP. NODE_CORS
// allows that origin, with credentials; NODE_APP=protocol serves the
// application of the official Socket.IO suite too, at its timings
// (internal/protosuite), to any origin. With NODE_ETCD (an etcd client URL),
// its membership is protoactor's etcd provider rather than the seeds. It serves the Engine.IO endpoint
// with the default options, /stats, and /emit?room=r&event=e[&n=i] (a
// broadcast from this node to room r with its name, and i, as
// arguments). Every socket handles "join" (join the rooms named, ack
// "ok"), "whoami" (ack with the name of the node that holds the socket),
// "setdata" (its Data becomes the argument, ack "ok") and "info" (ack
// with {node, data, rooms}: the node's name, the socket's Data and its
// rooms). It exits when
// its stdin closes (the test ended) or on SIGTERM.
func runNode() int {
	name, httpAddr, clusterAddr := os.Getenv("NODE_NAME"), os.Getenv("NODE_HTTP"), os.Getenv("NODE_CLUSTER")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", name)
	var recovery *actorio.ConnectionStateRecovery
	if os.Getenv("NODE_RECOVERY") == "1" {
		recovery = &actorio.ConnectionStateRecovery{}
	}
	// eio serves the Engine.IO endpoint, on the node's own HTTP server
	// and for the requests the other nodes hand over, which it counts.
	var srv *actorio.Server
	var forwarded, forwardedOnLink, recoded atomic.Int64
	seeds := strings.Split(os.Getenv("NODE_SEEDS"), ",")
	eio := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Actorio-Forwarded") != "" {
			forwarded.Add(1)
			if slices.Contains(seeds, r.RemoteAddr) {
				forwardedOnLink.Add(1)
			}
			if r.Header.Get("Accept-Encoding") != r.Header.Get(clientEncodingHeader) {
				recoded.Add(1)
			}
		} else {
			r.Header.Set(clientEncodingHeader, r.Header.Get("Accept-Encoding"))
		}
		srv.ServeHTTP(w, r)
	})
	co := &actorio.ClusterOptions{
		Insecure:        true,
		Name:            "balancer",
		Address:         clusterAddr,
		HandOverHandler: eio,
		Provider:        &cluster.Static{Seeds: strings.Split(os.Getenv("NODE_SEEDS"), ",")},
	}
	if dir := os.Getenv("NODE_TLS_DIR"); dir != "" {
		co.Insecure = false
		co.TLS = &actorio.ClusterTLS{CAFile: filepath.Join(dir, "ca.crt"),
			CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
		co.Secret = os.Getenv("NODE_SECRET")
	}
	if url := os.Getenv("NODE_ETCD"); url != "" {
		ctx, stopEtcd := context.WithCancel(context.Background())
		defer stopEtcd() // after srv.Close: ends a Shutdown that waits for etcd
		members, err := etcd.New(etcd.Config{Client: clientv3.Config{
			Endpoints: []string{url}, DialTimeout: 5 * time.Second, Context: ctx, Logger: zap.NewNop(),
		}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "etcd provider:", err)
			return 1
		}
		co.Provider = &cluster.Protoactor{Provider: members}
	}
	opts := actorio.Options{
		Logger:                  log,
		ConnectionStateRecovery: recovery,
		Cluster:                 co,
	}
	if origin := os.Getenv("NODE_CORS"); origin != "" {
		opts.CORS = &actorio.CORS{Origins: []string{origin}, Credentials: true}
	}
	protocol := os.Getenv("NODE_APP") == "protocol"
	if protocol {
		opts.PingInterval, opts.PingTimeout = protosuite.PingInterval, protosuite.PingTimeout
		opts.CORS = &actorio.CORS{Origins: []string{"*"}}
	}
	var err error
	srv, err = actorio.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "NewServer:", err)
		return 1
	}
	if protocol {
		protosuite.App(srv)
	}
	srv.OnConnection(func(s *actorio.Socket) {
		s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			for i := range args.Len() {
				s.Join(args.String(i))
			}
			if ack != nil {
				_ = ack("ok")
			}
		})
		s.On("whoami", func(s *actorio.Socket, _ actorio.Args, ack actorio.AckFunc) {
			if ack != nil {
				_ = ack(name)
			}
		})
		s.On("setdata", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			v, _ := args.Value(0)
			s.SetData(v)
			if ack != nil {
				_ = ack("ok")
			}
		})
		s.On("info", func(s *actorio.Socket, _ actorio.Args, ack actorio.AckFunc) {
			if ack != nil {
				_ = ack(map[string]any{"node": name, "data": s.Data(), "rooms": s.Rooms()})
			}
		})
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", eio)
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(nodeStats{Name: name, Nodes: len(srv.ClusterNodes()), Forwarded: forwarded.Load(), ForwardedOnLink: forwardedOnLink.Load(), Recoded: recoded.Load()})
	})
	// /ask sends the other nodes a server-side event with an ack and
	// answers their names, as a JSON list.
	srv.OnServerSideEmit("ask", func(_ actorio.Args, ack actorio.AckFunc) {
		if ack != nil {
			_ = ack(name)
		}
	})
	mux.HandleFunc("/ask", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		acks, err := srv.ServerSideEmitWithAck(ctx, "ask")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		names := []string{}
		for _, a := range acks {
			names = append(names, a.String(0))
		}
		_ = json.NewEncoder(w).Encode(names)
	})
	mux.HandleFunc("/emit", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		args := []any{name}
		if n := q.Get("n"); n != "" {
			args = append(args, n)
		}
		if err := srv.To(q.Get("room")).Emit(q.Get("event"), args...); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	web := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if cert := os.Getenv("NODE_HTTPS_CERT"); cert != "" {
		ln, err := net.Listen("tcp", httpAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen:", err)
			return 1
		}
		// As a Go server serving TLS itself does: HTTP/2 for the clients
		// that offer it.
		go func() { _ = web.ServeTLS(ln, cert, os.Getenv("NODE_HTTPS_KEY")) }()
	} else {
		// As the README advises: WebSocket upgrades that come first on
		// the balancer's connections are answered by the listener.
		ln, err := actorio.Listen("tcp", httpAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen:", err)
			return 1
		}
		go func() { _ = actorio.Serve(web, ln) }()
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	eof := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(eof) }()
	select {
	case <-stop:
	case <-eof:
	}
	_ = srv.Close()
	_ = web.Close()
	return 0
}
