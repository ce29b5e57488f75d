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
//
// The ops open, join, say, log, reload, transport and echo drive the
// chat page; visit, fill, click, refresh, hash, text and rows drive any
// page of the server (the admin dashboard's test uses them).
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

// newPage opens page name in a browser context of its own (800x600,
// nothing shared with the other pages), with the routes described above
// and its requests, WebSocket binary frames and errors recorded.
const newPage = async (name, cdn) => {
  const ctx = await browser.newContext({ viewport: { width: 800, height: 600 }, ignoreHTTPSErrors: true });
  ctx.setDefaultTimeout(stepMs);
  const st = { requests: [], frames: [], errors: [] };
  const refused = new Set();
  await ctx.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base + '/')) return route.continue();
    if (url === cdnURL && cdn === 'npm') return route.fulfill({ path: clientJS, contentType: 'text/javascript; charset=utf-8' });
    if (url === cdnURL) return route.abort('internetdisconnected');
    problems.push(name + ': refused a request to ' + url);
    refused.add(url);
    return route.abort('blockedbyclient');
  });
  const page = await ctx.newPage();
  page.on('request', (r) => st.requests.push(r.url()));
  page.on('pageerror', (e) => st.errors.push('page error: ' + e.message));
  page.on('console', (m) => {
    // A refused request, and the refused CDN script of an "offline"
    // page, are expected to fail; the refusal is reported apart.
    const from = m.location().url;
    if (m.type() === 'error' && !refused.has(from) && !(cdn !== 'npm' && from === cdnURL)) st.errors.push('console error: ' + m.text());
  });
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => { if (typeof f.payload !== 'string') st.frames.push({ dir: 'sent', data: f.payload }); });
    ws.on('framereceived', (f) => { if (typeof f.payload !== 'string') st.frames.push({ dir: 'received', data: f.payload }); });
  });
  st.page = page;
  pages.set(name, st);
  return page;
};

// poll evaluates read(arg) in page until done accepts its result or
// stepMs pass, and returns the last result. A navigation that destroys
// the page's context meanwhile only costs a round.
const poll = async (page, read, arg, done) => {
  const deadline = Date.now() + stepMs;
  let got = null;
  for (;;) {
    try {
      got = await page.evaluate(read, arg);
    } catch (e) {
      if (!/Execution context was destroyed/.test(String(e))) throw e;
    }
    if (done(got) || Date.now() > deadline) return got;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

// visibleText and visibleRows run in the page (see text and rows).
const visibleText = (selector) => {
  const el = Array.from(document.querySelectorAll(selector)).find((e) => e.getClientRects().length > 0);
  return el ? el.innerText.replace(/\s+/g, ' ').trim() : null;
};
const visibleRows = ({ selector, cols }) => Array.from(document.querySelectorAll(selector))
  .filter((tr) => tr.getClientRects().length > 0)
  .map((tr) => {
    const cells = Array.from(tr.querySelectorAll('th, td'), (c) => c.innerText.replace(/\s+/g, ' ').trim());
    return cols ? cols.map((i) => (i < cells.length ? cells[i] : null)) : cells;
  });
const sortRows = (rows) => (rows || []).slice().sort((a, b) => {
  const x = JSON.stringify(a), y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
});

const ops = {
  async open({ page: name, cdn }) {
    const page = await newPage(name, cdn);
    await page.goto(base + '/');
    return connected(page);
  },
  // visit opens page name at base + path, with no CDN copy to offer.
  async visit({ page: name, path }) {
    const page = await newPage(name, 'offline');
    await page.goto(base + path);
  },
  // fill types value into the input labelled label.
  async fill({ page: name, label, value }) {
    await get(name).page.getByLabel(label, { exact: true }).fill(value);
  },
  async click({ page: name, selector }) {
    await get(name).page.locator(selector).click();
  },
  async refresh({ page: name }) {
    await get(name).page.reload();
  },
  // hash moves the page to #hash without reloading it.
  async hash({ page: name, hash }) {
    await get(name).page.evaluate((h) => { location.hash = h; }, hash);
  },
  // text waits until the first visible element matching selector reads
  // want (as rendered, innerText, whitespace collapsed) and returns what
  // it reads then (null: no such element).
  async text({ page: name, selector, want }) {
    return poll(get(name).page, visibleText, selector, (got) => got === want);
  },
  // rows waits until the visible table rows matching selector are
  // exactly want, in any order, and returns them as they are then,
  // sorted. A row is the text of its th and td cells (innerText,
  // whitespace collapsed), only those at the indexes in cols when set.
  async rows({ page: name, selector, cols, want }) {
    const w = JSON.stringify(sortRows(want));
    return sortRows(await poll(get(name).page, visibleRows, { selector, cols }, (got) => JSON.stringify(sortRows(got)) === w));
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
  // lines returns the page's log as it is.
  async lines({ page: name }) {
    return logLines(get(name).page);
  },
  // id waits until the page is connected and returns its socket id.
  async id({ page: name }) {
    return connected(get(name).page);
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
    // Transitions under way jump to their end: no half-faded views.
    await get(name).page.screenshot({ path, fullPage: true, animations: 'disabled' });
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
