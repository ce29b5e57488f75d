package tests

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
)

// The inbound route's ordering rule (actors/inbound.go): packets of one
// connection take effect in the order the client sent them, CONNECT and
// DISCONNECT included.

// TestInboundRouteOrderInOnePayload: CONNECT, an event, DISCONNECT,
// CONNECT again and an event, all in one polling POST: the first event
// reaches the first socket, which then ends with "client namespace
// disconnect", and the second event reaches the second socket.
func TestInboundRouteOrderInOnePayload(t *testing.T) {
	type seen struct{ id, what string }
	var mu sync.Mutex
	var got []seen
	note := func(id, what string) {
		mu.Lock()
		got = append(got, seen{id, what})
		mu.Unlock()
	}
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			note(s.ID(), "connect")
			s.On("x", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
				note(s.ID(), "x "+args.String(0))
			})
			s.OnDisconnect(func(s *actorio.Socket, reason string) { note(s.ID(), "disconnect "+reason) })
		})
	})
	hc := &http.Client{Timeout: step}
	u := openPollingSession(t, hc, ts.URL)
	payload := strings.Join([]string{`40`, `42["x","1"]`, `41`, `40`, `42["x","2"]`}, "\x1e")
	resp, err := hc.Post(u, "text/plain;charset=UTF-8", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	waitUntil(t, step, "two sockets, two events, one disconnect", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 5
	})
	mu.Lock()
	defer mu.Unlock()
	// Each socket sees its packets in order; the two sockets' handlers run
	// on their own actors, so how their lines interleave is not fixed.
	bySocket := map[string][]string{}
	var order []string
	for _, g := range got {
		if _, ok := bySocket[g.id]; !ok {
			order = append(order, g.id)
		}
		bySocket[g.id] = append(bySocket[g.id], g.what)
	}
	if len(order) != 2 {
		t.Fatalf("server saw %v, want two sockets", got)
	}
	first, second := order[0], order[1]
	if bySocket[first][0] == "connect" && len(bySocket[first]) == 2 {
		first, second = second, first // the second socket's line came first
	}
	if want := "[connect x 1 disconnect client namespace disconnect]"; fmt.Sprint(bySocket[first]) != want {
		t.Errorf("first socket saw %v, want %s", bySocket[first], want)
	}
	if want := "[connect x 2]"; fmt.Sprint(bySocket[second]) != want {
		t.Errorf("second socket saw %v, want %s", bySocket[second], want)
	}
}

// TestInboundRouteReconnectAfterRefusal: a client whose CONNECT the
// middleware refuses at once may connect to the namespace again on the
// same connection; the refused socket must not linger in the routing
// table (a second CONNECT for a joined namespace closes the connection).
func TestInboundRouteReconnectAfterRefusal(t *testing.T) {
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.Use(func(s *actorio.Socket) error {
			if strings.Contains(string(s.Handshake().Auth), "no") {
				return fmt.Errorf("refused")
			}
			return nil
		})
		srv.OnConnection(func(s *actorio.Socket) {})
	})
	p := dialPeer(t, ts, peerOpts{})
	for i := range 50 {
		if reply := p.joinReply("/", `{"t":"no"}`); !strings.HasPrefix(reply, "44") {
			t.Fatalf("round %d: refused CONNECT got %q", i, reply)
		}
		if reply := p.joinReply("/", `{"t":"yes"}`); !strings.HasPrefix(reply, `40{"sid"`) {
			t.Fatalf("round %d: CONNECT after a refusal got %q, want a CONNECT reply", i, reply)
		}
		p.send("41")
		time.Sleep(time.Millisecond) // the DISCONNECT has no answer to wait for
	}
}
