package balancer

import (
	"context"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/node"
	"github.com/actorio/actorio/internal/protosuite"
)

// browserScript opens $PAGE_URL in headless Chromium (a page of its own
// origin that loads the official client), sets a cookie, and connects two
// sockets to the balancer at $LB, another origin, with withCredentials:
// "polling" stays on long-polling, with a header of its own (so that
// each of its requests takes a preflight, which any node answers), and
// asks "whoami" ten times, one ack after the other (each a POST and a GET,
// which the balancer spreads over the nodes); "default" starts on polling, waits for its upgrade and asks
// once. It prints out('result', name, {nodes, transport}) for each, or
// {error}.
const browserScript = node.ChromiumPage + `await page.goto(process.env.PAGE_URL);
await page.evaluate(() => { document.cookie = 'session=s1; path=/'; });
for (const [name, opts, asks] of [['polling', { transports: ['polling'], extraHeaders: { 'x-token': 'abc' } }, 10], ['default', {}, 1]]) {
  const r = await page.evaluate(async ([url, opts, asks]) => {
    const s = io(url, { forceNew: true, reconnection: false, withCredentials: true, ...opts });
    const err = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve('no connect nor connect_error in 10 s'), 10000);
      s.on('connect', () => { clearTimeout(timer); resolve(''); });
      s.on('connect_error', (e) => { clearTimeout(timer); resolve('connect_error: ' + e.message); });
    });
    if (err) { s.close(); return { error: err }; }
    if (!opts.transports && s.io.engine.transport.name !== 'websocket') {
      await new Promise((resolve) => s.io.engine.once('upgrade', resolve));
    }
    const nodes = [];
    try {
      for (let i = 0; i < asks; i++) nodes.push(await s.timeout(5000).emitWithAck('whoami'));
    } catch (e) {
      s.close();
      return { error: 'whoami ' + nodes.length + ': ' + e.message };
    }
    const transport = s.io.engine.transport.name;
    s.close();
    return { nodes, transport };
  }, [process.env.LB, opts, asks]);
  out('result', name, r);
}
await browser.close();
exit(0);
`

// TestBrowserBehindBalancer has the official client in headless Chromium,
// in a page of another origin that the nodes allow with credentials, use
// three nodes through a round-robin balancer (HAProxy, then nginx with
// the configuration Socket.IO's documentation gives): a long-polling client whose
// requests reach every node, and a client that upgrades. A request for
// another node's session is answered by its owner through the node it
// reached; the browser reads that answer only if its CORS headers are
// those of one answer (two Access-Control-Allow-Origin values, one from
// each node, failed every handed-over request, as "xhr poll error").
func TestBrowserBehindBalancer(t *testing.T) {
	chromium := node.RequireChromium(t)
	page := node.ClientPage(t)
	for _, b := range []struct {
		name  string
		start func(*testing.T, []*nodeProc) string
	}{{"haproxy", startHAProxy}, {"nginx", startNginx}} {
		t.Run(b.name, func(t *testing.T) {
			nodes := startNodes(t, "NODE_CORS="+page)
			browseThrough(t, chromium, page, nodes, b.start(t, nodes))
		})
	}
}

// browseThrough runs browserScript from the page at pageURL through the
// balancer at lb, in front of nodes, and checks what it reports.
func browseThrough(t *testing.T, chromium, pageURL string, nodes []*nodeProc, lb string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	p := node.Run(t, ctx, browserScript, map[string]string{
		"CHROMIUM": chromium, "PAGE_URL": pageURL + "/page.html", "LB": lb,
	})
	for _, want := range []struct {
		name, transport string
		asks            int
	}{{"polling", "polling", 10}, {"default", "websocket", 1}} {
		l := p.Expect(t, "result", time.Minute)
		if l.Arg(0) != want.name {
			t.Fatalf("line %s, want the result of %q", l.Raw, want.name)
		}
		var r struct {
			Nodes     []string
			Transport string
			Error     string
		}
		if err := l.Decode(1, &r); err != nil {
			t.Fatalf("%s: %v", l.Raw, err)
		}
		if r.Error != "" {
			t.Fatalf("%s: %s", want.name, r.Error)
		}
		if r.Transport != want.transport || len(r.Nodes) != want.asks {
			t.Fatalf("%s: %s, want %d acks on %s", want.name, l.Raw, want.asks, want.transport)
		}
		for _, n := range r.Nodes {
			if n != r.Nodes[0] {
				t.Errorf("%s: acks from nodes %v: one session is held by one node", want.name, r.Nodes)
				break
			}
		}
	}
	if code := p.WaitExit(t, time.Minute); code != 0 {
		t.Errorf("script exit code %d", code)
	}
	if forwarded, _, _ := handedOver(t, nodes); forwarded == 0 {
		t.Error("no request was handed over to the node of its session: the balancer spread nothing")
	}
}

// TestOfficialSuiteBehindBalancer runs the official Socket.IO suite in
// headless Chromium against three nodes behind a round-robin balancer on
// port 3000 (which the suite hard-codes), HAProxy and then nginx (with the
// configuration Socket.IO's documentation gives), the nodes serving the
// suite's application at its timings (300 ms pings): every request for a
// session may reach a node that does not hold it. It runs when
// $ACTORIO_PROTOCOL_SUITES names a copy of the suites
// (tests/conformance/NOTES.md), and needs port 3000 free. (The Engine.IO
// suite drives a bare Engine.IO server, which does not hand requests over
// between nodes: that is the Socket.IO server's, so only this suite runs
// here.)
func TestOfficialSuiteBehindBalancer(t *testing.T) {
	suite := protosuite.Dir(t, "socket.io-protocol")
	chromium := node.RequireChromium(t)
	for _, lb := range []struct {
		name  string
		start func(*testing.T, []*nodeProc, string) string
	}{
		{"haproxy", func(t *testing.T, nodes []*nodeProc, addr string) string {
			return startHAProxyOn(t, nodes, false, addr)
		}},
		{"nginx", startNginxOn},
	} {
		t.Run(lb.name, func(t *testing.T) {
			nodes := startNodes(t, "NODE_APP=protocol")
			lb.start(t, nodes, "127.0.0.1:3000")
			res := protosuite.RunInChromium(t, t.Context(), suite, chromium)
			t.Logf("%d tests, %d passing, %d failing", res.Tests, res.Passes, res.Failures)
			if res.Tests != 32 || res.Passes != 32 {
				t.Errorf("want all 32 tests to pass; failures:\n%v", res.Fails)
			}
			if forwarded, _, _ := handedOver(t, nodes); forwarded == 0 {
				t.Error("no request was handed over to the node of its session")
			}
		})
	}
}
