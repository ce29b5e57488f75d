// Command chat is a terminal client for the demo: it connects to a running
// `go run ./cmd/demo`, joins a room and sends every line typed as a chat
// message, printing what the room says.
//
//	go run ./cmd/chat -url http://127.0.0.1:3000 -room lobby
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/actorio/actorio/client"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:3000", "demo server address")
	room := flag.String("room", "lobby", "room to join")
	flag.Parse()
	if err := run(*url, *room, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// run chats in room until in ends.
func run(url, room string, in io.Reader, out io.Writer) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := client.New(url, client.Options{Logger: log})
	if err != nil {
		return err
	}
	defer s.Close()

	printf := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	s.OnEvent(func(e client.Event) {
		switch e.Name {
		case "connect":
			printf("* connected as %s", s.ID())
			// Join on every connect: a reconnection starts with no rooms.
			go join(s, room, printf)
		case "disconnect":
			printf("* disconnected: %s", e.Reason)
		case "reconnecting":
			printf("* reconnecting (attempt %d)", e.Attempt)
		case "connect_failed", "reconnect_failed":
			printf("* %s", e.Name)
		}
	})
	s.On("chat", func(args client.Args, _ client.AckFunc) {
		var m struct{ From, Text string }
		if args.Decode(0, &m) == nil {
			printf("%.6s: %s", m.From, m.Text)
		}
	})
	s.On("joined", func(args client.Args, _ client.AckFunc) {
		var m struct{ ID, Room string }
		if args.Decode(0, &m) == nil {
			printf("* %.6s joined %s", m.ID, m.Room)
		}
	})
	if err := s.Connect(); err != nil {
		return err
	}

	lines := bufio.NewScanner(in)
	for lines.Scan() {
		text := strings.TrimSpace(lines.Text())
		if text == "" {
			continue
		}
		if err := s.Emit("chat", text); err != nil {
			printf("* not sent: %v", err)
		}
	}
	return lines.Err()
}

func join(s *client.Socket, room string, printf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.EmitWithAck(ctx, "join", room); err != nil {
		printf("* join %s: %v", room, err)
		return
	}
	printf("* joined %s", room)
}
