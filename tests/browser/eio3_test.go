package browser

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/internal/logbuf"
	"github.com/actorio/actorio/internal/node"
)

// v2PageScript opens $BASE_URL/v2.html, which loads socket.io-client
// 2.x's browser bundle, in headless Chromium, and runs one v2 socket per
// transport setting: it connects, sends binary with an ack, and gets
// binary from the server. A browser's v2 client reads binary responses
// (XHR2), so polling carries Engine.IO v3 binary payloads both ways,
// which the Node client, whose XHR is text only, never sends. It prints
// one "result" line per run, then the content types of the polling
// answers it saw and the POST content types it sent.
const v2PageScript = node.ChromiumPage + `const got = new Set(), sent = new Set();
page.on('response', (r) => {
  if (r.url().includes('/socket.io/') && r.request().method() === 'GET') got.add(r.headers()['content-type'] || '');
});
page.on('request', (r) => {
  if (r.url().includes('/socket.io/') && r.method() === 'POST') sent.add(r.headers()['content-type'] || '');
});
await page.goto(process.env.BASE_URL + '/v2.html');
for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
  const result = await page.evaluate(async (transports) => {
    const s = io({ transports, forceNew: true, reconnection: false });
    await new Promise((resolve, reject) => {
      s.on('connect', resolve);
      s.on('connect_error', (e) => reject(new Error('connect_error: ' + e)));
      s.on('error', (e) => reject(new Error('error: ' + JSON.stringify(e))));
    });
    const bytes = (b) => Array.from(new Uint8Array(b));
    const ack = await new Promise((resolve) => s.emit('bin', new Uint8Array([1, 2, 3]).buffer, { data: new Uint8Array([4, 5]).buffer }, (...r) => resolve(r)));
    const blob = await new Promise((resolve) => { s.once('blob', (...a) => resolve(a)); s.emit('gimme'); });
    if (transports.length > 1 && s.io.engine.transport.name !== 'websocket') {
      await new Promise((resolve) => s.io.engine.once('upgrade', resolve));
    }
    const after = await new Promise((resolve) => s.emit('bin', new Uint8Array([1, 2, 3]).buffer, { data: new Uint8Array([4, 5]).buffer }, (...r) => resolve(r)));
    const out = { id: s.id, engine: s.io.engine.id, transport: s.io.engine.transport.name,
      ack: bytes(ack[0]), blob: [bytes(blob[0]), bytes(blob[1].nested), blob[2]], after: bytes(after[0]) };
    s.close();
    return out;
  }, transports);
  out('result', transports.join('+'), result);
}
out('content-types', [...got].sort(), [...sent].sort());
await browser.close();
exit(0);
`

// v2Page loads the v2 bundle.
const v2Page = `<!doctype html><meta charset="utf-8"><title>v2</title><script src="/v2/socket.io.js"></script>`

// TestEIO3InBrowser runs socket.io-client 2.x's browser bundle in headless
// Chromium against a server with AllowEIO3, on polling, WebSocket and the
// upgrade, binary both ways: over polling as Engine.IO v3 binary payloads
// (application/octet-stream), which only a browser's v2 client sends.
func TestEIO3InBrowser(t *testing.T) {
	chromium := node.RequireChromium(t)
	node.RequirePackage(t, "socket.io-client-v2")
	bundle := filepath.Join(node.Root(t), "node_modules", "socket.io-client-v2", "dist", "socket.io.js")

	var logs logbuf.Buffer
	srv, err := actorio.NewServer(actorio.Options{
		AllowEIO3: true,
		Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := make(chan string, 8)
	binErrs := make(chan string, 8)
	srv.OnConnection(func(s *actorio.Socket) {
		ids <- s.ID()
		s.On("bin", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			var obj struct {
				Data []byte `json:"data"`
			}
			if b := args.Bytes(0); !reflect.DeepEqual(b, []byte{1, 2, 3}) {
				binErrs <- "Bytes(0) = " + string(b)
			} else if err := args.Decode(1, &obj); err != nil || !reflect.DeepEqual(obj.Data, []byte{4, 5}) {
				binErrs <- "Decode(1) failed"
			}
			_ = ack([]byte{9, 8})
		})
		s.On("gimme", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
			_ = s.Emit("blob", []byte{0xff, 0, 1}, map[string]any{"nested": []byte{7}}, "plain")
		})
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.HandleFunc("/v2.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(v2Page))
	})
	mux.HandleFunc("/v2/socket.io.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bundle) })
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		_ = srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	p := node.Run(t, ctx, v2PageScript, map[string]string{"CHROMIUM": chromium, "BASE_URL": hs.URL})
	for _, want := range []struct{ run, transport string }{
		{"polling", "polling"}, {"websocket", "websocket"}, {"polling+websocket", "websocket"},
	} {
		l := p.Expect(t, "result", time.Minute)
		if l.Arg(0) != want.run {
			t.Fatalf("line %s, want the result of %s", l.Raw, want.run)
		}
		var r struct {
			ID, Engine, Transport string
			Ack, After            []byte
			Blob                  []any
		}
		if err := l.Decode(1, &r); err != nil {
			t.Fatalf("%s: %v", l.Raw, err)
		}
		if r.ID != r.Engine || r.ID != <-ids {
			t.Errorf("%s: client id %s, engine id %s, server id different", want.run, r.ID, r.Engine)
		}
		if r.Transport != want.transport || !reflect.DeepEqual(r.Ack, []byte{9, 8}) || !reflect.DeepEqual(r.After, []byte{9, 8}) {
			t.Errorf("%s: %s", want.run, l.Raw)
		}
		if wantBlob := []any{[]any{255.0, 0.0, 1.0}, []any{7.0}, "plain"}; !reflect.DeepEqual(r.Blob, wantBlob) {
			t.Errorf("%s: blob %v, want %v", want.run, r.Blob, wantBlob)
		}
	}
	l, err := p.Next(time.Minute)
	if err != nil || l.Ev != "content-types" {
		t.Fatalf("%s: %v", l.Raw, err)
	}
	var got, sent []string
	if err := l.Decode(0, &got); err != nil {
		t.Fatal(err)
	}
	if err := l.Decode(1, &sent); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"application/octet-stream", "text/plain; charset=UTF-8"}) ||
		!reflect.DeepEqual(sent, []string{"application/octet-stream", "text/plain;charset=UTF-8"}) {
		t.Errorf("polling answered %q and was sent %q: want binary and text payloads both ways", got, sent)
	}
	close(binErrs)
	for e := range binErrs {
		t.Error("server: " + e)
	}
	if code := p.WaitExit(t, time.Minute); code != 0 {
		t.Errorf("script exit code %d", code)
	}
}
