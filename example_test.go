package actorio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
)

// rawClient is a minimal Socket.IO client over one WebSocket, enough for the
// examples to show the frames the server sends.
type rawClient struct{ ws *websocket.Conn }

func dial(url string) *rawClient {
	u := "ws" + strings.TrimPrefix(url, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		log.Fatal(err)
	}
	c := &rawClient{ws}
	c.read() // the Engine.IO open packet
	return c
}

func (c *rawClient) send(frame string) {
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		log.Fatal(err)
	}
}

// read returns the next frame, answering pings on the way.
func (c *rawClient) read() string {
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			return "closed"
		}
		if string(b) == "2" {
			c.send("3")
			continue
		}
		return string(b)
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A server that acknowledges every "hello" event with a greeting.
func ExampleNewServer() {
	srv, err := actorio.NewServer(actorio.Options{Logger: quiet()})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.OnConnection(func(s *actorio.Socket) {
		s.On("hello", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			if ack != nil {
				_ = ack("hi " + args.String(0))
			}
		})
	})
	web := httptest.NewServer(srv)
	defer web.Close()

	c := dial(web.URL)
	c.send(`40`)
	fmt.Println(strings.HasPrefix(c.read(), `40{"sid":`))
	c.send(`421["hello","gopher"]`)
	fmt.Println(c.read())
	// Output:
	// true
	// 431["hi gopher"]
}

// Middleware refuses a socket with a message and data the client receives.
func ExampleNamespace_Use() {
	srv, err := actorio.NewServer(actorio.Options{Logger: quiet()})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
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
	web := httptest.NewServer(srv)
	defer web.Close()

	c := dial(web.URL)
	c.send(`40/admin,{"token":"wrong"}`)
	fmt.Println(c.read())
	// Output:
	// 44/admin,{"message":"not authorized","data":{"hint":"send a token"}}
}

// Rooms: a broadcast to a room reaches its members except the sender.
func ExampleSocket_To() {
	srv, err := actorio.NewServer(actorio.Options{Logger: quiet()})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.OnConnection(func(s *actorio.Socket) {
		s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			s.Join(args.String(0))
			_ = ack()
		})
		s.On("say", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
			_ = s.To("lobby").Emit("said", args.String(0))
		})
	})
	web := httptest.NewServer(srv)
	defer web.Close()

	alice, bob := dial(web.URL), dial(web.URL)
	for _, c := range []*rawClient{alice, bob} {
		c.send(`40`)
		c.read()
		c.send(`421["join","lobby"]`)
		c.read()
	}
	alice.send(`42["say","hello lobby"]`)
	fmt.Println(bob.read())
	// Output:
	// 42["said","hello lobby"]
}

// Dynamic namespaces: every name the pattern matches becomes a namespace
// on first connection.
func ExampleServer_OfRegexp() {
	srv, err := actorio.NewServer(actorio.Options{Logger: quiet()})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.OfRegexp(regexp.MustCompile(`^/game-\d+$`)).OnConnection(func(s *actorio.Socket) {
		_ = s.Emit("welcome", s.Namespace().Name())
	})
	web := httptest.NewServer(srv)
	defer web.Close()

	c := dial(web.URL)
	c.send(`40/game-42,`)
	c.read()
	fmt.Println(c.read())
	c.send(`40/chess,`)
	fmt.Println(c.read())
	// Output:
	// 42/game-42,["welcome","/game-42"]
	// 44/chess,{"message":"Invalid namespace"}
}

// EmitWithAck waits for the client's acknowledgement.
func ExampleSocket_EmitWithAck() {
	srv, err := actorio.NewServer(actorio.Options{Logger: quiet()})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
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
	web := httptest.NewServer(srv)
	defer web.Close()

	c := dial(web.URL)
	c.send(`40`)
	c.read()
	q := c.read() // 42<id>["question","6×7?"]
	id := q[2:strings.IndexByte(q, '[')]
	c.send(`43` + id + `[42]`)
	fmt.Println(<-answer)
	// Output:
	// 42
}
