package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/cmd/demo/chatdemo"
	"github.com/actorio/actorio/internal/logbuf"
)

// wait bounds every wait of these tests.
const wait = 10 * time.Second

func TestParseFlagsDefaults(t *testing.T) {
	cfg, err := parseFlags(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{addr: "127.0.0.1:3000", adminUser: "admin"}
	if cfg != want {
		t.Errorf("defaults %+v, want %+v", cfg, want)
	}
}

func TestParseFlagsAdminPasswordFromEnv(t *testing.T) {
	env := func(k string) string {
		if k == passwordEnv {
			return "from-env"
		}
		return ""
	}
	cfg, err := parseFlags([]string{"-admin", "-admin-user", "root", "-admin-readonly", "-admin-ui", "/ui"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{addr: "127.0.0.1:3000", admin: true, adminUser: "root", adminPassword: "from-env", adminReadOnly: true, adminUI: "/ui"}
	if cfg != want {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
	cfg, err = parseFlags([]string{"-admin", "-admin-password", "from-flag"}, env, io.Discard)
	if err != nil || cfg.adminPassword != "from-flag" {
		t.Errorf("-admin-password beside $%s: %q, %v; want the flag's", passwordEnv, cfg.adminPassword, err)
	}
}

// A word after a bool flag is not its value: "-admin secret" must not
// start an open admin namespace with a stray argument.
func TestParseFlagsRefusesArguments(t *testing.T) {
	var usage bytes.Buffer
	if _, err := parseFlags([]string{"-admin", "secret"}, func(string) string { return "" }, &usage); err == nil {
		t.Fatal("parseFlags accepted a stray argument")
	}
	if !strings.Contains(usage.String(), "-admin-password") {
		t.Errorf("no usage printed:\n%s", usage.String())
	}
}

// demo is setup's result served by httptest on 127.0.0.1.
type demo struct {
	url  string
	logs *logbuf.Buffer
}

func startDemo(t *testing.T, cfg config) *demo {
	t.Helper()
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	srv, h, closeAdmin, _, err := setup(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(h)
	t.Cleanup(func() {
		web.Close()
		// As run does: the server first, then the admin namespace.
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		done := make(chan struct{})
		go func() { closeAdmin(); close(done) }()
		select {
		case <-done:
		case <-time.After(wait):
			t.Errorf("closing the admin namespace after the server took over %v", wait)
		}
		if t.Failed() {
			t.Logf("demo log:\n%s", logs.String())
		}
	})
	return &demo{url: web.URL, logs: logs}
}

// get returns the status, Location header and body of GET path, not
// following redirects.
func (d *demo) get(t *testing.T, path string) (int, string, string) {
	t.Helper()
	c := &http.Client{Timeout: wait, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(d.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// login connects to the admin namespace with auth and returns the
// features of its "config" event, or the message of its refusal.
func (d *demo) login(t *testing.T, auth any) (features []string, refused string) {
	t.Helper()
	s, err := client.New(d.url+"/admin", client.Options{
		Auth: auth, DisableReconnection: true, Transports: []string{client.TransportWebSocket},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	type result struct {
		features []string
		refused  string
	}
	res := make(chan result, 2)
	s.On("config", func(args client.Args, _ client.AckFunc) {
		var c struct{ SupportedFeatures []string }
		if err := args.Decode(0, &c); err != nil {
			t.Errorf("config %s: %v", args.Raw(0), err)
		}
		res <- result{features: c.SupportedFeatures}
	})
	s.On("connect_error", func(args client.Args, _ client.AckFunc) {
		var e struct{ Message string }
		_ = args.Decode(0, &e)
		res <- result{refused: e.Message}
	})
	if err := s.Connect(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		return r.features, r.refused
	case <-time.After(wait):
		t.Fatalf("no config nor connect_error from /admin in %v", wait)
		return nil, ""
	}
}

// fakeUI writes a dashboard directory: index.html and one script.
func fakeUI(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "js"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"index.html": "<title>dashboard</title>", "js/app.js": "console.log(1)"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAdminServesDashboardAndChecksPassword(t *testing.T) {
	ui := t.TempDir()
	fakeUI(t, ui)
	d := startDemo(t, config{admin: true, adminUser: "boss", adminPassword: "s3cret", adminUI: ui})

	if code, loc, _ := d.get(t, "/admin/ui"); code != http.StatusMovedPermanently || loc != "/admin/ui/" {
		t.Errorf("GET /admin/ui = %d to %q, want 301 to /admin/ui/", code, loc)
	}
	if code, _, body := d.get(t, "/admin/ui/"); code != http.StatusOK || body != "<title>dashboard</title>" {
		t.Errorf("GET /admin/ui/ = %d %q, want the dashboard's index.html", code, body)
	}
	if code, _, body := d.get(t, "/admin/ui/js/app.js"); code != http.StatusOK || body != "console.log(1)" {
		t.Errorf("GET /admin/ui/js/app.js = %d %q", code, body)
	}
	if code, _, body := d.get(t, "/"); code != http.StatusOK || !strings.Contains(body, "<title>actorio chat</title>") {
		t.Errorf("GET / = %d, not the chat page:\n%.200s", code, body)
	}

	if features, refused := d.login(t, map[string]string{"username": "boss", "password": "wrong"}); refused != "invalid credentials" {
		t.Errorf("wrong password: features %q, refusal %q; want \"invalid credentials\"", features, refused)
	}
	if features, refused := d.login(t, map[string]string{"username": "admin", "password": "s3cret"}); refused != "invalid credentials" {
		t.Errorf("the default user name beside -admin-user boss: features %q, refusal %q", features, refused)
	}
	features, refused := d.login(t, map[string]string{"username": "boss", "password": "s3cret"})
	if refused != "" || !slices.Contains(features, "EMIT") || !slices.Contains(features, "ALL_EVENTS") {
		t.Errorf("right password: features %q, refusal %q; want EMIT and ALL_EVENTS", features, refused)
	}
	if strings.Contains(d.logs.String(), "s3cret") {
		t.Errorf("the password is in the log:\n%s", d.logs.String())
	}
}

func TestAdminReadOnly(t *testing.T) {
	d := startDemo(t, config{admin: true, adminUser: "admin", adminPassword: "pw", adminReadOnly: true})
	features, refused := d.login(t, map[string]string{"username": "admin", "password": "pw"})
	if refused != "" || slices.Contains(features, "EMIT") || slices.Contains(features, "DISCONNECT") || !slices.Contains(features, "AGGREGATED_EVENTS") {
		t.Errorf("read-only: features %q, refusal %q; want no EMIT nor DISCONNECT", features, refused)
	}
}

func TestAdminWithoutPasswordIsOpenAndWarns(t *testing.T) {
	t.Chdir(t.TempDir()) // no node_modules here
	d := startDemo(t, config{admin: true, adminUser: "admin"})
	if _, refused := d.login(t, nil); refused != "" {
		t.Errorf("open admin namespace refused a dashboard: %q", refused)
	}
	logs := d.logs.String()
	if !strings.Contains(logs, "level=WARN msg=\"the admin namespace is open to anyone") {
		t.Errorf("no warning about the open admin namespace:\n%s", logs)
	}
	if !strings.Contains(logs, "level=WARN msg=\"admin dashboard not served") {
		t.Errorf("no warning about the missing dashboard:\n%s", logs)
	}
	if code, _, _ := d.get(t, "/admin/ui/"); code != http.StatusNotFound {
		t.Errorf("GET /admin/ui/ without a dashboard = %d, want 404", code)
	}
}

func TestAdminFindsDashboardInNodeModules(t *testing.T) {
	wd := t.TempDir()
	fakeUI(t, filepath.Join(wd, filepath.FromSlash(chatdemo.AdminUIDist)))
	t.Chdir(wd)
	d := startDemo(t, config{admin: true, adminUser: "admin", adminPassword: "pw"})
	if code, _, body := d.get(t, "/admin/ui/"); code != http.StatusOK || body != "<title>dashboard</title>" {
		t.Errorf("GET /admin/ui/ = %d %q, want the index.html of %s", code, body, chatdemo.AdminUIDist)
	}
}

func TestAdminUIDirMustHoldTheDashboard(t *testing.T) {
	_, _, _, _, err := setup(config{admin: true, adminUser: "admin", adminUI: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "index.html") {
		t.Errorf("setup with an empty -admin-ui directory: %v, want an error naming index.html", err)
	}
}

func TestNoAdminWithoutFlag(t *testing.T) {
	ui := t.TempDir()
	fakeUI(t, ui)
	d := startDemo(t, config{adminUI: ui})
	if _, refused := d.login(t, nil); refused != "Invalid namespace" {
		t.Errorf("connecting to /admin without -admin: refusal %q, want \"Invalid namespace\"", refused)
	}
	if code, _, _ := d.get(t, "/admin/ui/"); code != http.StatusNotFound {
		t.Errorf("GET /admin/ui/ without -admin = %d, want 404", code)
	}
	if !strings.Contains(d.logs.String(), "-admin-ui is ignored without -admin") {
		t.Errorf("no warning about -admin-ui without -admin:\n%s", d.logs.String())
	}
}

// fakeClient writes a socket.io-client dist directory under root holding
// a socket.io.min.js of body and a socket.io.js, and returns the directory.
func fakeClient(t *testing.T, root, body string) string {
	t.Helper()
	dist := filepath.Join(root, filepath.FromSlash(chatdemo.ClientDist))
	if err := os.MkdirAll(dist, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]string{"socket.io.min.js": body, "socket.io.js": "/* full */"} {
		if err := os.WriteFile(filepath.Join(dist, name), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dist
}

// The page loads socket.io-client from the demo before the CDN: the demo
// serves the node_modules copy of the working directory or of a parent
// (go run from a subdirectory of the module), or the -client-js file in
// its place, and nothing there when it has neither, so that the page
// goes on to the CDN.
func TestClientBundle(t *testing.T) {
	root := t.TempDir()
	fakeClient(t, root, "/* npm copy */")
	sub := filepath.Join(root, "cmd", "demo")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(t.TempDir(), "own.js")
	if err := os.WriteFile(own, []byte("/* -client-js copy */"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, wd, clientJS string
		want               string // the body at ClientJSPath; "" for none
		warn               bool
	}{
		{name: "module root", wd: root, want: "/* npm copy */"},
		{name: "subdirectory", wd: sub, want: "/* npm copy */"},
		{name: "-client-js", wd: root, clientJS: own, want: "/* -client-js copy */"},
		{name: "-client-js without node_modules", wd: t.TempDir(), clientJS: own, want: "/* -client-js copy */"},
		{name: "none", wd: t.TempDir(), warn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(tc.wd)
			d := startDemo(t, config{clientJS: tc.clientJS})
			code, _, page := d.get(t, "/")
			if code != http.StatusOK || !strings.Contains(page, `"`+chatdemo.ClientJSPath+`"`) {
				t.Errorf("GET / = %d, the page does not load %s:\n%s", code, chatdemo.ClientJSPath, page)
			}
			code, _, js := d.get(t, chatdemo.ClientJSPath)
			switch {
			case tc.want != "" && (code != http.StatusOK || js != tc.want):
				t.Errorf("GET %s = %d %q, want %q", chatdemo.ClientJSPath, code, js, tc.want)
			case tc.want == "" && code == http.StatusOK:
				t.Errorf("GET %s = %d %q with no copy to serve", chatdemo.ClientJSPath, code, js)
			}
			warned := strings.Contains(d.logs.String(), `level=WARN msg="socket.io-client not found`)
			if warned != tc.warn {
				t.Errorf("warned about the missing socket.io-client: %v, want %v:\n%s", warned, tc.warn, d.logs.String())
			}
		})
	}
}

func TestClientJSMustExist(t *testing.T) {
	for _, path := range []string{filepath.Join(t.TempDir(), "missing.js"), t.TempDir()} {
		_, _, _, _, err := setup(config{clientJS: path}, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "-client-js") {
			t.Errorf("setup with -client-js %s: %v, want an error naming -client-js", path, err)
		}
	}
}
