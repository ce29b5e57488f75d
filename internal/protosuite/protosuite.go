// Package protosuite runs the official Engine.IO and Socket.IO protocol
// suites (socketio/engine.io-protocol and socketio/socket.io-protocol,
// their test-suite folders) in headless Chromium, and holds the
// application their Socket.IO suite expects, for the tests that serve it:
// tests/conformance on one server, tests/balancer on three nodes behind a
// balancer. The suites are not in this repository; a test points at a
// copy with $ACTORIO_PROTOCOL_SUITES (see tests/conformance/NOTES.md).
package protosuite

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/node"
)

// SuitesEnv names the directory that holds engine.io-protocol/test-suite
// and socket.io-protocol/test-suite, each with its node_modules (npm ci).
const SuitesEnv = "ACTORIO_PROTOCOL_SUITES"

// The settings the suites expect of the server.
const (
	PingInterval = 300 * time.Millisecond
	PingTimeout  = 200 * time.Millisecond
)

// Dir returns the suite's test-suite folder under $ACTORIO_PROTOCOL_SUITES
// (name is engine.io-protocol or socket.io-protocol), or skips the test
// when that is not set.
func Dir(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv(SuitesEnv)
	if dir == "" {
		t.Skipf("%s is not set: the official suites are not here (tests/conformance/NOTES.md)", SuitesEnv)
	}
	suite := filepath.Join(dir, name, "test-suite")
	if _, err := os.Stat(filepath.Join(suite, "node_modules", "mocha")); err != nil {
		t.Fatalf("%s: run npm ci there first: %v", suite, err)
	}
	return suite
}

// App installs on srv the application the Socket.IO suite drives: on
// connection to "/" or "/custom", an "auth" event with the CONNECT's
// payload ({} without one); on "/", "message" echoed as "message-back"
// and "message-with-ack" acknowledged with its arguments.
func App(srv *actorio.Server) {
	sendAuth := func(s *actorio.Socket) {
		auth := s.Handshake().Auth
		if auth == nil {
			auth = json.RawMessage(`{}`)
		}
		_ = s.Emit("auth", auth)
	}
	srv.OnConnection(func(s *actorio.Socket) {
		sendAuth(s)
		s.On("message", func(s *actorio.Socket, args actorio.Args, _ actorio.AckFunc) {
			_ = s.Emit("message-back", args.Values()...)
		})
		s.On("message-with-ack", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			if ack != nil {
				_ = ack(args.Values()...)
			}
		})
	})
	srv.Of("/custom").OnConnection(sendAuth)
}

// Result is what a suite's run reported.
type Result struct {
	Tests, Passes, Failures int
	// Fails holds the failed tests' titles and errors, and page errors.
	Fails []string
}

// RunInChromium runs the suite in folder suite (see Dir) in headless
// Chromium against the server on localhost:3000, which the suites
// hard-code, and returns what mocha reported.
func RunInChromium(t testing.TB, ctx context.Context, suite, chromium string) Result {
	t.Helper()
	node.RequirePackage(t, "playwright-core")
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	p := node.Run(t, ctx, pageScript, map[string]string{"SUITE_DIR": suite, "CHROMIUM": chromium})
	l := p.Expect(t, "result", 3*time.Minute)
	var res Result
	if err := l.Decode(0, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// pageScript serves a page on 127.0.0.1 that loads mocha, chai and
// chai-string from the suite's node_modules and the suite's
// test-suite.js, as the suite's index.html does from a CDN, opens it in
// headless Chromium and prints out('result', {tests, passes, failures,
// fails}). The page is served from a loopback address so that Chromium
// lets it reach localhost:3000. In a browser each WebSocket message is a
// task of its own, so the suites' awaits between two messages miss
// nothing, as they can under Node (tests/conformance/NOTES.md).
const pageScript = `
const { chromium } = require('playwright-core');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const dir = process.env.SUITE_DIR;
const read = (f) => fs.readFileSync(path.join(dir, f));
const page = '<!DOCTYPE html><html><body><div id="mocha"></div>' +
  '<script src="/mocha.js"></script><script src="/chai.js"></script><script src="/chai-string.js"></script>' +
  '<script>mocha.setup("bdd"); mocha.checkLeaks();</script>' +
  '<script type="module" src="/test-suite.js"></script>' +
  '<script type="module">const r = mocha.run(); const fails = [];' +
  ' r.on("fail", (t, e) => fails.push(t.fullTitle() + ": " + e.message));' +
  ' r.on("end", () => { window.__result = { tests: r.stats.tests, passes: r.stats.passes, failures: r.stats.failures, fails }; });</script>' +
  '</body></html>';
const files = {
  '/index.html': ['text/html', page],
  '/mocha.js': ['text/javascript', read('node_modules/mocha/mocha.js')],
  '/chai.js': ['text/javascript', read('node_modules/chai/chai.js')],
  '/chai-string.js': ['text/javascript', read('node_modules/chai-string/chai-string.js')],
  '/test-suite.js': ['text/javascript', read('test-suite.js')],
};
const web = http.createServer((req, res) => {
  const f = files[new URL(req.url, 'http://x').pathname];
  if (!f) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'content-type': f[0] });
  res.end(f[1]);
});
await new Promise((ok) => web.listen(0, '127.0.0.1', ok));
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
try {
  const p = await (await browser.newContext()).newPage();
  const errors = [];
  p.on('pageerror', (e) => errors.push('page error: ' + e.message));
  await p.goto('http://127.0.0.1:' + web.address().port + '/index.html');
  await p.waitForFunction(() => window.__result, null, { timeout: 150000 });
  const r = await p.evaluate(() => window.__result);
  r.fails.push(...errors);
  out('result', r);
} finally {
  await browser.close();
  web.close();
}
exit(0);
`
