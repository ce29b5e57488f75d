package browser

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/logbuf"
	"github.com/actorio/actorio/internal/node"
)

// crossOriginScript opens $PAGE_URL (a page of one origin that loads the
// official client) in headless Chromium, sets a cookie for its host, and
// for each case of $CASES ({name, url, opts}) connects a socket to a
// server of another origin (another port) with those options. A socket
// that connects waits for its upgrade unless it has it already, then
// emits "echo" with an ack; one that does not connect within 5 s reports
// its connect_error. It prints out('result', name, {...}) per case.
const crossOriginScript = node.ChromiumPage + `await page.goto(process.env.PAGE_URL);
await page.evaluate(() => { document.cookie = 'session=s1; path=/'; });
for (const c of JSON.parse(process.env.CASES)) {
  const r = await page.evaluate(async (c) => {
    const s = io(c.url, { forceNew: true, reconnection: false, ...c.opts });
    let first = '';
    s.io.once('open', () => { first = s.io.engine.transport.name; });
    const res = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ error: 'no connect nor connect_error in 5 s' }), 5000);
      s.on('connect', () => { clearTimeout(timer); resolve({}); });
      s.on('connect_error', (e) => { clearTimeout(timer); resolve({ error: String(e && e.message) }); });
    });
    if (res.error) { s.close(); return res; }
    if (s.io.engine.transport.name === 'polling' && (c.opts.transports || ['polling', 'websocket']).includes('websocket')) {
      await new Promise((resolve) => s.io.engine.once('upgrade', resolve));
    }
    const ack = await s.timeout(5000).emitWithAck('echo', 'hello').catch((e) => 'no ack: ' + e.message);
    const out = { id: s.id, first, transport: s.io.engine.transport.name, ack };
    s.close();
    return out;
  }, c);
  out('result', c.name, r);
}
await browser.close();
exit(0);
`

// TestCrossOriginInBrowser has the official client, in a page of one
// origin in headless Chromium, connect to servers of another origin, as
// an application whose page comes from elsewhere (a CDN, a dev server)
// does. With the page's origin listed and credentials on, the client's
// withCredentials polling sends the page's cookie and its extraHeaders
// (which take a preflight), the server sees both in the handshake, and
// the session upgrades and acks. With "*", a client without credentials
// connects and upgrades. A server whose CORS does not list the origin
// (or that has none) refuses it, on polling and on WebSocket, and no
// socket connects.
func TestCrossOriginInBrowser(t *testing.T) {
	chromium := node.RequireChromium(t)
	page := node.ClientPage(t)

	type seen struct{ cookie, token string }
	var (
		mu    sync.Mutex
		conns = map[string][]seen{} // server name -> its sockets' handshakes
		logs  logbuf.Buffer
	)
	start := func(name string, cors *actorio.CORS) string {
		srv, err := actorio.NewServer(actorio.Options{
			CORS:   cors,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			t.Fatal(err)
		}
		srv.OnConnection(func(s *actorio.Socket) {
			h := s.Handshake()
			mu.Lock()
			conns[name] = append(conns[name], seen{h.Headers.Get("Cookie"), h.Headers.Get("X-Token")})
			mu.Unlock()
			s.On("echo", func(_ *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
				if ack != nil {
					_ = ack(args.Values()...)
				}
			})
		})
		hs := httptest.NewServer(srv)
		t.Cleanup(func() {
			hs.Close()
			_ = srv.Close()
		})
		return hs.URL
	}
	listed := start("listed", &actorio.CORS{Origins: []string{page}, Credentials: true})
	anyOrigin := start("any", &actorio.CORS{Origins: []string{"*"}})
	other := start("other", &actorio.CORS{Origins: []string{"https://app.example"}})
	none := start("none", nil)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("servers' log:\n%s", logs.String())
		}
	})

	type opts = map[string]any
	cases := []struct {
		Name string `json:"name"`
		URL  string `json:"url"`
		Opts opts   `json:"opts"`
		ok   bool
	}{
		{Name: "listed, credentials", URL: listed, Opts: opts{"withCredentials": true, "extraHeaders": opts{"x-token": "abc"}}, ok: true},
		{Name: "any origin", URL: anyOrigin, Opts: opts{}, ok: true},
		{Name: "not listed, polling", URL: other, Opts: opts{}},
		{Name: "not listed, websocket", URL: other, Opts: opts{"transports": []string{"websocket"}}},
		{Name: "no CORS, polling", URL: none, Opts: opts{}},
		{Name: "no CORS, websocket", URL: none, Opts: opts{"transports": []string{"websocket"}}},
	}
	b, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	p := node.Run(t, ctx, crossOriginScript, map[string]string{
		"CHROMIUM": chromium, "PAGE_URL": page + "/page.html", "CASES": string(b),
	})
	for _, c := range cases {
		l := p.Expect(t, "result", time.Minute)
		if l.Arg(0) != c.Name {
			t.Fatalf("line %s, want the result of %q", l.Raw, c.Name)
		}
		var r struct {
			ID, First, Transport, Error string
			Ack                         any
		}
		if err := l.Decode(1, &r); err != nil {
			t.Fatalf("%s: %v", l.Raw, err)
		}
		switch {
		case !c.ok && r.Error == "":
			t.Errorf("%s: connected (%s), want a refusal", c.Name, l.Raw)
		case !c.ok:
			t.Logf("%s: refused: %s", c.Name, r.Error)
		case r.Error != "":
			t.Errorf("%s: %s", c.Name, r.Error)
		case r.First != "polling" || r.Transport != "websocket" || r.Ack != "hello":
			t.Errorf("%s: %s, want polling upgraded to websocket and the ack \"hello\"", c.Name, l.Raw)
		}
	}
	if code := p.WaitExit(t, time.Minute); code != 0 {
		t.Errorf("script exit code %d", code)
	}

	mu.Lock()
	defer mu.Unlock()
	if got := conns["listed"]; len(got) != 1 || got[0].token != "abc" || !strings.Contains(got[0].cookie, "session=s1") {
		t.Errorf("listed origin: handshakes %+v, want one with the page's cookie and X-Token abc", got)
	}
	if got := conns["any"]; len(got) != 1 || got[0].token != "" || got[0].cookie != "" {
		t.Errorf("any origin: handshakes %+v, want one without credentials or extra headers", got)
	}
	if n := len(conns["other"]) + len(conns["none"]); n != 0 {
		t.Errorf("%d sockets connected to servers that do not allow the page's origin", n)
	}
	if n := strings.Count(logs.String(), "origin not allowed"); n < 4 {
		t.Errorf("%d refusals logged, want one per refused case at least (4)", n)
	}
}
