package node

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ChromiumPage is the start of a script that drives a page in headless
// Chromium: it launches the Chromium at $CHROMIUM with playwright-core
// (no sandbox, and no host resolved but 127.0.0.1) as `browser`, and
// opens `page`, whose actions time out after 20 s and whose uncaught
// errors are printed as out('pageerror', message). The script goes on
// from there and closes `browser` itself.
const ChromiumPage = `
const { chromium } = require('playwright-core');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});
const page = await browser.newPage();
page.setDefaultTimeout(20000);
page.on('pageerror', (e) => out('pageerror', e.message));
`

// minChromiumNode is the oldest Node.js that playwright-core supports.
const minChromiumNode = 20

// RequireChromium returns the headless Chromium to run (ACTORIO_CHROMIUM,
// else chromium or chromium-browser on PATH) once playwright-core and a
// Node.js it supports are there too. Otherwise it skips the test, or
// fails it when ACTORIO_REQUIRE_BROWSER=1 (set by .ci/run);
// ACTORIO_SKIP_BROWSER=1 skips it in any case.
func RequireChromium(t testing.TB) string {
	t.Helper()
	if os.Getenv("ACTORIO_SKIP_BROWSER") == "1" {
		t.Skip("ACTORIO_SKIP_BROWSER=1: skipping the headless-Chromium test")
	}
	skip := func(msg string) {
		t.Helper()
		if os.Getenv("ACTORIO_REQUIRE_BROWSER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	chromium, err := chromiumPath()
	if err != nil {
		skip(fmt.Sprintf("this test needs a headless Chromium: %v\n"+
			"install Debian's (apt-get install chromium; .ci/run does it) or point ACTORIO_CHROMIUM at one", err))
	}
	RequirePackage(t, "playwright-core")
	if v := NodeVersion(t); nodeMajor(v) < minChromiumNode {
		skip(fmt.Sprintf("playwright-core needs Node.js %d or newer; node is %s", minChromiumNode, v))
	}
	return chromium
}

// chromiumPath returns $ACTORIO_CHROMIUM, or chromium (else
// chromium-browser) on PATH.
func chromiumPath() (string, error) {
	if p := os.Getenv("ACTORIO_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("ACTORIO_CHROMIUM: %w", err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("neither chromium nor chromium-browser is on PATH, and ACTORIO_CHROMIUM is not set")
}

// nodeMajor returns the major version of a `node --version` string.
func nodeMajor(version string) int {
	major, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	n, _ := strconv.Atoi(major)
	return n
}

// ClientPage starts, for the test's duration, an HTTP server on 127.0.0.1
// whose /page.html loads the official browser client (the npm copy of
// socket.io-client's dist/socket.io.min.js) from that server, and returns
// the server's origin, such as http://127.0.0.1:PORT: a page of its own
// origin, for tests whose page talks to servers of another.
func ClientPage(t testing.TB) string {
	t.Helper()
	clientJS := filepath.Join(Root(t), "node_modules", "socket.io-client", "dist", "socket.io.min.js")
	if _, err := os.Stat(clientJS); err != nil {
		t.Fatalf("the npm copy of socket.io-client: %v (run npm ci)", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/page.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><meta charset="utf-8"><title>client</title><script src="/socket.io.min.js"></script>`))
	})
	mux.HandleFunc("/socket.io.min.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, clientJS) })
	page := httptest.NewServer(mux)
	t.Cleanup(page.Close)
	return page.URL
}
