package actorio_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/internal/leakcheck"
)

// TestServe serves a server with actorio.Serve on actorio.Listen's
// listener, as the README shows, and has the Go client connect by each
// transport, get an ack and a server emit, then shuts the HTTP server
// down: Serve returns http.ErrServerClosed and no goroutine is left.
func TestServe(t *testing.T) {
	leakcheck.Check(t, 3*time.Second)
	srv, err := actorio.NewServer(actorio.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv.OnConnection(func(s *actorio.Socket) {
		_ = s.Emit("hello", s.Transport())
		s.On("echo", func(_ *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			if ack != nil {
				_ = ack(args.Values()...)
			}
		})
	})
	ln, err := actorio.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- actorio.Serve(hs, ln) }()
	url := "http://" + ln.Addr().String()

	for _, transports := range [][]string{
		{client.TransportWebSocket},
		{client.TransportPolling, client.TransportWebSocket},
		{client.TransportPolling},
	} {
		hello := make(chan string, 1)
		c, err := client.New(url+"/", client.Options{Transports: transports, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		c.On("hello", func(args client.Args, _ client.AckFunc) { hello <- args.String(0) })
		if err := c.Connect(); err != nil {
			t.Fatal(err)
		}
		select {
		case tr := <-hello:
			if tr != transports[0] {
				t.Errorf("%v: the server saw transport %q first, want %q", transports, tr, transports[0])
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v: no hello", transports)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := c.EmitWithAck(ctx, "echo", "ping", 7)
		cancel()
		if err != nil || got.String(0) != "ping" {
			t.Fatalf("%v: ack %v, %v; want ping 7", transports, got, err)
		}
		_ = c.Close()
	}

	if err := srv.Close(); err != nil {
		t.Errorf("Server.Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
}
