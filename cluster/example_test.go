package cluster_test

import (
	"log"
	"net/http"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/cluster"
)

// A node of a cluster of three on one machine: the same program runs with
// 7001, 7002 and 7003 as its cluster port, each seeding the first.
func ExampleStatic() {
	srv, err := actorio.NewServer(actorio.Options{
		Transports: []string{"websocket"}, // no sticky sessions needed behind a load balancer
		Cluster: &actorio.ClusterOptions{
			Insecure: true,
			Name:     "chat",
			Address:  "127.0.0.1:7002",
			Provider: &cluster.Static{Seeds: []string{"127.0.0.1:7001"}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.OnConnection(func(s *actorio.Socket) {
		s.Join("lobby")
		s.On("chat", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
			// The members of lobby on every node, but the sender.
			_ = s.To("lobby").Emit("chat", args.String(0))
		})
	})
	srv.OnServerSideEmit("shutdown-notice", func(args actorio.Args, _ actorio.AckFunc) {
		log.Printf("node %s is going down", args.String(0))
	})
	http.Handle("/socket.io/", srv)
	log.Fatal(http.ListenAndServe("127.0.0.1:3002", nil))
}
