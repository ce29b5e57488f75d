//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWSConn runs the storm clients' WebSocket against gorilla's server on
// 127.0.0.1: the upgrade, text frames of each length encoding both ways,
// a ping answered, an Engine.IO ping answered inside expect, and the
// server's close frame.
func TestWSConn(t *testing.T) {
	long := strings.Repeat("y", 70000)
	pongs := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "EIO=4&transport=websocket" {
			http.Error(w, "wrong target", http.StatusBadRequest)
			return
		}
		up := websocket.Upgrader{}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetPongHandler(func(s string) error { pongs <- s; return nil })
		_ = c.WriteMessage(websocket.TextMessage, []byte(`0{"sid":"x"}`))
		for _, want := range []string{"short", strings.Repeat("x", 300), long} {
			_, b, err := c.ReadMessage()
			if err != nil || string(b) != want {
				t.Errorf("server read %.20q (%d bytes), %v; want %.20q (%d bytes)", b, len(b), err, want, len(want))
				return
			}
			_ = c.WriteMessage(websocket.TextMessage, append([]byte("4"), b...))
		}
		_ = c.WriteControl(websocket.PingMessage, []byte("hb"), time.Now().Add(time.Second))
		_ = c.WriteMessage(websocket.TextMessage, []byte("2"))
		_ = c.WriteMessage(websocket.TextMessage, []byte("40/storm,{}"))
		// The client's pong arrives while it reads here: the Engine.IO
		// pong first, then nothing until the close.
		if _, b, err := c.ReadMessage(); err != nil || string(b) != "3" {
			t.Errorf("server read %q, %v; want the Engine.IO pong", b, err)
		}
		_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"))
		_, _, _ = c.ReadMessage()
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := dialWS(ctx, addr, nil, stormPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.expect("0{"); err != nil {
		t.Fatalf("open packet: %v", err)
	}
	for _, m := range []string{"short", strings.Repeat("x", 300), long} {
		if err := ws.writeText([]byte(m)); err != nil {
			t.Fatal(err)
		}
		b, err := ws.readText()
		if err != nil || string(b) != "4"+m {
			t.Fatalf("read %.20q (%d bytes), %v; want the echo of %d bytes", b, len(b), err, len(m))
		}
	}
	if err := ws.expect("40/storm,"); err != nil {
		t.Fatalf("after a ping and an Engine.IO ping: %v", err)
	}
	if _, err := ws.readText(); !errors.Is(err, errWSClosed) {
		t.Errorf("after the server's close frame: %v; want errWSClosed", err)
	}
	select {
	case s := <-pongs:
		if s != "hb" {
			t.Errorf("pong %q; want the ping's payload", s)
		}
	case <-time.After(5 * time.Second):
		t.Error("the ping was not answered")
	}
}

// TestWSConnRefused: an upgrade answered otherwise than RFC 6455 asks,
// and frames a server must not send, are errors.
func TestWSConnRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(key string) string
		want   error
	}{
		{"status", func(string) string { return "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" }, errWSStatus},
		{"no accept", func(string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		}, errWSAccept},
		{"wrong accept", func(string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
		}, errWSAccept},
		{"masked frame", func(key string) string { return upgraded(key) + "\x81\x81abcdx" }, errWSFrame},
		{"fragment", func(key string) string { return upgraded(key) + "\x01\x01a" }, errWSFrame},
		{"too large", func(key string) string { return upgraded(key) + "\x81\x7f\x00\x00\x00\x00\x10\x00\x00\x00" }, errWSTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				r, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = c.Write([]byte(tc.answer(r.Header.Get("Sec-WebSocket-Key"))))
				time.Sleep(time.Second)
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ws, err := dialWS(ctx, ln.Addr().String(), nil, stormPath)
			if err == nil {
				defer ws.Close()
				_, err = ws.readText()
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v; want %v", err, tc.want)
			}
		})
	}
}

// upgraded is a correct 101 answer to key.
func upgraded(key string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nsec-websocket-accept: " + wsAccept(key) + "\r\n\r\n"
}
