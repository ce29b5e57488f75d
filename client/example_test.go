package client_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
)

// greeter starts an actorio server whose "hello" handler acknowledges with
// a greeting, and returns its URL and a function that stops it.
func greeter() (url string, stop func()) {
	srv, err := actorio.NewServer(actorio.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	srv.Of("/").OnConnection(greet)
	srv.Of("/admin").OnConnection(greet)
	web := httptest.NewServer(srv)
	return web.URL, func() {
		_ = srv.Close()
		web.Close()
	}
}

func greet(s *actorio.Socket) {
	s.On("hello", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
		if ack != nil {
			_ = ack("hi " + args.String(0) + " from " + s.Namespace().Name())
		}
	})
}

// Connect, emit an event and wait for the server's acknowledgement.
func Example() {
	url, stop := greeter()
	defer stop()

	s, err := client.New(url, client.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	connected := make(chan struct{})
	s.Once("connect", func(client.Args, client.AckFunc) { close(connected) })
	if err := s.Connect(); err != nil {
		log.Fatal(err)
	}
	<-connected

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := s.EmitWithAck(ctx, "hello", "gopher")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.String(0))
	// Output: hi gopher from /
}

// Two namespaces multiplexed over one connection.
func ExampleManager_Socket() {
	url, stop := greeter()
	defer stop()

	m, err := client.NewManager(url, client.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, nsp := range []string{"/", "/admin"} {
		s := m.Socket(nsp)
		if err := s.Connect(); err != nil {
			log.Fatal(err)
		}
		// Emitted before the connection is made: buffered, then sent.
		reply, err := s.EmitWithAck(ctx, "hello", "gopher")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(reply.String(0))
	}
	// Output:
	// hi gopher from /
	// hi gopher from /admin
}

// The lifecycle events of a socket, typed.
func ExampleSocket_OnEvent() {
	url, stop := greeter()
	defer stop()

	s, err := client.New(url, client.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	done := make(chan struct{})
	s.OnEvent(func(e client.Event) {
		switch e.Name {
		case client.EventConnect:
			fmt.Println("connect")
			s.Disconnect()
		case client.EventDisconnect:
			fmt.Println("disconnect:", e.Reason)
			close(done)
		default:
			fmt.Println(e.Name)
		}
	})
	if err := s.Connect(); err != nil {
		log.Fatal(err)
	}
	<-done
	// Output:
	// connecting
	// connect
	// disconnect: io client disconnect
}

// Subscribing to a classic event by name: the payload comes as Args.
func ExampleSocket_On() {
	s, err := client.New("http://127.0.0.1:1", client.Options{
		DisableReconnection: true,
		Logger:              slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	failed := make(chan struct{})
	s.On("connect_failed", func(args client.Args, _ client.AckFunc) { close(failed) })
	if err := s.Connect(); err != nil {
		log.Fatal(err)
	}
	<-failed
	fmt.Println("nobody listens on port 1")
	// Output: nobody listens on port 1
}
