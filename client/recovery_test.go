package client

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Connection state recovery at the protocol level, against a fake server
// whose packets the test chooses, and the CONNECT payload merge.

func TestWithSessionMergesLikeObjectAssign(t *testing.T) {
	for _, c := range []struct {
		name      string
		auth      string // "" for no auth
		offset    string
		hasOffset bool
		want      string
	}{
		{"no auth", "", "o", true, `{"pid":"p","offset":"o"}`},
		{"no offset received", "", "", false, `{"pid":"p"}`},
		{"empty offset received", "", "", true, `{"pid":"p","offset":""}`},
		{"empty auth", `{}`, "o", true, `{"pid":"p","offset":"o"}`},
		{"user keys follow", `{"token":"t","n":1.50}`, "o", true, `{"pid":"p","offset":"o","token":"t","n":1.50}`},
		{"user offset wins in place", `{"a":1,"offset":"mine"}`, "o", true, `{"pid":"p","offset":"mine","a":1}`},
		{"user offset without received one", `{"a":1,"offset":"mine"}`, "", false, `{"pid":"p","offset":"mine","a":1}`},
		{"user pid wins", `{"pid":"other"}`, "o", true, `{"pid":"other","offset":"o"}`},
		{"nested values kept", `{"o":{"b":2,"a":[true,null,"x\u00e9"]}}`, "o", true, `{"pid":"p","offset":"o","o":{"b":2,"a":[true,null,"xé"]}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var auth []byte
			if c.auth != "" {
				auth = []byte(c.auth)
			}
			got, err := withSession(auth, "p", c.offset, c.hasOffset)
			must(t, err)
			if string(got) != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

// readConnect reads the client's CONNECT for "/" and returns its payload.
func readConnect(ws *websocket.Conn) (string, bool) {
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return "", false
		}
		if m := string(msg); strings.HasPrefix(m, "40") {
			return strings.TrimPrefix(m, "40"), true
		}
	}
}

// writeAll writes text frames, false at the first failure.
func writeAll(ws *websocket.Conn, frames ...string) bool {
	for _, f := range frames {
		if ws.WriteMessage(websocket.TextMessage, []byte(f)) != nil {
			return false
		}
	}
	return true
}

func TestFakeRecoveryPayloadBufferAndForget(t *testing.T) {
	connects := make(chan string, 8)
	var conns atomic.Int32
	url := fakeWS(t, func(ws *websocket.Conn) {
		if ws.WriteMessage(websocket.TextMessage, []byte(fakeOpen)) != nil {
			return
		}
		auth, ok := readConnect(ws)
		if !ok {
			return
		}
		connects <- auth
		switch conns.Add(1) {
		case 1: // a session with pid, then an abrupt loss
			writeAll(ws, `40{"sid":"s1","pid":"p1"}`,
				`42["n",1,"o1"]`,
				`42["n",2,"o2"]`,
				`421["a","not an offset: acked"]`,
				`42["b",{"not":"a string"}]`,
				`42["c"]`)
			return
		case 2: // a missed event, then a loss before the CONNECT answer
			writeAll(ws, `42["n",3,"o3"]`)
			return
		case 3: // the missed event again, the answer, a live event
			writeAll(ws, `42["n",3,"o3"]`, `40{"sid":"s1","pid":"p1"}`, `42["n",4,"o4"]`)
		default: // a fresh session
			writeAll(ws, `40{"sid":"s2","pid":"p2"}`)
		}
		drain(ws)
	})
	s := mustNew(t, url, Options{Transports: []string{TransportWebSocket}, Auth: map[string]any{"token": "t"}})
	l := newSeqLog()
	s.OnEvent(func(e Event) {
		if e.Name == EventConnect || e.Name == EventDisconnect {
			l.add(e.Name)
		}
	})
	s.OnAny(func(ev string, a Args, _ AckFunc) { l.add(ev + ":" + string(a.Raw(0))) })
	r := record(s)
	mustConnect(t, s, r)
	if a := recvOne(t, connects); a != `{"token":"t"}` {
		t.Fatalf("first CONNECT %s, want the user's auth only", a)
	}
	if a := recvOne(t, connects); a != `{"pid":"p1","offset":"o2","token":"t"}` {
		t.Fatalf("second CONNECT %s", a)
	}
	if a := recvOne(t, connects); a != `{"pid":"p1","offset":"o2","token":"t"}` {
		t.Fatalf("third CONNECT %s: the event received before a lost CONNECT answer must not count", a)
	}
	l.waitFor(t, "n 4", func(items []string) bool { return len(items) > 0 && items[len(items)-1] == "n:4" })
	expectSeq(t, "delivered", l.all(), []string{"connect", "n:1", "n:2", `a:"not an offset: acked"`, `b:{"not":"a string"}`, "c:", "disconnect", "connect", "n:3", "n:4"})
	if s.ID() != "s1" || !s.Recovered() {
		t.Fatalf("id %q recovered %v, want s1 recovered", s.ID(), s.Recovered())
	}

	s.Disconnect()
	must(t, s.Connect())
	r.wait(t, EventConnect, 3)
	if a := recvOne(t, connects); a != `{"token":"t"}` {
		t.Fatalf("CONNECT after Disconnect %s, want no session", a)
	}
	if s.ID() != "s2" || s.Recovered() {
		t.Fatalf("id %q recovered %v, want s2 not recovered", s.ID(), s.Recovered())
	}
	r.quietFor(t, 50*time.Millisecond)
}
