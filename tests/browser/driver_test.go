package browser

// driverScript runs under node.Run (its prelude provides out, input and
// exit). It launches the Chromium at $CHROMIUM with playwright-core, then
// executes one command per stdin line, {"id", "op", ...}, and answers each
// with exactly one line: out('ok', id, result) or out('fail', id, error).
// Nothing else is printed, so the Go side reads replies in order.
//
// Every browser context routes its requests: the demo server's own
// addresses go through, the page's CDN address ($CDN_URL) is answered with
// the npm copy of socket.io-client ($CLIENT_JS) or, for a page opened
// with cdn "offline", refused as a network failure; anything else is
// refused and reported by the "problems" op. Host resolution outside
// 127.0.0.1 is disabled in the browser as a second fence.
const driverScript = `
const { chromium } = require('playwright-core');

const base = process.env.BASE_URL;
const cdnURL = process.env.CDN_URL;
const clientJS = process.env.CLIENT_JS;
const stepMs = Number(process.env.STEP_MS) || 20000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  timeout: 3 * stepMs,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});

const pages = new Map(); // name -> { page, requests, frames, errors }
const problems = [];
const get = (name) => {
  const st = pages.get(name);
  if (!st) throw new Error('no page ' + name);
  return st;
};

// connected waits for the page's status line and returns the socket id.
const connected = async (page) => {
  await page.waitForFunction(() => /^connected as \S+$/.test(document.getElementById('status').textContent));
  return (await page.textContent('#status')).slice('connected as '.length);
};

const logLines = (page) => page.$$eval('#log p', (ps) => ps.map((p) => p.textContent));

const ops = {
  async open({ page: name, cdn }) {
    const ctx = await browser.newContext({ viewport: { width: 800, height: 600 } });
    ctx.setDefaultTimeout(stepMs);
    const st = { requests: [], frames: [], errors: [] };
    await ctx.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(base + '/')) return route.continue();
      if (url === cdnURL && cdn === 'npm') return route.fulfill({ path: clientJS, contentType: 'text/javascript; charset=utf-8' });
      if (url === cdnURL) return route.abort('internetdisconnected');
      problems.push(name + ': refused a request to ' + url);
      return route.abort('blockedbyclient');
    });
    const page = await ctx.newPage();
    page.on('request', (r) => st.requests.push(r.url()));
    page.on('pageerror', (e) => st.errors.push('page error: ' + e.message));
    page.on('console', (m) => {
      // The refused CDN script of an "offline" page is expected to fail.
      if (m.type() === 'error' && !(cdn !== 'npm' && m.location().url === cdnURL)) st.errors.push('console error: ' + m.text());
    });
    page.on('websocket', (ws) => {
      ws.on('framesent', (f) => { if (typeof f.payload !== 'string') st.frames.push({ dir: 'sent', data: f.payload }); });
      ws.on('framereceived', (f) => { if (typeof f.payload !== 'string') st.frames.push({ dir: 'received', data: f.payload }); });
    });
    st.page = page;
    pages.set(name, st);
    await page.goto(base + '/');
    return connected(page);
  },
  async join({ page: name, room }) {
    const { page } = get(name);
    await page.fill('#join input[name=room]', room);
    await page.click('#join button');
  },
  async say({ page: name, text }) {
    const { page } = get(name);
    await page.fill('#say input[name=text]', text);
    await page.click('#say button');
  },
  // log waits until the page's log is exactly want and returns the log as
  // it is then (also after a timeout, for the Go side to show).
  async log({ page: name, want }) {
    const { page } = get(name);
    try {
      await page.waitForFunction((want) => {
        const got = Array.from(document.querySelectorAll('#log p'), (p) => p.textContent);
        return got.length === want.length && got.every((t, i) => t === want[i]);
      }, want);
    } catch (e) {
      if (e.name !== 'TimeoutError') throw e;
    }
    return logLines(page);
  },
  async reload({ page: name }) {
    const { page } = get(name);
    await page.reload();
    return connected(page);
  },
  // transport waits for the page's client to run on the WebSocket.
  async transport({ page: name }) {
    const { page } = get(name);
    await page.waitForFunction(() => socket.io.engine.transport.name === 'websocket');
    return page.evaluate(() => socket.io.engine.transport.name);
  },
  async echo({ page: name, file, data }) {
    const { page } = get(name);
    await page.setInputFiles('#echo input[name=file]', { name: file, mimeType: 'application/octet-stream', buffer: data });
    await page.click('#echo button');
  },
  frames({ page: name }) { return get(name).frames; },
  requests({ page: name }) { return get(name).requests; },
  async screenshot({ page: name, path }) {
    await get(name).page.screenshot({ path, fullPage: true });
    return path;
  },
  problems() {
    const errors = {};
    for (const [name, st] of pages) errors[name] = st.errors;
    return { refused: problems, errors };
  },
  async close() { await browser.close(); },
};

try {
  out('ok', 0, browser.version());
  for await (const cmd of input()) {
    let res;
    try {
      const op = ops[cmd.op];
      if (!op) throw new Error('unknown op ' + cmd.op);
      res = await op(cmd);
    } catch (e) {
      out('fail', cmd.id, String((e && e.stack) || e));
      continue;
    }
    out('ok', cmd.id, res === undefined ? null : res);
    if (cmd.op === 'close') break;
  }
} finally {
  await browser.close();
}
exit(0);
`
