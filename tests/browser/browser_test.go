// Package browser tests the demo chat page (cmd/demo/chatdemo) in a real
// headless Chromium driven by playwright-core from a Node script.
//
// Requirements: Node.js 20+ with `npm ci` done (playwright-core and
// socket.io-client), and Debian's Chromium (`apt-get install chromium`);
// playwright-core downloads no browser, the test points it at
// $ACTORIO_CHROMIUM or the chromium found on PATH. Without Chromium the
// test is skipped, unless ACTORIO_REQUIRE_BROWSER=1 (set by .ci/run) makes
// it fail; ACTORIO_SKIP_BROWSER=1 skips it in any case.
//
// The screenshots go to $ARTIFACTS_DIR/browser/ (a relative ARTIFACTS_DIR
// is taken from the module root), by default tests/artifacts/browser/,
// which git ignores.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/cmd/demo/chatdemo"
	"github.com/actorio/actorio/internal/logbuf"
	"github.com/actorio/actorio/internal/node"
)

const (
	// step bounds each browser action (Playwright's default timeout).
	step = 20 * time.Second
	// opWait bounds the wait for the reply to one driver command.
	opWait = 2*step + 5*time.Second
	// testWait bounds the whole test; the driver script is killed then.
	testWait = 3 * time.Minute
)

// TestDemoInBrowser serves the demo in-process on 127.0.0.1, as cmd/demo
// does (socket.io-client served from node_modules by the server's
// ClientDir), and has Chromium pages use it with the CDN unreachable.
// alice and bob load the client from the demo, never ask the CDN, and
// chat in the default room without pressing Join; carol's page cannot
// load the demo's copy and falls back to the CDN (answered with the npm
// copy). alice and bob then move to room red, carol to blue, bob to both:
// each page's log must hold exactly the lines its rooms entitle it to.
// alice reloads mid-session and must come back with a new socket (the old
// one disconnected on the server), in the default room, and chat again;
// she echoes a file through the server and must get the same bytes back,
// as binary WebSocket frames both ways. dave's page can load the client
// from neither place and must say so. Each page's screenshot is saved.
func TestDemoInBrowser(t *testing.T) {
	chromium := node.RequireChromium(t)
	root := node.Root(t)
	clientJS := filepath.Join(root, "node_modules", "socket.io-client", "dist", "socket.io.min.js")
	if _, err := os.Stat(clientJS); err != nil {
		t.Fatalf("the npm copy of socket.io-client: %v (run `npm ci` in %s)", err, root)
	}
	artifacts := artifactsDir(root)
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(artifacts, t.Name()+"-*.png"))
	for _, f := range old { // an earlier run's, failure screenshots included
		os.Remove(f)
	}

	d := startDemo(t)
	cdnURL := d.cdnURL(t)
	b := startBrowser(t, map[string]string{
		"BASE_URL":  d.http.URL,
		"CDN_URL":   cdnURL,
		"CLIENT_JS": clientJS,
		"CHROMIUM":  chromium,
		"STEP_MS":   strconv.FormatInt(step.Milliseconds(), 10),
	})
	t.Logf("Chromium %s (%s), playwright-core %s, node %s", b.version, chromium, npmVersion(root, "playwright-core"), node.NodeVersion(t))
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshots(artifacts, "-failed")
		}
	})

	// alice and bob: the CDN is unreachable ("offline"), the demo serves
	// the client. carol: the demo does not, the CDN address is answered
	// with the npm copy.
	ids := map[string]string{
		"alice": b.open("alice", "offline"),
		"bob":   b.open("bob", "offline"),
	}
	d.serveClient(false)
	ids["carol"] = b.open("carol", "npm")
	d.serveClient(true)
	if x, y, z := ids["alice"], ids["bob"], ids["carol"]; len(x) < 6 || len(y) < 6 || len(z) < 6 || x == y || y == z || x == z {
		t.Fatalf("socket ids %v: want three distinct ids", ids)
	}
	local := d.http.URL + chatdemo.ClientJSPath
	for name := range ids {
		reqs := b.requests(name)
		fromCDN, fromLocal := slices.Contains(reqs, cdnURL), slices.Contains(reqs, local)
		if wantCDN := name == "carol"; !fromLocal || fromCDN != wantCDN {
			t.Errorf("%s requested the demo's copy: %v, the CDN copy: %v (want true, %v); requests %q", name, fromLocal, fromCDN, wantCDN, reqs)
		}
	}
	short := func(name string) string { return ids[name][:6] }

	// Page logs, as the page renders them; every checkpoint compares all.
	logs := map[string][]string{}
	add := func(name string, lines ...string) { logs[name] = append(logs[name], lines...) }
	check := func(when string) {
		t.Helper()
		for _, name := range []string{"alice", "bob", "carol"} {
			b.waitLog(name, when, logs[name])
		}
	}

	// Every page is in the lobby as it connects: no Join needed to chat.
	add("alice", "you are in lobby", short("bob")+" joined lobby", short("carol")+" joined lobby")
	add("bob", "you are in lobby", short("carol")+" joined lobby")
	add("carol", "you are in lobby")
	check("three pages opened")
	b.say("alice", "hello lobby")
	add("alice", "me: hello lobby")
	add("bob", short("alice")+": hello lobby")
	add("carol", short("alice")+": hello lobby")
	check("alice chatted without joining")
	b.say("carol", "hi both")
	add("carol", "me: hi both")
	add("alice", short("carol")+": hi both")
	add("bob", short("carol")+": hi both")
	check("carol chatted without joining")

	// Joining a room leaves the lobby.
	b.join("alice", "red")
	add("alice", "you are in red")
	check("alice joined red")
	b.join("bob", "red")
	add("bob", "you are in red")
	add("alice", short("bob")+" joined red")
	check("bob joined red")
	b.say("carol", "still here?") // alone in the lobby: nobody gets it
	add("carol", "me: still here?")
	check("carol chatted alone in the lobby")
	b.join("carol", "blue")
	add("carol", "you are in blue")
	check("carol joined blue")

	b.say("alice", "hello red")
	add("alice", "me: hello red")
	add("bob", short("alice")+": hello red")
	check("alice chatted in red")
	b.say("carol", "hello blue")
	add("carol", "me: hello blue")
	check("carol chatted alone in blue")

	b.join("bob", "blue")
	add("bob", "you are in blue, red")
	add("carol", short("bob")+" joined blue")
	check("bob joined blue too")
	b.say("carol", "blue only")
	add("carol", "me: blue only")
	add("bob", short("carol")+": blue only")
	check("carol chatted in blue")
	b.say("bob", "to both rooms")
	add("bob", "me: to both rooms")
	add("alice", short("bob")+": to both rooms") // once each, though bob is in two rooms
	add("carol", short("bob")+": to both rooms")
	check("bob chatted in red and blue")

	// alice reloads: a new socket, the old one ends on the server, her log
	// starts again in the lobby, where nobody is left.
	before := ids["alice"]
	ids["alice"] = b.reload("alice")
	if ids["alice"] == before {
		t.Fatalf("alice kept socket id %s across the reload", before)
	}
	logs["alice"] = []string{"you are in lobby"}
	check("alice reloaded")
	if r := d.waitDisconnect(t, before); r != "transport close" {
		t.Errorf("alice's socket before the reload ended with %q, want \"transport close\"", r)
	}
	d.waitSockets(t, 3)
	b.say("alice", "anyone?")
	add("alice", "me: anyone?")
	check("alice chatted in the empty lobby")
	b.join("alice", "red")
	add("alice", "you are in red")
	add("bob", short("alice")+" joined red")
	check("alice joined red again")
	b.say("alice", "back again")
	add("alice", "me: back again")
	add("bob", short("alice")+": back again")
	check("alice chatted after the reload")
	b.say("bob", "welcome back")
	add("bob", "me: welcome back")
	add("alice", short("bob")+": welcome back")
	add("carol", short("bob")+": welcome back")
	check("bob answered")

	// Binary round trip: a file with every byte value goes to the server
	// as an attachment of "echo" and comes back in the ack.
	for _, name := range []string{"alice", "bob", "carol"} {
		if tr := b.transport(name); tr != "websocket" {
			t.Fatalf("%s's transport is %q", name, tr)
		}
	}
	// The upgrades closed the connections of the polling requests they
	// found under way (Connection: close on their answers), rather than
	// leave them idle in the browser and in net/http.
	for deadline := time.Now().Add(step); ; time.Sleep(50 * time.Millisecond) {
		asked, open := d.retiredConnections()
		if asked > 0 && open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("polling connections the upgrades asked to close: %d, still open: %d", asked, open)
		}
	}
	data := make([]byte, 300)
	for i := range data {
		data[i] = byte(i * 7)
	}
	b.echo("alice", "bytes.bin", data)
	add("alice", "echo of bytes.bin: 300 bytes back, identical: "+hexHead(data)+" …")
	check("alice echoed a file")
	var sent, received int
	for _, f := range b.frames("alice") {
		if bytes.Equal(f.Data, data) {
			switch f.Dir {
			case "sent":
				sent++
			case "received":
				received++
			}
		}
	}
	if sent != 1 || received != 1 {
		t.Errorf("binary WebSocket frames holding the file: %d sent, %d received; want 1 and 1", sent, received)
	}

	// dave's page finds the client neither on the demo nor on the CDN: it
	// says so, and what to do, instead of "connecting…" for ever.
	d.serveClient(false)
	b.visit("dave", "/")
	b.waitText("dave", "#status.error", "Cannot chat: socket.io-client did not load, neither from this server ("+
		chatdemo.ClientJSPath+") nor from its CDN ("+cdnURL+"). Run \"npm ci\" in the actorio directory and restart the demo, "+
		"or start it with -client-js pointing at a copy of socket.io.min.js.")
	d.serveClient(true)
	if reqs := b.requests("dave"); !slices.Contains(reqs, local) || !slices.Contains(reqs, cdnURL) {
		t.Errorf("dave's requests %q: want both copies tried", reqs)
	}

	time.Sleep(300 * time.Millisecond) // nothing more may arrive
	check("the end")

	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		checkPNG(t, b.screenshot(name, filepath.Join(artifacts, t.Name()+"-"+name+".png")))
	}
	// The demo's copy refused to carol and dave is their only error: the
	// 404, and Chromium's refusal to run its text/plain body.
	p := b.problems()
	for _, name := range []string{"carol", "dave"} {
		p.Errors[name] = slices.DeleteFunc(p.Errors[name], func(e string) bool {
			return e == refusedClientJS || strings.HasPrefix(e, "console error: Refused to execute script from '"+local+"'")
		})
	}
	if len(p.Refused) > 0 || len(p.Errors["alice"])+len(p.Errors["bob"])+len(p.Errors["carol"])+len(p.Errors["dave"]) > 0 {
		t.Errorf("refused requests %q; page errors %q", p.Refused, p.Errors)
	}

	// Closing the browser ends every socket on the server, once each.
	b.close()
	d.waitSockets(t, 0)
	for _, id := range []string{before, ids["alice"], ids["bob"], ids["carol"]} {
		if r := d.reasons(id); len(r) != 1 {
			t.Errorf("socket %s: disconnect reasons %q, want exactly one", id, r)
		}
	}
}

// TestDemoRejoinsInBrowser has a Chromium page join two rooms, then cuts
// its connection: the client reconnects with a new socket, which the page
// must put in the same rooms again, as a second page in one of them sees.
func TestDemoRejoinsInBrowser(t *testing.T) {
	d, b := startDemoAndBrowser(t, false)
	erin := b.open("erin", "offline")
	b.join("erin", "green")
	b.join("erin", "teal")
	want := []string{"you are in lobby", "you are in green", "you are in green, teal"}
	b.waitLog("erin", "erin joined green and teal", want)

	d.dropConnections()
	if r := d.waitDisconnect(t, erin); r != "transport close" && r != "transport error" {
		t.Errorf("erin's socket ended with %q, want a transport close or error", r)
	}
	// The client reconnects on its own (after about a second).
	want = append(want, "you are in green", "you are in green, teal")
	b.waitLog("erin", "erin's connection was cut", want)
	d.waitSockets(t, 1)

	frank := b.open("frank", "offline")
	b.join("frank", "teal")
	// The page writes "me: …" as it sends, and "you are in teal" when the
	// join's ack comes back: wait for that first, as a user would.
	b.waitLog("frank", "frank joined teal", []string{"you are in lobby", "you are in teal"})
	b.say("frank", "still in teal?")
	want = append(want, frank[:6]+" joined teal", frank[:6]+": still in teal?")
	b.waitLog("erin", "frank chatted in teal", want)
	b.waitLog("frank", "frank chatted in teal", []string{"you are in lobby", "you are in teal", "me: still in teal?"})
	if p := b.problems(); len(p.Refused) > 0 || len(p.Errors["erin"])+len(p.Errors["frank"]) > 0 {
		t.Errorf("refused requests %q; page errors %q", p.Refused, p.Errors)
	}
}

// TestDemoOverHTTP2InBrowser serves the demo over TLS with HTTP/2, as a
// Go server that calls ListenAndServeTLS does: Chromium then long-polls
// over HTTP/2, one connection carrying a page's requests at once, and
// opens its WebSockets with HTTP/1.1. Two pages chat and upgrade; their
// connections are cut and they come back the same way and chat again.
func TestDemoOverHTTP2InBrowser(t *testing.T) {
	d, b := startDemoAndBrowser(t, true)
	if !strings.HasPrefix(d.http.URL, "https://") {
		t.Fatalf("the demo is at %s, want https", d.http.URL)
	}

	ids := map[string]string{"ann": b.open("ann", "offline"), "ben": b.open("ben", "offline")}
	logs := map[string][]string{}
	add := func(name string, lines ...string) { logs[name] = append(logs[name], lines...) }
	chat := func(when, from, to, text string) {
		t.Helper()
		b.say(from, text)
		add(from, "me: "+text)
		add(to, ids[from][:6]+": "+text)
		for _, name := range []string{"ann", "ben"} {
			b.waitLog(name, when, logs[name])
		}
	}
	add("ann", "you are in lobby", ids["ben"][:6]+" joined lobby")
	add("ben", "you are in lobby")
	chat("ann said hello", "ann", "ben", "hello over HTTP/2")
	chat("ben answered", "ben", "ann", "hello back")
	for _, name := range []string{"ann", "ben"} {
		if tr := b.transport(name); tr != "websocket" {
			t.Fatalf("%s's transport is %q, want websocket", name, tr)
		}
	}

	// Both pages lose their connections, reconnect on their own (polling
	// over HTTP/2 again, then the upgrade) and chat again.
	d.dropConnections()
	for name, id := range ids {
		if r := d.waitDisconnect(t, id); r != "transport close" && r != "transport error" {
			t.Errorf("%s's socket ended with %q, want a transport close or error", name, r)
		}
	}
	d.waitSockets(t, 2)
	ids["ann"], ids["ben"] = b.id("ann"), b.id("ben")
	// Each page joins the lobby again; the one that joins first sees the
	// other join, or both see each other when their joins ran at once
	// (each joined before the other's handler emitted "joined").
	add("ann", "you are in lobby")
	add("ben", "you are in lobby")
	annFirst := slices.Concat(logs["ann"], []string{ids["ben"][:6] + " joined lobby"})
	benFirst := slices.Concat(logs["ben"], []string{ids["ann"][:6] + " joined lobby"})
	// Both logs must hold one of those outcomes, unchanged for settle (a
	// "joined" still on its way would come within it).
	const settle = 500 * time.Millisecond
	var stable time.Time
	var was [2][]string
	for deadline := time.Now().Add(step); ; time.Sleep(50 * time.Millisecond) {
		ann, ben := b.lines("ann"), b.lines("ben")
		annSaw, benSaw := slices.Equal(ann, annFirst), slices.Equal(ben, benFirst)
		outcome := (annSaw || slices.Equal(ann, logs["ann"])) && (benSaw || slices.Equal(ben, logs["ben"])) && (annSaw || benSaw)
		if !outcome || !slices.Equal(ann, was[0]) || !slices.Equal(ben, was[1]) {
			stable, was = time.Now(), [2][]string{ann, ben}
		} else if time.Since(stable) >= settle {
			if annSaw {
				logs["ann"] = annFirst
			}
			if benSaw {
				logs["ben"] = benFirst
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the reconnection, want a page to see the other join the lobby; ann's log:\n\t%s\nben's:\n\t%s",
				strings.Join(ann, "\n\t"), strings.Join(ben, "\n\t"))
		}
	}
	for _, name := range []string{"ann", "ben"} {
		if tr := b.transport(name); tr != "websocket" {
			t.Fatalf("%s's transport after reconnecting is %q, want websocket", name, tr)
		}
	}
	chat("ben said hello again", "ben", "ann", "still here")

	d.mu.Lock()
	protocols := maps.Clone(d.protocols)
	d.mu.Unlock()
	t.Logf("Engine.IO requests by transport and protocol: %v", protocols)
	if protocols["polling HTTP/2.0"] == 0 || protocols["polling HTTP/1.1"] != 0 {
		t.Errorf("long-polling requests: %d over HTTP/2, %d over HTTP/1.1; want all over HTTP/2",
			protocols["polling HTTP/2.0"], protocols["polling HTTP/1.1"])
	}
	if protocols["websocket HTTP/1.1"] < 4 {
		t.Errorf("WebSocket upgrades over HTTP/1.1: %d, want one per page and connection (4)", protocols["websocket HTTP/1.1"])
	}
	if p := b.problems(); len(p.Refused) > 0 || len(p.Errors["ann"])+len(p.Errors["ben"]) > 0 {
		t.Errorf("refused requests %q; page errors %q", p.Refused, p.Errors)
	}
	b.close()
	d.waitSockets(t, 0)
}

// startDemoAndBrowser starts the demo (over TLS with HTTP/2 when secure,
// see startDemoOver) and a Chromium for it, whose pages find the CDN
// unreachable; a failed test gets screenshots of its pages.
func startDemoAndBrowser(t *testing.T, secure bool) (*demo, *browser) {
	t.Helper()
	chromium := node.RequireChromium(t)
	root := node.Root(t)
	d := startDemoOver(t, secure)
	b := startBrowser(t, map[string]string{
		"BASE_URL": d.http.URL,
		"CDN_URL":  d.cdnURL(t),
		"CHROMIUM": chromium,
		"STEP_MS":  strconv.FormatInt(step.Milliseconds(), 10),
	})
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshots(artifactsDir(root), "-failed")
		}
	})
	return d, b
}

// refusedClientJS is the console error of a page whose request for the
// demo's copy of socket.io-client got the 404 of demo.serveClient(false).
const refusedClientJS = "console error: Failed to load resource: the server responded with a status of 404 (Not Found)"

// npmVersion returns the version of an installed npm package, or "?".
func npmVersion(root, pkg string) string {
	b, err := os.ReadFile(filepath.Join(root, "node_modules", pkg, "package.json"))
	var m struct{ Version string }
	if err != nil || json.Unmarshal(b, &m) != nil || m.Version == "" {
		return "?"
	}
	return m.Version
}

// artifactsDir is $ARTIFACTS_DIR/browser (relative to root unless
// absolute), or root/tests/artifacts/browser.
func artifactsDir(root string) string {
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("tests", "artifacts")
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	return filepath.Join(dir, "browser")
}

// hexHead renders the first 16 bytes as the page does.
func hexHead(b []byte) string {
	parts := make([]string, 0, 16)
	for _, c := range b[:min(16, len(b))] {
		parts = append(parts, fmt.Sprintf("%02x", c))
	}
	return strings.Join(parts, " ")
}

// checkPNG fails unless path is a PNG of the page's width that is not a
// single colour.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	bounds := img.Bounds()
	colours := map[[4]uint32]bool{}
	for y := bounds.Min.Y; y < bounds.Max.Y && len(colours) < 3; y += 4 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 4 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, bl, a}] = true
		}
	}
	if bounds.Dx() != 800 || bounds.Dy() < 600 || len(colours) < 3 {
		t.Errorf("screenshot %s: %v, %d colours seen; want 800 wide, 600+ high, not blank", path, bounds, len(colours))
	}
	t.Logf("screenshot: %s", path)
}

// demo is the chat demo served in-process on 127.0.0.1.
type demo struct {
	srv  *actorio.Server
	http *httptest.Server

	noClient atomic.Bool // answer chatdemo.ClientJSPath with 404

	connMu sync.Mutex
	conns  []net.Conn // every connection accepted, for dropConnections

	mu      sync.Mutex
	ended   map[string][]string // socket id -> OnDisconnect reasons
	changed chan struct{}
	// protocols counts the Engine.IO requests by transport and HTTP
	// version, "polling HTTP/2.0" say.
	protocols map[string]int

	// retired: the client addresses of the connections whose polling
	// answer asked to close them (Connection: close), and whether each
	// has closed since (guarded by connMu).
	retired map[string]bool
}

// retiredConnections returns how many polling connections the server
// asked to close, and how many of them are still open.
func (d *demo) retiredConnections() (asked, open int) {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	for _, closed := range d.retired {
		asked++
		if !closed {
			open++
		}
	}
	return asked, open
}

// startDemo serves the demo as cmd/demo does: the server's ClientDir is
// the socket.io-client of node_modules that chatdemo.FindClientDir finds
// from the working directory (tests/browser).
func startDemo(t *testing.T) *demo {
	t.Helper()
	return startDemoOver(t, false)
}

// startDemoOver is startDemo, served over TLS with HTTP/2 enabled (as
// http.Server.ServeTLS serves by default) when secure: the requests that
// can go over HTTP/2, long-polling's, then do in a browser, and a
// WebSocket opens a connection of its own with HTTP/1.1 (net/http does
// not offer WebSockets over HTTP/2). d.protocols records which.
func startDemoOver(t *testing.T, secure bool) *demo {
	t.Helper()
	dir, err := chatdemo.FindClientDir()
	if err != nil || dir == "" {
		t.Fatalf("chatdemo.FindClientDir() = %q, %v from the test's directory", dir, err)
	}
	var logs logbuf.Buffer
	srv, err := actorio.NewServer(actorio.Options{
		Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ClientDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	chatdemo.Register(srv)
	d := newDemo(srv)
	h := chatdemo.NewHandler(srv, chatdemo.Options{})
	d.http = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { // 127.0.0.1
		if r.URL.Path == chatdemo.ClientJSPath && d.noClient.Load() {
			http.NotFound(w, r)
			return
		}
		if tr := r.URL.Query().Get("transport"); tr != "" {
			d.mu.Lock()
			d.protocols[tr+" "+r.Proto]++
			d.mu.Unlock()
		}
		h.ServeHTTP(w, r)
		if r.URL.Query().Get("transport") == "polling" && w.Header().Get("Connection") == "close" {
			d.connMu.Lock()
			if _, seen := d.retired[r.RemoteAddr]; !seen {
				d.retired[r.RemoteAddr] = false
			}
			d.connMu.Unlock()
		}
	}))
	d.http.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s != http.StateClosed {
			return
		}
		d.connMu.Lock()
		if _, ok := d.retired[c.RemoteAddr().String()]; ok {
			d.retired[c.RemoteAddr().String()] = true
		}
		d.connMu.Unlock()
	}
	d.http.Listener = &trackingListener{Listener: d.http.Listener, d: d}
	if secure {
		// Into the server's log: Chromium's handshakes that turn down the
		// test's certificate before it is told to take it.
		d.http.Config.ErrorLog = log.New(&logs, "http: ", 0)
		d.http.EnableHTTP2 = true
		d.http.StartTLS()
	} else {
		d.http.Start()
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing the demo's server: %v", err)
		}
		d.http.Close()
		if t.Failed() {
			t.Logf("demo server log:\n%s", logs.String())
		}
	})
	return d
}

// trackingListener records the connections it accepts in d.
type trackingListener struct {
	net.Listener
	d *demo
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.d.connMu.Lock()
		l.d.conns = append(l.d.conns, c)
		l.d.connMu.Unlock()
	}
	return c, err
}

// dropConnections closes every connection the demo accepted, WebSockets
// included (httptest's CloseClientConnections leaves hijacked ones), as a
// network outage would end them.
func (d *demo) dropConnections() {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	for _, c := range d.conns {
		_ = c.Close()
	}
	d.conns = nil
}

// serveClient makes the demo serve its copy of socket.io-client at
// chatdemo.ClientJSPath (on, as it starts) or answer 404 there, as a demo
// without node_modules does.
func (d *demo) serveClient(on bool) { d.noClient.Store(!on) }

var cdnScript = regexp.MustCompile(`"(https://[^"]+/socket\.io\.min\.js)"`)

// newDemo follows srv's sockets: every disconnect of a socket of "/" is
// recorded with its reason (see reasons and waitDisconnect).
func newDemo(srv *actorio.Server) *demo {
	d := &demo{srv: srv, ended: map[string][]string{}, changed: make(chan struct{}), retired: map[string]bool{}, protocols: map[string]int{}}
	srv.OnConnection(func(s *actorio.Socket) {
		s.OnDisconnect(func(s *actorio.Socket, reason string) {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.ended[s.ID()] = append(d.ended[s.ID()], reason)
			close(d.changed)
			d.changed = make(chan struct{})
		})
	})
	return d
}

// cdnURL returns the CDN address from which the served page loads
// socket.io-client when the demo serves none.
func (d *demo) cdnURL(t *testing.T) string {
	t.Helper()
	c := d.http.Client() // trusts the certificate of a TLS demo
	c.Timeout = step
	resp, err := c.Get(d.http.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := cdnScript.FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET / = %d, no CDN script tag in:\n%.400s", resp.StatusCode, page)
	}
	return string(m[1])
}

func (d *demo) reasons(id string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ended[id])
}

// waitDisconnect returns the first disconnect reason of socket id.
func (d *demo) waitDisconnect(t *testing.T, id string) string {
	t.Helper()
	timeout := time.After(step)
	for {
		d.mu.Lock()
		r, changed := d.ended[id], d.changed
		d.mu.Unlock()
		if len(r) > 0 {
			return r[0]
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("socket %s still connected %v later", id, step)
		}
	}
}

// waitSockets waits until the namespace "/" counts n sockets.
func (d *demo) waitSockets(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(step)
	for {
		got := d.srv.Stats().Namespaces["/"].Sockets
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server counts %d sockets, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// browser is the driver script and its Chromium.
type browser struct {
	t       *testing.T
	p       *node.Proc
	version string
	seq     int
	pages   []string
}

func startBrowser(t *testing.T, env map[string]string) *browser {
	t.Helper()
	// Not t.Context(): that ends before the cleanups, which still use the
	// browser (screenshots of a failure, then a clean exit).
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	b := &browser{t: t, p: node.Run(t, ctx, driverScript, env)}
	// Before node.Run's cleanup kills the script: closing its stdin makes
	// it close Chromium and exit.
	t.Cleanup(func() {
		_ = b.p.CloseStdin()
		select {
		case <-b.p.Exited():
		case <-time.After(opWait):
			t.Errorf("the driver script did not exit %v after its stdin closed", opWait)
		}
	})
	l := b.reply(0, "launch")
	if err := l.Decode(1, &b.version); err != nil {
		t.Fatalf("launch: %v in %s", err, l.Raw)
	}
	return b
}

// do sends one command and returns its reply's result (the line's third
// argument), failing the test if the command failed.
func (b *browser) do(op string, args ...any) node.Line {
	b.t.Helper()
	b.seq++
	cmd := map[string]any{"id": b.seq, "op": op}
	for i := 0; i+1 < len(args); i += 2 {
		cmd[args[i].(string)] = args[i+1]
	}
	if err := b.p.Send(cmd); err != nil {
		b.t.Fatalf("browser %s: %v", op, err)
	}
	return b.reply(b.seq, op)
}

// reply returns the reply to command id, skipping the late replies of
// earlier commands.
func (b *browser) reply(id int, op string) node.Line {
	b.t.Helper()
	for {
		l, err := b.p.Next(opWait)
		if err != nil {
			b.t.Fatalf("browser %s: %v", op, err)
		}
		var got int
		if len(l.Args) < 2 || l.Decode(0, &got) != nil {
			b.t.Fatalf("browser %s: unexpected line %s", op, l.Raw)
		}
		if got != id {
			continue
		}
		if l.Ev != "ok" {
			b.t.Fatalf("browser %s failed: %v", op, l.Arg(1))
		}
		return l
	}
}

func (b *browser) str(l node.Line) string {
	b.t.Helper()
	var s string
	if err := l.Decode(1, &s); err != nil {
		b.t.Fatalf("browser: %v in %s", err, l.Raw)
	}
	return s
}

// strs is str for a reply that is a list of strings.
func (b *browser) strs(l node.Line) []string {
	b.t.Helper()
	var s []string
	if err := l.Decode(1, &s); err != nil {
		b.t.Fatalf("browser: %v in %s", err, l.Raw)
	}
	return s
}

func (b *browser) open(page, cdn string) string {
	b.t.Helper()
	id := b.str(b.do("open", "page", page, "cdn", cdn))
	b.pages = append(b.pages, page)
	return id
}

func (b *browser) join(page, room string) { b.t.Helper(); b.do("join", "page", page, "room", room) }
func (b *browser) say(page, text string)  { b.t.Helper(); b.do("say", "page", page, "text", text) }
func (b *browser) reload(page string) string {
	b.t.Helper()
	return b.str(b.do("reload", "page", page))
}
func (b *browser) transport(page string) string {
	b.t.Helper()
	return b.str(b.do("transport", "page", page))
}
func (b *browser) echo(page, file string, data []byte) {
	b.t.Helper()
	b.do("echo", "page", page, "file", file, "data", node.Bin(data))
}
func (b *browser) screenshot(page, path string) string {
	b.t.Helper()
	return b.str(b.do("screenshot", "page", page, "path", path))
}

// waitLog waits until page's log is exactly want; when says what the test
// did last.
func (b *browser) waitLog(page, when string, want []string) {
	b.t.Helper()
	got := b.strs(b.do("log", "page", page, "want", append([]string{}, want...)))
	if !slices.Equal(got, want) {
		b.t.Fatalf("after %s, %s's log is\n\t%s\nwant\n\t%s", when, page, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// lines returns page's log as it is now.
func (b *browser) lines(page string) []string {
	b.t.Helper()
	return b.strs(b.do("lines", "page", page))
}

func (b *browser) id(page string) string { b.t.Helper(); return b.str(b.do("id", "page", page)) }

func (b *browser) requests(page string) []string {
	b.t.Helper()
	return b.strs(b.do("requests", "page", page))
}

type frame struct {
	Dir  string
	Data node.Bin
}

func (b *browser) frames(page string) []frame {
	b.t.Helper()
	var fs []frame
	if err := b.do("frames", "page", page).Decode(1, &fs); err != nil {
		b.t.Fatal(err)
	}
	return fs
}

type problems struct {
	Refused []string
	Errors  map[string][]string
}

func (b *browser) problems() problems {
	b.t.Helper()
	var p problems
	if err := b.do("problems").Decode(1, &p); err != nil {
		b.t.Fatal(err)
	}
	return p
}

func (b *browser) close() { b.t.Helper(); b.do("close") }

// screenshots saves every open page's screenshot, best effort, for a
// failed test.
func (b *browser) screenshots(dir, suffix string) {
	for _, page := range b.pages {
		path := filepath.Join(dir, b.t.Name()+"-"+page+suffix+".png")
		b.seq++
		if err := b.p.Send(map[string]any{"id": b.seq, "op": "screenshot", "page": page, "path": path}); err != nil {
			return
		}
		for {
			l, err := b.p.Next(step)
			if err != nil {
				return
			}
			var id int
			if l.Decode(0, &id) == nil && id == b.seq {
				if l.Ev == "ok" {
					b.t.Logf("screenshot of the failure: %s", path)
				}
				break
			}
		}
	}
}
