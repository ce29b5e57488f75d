// Command demo serves a multi-room chat page and its Socket.IO endpoint;
// the events and the page are in package chatdemo.
package main

import (
	"flag"
	"log/slog"
	"os"

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
	return chatdemo.Serve(srv, addr, clientJS, log, "demo listening")
}
