// Command demo serves a multi-room chat page and its Socket.IO endpoint;
// the events and the page are in package chatdemo.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/cmd/demo/chatdemo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "address to listen on")
	clientJS := flag.String("client-js", "", "serve this file at /socket.io.min.js (the page loads the CDN copy otherwise)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *clientJS, log); err != nil {
		log.Error("demo stopped", "err", err)
		os.Exit(1)
	}
}

func run(addr, clientJS string, log *slog.Logger) error {
	srv, err := actorio.NewServer(actorio.Options{Logger: log})
	if err != nil {
		return err
	}
	chatdemo.Register(srv)

	httpSrv := &http.Server{Addr: addr, Handler: chatdemo.Handler(srv, clientJS), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.ListenAndServe() }()
	log.Info("demo listening", "url", "http://"+addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(); err != nil {
		log.Warn("close socket.io server", "err", err)
	}
	if err := httpSrv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
