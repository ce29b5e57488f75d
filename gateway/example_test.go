package gateway_test

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/protocol/engineio"
)

// echo sends every message back to its sender.
type echo struct{}

func (echo) OnOpen(c *gateway.Conn) { c.SetReceiver(echo{}) }

func (echo) OnPacket(c *gateway.Conn, p engineio.Packet) {
	// The gateway hands p.Data over, so it can be queued as it is.
	_ = c.Send(p)
}

func (echo) OnClose(c *gateway.Conn, reason string, err error) {}

func Example() {
	srv := gateway.New(gateway.Config{
		PingInterval: 25 * time.Second,
		Logger:       slog.Default(),
	}, echo{})
	defer srv.Close()

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	_ = mux // serve it with http.Server{Handler: mux}.ListenAndServe()
}
