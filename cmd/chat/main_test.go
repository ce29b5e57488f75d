package main

import (
	"bufio"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/testkit"
)

// chatServer serves the demo's join and chat events.
func chatServer(t *testing.T) string {
	return testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: slog.New(slog.DiscardHandler)},
		Setup: func(srv *actorio.Server) {
			srv.OnConnection(func(s *actorio.Socket) {
				s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
					s.Join(args.String(0))
					_ = ack(true)
				})
				s.On("chat", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
					_ = s.To("lobby").Emit("chat", map[string]string{"from": s.ID(), "text": args.String(0)})
				})
			})
		},
	}).URL
}

// session runs the chat client with a pipe for input and returns its output lines.
func session(t *testing.T, url string) (*io.PipeWriter, <-chan string, <-chan error) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	lines := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		done <- run(url, "lobby", inR, outW)
		outW.Close()
	}()
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return inW, lines, done
}

func waitFor(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before %q", want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no line with %q", want)
		}
	}
}

func TestChatReachesTheOtherMemberOfTheRoom(t *testing.T) {
	url := chatServer(t)
	aIn, aOut, aDone := session(t, url)
	bIn, bOut, bDone := session(t, url)
	waitFor(t, aOut, "* joined lobby")
	waitFor(t, bOut, "* joined lobby")

	if _, err := io.WriteString(aIn, "hello from a\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, bOut, ": hello from a")

	for _, in := range []*io.PipeWriter{aIn, bIn} {
		in.Close()
	}
	for _, done := range []<-chan error{aDone, bDone} {
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
}
