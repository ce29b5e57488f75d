package actorio_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/testkit"
)

// leakWait is how long the goroutines of a test's server may take to end
// once it is closed.
const leakWait = 3 * time.Second

// reasons records OnDisconnect calls per socket id.
type reasons struct {
	mu  sync.Mutex
	got map[string][]string
}

func (r *reasons) add(s *actorio.Socket, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[string][]string{}
	}
	r.got[s.ID()] = append(r.got[s.ID()], reason)
}

func (r *reasons) snapshot() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for k, v := range r.got {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func TestCloseDisconnectsEveryoneOnceAndLeavesNoGoroutine(t *testing.T) {
	var rs reasons
	web := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: quiet()},
		Setup: func(srv *actorio.Server) {
			srv.OnConnection(func(s *actorio.Socket) { s.OnDisconnect(rs.add) })
			srv.Of("/chat").OnConnection(func(s *actorio.Socket) { s.OnDisconnect(rs.add) })
		},
		LeakWait: leakWait,
	})

	const n = 5
	for i := 0; i < n; i++ {
		c := dial(web.URL)
		c.send("40")
		c.read()
		c.send("40/chat,")
		c.read()
		defer c.ws.Close()
	}
	if err := web.Srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := rs.snapshot()
	if len(got) != 2*n {
		t.Fatalf("OnDisconnect ran for %d sockets, want %d", len(got), 2*n)
	}
	for id, r := range got {
		if len(r) != 1 || r[0] != disconnect.ServerShuttingDown {
			t.Errorf("socket %s: reasons %q, want one %q", id, r, disconnect.ServerShuttingDown)
		}
	}
}

func TestHandlerPanicDisconnectsOnlyThatSocket(t *testing.T) {
	var rs reasons
	web := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: quiet()},
		Setup: func(srv *actorio.Server) {
			srv.OnConnection(func(s *actorio.Socket) {
				s.OnDisconnect(rs.add)
				s.On("boom", func(*actorio.Socket, actorio.Args, actorio.AckFunc) { panic("boom") })
				s.On("ping", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) { _ = ack("pong") })
			})
		},
		LeakWait: leakWait,
	})

	victim, bystander := dial(web.URL), dial(web.URL)
	defer victim.ws.Close()
	defer bystander.ws.Close()
	victim.send("40")
	victim.read()
	bystander.send("40")
	bystander.read()

	victim.send(`42["boom"]`)
	if got := victim.read(); got != "41" {
		t.Fatalf("victim got %q, want the DISCONNECT packet 41", got)
	}
	bystander.send(`421["ping"]`)
	if got := bystander.read(); got != `431["pong"]` {
		t.Fatalf("bystander got %q after the other socket's panic", got)
	}
	// The victim's Engine.IO connection survives: it can join again.
	victim.send("40")
	if got := victim.read(); !strings.HasPrefix(got, `40{"sid":`) {
		t.Fatalf("victim reconnect got %q", got)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range rs.snapshot() {
			if len(r) == 1 && r[0] == disconnect.HandlerPanic {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no socket disconnected with %q: %v", disconnect.HandlerPanic, rs.snapshot())
}

func TestConnectTimeoutClosesConnectionWithoutNamespace(t *testing.T) {
	web := testkit.StartServer(t, testkit.ServerConfig{
		Options:  actorio.Options{Logger: quiet(), ConnectTimeout: 200 * time.Millisecond},
		LeakWait: leakWait,
	})

	idle, joined := dial(web.URL), dial(web.URL)
	defer idle.ws.Close()
	defer joined.ws.Close()
	joined.send("40")
	joined.read()
	start := time.Now()
	// As from Node: a close frame without status code, no close packet.
	_ = idle.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, b, err := idle.ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
		t.Fatalf("idle connection got %q, %v, want a close frame without status", b, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %v, want about 200ms", d)
	}
	// The connection that joined a namespace in time stays open.
	joined.send(`421["nothing"]`)
	_ = joined.ws.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
	if _, _, err := joined.ws.ReadMessage(); err == nil || !isTimeout(err) {
		t.Fatalf("joined connection: %v, want it still open (read timeout)", err)
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

func TestAllowRequestRefusesHandshake(t *testing.T) {
	web := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: quiet(), AllowRequest: func(r *http.Request) error {
			if r.URL.Query().Get("key") != "open-sesame" {
				return errors.New("bad key")
			}
			return nil
		}},
		LeakWait: leakWait,
	})

	tests := []struct {
		query      string
		wantStatus int
		wantBody   string
	}{
		{"EIO=4&transport=polling", http.StatusForbidden, `{"code":4,"message":"Forbidden"}`},
		{"EIO=4&transport=polling&key=open-sesame", http.StatusOK, `0{"sid":`},
	}
	for _, tc := range tests {
		resp, err := http.Get(web.URL + "/socket.io/?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus || !strings.HasPrefix(string(body), tc.wantBody) {
			t.Errorf("%s: %d %s, want %d %s…", tc.query, resp.StatusCode, body, tc.wantStatus, tc.wantBody)
		}
	}
}

// TestAfterClose checks that namespaces stay usable handles after Close:
// Of never returns nil, and sending through them fails with ErrServerClosed.
func TestAfterClose(t *testing.T) {
	srv, err := actorio.NewServer(actorio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	chat := srv.Of("/chat")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ns   *actorio.Namespace
	}{
		{"default", srv.Of("/")},
		{"existing", chat},
		{"created after Close", srv.Of("/late")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ns == nil {
				t.Fatal("Of returned nil")
			}
			if err := tc.ns.Emit("x", 1); !errors.Is(err, actorio.ErrServerClosed) {
				t.Errorf("Emit: %v, want ErrServerClosed", err)
			}
			if err := tc.ns.To("room").Emit("x"); !errors.Is(err, actorio.ErrServerClosed) {
				t.Errorf("To(room).Emit: %v, want ErrServerClosed", err)
			}
			if _, err := tc.ns.FetchSockets(context.Background()); !errors.Is(err, actorio.ErrServerClosed) {
				t.Errorf("FetchSockets: %v, want ErrServerClosed", err)
			}
			if _, err := tc.ns.EmitWithAck(context.Background(), "x"); !errors.Is(err, actorio.ErrServerClosed) {
				t.Errorf("EmitWithAck: %v, want ErrServerClosed", err)
			}
		})
	}
}

// rawClient is a minimal Socket.IO client over one WebSocket, for tests
// that check the frames the server sends.
type rawClient struct{ ws *websocket.Conn }

// dial opens a WebSocket session on url and reads its Engine.IO open packet.
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
