package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/logbuf"
	"github.com/actorio/actorio/internal/node"
	"github.com/actorio/actorio/internal/testkit"
)

// TestDemo builds cmd/demo and runs the binary itself (its flags and its
// shutdown are under test; tests/browser serves cmd/demo/chatdemo
// in-process) on a free port from the module root, as README's first
// command does, checks that the page loads socket.io-client from the demo
// and that the demo serves the node_modules copy there, has clients chat
// in rooms and echo binary, and stops it with SIGTERM.
func TestDemo(t *testing.T) {
	node.Require(t)
	root := node.Root(t)
	bin := filepath.Join(t.TempDir(), "demo")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race") // reuses the test build's cache
	}
	buildCtx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(buildCtx, "go", append(args, "./cmd/demo")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/demo: %v\n%s", err, out)
	}

	addr := testkit.FreeAddr(t)
	dist := filepath.Join(root, "node_modules", "socket.io-client", "dist")
	var stderr logbuf.Buffer
	demo := exec.Command(bin, "-addr", addr)
	demo.Dir = root
	demo.Stderr = &stderr
	demo.Stdout = &stderr
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- demo.Wait() }()
	t.Cleanup(func() {
		_ = demo.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("demo output:\n%s", stderr.String())
		}
	})

	base := "http://" + addr
	client := &http.Client{Timeout: step, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (int, string, []byte) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), body
	}
	waitUntil(t, 10*time.Second, "the demo to listen", func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	// The page loads socket.io-client from the demo (the CDN is its second
	// choice), and the demo serves the copy `npm ci` installed, with its
	// source map.
	const clientPath = "/socket.io/socket.io.min.js"
	status, ctype, page := get("/")
	if status != http.StatusOK || !strings.HasPrefix(ctype, "text/html") ||
		!bytes.Contains(page, []byte("<title>actorio chat</title>")) || !bytes.Contains(page, []byte(`"`+clientPath+`"`)) {
		t.Errorf("GET / = %d %s, want the chat page loading %s:\n%.300s", status, ctype, clientPath, page)
	}
	for _, f := range []struct{ path, file, ctype string }{
		{clientPath, "socket.io.min.js", "application/javascript"},
		{clientPath + ".map", "socket.io.min.js.map", "application/json"},
	} {
		want, err := os.ReadFile(filepath.Join(dist, f.file))
		if err != nil {
			t.Fatal(err)
		}
		status, ctype, body := get(f.path)
		if status != http.StatusOK || !strings.HasPrefix(ctype, f.ctype) || !bytes.Equal(body, want) {
			t.Errorf("GET %s = %d %s, %d bytes (want the %d bytes of %s)", f.path, status, ctype, len(body), len(want), filepath.Join(dist, f.file))
		}
	}
	if want := "client_js=" + filepath.Join(dist, "socket.io.min.js"); !strings.Contains(stderr.String(), want) {
		t.Errorf("the demo's log does not say %s:\n%s", want, stderr.String())
	}

	c := runScript(t, base, driverScript, nil)
	// a starts polling and upgrades, b uses the WebSocket, c polling only.
	ids := map[string]string{
		"a": c.connect("a", "/", map[string]any{"forceNew": true}),
		"b": c.connect("b", "/", with(wsOnly, "forceNew", true)),
		"c": c.connect("c", "/", with(pollingOnly, "forceNew", true)),
	}

	var joined struct {
		Room  string   `json:"room"`
		Rooms []string `json:"rooms"`
	}
	if err := c.emitAck("a", "join", "lobby").Decode(2, &joined); err != nil {
		t.Fatal(err)
	}
	slices.Sort(joined.Rooms)
	wantRooms := []string{ids["a"], "lobby"}
	slices.Sort(wantRooms)
	if joined.Room != "lobby" || !reflect.DeepEqual(joined.Rooms, wantRooms) {
		t.Errorf("join ack = %+v, want room lobby, rooms %v", joined, wantRooms)
	}
	if l := c.emitAck("a", "join", ""); !jsonEq(t, string(l.Args[2]), `{"error":"room name required"}`) {
		t.Errorf("join without a room: %s", l.Raw)
	}
	c.emitAck("b", "join", "lobby")
	if l := c.expectEvent("a", "joined"); !jsonEq(t, string(l.Args[3]), fmt.Sprintf(`{"id":%q,"room":"lobby"}`, ids["b"])) {
		t.Errorf("a saw %s", l.Raw)
	}

	// a's chat reaches b, not a; b's answer reaches a. Both broadcasts go
	// through the same supervisor in that order, so when a has b's answer
	// it would already have its own chat, had it been sent to it.
	if l := c.emitAck("a", "chat", "hi"); l.Arg(2) != true {
		t.Errorf("chat ack %s", l.Raw)
	}
	if l := c.expectEvent("b", "chat"); !jsonEq(t, string(l.Args[3]), fmt.Sprintf(`{"from":%q,"text":"hi"}`, ids["a"])) {
		t.Errorf("b got %s", l.Raw)
	}
	c.emitAck("b", "chat", "yo")
	if l := c.expectEvent("a", "chat"); !jsonEq(t, string(l.Args[3]), fmt.Sprintf(`{"from":%q,"text":"yo"}`, ids["b"])) {
		t.Errorf("a got %s", l.Raw)
	}
	c.noEvent("a", "chat")
	c.noEvent("b", "chat")
	// c is in no room: its chat goes nowhere, and the room's did not reach it.
	if l := c.emitAck("c", "chat", "anyone?"); l.Arg(2) != false {
		t.Errorf("chat outside a room acked %s", l.Raw)
	}
	c.emitAck("c", "join", "lobby")
	for _, name := range []string{"a", "b"} {
		if l := c.expectEvent(name, "joined"); l.Arg(3).(map[string]any)["id"] != ids["c"] {
			t.Errorf("%s saw %s", name, l.Raw)
		}
	}
	c.emitAck("a", "chat", "welcome")
	for _, name := range []string{"b", "c"} {
		if l := c.expectEvent(name, "chat"); l.Arg(3).(map[string]any)["text"] != "welcome" {
			t.Errorf("%s got %s", name, l.Raw)
		}
	}
	c.noEvent("c", "chat")

	// Joining another room leaves the lobby (the page's default room): a's
	// chat goes to red only, and the lobby's no longer reaches a.
	if err := c.emitAck("a", "join", "red").Decode(2, &joined); err != nil {
		t.Fatal(err)
	}
	slices.Sort(joined.Rooms)
	wantRooms = []string{ids["a"], "red"}
	slices.Sort(wantRooms)
	if joined.Room != "red" || !reflect.DeepEqual(joined.Rooms, wantRooms) {
		t.Errorf("join ack = %+v, want room red, rooms %v", joined, wantRooms)
	}
	if l := c.emitAck("c", "chat", "lobby only"); l.Arg(2) != true {
		t.Errorf("chat in the lobby acked %s", l.Raw)
	}
	if l := c.expectEvent("b", "chat"); l.Arg(3).(map[string]any)["text"] != "lobby only" {
		t.Errorf("b got %s", l.Raw)
	}
	c.emitAck("a", "chat", "red alone")
	c.emitAck("b", "join", "red")
	if l := c.expectEvent("a", "joined"); !jsonEq(t, string(l.Args[3]), fmt.Sprintf(`{"id":%q,"room":"red"}`, ids["b"])) {
		t.Errorf("a saw %s", l.Raw)
	}
	c.emitAck("c", "chat", "lobby alone")
	// As above, b would have the two earlier chats before this one.
	c.emitAck("a", "chat", "red together")
	if l := c.expectEvent("b", "chat"); l.Arg(3).(map[string]any)["text"] != "red together" {
		t.Errorf("b got %s", l.Raw)
	}
	c.noEvent("a", "chat")
	c.noEvent("b", "chat")
	c.noEvent("c", "chat")

	// The demo's /metrics reflects the chat: 3 sessions, events counted.
	status, ctype, metrics := get("/metrics")
	if status != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") ||
		!bytes.Contains(metrics, []byte("\nactorio_sessions 3\n")) ||
		!bytes.Contains(metrics, []byte(`actorio_events_received_total{namespace="/"}`)) {
		t.Errorf("GET /metrics = %d %s:\n%s", status, ctype, metrics)
	}
	c.noEvent("a", "chat")

	// echo returns its arguments unchanged, binary and key order included.
	echoArgs := []json.RawMessage{
		json.RawMessage(`{"$bin":"3q2+7w=="}`),
		json.RawMessage(`{"b":[1,{"$bin":"AA=="}],"a":"x"}`),
		json.RawMessage(`"text"`),
	}
	l := c.emitAck("a", "echo", echoArgs[0], echoArgs[1], echoArgs[2])
	if len(l.Args) != 2+len(echoArgs) {
		t.Fatalf("echo ack %s", l.Raw)
	}
	for i, want := range echoArgs {
		if got := string(l.Args[2+i]); got != string(want) {
			t.Errorf("echo arg %d = %s, want %s", i, got, want)
		}
	}

	// SIGTERM: the demo closes its server, every client learns it, and it
	// exits with status 0.
	if err := demo.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if l := c.expect("disconnect", name); l.Arg(1) != "transport close" {
			t.Errorf("%s: %s", name, l.Raw)
		}
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Errorf("demo exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo still running 10s after SIGTERM")
	}
}
