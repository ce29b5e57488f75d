package browser

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/admin"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/cmd/demo/chatdemo"
	"github.com/actorio/actorio/disconnect"
	"github.com/actorio/actorio/internal/logbuf"
	"github.com/actorio/actorio/internal/node"
)

const (
	adminUser     = "admin"
	adminPassword = "correct horse"
	adminServerID = "actorio-browser-test"
	// loginRefused is what package admin logs for each refused login.
	loginRefused = `msg="actorio admin: login refused"`
	// rowsSel is the rows of the table of the dashboard's current view.
	rowsSel = "main .v-data-table tbody tr"
	// cardRows is the rows of the dashboard's nth overview card.
	cardRows = "main .row > .col-12:nth-child(%d) tr"
)

// fontHosts are the hosts the dashboard's index.html loads its fonts
// from; the test refuses them and expects no request elsewhere.
var fontHosts = []string{"fonts.googleapis.com", "cdn.jsdelivr.net"}

// TestAdminUIInBrowser serves the chat demo with the admin namespace of
// package admin and, at /admin/ui/, the official dashboard (npm
// @socket.io/admin-ui, its ui/dist) on 127.0.0.1, and connects three Go
// clients: alice (WebSocket) in red, bob (WebSocket) in red and blue,
// carol (polling) in blue. Headless Chromium opens the dashboard and
// logs in through its connection form: a wrong password must show
// "Invalid credentials"; the right one must show the server live. Its
// sockets, rooms and servers views and its overview cards must then list
// exactly these sockets, rooms and counts, and follow a socket that
// connects and joins a room, and one that leaves. Disconnecting a socket
// from the dashboard must disconnect it on the server; after a reload
// the dashboard must log in again with its session id alone.
func TestAdminUIInBrowser(t *testing.T) {
	chromium := node.RequireChromium(t)
	root := node.Root(t)
	dist := filepath.Join(root, filepath.FromSlash(chatdemo.AdminUIDist))
	if _, err := os.Stat(filepath.Join(dist, "index.html")); err != nil {
		t.Fatalf("the admin dashboard: %v (run `npm ci` in %s)", err, root)
	}
	artifacts := artifactsDir(root)
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(artifacts, t.Name()+"-*.png"))
	for _, f := range old {
		os.Remove(f)
	}

	d := startAdminDemo(t, dist)
	base := d.http.URL
	alice := dial(t, base, client.TransportWebSocket, "red")
	bob := dial(t, base, client.TransportWebSocket, "red", "blue")
	carol := dial(t, base, client.TransportPolling, "blue")

	b := startBrowser(t, map[string]string{
		"BASE_URL": base,
		"CHROMIUM": chromium,
		"STEP_MS":  strconv.FormatInt(step.Milliseconds(), 10),
	})
	t.Logf("Chromium %s, @socket.io/admin-ui %s", b.version, npmVersion(root, "@socket.io/admin-ui"))
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshots(artifacts, "-failed")
		}
	})
	const dash = "dashboard"
	b.visit(dash, chatdemo.AdminUIPath)

	// A wrong password: the form says so and no dashboard joins /admin.
	b.fill(dash, "Server URL", base)
	b.fill(dash, "Username", adminUser)
	b.fill(dash, "Password", "wrong horse")
	b.click(dash, ".v-dialog button[type=submit]")
	b.waitText(dash, ".v-dialog .red--text", "Invalid credentials")
	if n := strings.Count(d.logs.String(), loginRefused); n != 1 {
		t.Errorf("the server logged %d refused logins, want 1", n)
	}
	if n := d.sockets(admin.DefaultNamespace); n != 0 {
		t.Errorf("%d sockets in %s after a wrong password", n, admin.DefaultNamespace)
	}

	b.fill(dash, "Password", adminPassword)
	b.click(dash, ".v-dialog button[type=submit]")
	b.waitText(dash, ".v-app-bar .v-chip", "CONNECTED")
	d.waitNamespace(t, admin.DefaultNamespace, 1)

	// Everything the server has, as the dashboard shows it.
	b.hash(dash, "#/sockets/")
	b.waitRows(dash, "sockets", rowsSel, []int{0, 1, 2}, [][]string{
		{alice.id, "127.0.0.1", "WebSocket"},
		{bob.id, "127.0.0.1", "WebSocket"},
		{carol.id, "127.0.0.1", "HTTP long-polling"},
	})
	b.hash(dash, "#/rooms/")
	b.waitRows(dash, "rooms", rowsSel, []int{0, 1, 2}, [][]string{
		{"blue", "PUBLIC", "2"},
		{"red", "PUBLIC", "2"},
	})
	hostname, _ := os.Hostname()
	pid := strconv.Itoa(os.Getpid())
	b.hash(dash, "#/servers/")
	// id, hostname, pid, clients (the three and the dashboard), status
	b.waitRows(dash, "servers", rowsSel, []int{0, 1, 2, 4, 6}, [][]string{
		{adminServerID, hostname, pid, "4", "HEALTHY"},
	})
	b.hash(dash, "#/")
	b.waitRows(dash, "clients card", fmt.Sprintf(cardRows, 1), nil, [][]string{
		{"Transport", "#"},
		{"WebSocket", "3 75.0 %"}, // alice, bob and the dashboard
		{"HTTP long-polling", "1 25.0 %"},
	})
	b.waitRows(dash, "servers card", fmt.Sprintf(cardRows, 2), nil, [][]string{
		{"Status", "#"},
		{"HEALTHY", "1 100.0 %"},
		{"UNHEALTHY", "0 0.0 %"},
	})
	b.waitRows(dash, "namespaces card", fmt.Sprintf(cardRows, 3), nil, [][]string{
		{"Name", "# of sockets"},
		{"/", "3"},
		{admin.DefaultNamespace, "1"},
	})
	checkPNG(t, b.screenshot(dash, filepath.Join(artifacts, t.Name()+"-dashboard.png")))

	// Live: dave connects and joins green at once (the dashboard must
	// count him in green once), and carol leaves.
	b.hash(dash, "#/sockets/")
	dave := dial(t, base, client.TransportWebSocket, "green")
	carol.close()
	sockets := [][]string{
		{alice.id, "127.0.0.1", "WebSocket"},
		{bob.id, "127.0.0.1", "WebSocket"},
		{dave.id, "127.0.0.1", "WebSocket"},
	}
	b.waitRows(dash, "sockets after dave came and carol left", rowsSel, []int{0, 1, 2}, sockets)
	b.hash(dash, "#/rooms/")
	b.waitRows(dash, "rooms after dave joined green and carol left", rowsSel, []int{0, 1, 2}, [][]string{
		{"blue", "PUBLIC", "1"},
		{"green", "PUBLIC", "1"},
		{"red", "PUBLIC", "2"},
	})

	// The dashboard disconnects dave.
	b.hash(dash, "#/sockets/")
	b.click(dash, fmt.Sprintf(`main tr:has(td:text-is(%q)) button`, dave.id))
	if r := d.waitDisconnect(t, dave.id); r != disconnect.ServerNamespaceDisconnect {
		t.Errorf("dave's socket ended with %q, want %q", r, disconnect.ServerNamespaceDisconnect)
	}
	if r := dave.waitDisconnect(t); r != "io server disconnect" {
		t.Errorf("dave's client saw the reason %q, want \"io server disconnect\"", r)
	}
	// The click reached the row too: the dashboard shows dave's details.
	b.hash(dash, "#/sockets/")
	b.waitRows(dash, "sockets after the dashboard disconnected dave", rowsSel, []int{0, 1, 2}, [][]string{
		{alice.id, "127.0.0.1", "WebSocket"},
		{bob.id, "127.0.0.1", "WebSocket"},
	})

	// A reload logs in with the session id the login gave: no form, no
	// refusal, and the view fills again.
	b.refresh(dash)
	b.waitRows(dash, "sockets after a reload", rowsSel, []int{0, 1, 2}, [][]string{
		{alice.id, "127.0.0.1", "WebSocket"},
		{bob.id, "127.0.0.1", "WebSocket"},
	})
	d.waitNamespace(t, admin.DefaultNamespace, 1)
	if n := strings.Count(d.logs.String(), loginRefused); n != 1 {
		t.Errorf("the server logged %d refused logins after the reload, want 1", n)
	}
	checkPNG(t, b.screenshot(dash, filepath.Join(artifacts, t.Name()+"-sockets.png")))

	p := b.problems()
	for _, r := range p.Refused {
		if !refusedFont(r) {
			t.Errorf("the dashboard requested more than its fonts from outside: %s", r)
		}
	}
	if len(p.Errors[dash]) > 0 {
		t.Errorf("page errors %q", p.Errors[dash])
	}
	b.close()
	d.waitNamespace(t, admin.DefaultNamespace, 0)
}

// refusedFont reports whether a "refused a request to URL" problem is one
// of the dashboard's font requests.
func refusedFont(problem string) bool {
	_, raw, _ := strings.Cut(problem, "refused a request to ")
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && slices.Contains(fontHosts, u.Hostname())
}

// startAdminDemo serves the chat demo with the admin namespace (basic
// auth, a fast bcrypt hash) and the dashboard in dir at
// chatdemo.AdminUIPath, on 127.0.0.1.
func startAdminDemo(t *testing.T, dir string) *adminDemo {
	t.Helper()
	d := &adminDemo{}
	log := slog.New(slog.NewTextHandler(&d.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := actorio.NewServer(actorio.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	chatdemo.Register(srv)
	d.demo = newDemo(srv)
	hash, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := admin.Instrument(srv, admin.Options{
		Auth:          &admin.BasicAuth{Username: adminUser, PasswordHash: string(hash)},
		ServerID:      adminServerID,
		StatsInterval: 500 * time.Millisecond,
		Logger:        log,
	})
	if err != nil {
		t.Fatal(err)
	}
	d.http = httptest.NewServer(chatdemo.NewHandler(srv, chatdemo.Options{AdminUI: dir})) // 127.0.0.1
	t.Cleanup(func() {
		a.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("closing the demo's server: %v", err)
		}
		d.http.Close()
		if t.Failed() {
			t.Logf("demo server log:\n%s", d.logs.String())
		}
	})
	return d
}

// adminDemo is the demo with its admin namespace and dashboard.
type adminDemo struct {
	*demo
	logs logbuf.Buffer
}

// sockets counts the sockets of namespace nsp.
func (d *adminDemo) sockets(nsp string) int { return d.srv.Stats().Namespaces[nsp].Sockets }

// waitNamespace waits until namespace nsp counts n sockets.
func (d *adminDemo) waitNamespace(t *testing.T, nsp string, n int) {
	t.Helper()
	deadline := time.Now().Add(step)
	for d.sockets(nsp) != n {
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s counts %d sockets, want %d", nsp, d.sockets(nsp), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// chatter is a Go client of the demo's namespace "/".
type chatter struct {
	s     *client.Socket
	id    string
	ended chan string // the reason of its first disconnect
}

// dial connects a client over transport and has it join rooms.
func dial(t *testing.T, base, transport string, rooms ...string) *chatter {
	t.Helper()
	s, err := client.New(base, client.Options{
		Transports: []string{transport}, DisableReconnection: true,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c := &chatter{s: s, ended: make(chan string, 1)}
	connected := make(chan struct{})
	s.Once("connect", func(client.Args, client.AckFunc) { close(connected) })
	s.Once("disconnect", func(args client.Args, _ client.AckFunc) { c.ended <- args.String(0) })
	if err := s.Connect(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(step):
		t.Fatalf("a %s client did not connect in %v", transport, step)
	}
	c.id = s.ID()
	for _, r := range rooms {
		c.join(t, r)
	}
	return c
}

func (c *chatter) join(t *testing.T, room string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), step)
	defer cancel()
	if _, err := c.s.EmitWithAck(ctx, "join", room); err != nil {
		t.Fatalf("%s joining %s: %v", c.id, room, err)
	}
}

func (c *chatter) close() { _ = c.s.Close() }

// waitDisconnect returns the reason the client saw for its disconnect.
func (c *chatter) waitDisconnect(t *testing.T) string {
	t.Helper()
	select {
	case r := <-c.ended:
		return r
	case <-time.After(step):
		t.Fatalf("client %s still connected %v later", c.id, step)
		return ""
	}
}

// The driver's generic ops (see driverScript).

func (b *browser) visit(page, path string) {
	b.t.Helper()
	b.do("visit", "page", page, "path", path)
	b.pages = append(b.pages, page)
}

func (b *browser) fill(page, label, value string) {
	b.t.Helper()
	b.do("fill", "page", page, "label", label, "value", value)
}

func (b *browser) click(page, selector string) {
	b.t.Helper()
	b.do("click", "page", page, "selector", selector)
}

func (b *browser) hash(page, hash string) { b.t.Helper(); b.do("hash", "page", page, "hash", hash) }
func (b *browser) refresh(page string)    { b.t.Helper(); b.do("refresh", "page", page) }

// waitText waits until the first visible element matching selector reads
// want.
func (b *browser) waitText(page, selector, want string) {
	b.t.Helper()
	var got *string
	if err := b.do("text", "page", page, "selector", selector, "want", want).Decode(1, &got); err != nil {
		b.t.Fatal(err)
	}
	if got == nil || *got != want {
		shown := "nothing"
		if got != nil {
			shown = strconv.Quote(*got)
		}
		b.t.Fatalf("%s on %s reads %s, want %q", selector, page, shown, want)
	}
}

// waitRows waits until the visible rows matching selector are want, in
// any order: the text of each row's cells, those at cols when not nil.
func (b *browser) waitRows(page, what, selector string, cols []int, want [][]string) {
	b.t.Helper()
	var got [][]string
	if err := b.do("rows", "page", page, "selector", selector, "cols", cols, "want", want).Decode(1, &got); err != nil {
		b.t.Fatal(err)
	}
	sorted := func(rows [][]string) []string {
		out := make([]string, len(rows))
		for i, r := range rows {
			out[i] = strings.Join(r, " | ")
		}
		slices.Sort(out)
		return out
	}
	if g, w := sorted(got), sorted(want); !slices.Equal(g, w) {
		b.t.Fatalf("%s on %s: rows\n\t%s\nwant\n\t%s", what, page, strings.Join(g, "\n\t"), strings.Join(w, "\n\t"))
	}
}
