package actorio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
)

// The examples serve on 127.0.0.1 and talk to the server with the Go
// client of package client.

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// serve starts srv over HTTP on 127.0.0.1 and returns its URL and a
// function that stops both.
func serve(srv *actorio.Server) (url string, stop func()) {
	web := httptest.NewServer(srv)
	return web.URL, func() {
		_ = srv.Close()
		web.Close()
	}
}

// newClient returns a socket, not yet connected, of the namespace in
// url's path, that does not reconnect.
func newClient(url string, opts client.Options) *client.Socket {
	opts.Logger = quiet()
	opts.DisableReconnection = true
	s, err := client.New(url, opts)
	if err != nil {
		log.Fatal(err)
	}
	return s
}

// connect connects s and waits for the outcome: nil once connected, the
// server's refusal (a *client.ConnectError) or the failure otherwise.
func connect(s *client.Socket) error {
	outcome := make(chan error, 1)
	s.OnEvent(func(e client.Event) {
		switch e.Name {
		case client.EventConnect:
			select {
			case outcome <- nil:
			default:
			}
		case client.EventConnectError, client.EventConnectFailed:
			select {
			case outcome <- e.Err:
			default:
			}
		}
	})
	if err := s.Connect(); err != nil {
		return err
	}
	select {
	case err := <-outcome:
		return err
	case <-time.After(5 * time.Second):
		return errors.New("no connect within 5s")
	}
}

// A server that acknowledges every "hello" event with a greeting.
func ExampleNewServer() {
	srv, err := actorio.NewServer(actorio.Options{Logger: quiet()})
	if err != nil {
		log.Fatal(err)
	}
	srv.OnConnection(func(s *actorio.Socket) {
		s.On("hello", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			if ack != nil {
				_ = ack("hi " + args.String(0))
			}
		})
	})
	url, stop := serve(srv)
	defer stop()

	c := newClient(url, client.Options{})
	defer c.Close()
	if err := connect(c); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := c.EmitWithAck(ctx, "hello", "gopher")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.String(0))
	// Output:
	// hi gopher
}

// Middleware refuses a socket with a message and data the client receives.
func ExampleNamespace_Use() {
	srv, err := actorio.NewServer(actorio.Options{Logger: quiet()})
	if err != nil {
		log.Fatal(err)
	}
	srv.Of("/admin").Use(func(s *actorio.Socket) error {
		var auth struct{ Token string }
		if err := json.Unmarshal(s.Handshake().Auth, &auth); err != nil {
			return errors.New("auth payload required")
		}
		if auth.Token != "secret" {
			return &actorio.ConnectError{Message: "not authorized", Data: map[string]string{"hint": "send a token"}}
		}
		return nil
	})
	url, stop := serve(srv)
	defer stop()

	for _, token := range []string{"wrong", "secret"} {
		c := newClient(url+"/admin", client.Options{Auth: map[string]string{"token": token}})
		err := connect(c)
		var refused *client.ConnectError
		switch {
		case errors.As(err, &refused):
			fmt.Printf("%s: %s %s\n", token, refused.Message, refused.Data)
		case err != nil:
			log.Fatal(err)
		default:
			fmt.Printf("%s: connected\n", token)
		}
		_ = c.Close()
	}
	// Output:
	// wrong: not authorized {"hint":"send a token"}
	// secret: connected
}

// Rooms: a broadcast to a room reaches its members except the sender.
func ExampleSocket_To() {
	srv, err := actorio.NewServer(actorio.Options{Logger: quiet()})
	if err != nil {
		log.Fatal(err)
	}
	srv.OnConnection(func(s *actorio.Socket) {
		s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			s.Join(args.String(0))
			_ = ack()
		})
		s.On("say", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
			_ = s.To("lobby").Emit("said", args.String(0))
		})
	})
	url, stop := serve(srv)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	alice, bob := newClient(url, client.Options{}), newClient(url, client.Options{})
	said := make(chan string, 1)
	bob.On("said", func(args client.Args, _ client.AckFunc) { said <- args.String(0) })
	for _, c := range []*client.Socket{alice, bob} {
		defer c.Close()
		if err := connect(c); err != nil {
			log.Fatal(err)
		}
		if _, err := c.EmitWithAck(ctx, "join", "lobby"); err != nil {
			log.Fatal(err)
		}
	}
	if err := alice.Emit("say", "hello lobby"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("bob got:", <-said)
	// Output:
	// bob got: hello lobby
}

// Dynamic namespaces: every name the pattern matches becomes a namespace
// on first connection.
func ExampleServer_OfRegexp() {
	srv, err := actorio.NewServer(actorio.Options{Logger: quiet()})
	if err != nil {
		log.Fatal(err)
	}
	srv.OfRegexp(regexp.MustCompile(`^/game-\d+$`)).OnConnection(func(s *actorio.Socket) {
		_ = s.Emit("welcome", s.Namespace().Name())
	})
	url, stop := serve(srv)
	defer stop()

	game := newClient(url+"/game-42", client.Options{})
	defer game.Close()
	welcome := make(chan string, 1)
	game.On("welcome", func(args client.Args, _ client.AckFunc) { welcome <- args.String(0) })
	if err := connect(game); err != nil {
		log.Fatal(err)
	}
	fmt.Println("welcome to", <-welcome)

	chess := newClient(url+"/chess", client.Options{})
	defer chess.Close()
	fmt.Println("/chess:", connect(chess))
	// Output:
	// welcome to /game-42
	// /chess: Invalid namespace
}

// EmitWithAck waits for the client's acknowledgement.
func ExampleSocket_EmitWithAck() {
	srv, err := actorio.NewServer(actorio.Options{Logger: quiet()})
	if err != nil {
		log.Fatal(err)
	}
	answer := make(chan string, 1)
	srv.OnConnection(func(s *actorio.Socket) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			args, err := s.EmitWithAck(ctx, "question", "6×7?")
			if err != nil {
				answer <- err.Error()
				return
			}
			answer <- string(args.Raw(0))
		}()
	})
	url, stop := serve(srv)
	defer stop()

	c := newClient(url, client.Options{})
	defer c.Close()
	c.On("question", func(_ client.Args, ack client.AckFunc) {
		if ack != nil {
			_ = ack(42)
		}
	})
	if err := connect(c); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-answer)
	// Output:
	// 42
}

// Serve serves a server on a listener of Listen, as a server that many
// clients reach at once should: its WebSocket clients cost net/http no
// buffers.
func ExampleServe() {
	srv, err := actorio.NewServer(actorio.Options{Logger: quiet()})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.OnConnection(func(s *actorio.Socket) { _ = s.Emit("welcome", s.Transport()) })
	ln, err := actorio.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = actorio.Serve(hs, ln) }()
	defer hs.Close()

	welcome := make(chan string, 1)
	c := newClient("http://"+ln.Addr().String(), client.Options{Transports: []string{client.TransportWebSocket}})
	defer c.Close()
	c.On("welcome", func(args client.Args, _ client.AckFunc) { welcome <- args.String(0) })
	if err := connect(c); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-welcome)
	// Output:
	// websocket
}
