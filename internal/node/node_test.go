package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const step = 10 * time.Second

func TestRequire(t *testing.T) {
	t.Parallel()
	Require(t)
	RequirePackage(t, "socket.io")
	if v := NodeVersion(t); !strings.HasPrefix(v, "v") {
		t.Fatalf("NodeVersion = %q", v)
	}
	if _, err := os.Stat(Root(t) + "/go.mod"); err != nil {
		t.Fatalf("Root: %v", err)
	}
}

func TestOutRoundTrip(t *testing.T) {
	t.Parallel()
	p := Run(t, nil, `
		out('hello', 'world', 42, true, null, undefined, { a: [1, 'x'] });
		out('env', process.env.SERVER_URL, process.env.EXTRA);
		out('bin', Buffer.from([0, 1, 2, 255]), new Uint8Array([9, 8]), { nested: Buffer.from('hi') }, new ArrayBuffer(2));
		const err = new Error('nope');
		err.data = { reason: 'x' };
		out('error', err);
		out('empty');
		exit(0);
	`, map[string]string{"SERVER_URL": "http://127.0.0.1:1/", "EXTRA": "e"})

	l := p.Expect(t, "hello", step)
	want := []any{"world", float64(42), true, nil, nil, map[string]any{"a": []any{float64(1), "x"}}}
	if got := l.Values(); !reflect.DeepEqual(got, want) {
		t.Fatalf("hello args = %#v, want %#v", got, want)
	}
	var n int
	if err := l.Decode(1, &n); err != nil || n != 42 {
		t.Fatalf("Decode(1) = %d, %v", n, err)
	}
	if err := l.Decode(9, &n); err == nil {
		t.Fatal("Decode of a missing arg should fail")
	}

	l = p.Expect(t, "env", step)
	if got := l.Values(); !reflect.DeepEqual(got, []any{"http://127.0.0.1:1/", "e"}) {
		t.Fatalf("env args = %#v", got)
	}

	l = p.Expect(t, "bin", step)
	if got, ok := l.Arg(0).([]byte); !ok || !bytes.Equal(got, []byte{0, 1, 2, 255}) {
		t.Fatalf("bin arg 0 = %#v (raw %s)", l.Arg(0), l.Raw)
	}
	var b Bin
	if err := l.Decode(1, &b); err != nil || !bytes.Equal(b, []byte{9, 8}) {
		t.Fatalf("bin arg 1 = %v, %v", b, err)
	}
	var nested struct{ Nested Bin }
	if err := l.Decode(2, &nested); err != nil || string(nested.Nested) != "hi" {
		t.Fatalf("bin arg 2 = %q, %v", nested.Nested, err)
	}
	if got, ok := l.Arg(3).([]byte); !ok || !bytes.Equal(got, []byte{0, 0}) {
		t.Fatalf("bin arg 3 = %#v", l.Arg(3))
	}

	l = p.Expect(t, "error", step)
	wantErr := map[string]any{"name": "Error", "message": "nope", "data": map[string]any{"reason": "x"}}
	if got := l.Arg(0); !reflect.DeepEqual(got, wantErr) {
		t.Fatalf("error arg = %#v", got)
	}
	if l = p.Expect(t, "empty", step); len(l.Args) != 0 {
		t.Fatalf("empty has args: %s", l.Raw)
	}

	if code := p.WaitExit(t, step); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if _, err := p.Next(step); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after exit: %v, want ErrClosed", err)
	}
}

func TestStdinSteps(t *testing.T) {
	t.Parallel()
	p := Run(t, nil, `
		out('ready');
		const first = await next();
		out('first', first);
		for await (const msg of input()) {
			out('echo', msg.n, msg.data, Buffer.isBuffer(msg.data));
			if (msg.n === 3) break;
		}
		try {
			await next(100);
		} catch (e) {
			out('next-failed', e.code);
		}
		try {
			await next();
		} catch (e) {
			out('next-failed', e.code);
		}
		out('bye');
	`, nil)

	p.Expect(t, "ready", step)
	if err := p.Send("one"); err != nil {
		t.Fatal(err)
	}
	if got := p.Expect(t, "first", step).Arg(0); got != "one" {
		t.Fatalf("first = %#v", got)
	}
	// Each step waits for the script's answer before the next is sent.
	for n := 1; n <= 3; n++ {
		data := Bin(bytes.Repeat([]byte{byte(n)}, n))
		if err := p.Send(map[string]any{"n": n, "data": data}); err != nil {
			t.Fatal(err)
		}
		l := p.Expect(t, "echo", step)
		if got := l.Values(); !reflect.DeepEqual(got, []any{float64(n), []byte(data), true}) {
			t.Fatalf("step %d: %#v", n, got)
		}
	}
	if got := p.Expect(t, "next-failed", step).Arg(0); got != "STDIN_TIMEOUT" {
		t.Fatalf("next(100) failed with %v", got)
	}
	if err := p.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	if got := p.Expect(t, "next-failed", step).Arg(0); got != "STDIN_CLOSED" {
		t.Fatalf("next() after close failed with %v", got)
	}
	p.Expect(t, "bye", step)
	// The script exits by itself: a finished stdin does not keep it alive.
	if code := p.WaitExit(t, step); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestLinesSentBeforeCloseAreDelivered(t *testing.T) {
	t.Parallel()
	p := Run(t, nil, `
		const got = [];
		for await (const v of input()) got.push(v);
		out('all', got);
	`, nil)
	for i := range 50 {
		if err := p.Send(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	l := p.Expect(t, "all", step)
	var got []int
	if err := l.Decode(0, &got); err != nil || len(got) != 50 || got[49] != 49 {
		t.Fatalf("got %v, %v", got, err)
	}
	if code := p.WaitExit(t, step); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestSocketIOPackagesResolve(t *testing.T) {
	t.Parallel()
	p := Run(t, nil, `
		import { io } from 'socket.io-client';
		const { Server } = require('socket.io');
		out('types', typeof io, typeof Server);
	`, nil)
	if got := p.Expect(t, "types", step).Values(); !reflect.DeepEqual(got, []any{"function", "function"}) {
		t.Fatalf("types = %#v", got)
	}
	if code := p.WaitExit(t, step); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestConsoleLogGoesToStderr(t *testing.T) {
	t.Parallel()
	p := Run(t, nil, `
		console.log('some noise');
		out('ok');
	`, nil)
	p.Expect(t, "ok", step)
	p.WaitExit(t, step)
	if !strings.Contains(p.Stderr(), "some noise") {
		t.Fatalf("stderr = %q", p.Stderr())
	}
}

func TestUncaughtErrorIsReported(t *testing.T) {
	t.Parallel()
	p := Run(t, nil, `
		out('before');
		setTimeout(() => { throw new Error('boom'); }, 1);
	`, nil)
	p.Expect(t, "before", step)
	l := p.Expect(t, "$error", step)
	if m, _ := l.Arg(0).(map[string]any); m["message"] != "boom" {
		t.Fatalf("$error = %s", l.Raw)
	}
	if code := p.WaitExit(t, step); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if !strings.Contains(p.Stderr(), "boom") {
		t.Fatalf("stderr = %q", p.Stderr())
	}
}

func TestRejectedTopLevelAwaitIsReported(t *testing.T) {
	t.Parallel()
	p := Run(t, nil, `await Promise.reject(new Error('rejected'));`, nil)
	l := p.Expect(t, "$error", step)
	if m, _ := l.Arg(0).(map[string]any); m["message"] != "rejected" {
		t.Fatalf("$error = %s", l.Raw)
	}
	if code := p.WaitExit(t, step); code == 0 {
		t.Fatal("exit code 0")
	}
}

func TestExitAfter(t *testing.T) {
	t.Parallel()
	p := Run(t, nil, `
		exitAfter(200);
		setInterval(() => {}, 1000);
		out('waiting');
	`, nil)
	p.Expect(t, "waiting", step)
	if got := p.Expect(t, "$timeout", step).Arg(0); got != float64(200) {
		t.Fatalf("$timeout arg = %#v", got)
	}
	if code := p.WaitExit(t, step); code != 124 {
		t.Fatalf("exit code %d, want 124", code)
	}
}

func TestSafetyTimerFromEnv(t *testing.T) {
	t.Parallel()
	p := Run(t, nil, `setInterval(() => {}, 1000); out('env', process.env.ACTORIO_SCRIPT_TIMEOUT_MS);`,
		map[string]string{"ACTORIO_SCRIPT_TIMEOUT_MS": "300"})
	p.Expect(t, "env", step)
	p.Expect(t, "$timeout", step)
	if code := p.WaitExit(t, step); code != 124 {
		t.Fatalf("exit code %d, want 124", code)
	}
}

func TestKill(t *testing.T) {
	t.Parallel()
	p := Run(t, nil, `setInterval(() => {}, 1000); out('up');`, nil)
	p.Expect(t, "up", step)
	p.Kill()
	select {
	case <-p.Exited():
	default:
		t.Fatal("not exited after Kill")
	}
	if code := p.WaitExit(t, step); code != -1 {
		t.Fatalf("exit code %d, want -1", code)
	}
	if err := p.Send("late"); err == nil {
		t.Fatal("Send to a dead script succeeded")
	}
	p.Kill() // idempotent
}

func TestContextCancelKills(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	p := Run(t, ctx, `setInterval(() => {}, 1000); out('up');`, nil)
	p.Expect(t, "up", step)
	cancel()
	if code := p.WaitExit(t, step); code != -1 {
		t.Fatalf("exit code %d, want -1", code)
	}
}

func TestNextTimeout(t *testing.T) {
	t.Parallel()
	p := Run(t, nil, `setInterval(() => {}, 1000);`, nil)
	start := time.Now()
	_, err := p.Next(150 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no line") {
		t.Fatalf("Next = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Next took %v", d)
	}
}

func TestNonJSONLine(t *testing.T) {
	t.Parallel()
	p := Run(t, nil, `process.stdout.write('not json\n'); out('after');`, nil)
	l, err := p.Next(step)
	if err == nil || l.Raw != "not json" {
		t.Fatalf("Next = %q, %v", l.Raw, err)
	}
	p.Expect(t, "after", step)
}

// fatalRecorder stands in for a test so that Expect's failure can be
// inspected instead of failing this test.
type fatalRecorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func TestExpectMismatchShowsLineAndStderr(t *testing.T) {
	t.Parallel()
	p := Run(t, nil, `
		process.stderr.write('diagnostic text\n');
		out('other', 1);
		out('wanted');
	`, nil)
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Expect(rec, "wanted", step)
	}()
	<-done
	// Let stderr arrive (it is a separate pipe from stdout).
	p.WaitExit(t, step)
	rec.mu.Lock()
	msg := rec.msg
	rec.mu.Unlock()
	for _, want := range []string{`expected "wanted"`, `{"ev":"other","args":[1]}`, "stderr"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, msg)
		}
	}
	// Nothing was skipped: the wanted line is still next.
	p.Expect(t, "wanted", step)
}
