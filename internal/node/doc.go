// Package node runs Node.js scripts from Go tests, typically a
// socket.io-client (or socket.io server) script talking to the Go server
// under test, and lets the test follow the script line by line.
//
// # Requirements
//
// [Require] fails the test, never skips it, unless `node` (v18 or newer)
// is on PATH and <module root>/node_modules/socket.io-client exists; the
// fix it suggests is `npm ci` at the module root (package.json and
// package-lock.json live there). [RequirePackage] checks another package,
// e.g. "socket.io". [Run] calls Require itself.
//
// # Running a script
//
//	p := node.Run(t, ctx, `
//		import { io } from 'socket.io-client';
//		const s = io(process.env.SERVER_URL, { transports: ['websocket'] });
//		s.on('connect', () => out('connect', s.id));
//		s.on('echo', (...args) => out('echo', ...args));
//		for await (const cmd of input()) s.emit(cmd.ev, ...cmd.args);
//		exit(0);
//	`, map[string]string{"SERVER_URL": srv.URL})
//	p.Expect(t, "connect", 5*time.Second)
//	if err := p.Send(map[string]any{"ev": "echo", "args": []any{"hi", node.Bin{1, 2}}}); err != nil {
//		t.Fatal(err)
//	}
//	l := p.Expect(t, "echo", 5*time.Second) // l.Arg(1) is []byte{1, 2}
//	_ = p.CloseStdin()
//	if code := p.WaitExit(t, 5*time.Second); code != 0 { ... }
//
// The script is written, after [Prelude], to <root>/tests/.tmp/<test>-*.mjs
// (git-ignored) and run with the module root as working directory, so it
// is an ES module: top-level await works, and both `import` and `require`
// find packages in <root>/node_modules. Stdout carries only JSON lines
// {"ev": string, "args": [...]}, each returned by [Proc.Next] or
// [Proc.Expect] in order; nothing is skipped. Stderr is captured, shown in
// every failure message and logged when the test fails. The process is
// killed when ctx is cancelled and always at t.Cleanup. Every wait is
// bounded: a zero timeout means [DefaultTimeout], none exceeds
// [MaxTimeout], and the prelude's safety timer ends a forgotten script.
// The script file is removed at the end of a passing test and kept, for
// inspection, when the test fails.
//
// Run starts two goroutines per script, one reading its stdout and one
// waiting for it to exit, and [Proc.Send] one per call for its write;
// they end once the process has exited (it is killed, with its process
// group on Unix, at t.Cleanup at the latest).
//
// # The prelude
//
// Every script can use these, defined by [Prelude]:
//
//   - out(ev, ...args): prints one line {"ev": ev, "args": args} to
//     stdout. Buffers, typed arrays, DataViews and ArrayBuffers become
//     {"$bin": "<base64>"} (decoded to []byte by [Line.Arg], or into a
//     [Bin]); Errors become {name, message, data?, other primitive own
//     properties}; undefined becomes null; Maps become objects, Sets
//     arrays, Dates ISO strings; other class instances use toJSON() or
//     String().
//   - next([timeoutMs]): a promise of the next JSON value sent with
//     [Proc.Send]; {"$bin": ...} values, at any depth, arrive as Buffers.
//     It rejects with code 'STDIN_CLOSED' once stdin is closed and drained
//     (see [Proc.CloseStdin]) and with code 'STDIN_TIMEOUT' when timeoutMs
//     passes. Stdin only keeps the script alive while a next() is pending.
//   - input(): an async iterator over the same values, ending at EOF:
//     `for await (const msg of input()) { ... }`.
//   - exitAfter(ms): (re)arms the safety timer; when it fires the script
//     prints {"ev":"$timeout","args":[ms]} and exits with code 124. It is
//     armed at start from ACTORIO_SCRIPT_TIMEOUT_MS, which Run sets to 60s
//     or less when ctx or the test has an earlier deadline.
//   - exit([code]): exits (default 0) after stdout is flushed.
//   - sleep(ms): a promise resolved after ms milliseconds.
//   - require: a CommonJS require rooted at the script's file.
//
// The prelude also sends console.log/info/debug to stderr (stdout is
// reserved for out), and turns an uncaught exception or unhandled
// rejection into a {"ev":"$error","args":[error]} line and exit code 1.
// Event names starting with "$" are reserved for the prelude.
//
// # Environment
//
// The script inherits the test's environment plus NODE_PATH
// (<root>/node_modules), NO_COLOR=1, ACTORIO_ROOT (the module root),
// ACTORIO_SCRIPT_TIMEOUT_MS, and finally the env map given to [Run]
// (SERVER_URL and the like), which overrides all of them.
//
// Line numbers in Node's stack traces count the prelude; failure messages
// say at which line of the file the test's own script begins.
package node
