package cluster_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/cluster"
	"github.com/actorio/actorio/cluster/etcd"
)

// A node of a cluster whose membership is kept in etcd, through this
// module's etcd provider (cluster/etcd) plugged into protoactor-go's
// cluster: every node runs the same program with its own addresses. A node
// registers under /actorio/chat/ with a lease of 3 s, renewed every
// second: one that closes is dropped at once, one that dies once its lease
// expires, 3 to 3.5 s later.
func ExampleProtoactor_etcd() {
	members, err := etcd.New(etcd.Config{Client: clientv3.Config{
		Endpoints:   []string{"10.0.0.5:2379", "10.0.0.6:2379", "10.0.0.7:2379"},
		DialTimeout: 5 * time.Second,
	}})
	if err != nil {
		log.Fatal(err)
	}
	srv, err := actorio.NewServer(actorio.Options{
		Cluster: &actorio.ClusterOptions{
			Insecure: true,
			Name:     "chat", // the key prefix in etcd: /actorio/chat/
			// This node's cluster port, on a private network: the links,
			// and the requests for this node's sessions that a balancer
			// sent to another node (no sticky sessions are needed).
			Address: "10.0.1.12:7001",
			// One provider per server: it holds this node's registration.
			Provider: &cluster.Protoactor{Provider: members},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv.OnConnection(func(s *actorio.Socket) {
		s.Join("lobby")
	})

	web := &http.Server{Addr: "10.0.1.12:3000", Handler: srv}
	stopping, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-stopping.Done()
		// Leaves the cluster (the node's key is removed, its lease revoked,
		// the provider's etcd client closed: the other nodes drop this one
		// at once) and closes the sockets, then the HTTP server.
		if err := srv.Close(); err != nil {
			log.Print(err)
		}
		_ = web.Close()
	}()
	if err := web.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
