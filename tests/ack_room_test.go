package tests

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
)

// TestBroadcastWithAckToARoom: a broadcast with acks to a room larger
// than the receivers its goroutine writes to itself (the rest go through
// their writers), WebSocket and long-polling clients mixed: every client
// acks every round, each round returns every ack, and each client gets
// the rounds and the plain broadcasts between them in the order they were
// emitted.
func TestBroadcastWithAckToARoom(t *testing.T) {
	const ws, polling, rounds = 90, 10, 5
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("join", func(s *actorio.Socket, _ actorio.Args, ack actorio.AckFunc) {
				s.Join("r")
				_ = ack()
			})
		})
	})
	type seen struct {
		mu  sync.Mutex
		got []string
	}
	clients := make([]*seen, ws+polling)
	for i := range clients {
		transports := []string{client.TransportWebSocket}
		if i >= ws {
			transports = []string{client.TransportPolling}
		}
		s, err := client.New(ts.URL, client.Options{Transports: transports, DisableReconnection: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		c := &seen{}
		clients[i] = c
		s.On("q", func(a client.Args, ack client.AckFunc) {
			c.mu.Lock()
			c.got = append(c.got, "q"+a.String(0))
			c.mu.Unlock()
			_ = ack(i)
		})
		s.On("after", func(a client.Args, _ client.AckFunc) {
			c.mu.Lock()
			c.got = append(c.got, "after"+a.String(0))
			c.mu.Unlock()
		})
		if err := s.Connect(); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), step)
		_, err = s.EmitWithAck(ctx, "join")
		cancel()
		if err != nil {
			t.Fatalf("client %d joins: %v", i, err)
		}
	}

	var want []string
	for round := range rounds {
		r := fmt.Sprint(round)
		ctx, cancel := context.WithTimeout(t.Context(), step)
		acks, err := ts.Srv.To("r").EmitWithAck(ctx, "q", r)
		cancel()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		_ = ts.Srv.To("r").Emit("after", r)
		var from []int
		for _, a := range acks {
			var i int
			if err := a.Decode(0, &i); err != nil {
				t.Fatalf("round %d: ack %v: %v", round, a.Values(), err)
			}
			from = append(from, i)
		}
		slices.Sort(from)
		if len(from) != len(clients) || from[0] != 0 || from[len(from)-1] != len(clients)-1 || len(slices.Compact(from)) != len(clients) {
			t.Fatalf("round %d: acks from %v, want one from each of the %d clients", round, from, len(clients))
		}
		want = append(want, "q"+r, "after"+r)
	}
	for i, c := range clients {
		waitUntil(t, step, fmt.Sprintf("client %d's events", i), func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return len(c.got) >= len(want)
		})
		c.mu.Lock()
		got := slices.Clone(c.got)
		c.mu.Unlock()
		if !slices.Equal(got, want) {
			t.Errorf("client %d got %v, want %v", i, got, want)
		}
	}
}
