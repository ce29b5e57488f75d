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

// msgpackPageScript opens $BASE_URL/msgpack.html, which loads
// /socket.io/socket.io.msgpack.min.js (the server's ClientDir), in
// headless Chromium, and runs one socket per transport setting: binary
// with an ack both ways (the browser's notepack.io writes ArrayBuffers as
// bin and reads bin as ArrayBuffers), an event from the server, and the
// same once upgraded. It prints one "result" line per run.
const msgpackPageScript = node.ChromiumPage + `await page.goto(process.env.BASE_URL + '/msgpack.html');
for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
  const result = await page.evaluate(async (transports) => {
    const s = io({ transports, forceNew: true, reconnection: false });
    await new Promise((resolve, reject) => {
      s.on('connect', resolve);
      s.on('connect_error', (e) => reject(new Error('connect_error: ' + e)));
    });
    const bytes = (b) => (b instanceof ArrayBuffer ? Array.from(new Uint8Array(b)) : 'not an ArrayBuffer');
    const send = () => new Promise((resolve) => s.emit('bin', new Uint8Array([1, 2, 3]).buffer, { data: new Uint8Array([4, 5]).buffer, when: new Date(Date.UTC(2024, 0, 2)) }, (...r) => resolve(r)));
    const ack = await send();
    const blob = await new Promise((resolve) => { s.once('blob', (...a) => resolve(a)); s.emit('gimme'); });
    if (transports.length > 1 && s.io.engine.transport.name !== 'websocket') {
      await new Promise((resolve) => s.io.engine.once('upgrade', resolve));
    }
    const after = await send();
    const out = { id: s.id, transport: s.io.engine.transport.name, ack: bytes(ack[0]), checked: ack[1],
      blob: [bytes(blob[0]), bytes(blob[1].nested), blob[2], blob[3]], after: bytes(after[0]) };
    s.close();
    return out;
  }, transports);
  out('result', transports.join('+'), result);
}
await browser.close();
exit(0);
`

// msgpackPage loads the msgpack bundle the server serves from ClientDir.
const msgpackPage = `<!doctype html><meta charset="utf-8"><title>msgpack</title><script src="/socket.io/socket.io.msgpack.min.js"></script>`

// TestMsgpackInBrowser runs socket.io-client's msgpack bundle, served by
// the server (ClientDir), in headless Chromium against a server with
// ParserMsgpack, on polling, WebSocket and the upgrade: binary both ways,
// a Date read as its ISO string, acks, an event from the server.
func TestMsgpackInBrowser(t *testing.T) {
	chromium := node.RequireChromium(t)
	var logs logbuf.Buffer
	srv, err := actorio.NewServer(actorio.Options{
		Parser:    actorio.ParserMsgpack,
		ClientDir: filepath.Join(node.Root(t), "node_modules", "socket.io-client", "dist"),
		Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := make(chan string, 8)
	srv.OnConnection(func(s *actorio.Socket) {
		ids <- s.ID()
		s.On("bin", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			var obj struct {
				Data []byte    `json:"data"`
				When time.Time `json:"when"`
			}
			ok := reflect.DeepEqual(args.Bytes(0), []byte{1, 2, 3}) && args.Decode(1, &obj) == nil &&
				reflect.DeepEqual(obj.Data, []byte{4, 5}) && obj.When.Equal(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC))
			_ = ack([]byte{9, 8}, ok)
		})
		s.On("gimme", func(s *actorio.Socket, _ actorio.Args, _ actorio.AckFunc) {
			_ = s.Emit("blob", []byte{0xff, 0, 1}, map[string]any{"nested": []byte{7}}, "plain", 1.5)
		})
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.HandleFunc("/msgpack.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(msgpackPage))
	})
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
	p := node.Run(t, ctx, msgpackPageScript, map[string]string{"CHROMIUM": chromium, "BASE_URL": hs.URL})
	for _, want := range []struct{ run, transport string }{
		{"polling", "polling"}, {"websocket", "websocket"}, {"polling+websocket", "websocket"},
	} {
		l := p.Expect(t, "result", time.Minute)
		if l.Arg(0) != want.run {
			t.Fatalf("line %s, want the result of %s", l.Raw, want.run)
		}
		var r struct {
			ID, Transport string
			Ack, After    []byte
			Checked       bool
			Blob          []any
		}
		if err := l.Decode(1, &r); err != nil {
			t.Fatalf("%s: %v", l.Raw, err)
		}
		if r.ID != <-ids {
			t.Errorf("%s: client id %s, server id different", want.run, r.ID)
		}
		if r.Transport != want.transport || !r.Checked || !reflect.DeepEqual(r.Ack, []byte{9, 8}) || !reflect.DeepEqual(r.After, []byte{9, 8}) {
			t.Errorf("%s: %s", want.run, l.Raw)
		}
		if wantBlob := []any{[]any{255.0, 0.0, 1.0}, []any{7.0}, "plain", 1.5}; !reflect.DeepEqual(r.Blob, wantBlob) {
			t.Errorf("%s: blob %v, want %v", want.run, r.Blob, wantBlob)
		}
	}
	if code := p.WaitExit(t, time.Minute); code != 0 {
		t.Errorf("script exit code %d", code)
	}
}
