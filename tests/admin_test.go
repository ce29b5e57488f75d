package tests

import (
	"encoding/json"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/admin"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/node"
)

// The admin tests play the dashboard of @socket.io/admin-ui: an official
// socket.io-client socket on /admin, logging in and sending the commands
// the dashboard sends, while other official clients are its subjects.

const (
	adminUser     = "admin"
	adminPassword = "s3cret-pass"
)

// adminHash is a bcrypt hash of adminPassword at the lowest cost, to keep
// the logins fast.
func adminHash(t testing.TB) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// startAdmin starts a server whose "/" namespace joins each socket to the
// rooms it asks for ("join") and echoes "ping" back as "pong", and
// instruments it with opts (basic auth unless opts says otherwise).
func startAdmin(t *testing.T, opts admin.Options) (*testServer, *admin.Admin) {
	t.Helper()
	if opts.Auth == nil && !opts.NoAuth {
		opts.Auth = &admin.BasicAuth{Username: adminUser, PasswordHash: adminHash(t)}
	}
	if opts.StatsInterval == 0 {
		opts.StatsInterval = 200 * time.Millisecond
	}
	ts := startServer(t, actorio.Options{}, func(srv *actorio.Server) {
		srv.OnConnection(func(s *actorio.Socket) {
			s.On("join", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) { s.Join(args.String(0)) })
			s.On("leave", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) { s.Leave(args.String(0)) })
			s.On("ping", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) { _ = s.Emit("pong", args.Values()...) })
			s.On("setData", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
				v, _ := args.Value(0)
				s.SetData(v)
			})
			s.On("shout", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
				_ = s.Namespace().To(args.String(0)).Emit("shouted", args.String(1))
			})
		})
	})
	a, err := admin.Instrument(ts.Srv, opts)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	// Cleanups run last-in first-out: the admin closes before the server,
	// whose cleanup checks that no goroutine is left.
	t.Cleanup(a.Close)
	return ts, a
}

// adminLogin are the client options of a dashboard that logs in; like the
// dashboard, it opens a connection of its own (forceNew).
var adminLogin = map[string]any{"forceNew": true, "auth": map[string]any{"username": adminUser, "password": adminPassword}}

// adminEvent waits for the event ev at the dashboard socket name for which
// match (given the event's arguments) holds, and returns those arguments.
func adminEvent(c *nodeClients, name, ev string, match func(args []any) bool) []any {
	c.t.Helper()
	l := c.waitFor("admin event "+ev+" at "+name, func(l node.Line) bool {
		if l.Ev != "event" || l.Arg(0) != name || l.Arg(1) != ev {
			return false
		}
		return match == nil || match(l.Values()[3:])
	})
	return l.Values()[3:]
}

func features(args []any) []string {
	var out []string
	cfg, _ := args[0].(map[string]any)
	list, _ := cfg["supportedFeatures"].([]any)
	for _, f := range list {
		out = append(out, f.(string))
	}
	return out
}

func TestAdminInstrumentOptions(t *testing.T) {
	srv, err := actorio.NewServer(actorio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tc := range []struct {
		name string
		opts admin.Options
	}{
		{"no auth chosen", admin.Options{}},
		{"password not a bcrypt hash", admin.Options{Auth: &admin.BasicAuth{Username: "u", PasswordHash: "plain"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a, err := admin.Instrument(srv, tc.opts); err == nil {
				a.Close()
				t.Fatal("Instrument accepted the options")
			}
		})
	}
}

func TestAdminLogin(t *testing.T) {
	ts, _ := startAdmin(t, admin.Options{})
	c := startClients(t, ts)

	for _, tc := range []struct {
		name string
		opts map[string]any
	}{
		{"no credentials", nil},
		{"wrong password", map[string]any{"auth": map[string]any{"username": adminUser, "password": "nope"}}},
		{"wrong user", map[string]any{"auth": map[string]any{"username": "root", "password": adminPassword}}},
		{"unknown session id", map[string]any{"auth": map[string]any{"sessionId": "0123456789abcdef"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := c.on(t)
			name := "refused-" + tc.name
			c.open(name, "/admin", with(tc.opts, "reconnection", false))
			l := c.expect("connect_error", name)
			var e struct{ Message string }
			if err := l.Decode(1, &e); err != nil || e.Message != "invalid credentials" {
				t.Fatalf("connect_error %s, want message \"invalid credentials\"", l.Raw)
			}
		})
	}

	var session string
	t.Run("password gives a session and the config", func(t *testing.T) {
		c := c.on(t)
		c.connect("adm", "/admin", adminLogin)
		args := adminEvent(c, "adm", "session", nil)
		session, _ = args[0].(string)
		if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(session) {
			t.Fatalf("session id %q", session)
		}
		got := features(adminEvent(c, "adm", "config", nil))
		want := []string{"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"}
		if !slices.Equal(got, want) {
			t.Fatalf("supportedFeatures %v, want %v", got, want)
		}
	})
	t.Run("the session id logs in again without the password", func(t *testing.T) {
		c := c.on(t)
		c.connect("adm2", "/admin", map[string]any{"forceNew": true, "auth": map[string]any{"sessionId": session}})
		adminEvent(c, "adm2", "config", nil)
		c.noEvent("adm2", "session")
	})
}

func TestAdminFeed(t *testing.T) {
	ts, _ := startAdmin(t, admin.Options{ServerID: "node-1"})
	c := startClients(t, ts)
	idA := c.connect("a", "/", with(pollingOnly, "query", map[string]any{"who": "alice"}))
	c.connect("adm", "/admin", adminLogin)

	t.Run("all_sockets lists the sockets already there", func(t *testing.T) {
		c := c.on(t)
		args := adminEvent(c, "adm", "all_sockets", nil)
		raw, _ := json.Marshal(args[0])
		var socks []struct {
			ID, ClientID, Transport, Nsp string
			Rooms                        []string
			Handshake                    struct {
				Address string
				Query   map[string]string
				Headers map[string]string
				Issued  int64
			}
		}
		if err := json.Unmarshal(raw, &socks); err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, s := range socks {
			if s.ID != idA {
				continue
			}
			found = true
			if s.Nsp != "/" || s.Transport != "polling" || len(s.ClientID) != 12 || !slices.Equal(s.Rooms, []string{idA}) {
				t.Errorf("socket a listed as %s", raw)
			}
			if s.Handshake.Address != "127.0.0.1" || s.Handshake.Query["who"] != "alice" || s.Handshake.Headers["user-agent"] == "" || s.Handshake.Headers["host"] != strings.TrimPrefix(ts.URL, "http://") ||
				time.Since(time.UnixMilli(s.Handshake.Issued)) > time.Minute {
				t.Errorf("socket a's handshake %+v", s.Handshake)
			}
		}
		if !found {
			t.Fatalf("all_sockets %s lacks socket a (%s)", raw, idA)
		}
	})

	t.Run("server_stats", func(t *testing.T) {
		c := c.on(t)
		// a polls; the dashboard's own connection upgrades to WebSocket.
		args := adminEvent(c, "adm", "server_stats", func(args []any) bool {
			st, _ := args[0].(map[string]any)
			return st["clientsCount"] == float64(2) && st["pollingClientsCount"] == float64(1)
		})
		st := args[0].(map[string]any)
		if st["serverId"] != "node-1" || st["pid"] == nil || st["hostname"] == nil {
			t.Errorf("server_stats %v", st)
		}
		counts := map[string]float64{}
		for _, n := range st["namespaces"].([]any) {
			m := n.(map[string]any)
			counts[m["name"].(string)] = m["socketsCount"].(float64)
		}
		if counts["/"] != 1 || counts["/admin"] != 1 {
			t.Errorf("namespaces %v, want / and /admin with one socket each", st["namespaces"])
		}
	})

	t.Run("a socket's life: connect, rooms, data, events, upgrade, disconnect", func(t *testing.T) {
		c := c.on(t)
		idB := c.connect("b", "/", nil)
		args := adminEvent(c, "adm", "socket_connected", func(args []any) bool {
			s, _ := args[0].(map[string]any)
			return s["id"] == idB
		})
		if s := args[0].(map[string]any); s["nsp"] != "/" || jsonOf(s["rooms"]) != `["`+idB+`"]` {
			t.Errorf("socket_connected %v", args)
		}
		// JavaScript's Date.toISOString form: UTC, milliseconds.
		if ts, _ := args[1].(string); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(ts) {
			t.Errorf("socket_connected timestamp %v", args[1])
		}

		c.emit("b", "join", "lobby")
		adminEvent(c, "adm", "room_joined", func(args []any) bool {
			return args[0] == "/" && args[1] == "lobby" && args[2] == idB
		})
		c.emit("b", "ping", 42, "x")
		adminEvent(c, "adm", "event_received", func(args []any) bool {
			return args[0] == "/" && args[1] == idB && jsonOf(args[2]) == `["ping",42,"x"]`
		})
		adminEvent(c, "adm", "event_sent", func(args []any) bool {
			return args[0] == "/" && args[1] == idB && jsonOf(args[2]) == `["pong",42,"x"]`
		})
		// A broadcast reports each receiver on this node.
		c.emit("a", "join", "lobby")
		adminEvent(c, "adm", "room_joined", func(args []any) bool { return args[1] == "lobby" && args[2] == idA })
		c.emit("b", "shout", "lobby", "hi all")
		for _, id := range []string{idA, idB} {
			adminEvent(c, "adm", "event_sent", func(args []any) bool {
				return args[1] == id && jsonOf(args[2]) == `["shouted","hi all"]`
			})
		}
		c.emit("b", "setData", map[string]any{"nick": "bob"})
		adminEvent(c, "adm", "socket_updated", func(args []any) bool {
			u, _ := args[0].(map[string]any)
			return u["id"] == idB && jsonOf(u["data"]) == `{"nick":"bob"}`
		})
		c.emit("b", "leave", "lobby")
		adminEvent(c, "adm", "room_left", func(args []any) bool {
			return args[0] == "/" && args[1] == "lobby" && args[2] == idB
		})

		// A polling client that upgrades.
		idU := c.connect("u", "/", nil)
		adminEvent(c, "adm", "socket_updated", func(args []any) bool {
			u, _ := args[0].(map[string]any)
			return u["id"] == idU && u["transport"] == "websocket"
		})

		c.send(map[string]any{"op": "disconnect", "name": "b"})
		args = adminEvent(c, "adm", "socket_disconnected", func(args []any) bool { return args[1] == idB })
		if args[0] != "/" || args[2] != disconnect.ClientNamespaceDisconnect {
			t.Errorf("socket_disconnected %v", args)
		}
	})

	t.Run("aggregated events count connections and traffic", func(t *testing.T) {
		c := c.on(t)
		c.connect("c1", "/", map[string]any{"forceNew": true})
		c.connect("c2", "/", map[string]any{"forceNew": true})
		c.send(map[string]any{"op": "disconnect", "name": "c1"})
		// Counts sent before the dashboard connected went to nobody, so
		// the counts are at least those of c1 and c2.
		seen := map[string]float64{}
		waitUntil(t, 3*step, "rawConnection, rawDisconnection, packetsIn and bytesOut counts", func() bool {
			l, err := c.waitForTimeout("server_stats", step, func(l node.Line) bool {
				return l.Ev == "event" && l.Arg(0) == "adm" && l.Arg(1) == "server_stats"
			})
			if err != nil {
				t.Fatal(err)
			}
			st := l.Values()[3].(map[string]any)
			for _, e := range st["aggregatedEvents"].([]any) {
				m := e.(map[string]any)
				if ts := int64(m["timestamp"].(float64)); ts%1000 != 0 || time.Since(time.UnixMilli(ts)) > time.Minute {
					t.Errorf("timestamp %v is not a recent whole second", ts)
				}
				key := m["type"].(string)
				if sub, ok := m["subType"].(string); ok {
					key += "/" + sub
				}
				seen[key] += m["count"].(float64)
			}
			return seen["rawConnection"] >= 2 && seen["rawDisconnection/transport close"] >= 1 &&
				seen["packetsIn"] > 0 && seen["packetsOut"] > 0 && seen["bytesIn"] > 0 && seen["bytesOut"] > 0
		})
	})
}

// jsonOf encodes v as JSON, for comparisons of decoded arguments.
func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAdminCommands(t *testing.T) {
	ts, _ := startAdmin(t, admin.Options{})
	c := startClients(t, ts)
	idA := c.connect("a", "/", nil)
	idB := c.connect("b", "/", nil)
	c.emit("a", "join", "red")
	c.connect("adm", "/admin", adminLogin)
	adminEvent(c, "adm", "config", nil)
	waitUntil(t, step, "a in room red", func() bool { return socketRooms(t, ts.Srv, idA, "red") })

	t.Run("emit to a room", func(t *testing.T) {
		c := c.on(t)
		c.emit("adm", "emit", "/", "red", "news", 1, map[string]any{"k": "v"})
		l := c.expectEvent("a", "news")
		if jsonOf(l.Values()[3:]) != `[1,{"k":"v"}]` {
			t.Fatalf("news arrived as %s", l.Raw)
		}
		c.emit("adm", "emit", "/", nil, "all", "x")
		c.expectEvent("a", "all")
		c.expectEvent("b", "all")
		c.noEvent("b", "news")
	})
	t.Run("join and leave a room", func(t *testing.T) {
		c.on(t).emit("adm", "join", "/", "blue", idB)
		waitUntil(t, step, "b in room blue", func() bool { return socketRooms(t, ts.Srv, idB, "blue") })
		if socketRooms(t, ts.Srv, idA, "blue") {
			t.Fatal("a joined blue too")
		}
		c.on(t).emit("adm", "join", "/", "green")
		waitUntil(t, step, "everyone in green", func() bool {
			return socketRooms(t, ts.Srv, idA, "green") && socketRooms(t, ts.Srv, idB, "green")
		})
		c.on(t).emit("adm", "leave", "/", "green", "red")
		waitUntil(t, step, "a out of green", func() bool { return !socketRooms(t, ts.Srv, idA, "green") })
		if !socketRooms(t, ts.Srv, idB, "green") {
			t.Fatal("b left green too")
		}
	})
	t.Run("commands for an unknown namespace create none", func(t *testing.T) {
		c.on(t).emit("adm", "emit", "/nope", nil, "x")
		c.on(t).emit("adm", "join", "/nope2", "r")
		c.on(t).emit("adm", "emit", "/", idA, "fence")
		c.on(t).expectEvent("a", "fence")
		for name := range ts.Srv.Stats().Namespaces {
			if name == "/nope" || name == "/nope2" {
				t.Fatalf("namespace %s was created", name)
			}
		}
	})
	t.Run("disconnect one socket", func(t *testing.T) {
		c := c.on(t)
		c.emit("adm", "_disconnect", "/", false, idB)
		l := c.expect("disconnect", "b")
		if l.Arg(1) != "io server disconnect" {
			t.Fatalf("b disconnected with %s", l.Raw)
		}
		c.noEvent("a", "disconnect")
	})
}

// socketRooms reports whether the socket id of "/" is in room.
func socketRooms(t *testing.T, srv *actorio.Server, id, room string) bool {
	t.Helper()
	socks, err := srv.Of("/").FetchSockets(ctxStep(t, step))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		if s.ID() == id {
			return slices.Contains(s.Rooms(), room)
		}
	}
	return false
}

func TestAdminReadOnly(t *testing.T) {
	ts, _ := startAdmin(t, admin.Options{ReadOnly: true})
	c := startClients(t, ts)
	idA := c.connect("a", "/", nil)
	c.connect("adm", "/admin", adminLogin)
	if got := features(adminEvent(c, "adm", "config", nil)); !slices.Equal(got, []string{"AGGREGATED_EVENTS", "ALL_EVENTS"}) {
		t.Fatalf("read-only supportedFeatures %v", got)
	}
	c.emit("adm", "emit", "/", nil, "news")
	c.emit("adm", "join", "/", "blue")
	c.emit("adm", "_disconnect", "/", true)
	// The dashboard still watches: its commands went before this event.
	c.emit("a", "ping", 1)
	adminEvent(c, "adm", "event_received", func(args []any) bool { return args[1] == idA })
	c.quiet("news at a", 300*time.Millisecond, func(l node.Line) bool {
		return l.Arg(0) == "a" && (l.Arg(1) == "news" || l.Ev == "disconnect")
	})
	if socketRooms(t, ts.Srv, idA, "blue") {
		t.Fatal("a joined blue from a read-only dashboard")
	}
}

func TestAdminProductionMode(t *testing.T) {
	ts, _ := startAdmin(t, admin.Options{Production: true, NoAuth: true})
	c := startClients(t, ts)
	c.connect("adm", "/admin", map[string]any{"forceNew": true})
	got := features(adminEvent(c, "adm", "config", nil))
	if want := []string{"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS"}; !slices.Equal(got, want) {
		t.Fatalf("production supportedFeatures %v, want %v", got, want)
	}
	c.connect("a", "/", nil)
	c.emit("a", "ping", 1)
	c.expectEvent("a", "pong")
	adminEvent(c, "adm", "server_stats", func(args []any) bool {
		st, _ := args[0].(map[string]any)
		return st["clientsCount"] == float64(2)
	})
	for _, ev := range []string{"all_sockets", "socket_connected", "event_received", "event_sent"} {
		c.noEvent("adm", ev)
	}
}

func TestAdminEndsWithServer(t *testing.T) {
	baseline := runtime.NumGoroutine()
	srv, err := actorio.NewServer(actorio.Options{Logger: newTestLogger(t).logger})
	if err != nil {
		t.Fatal(err)
	}
	a, err := admin.Instrument(srv, admin.Options{NoAuth: true, StatsInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// No a.Close: the admin's goroutine notices the closed server.
	checkGoroutines(t, baseline)
	a.Close()
}
