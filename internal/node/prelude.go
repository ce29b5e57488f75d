package node

import "strings"

// Prelude is the JavaScript prepended to every script started by [Run].
// Scripts are ES modules (.mjs): top-level await works, and both `import`
// and `require` resolve packages from <module root>/node_modules.
//
// See the package documentation for the functions it defines.
const Prelude = `// ---- actorio test prelude (internal/node/prelude.go) ----
import { createRequire as __actorioCreateRequire } from 'node:module';
const require = __actorioCreateRequire(import.meta.url);
const { out, input, next, exitAfter, exit, sleep } = (() => {
  'use strict';
  const MAX_DEPTH = 32;
  // encode turns a value into something JSON can carry losslessly enough
  // for tests: bytes become {"$bin": base64}, errors keep name/message/data.
  const encode = (v, depth) => {
    if (depth > MAX_DEPTH) return '[too deep]';
    if (v === null || v === undefined) return null;
    switch (typeof v) {
      case 'bigint': return v.toString();
      case 'function': case 'symbol': return String(v);
      case 'object': break;
      default: return v;
    }
    if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
    if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString('base64') };
    if (Array.isArray(v)) return v.map((x) => encode(x, depth + 1));
    if (v instanceof Error) {
      const o = { name: v.name, message: v.message };
      for (const [k, x] of Object.entries(v)) {
        if (x === null || typeof x !== 'object' || k === 'data') o[k] = encode(x, depth + 1);
      }
      return o;
    }
    if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), encode(x, depth + 1)]));
    if (v instanceof Set) return [...v].map((x) => encode(x, depth + 1));
    if (v instanceof Date) return v.toISOString();
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      if (typeof v.toJSON === 'function') return encode(v.toJSON(), depth + 1);
      return String(v);
    }
    const o = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = encode(x, depth + 1);
    return o;
  };
  const decode = (v) => {
    if (Array.isArray(v)) return v.map(decode);
    if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === '$bin' && typeof v.$bin === 'string') return Buffer.from(v.$bin, 'base64');
      const o = {};
      for (const k of keys) o[k] = decode(v[k]);
      return o;
    }
    return v;
  };

  // out(ev, ...args) prints exactly one line {"ev":ev,"args":[...]} to stdout.
  const out = (ev, ...args) => {
    process.stdout.write(JSON.stringify({ ev: String(ev), args: args.map((a) => encode(a, 0)) }) + '\n');
  };

  // stdout belongs to out(); stray console output goes to stderr.
  for (const m of ['log', 'info', 'debug']) console[m] = (...a) => console.error(...a);

  // ---- stdin: one JSON value per line, {"$bin": b64} decoded to Buffer ----
  const queue = [];
  const waiters = [];
  let started = false;
  let ended = false;
  let pending = '';
  const refresh = () => {
    if (!started) return;
    const s = process.stdin;
    if (waiters.length > 0 && !ended) { if (typeof s.ref === 'function') s.ref(); }
    else if (typeof s.unref === 'function') s.unref();
  };
  const closedError = () => Object.assign(new Error('stdin closed'), { code: 'STDIN_CLOSED' });
  const pushLine = (line) => {
    line = line.trim();
    if (line === '') return;
    let v;
    try { v = decode(JSON.parse(line)); } catch (e) {
      process.stderr.write('prelude: ignoring non-JSON stdin line: ' + line + '\n');
      return;
    }
    const w = waiters.shift();
    if (w) w.resolve(v); else queue.push(v);
  };
  const finish = () => {
    if (ended) return;
    ended = true;
    pushLine(pending);
    pending = '';
    while (waiters.length > 0) waiters.shift().reject(closedError());
    refresh();
  };
  const start = () => {
    if (started) return;
    started = true;
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => {
      pending += chunk;
      let i;
      while ((i = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, i);
        pending = pending.slice(i + 1);
        pushLine(line);
      }
      refresh();
    });
    process.stdin.on('end', finish);
    process.stdin.on('error', finish);
  };

  // next([timeoutMs]) resolves with the next JSON value written by the Go
  // test (Proc.Send); rejects when stdin is closed or the timeout expires.
  const next = (timeoutMs) => {
    start();
    if (queue.length > 0) return Promise.resolve(queue.shift());
    if (ended) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      if (timeoutMs > 0) {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          refresh();
          reject(Object.assign(new Error('next(): no stdin line within ' + timeoutMs + 'ms'), { code: 'STDIN_TIMEOUT' }));
        }, timeoutMs);
        w.resolve = (v) => { clearTimeout(timer); resolve(v); };
        w.reject = (e) => { clearTimeout(timer); reject(e); };
      }
      waiters.push(w);
      refresh();
    }).finally(refresh);
  };

  // input() is an async iterator over the stdin values; it ends at EOF.
  async function* input() {
    for (;;) {
      let v;
      try { v = await next(); } catch (e) {
        if (e && e.code === 'STDIN_CLOSED') return;
        throw e;
      }
      yield v;
    }
  }

  // exitAfter(ms) (re)arms the safety timer: when it fires the script
  // prints {"ev":"$timeout","args":[ms]} and exits with code 124.
  let safety = null;
  const exitAfter = (ms) => {
    if (safety) clearTimeout(safety);
    safety = setTimeout(() => {
      process.stderr.write('prelude: exitAfter(' + ms + ') safety timer fired\n');
      out('$timeout', ms);
      process.exit(124);
    }, ms);
    safety.unref();
  };
  exitAfter(Number(process.env.ACTORIO_SCRIPT_TIMEOUT_MS) || 60000);

  // exit([code]) exits once everything printed so far is flushed.
  const exit = (code = 0) => { process.stdout.write('', () => process.exit(code)); };
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  const fatal = (kind) => (e) => {
    try { out('$error', e); } catch (_) { /* ignore */ }
    process.stderr.write('prelude: ' + kind + ': ' + ((e && e.stack) || e) + '\n');
    process.exit(1);
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled rejection'));

  return { out, input, next, exitAfter, exit, sleep };
})();
// ---- end of prelude; the test's script follows ----
`

// preludeLines is the number of lines the prelude adds in front of a
// script; line N of a script is line N+preludeLines of the file node runs.
var preludeLines = strings.Count(Prelude, "\n")
