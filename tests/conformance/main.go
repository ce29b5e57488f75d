// Command conformance serves the reference server that the official
// Engine.IO v4 and Socket.IO v5 protocol test suites expect: a bare
// Engine.IO echo server at /engine.io/ and a Socket.IO application at
// /socket.io/, both with pingInterval 300 ms, pingTimeout 200 ms and
// maxPayload 1e6.
//
// Run it with `go run ./tests/conformance`, then run a suite's `npm test`
// from its test-suite folder. See NOTES.md for what each suite checks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/gateway"
	"github.com/actorio/actorio/internal/protosuite"
	"github.com/actorio/actorio/protocol/engineio"
)

func main() {
	port := flag.Int("port", 3000, "port to listen on, on 127.0.0.1 and ::1")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *port, log); err != nil {
		log.Error("conformance server", "err", err)
		os.Exit(1)
	}
}

const (
	pingInterval = protosuite.PingInterval
	pingTimeout  = protosuite.PingTimeout
)

// NewHandler returns the reference application: the Engine.IO echo server
// and the Socket.IO server behind one mux, and a func that closes both.
func NewHandler(log *slog.Logger) (http.Handler, func() error, error) {
	cors := &actorio.CORS{Origins: []string{"*"}}
	eio := gateway.New(gateway.Config{
		Path: "/engine.io/", PingInterval: pingInterval, PingTimeout: pingTimeout,
		CORS: cors, Logger: log,
	}, echo{})
	sio, err := actorio.NewServer(actorio.Options{
		PingInterval: pingInterval, PingTimeout: pingTimeout, CORS: cors, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	protosuite.App(sio)
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eio)
	mux.Handle("/socket.io/", sio)
	closeAll := func() error { return errors.Join(sio.Close(), eio.Close()) }
	return mux, closeAll, nil
}

// echo is the bare Engine.IO application: every message goes back as it came.
type echo struct{}

func (echo) OnOpen(c *gateway.Conn) { c.SetReceiver(echo{}) }

// OnPacket sends the packet back; the gateway hands p.Data over, so it may
// be queued as it is.
func (echo) OnPacket(c *gateway.Conn, p engineio.Packet) { _ = c.Send(p) }

func (echo) OnClose(*gateway.Conn, string, error) {}

func serve(ctx context.Context, port int, log *slog.Logger) error {
	h, closeAll, err := NewHandler(log)
	if err != nil {
		return err
	}
	defer closeAll()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 2)
	listening := 0
	for _, host := range []string{"127.0.0.1", "::1"} {
		ln, err := actorio.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
		if err != nil {
			log.Warn("not listening", "host", host, "err", err)
			continue
		}
		listening++
		go func() { errc <- actorio.Serve(srv, ln) }()
	}
	if listening == 0 {
		return fmt.Errorf("no address to listen on at port %d", port)
	}
	fmt.Fprintf(os.Stderr, "conformance server on http://localhost:%d\n", port)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}
