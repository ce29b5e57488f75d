package node

// ChromiumPage is the start of a script that drives a page in headless
// Chromium: it launches the Chromium at $CHROMIUM with playwright-core
// (no sandbox, and no host resolved but 127.0.0.1) as `browser`, and
// opens `page`, whose actions time out after 20 s and whose uncaught
// errors are printed as out('pageerror', message). The script goes on
// from there and closes `browser` itself.
const ChromiumPage = `
const { chromium } = require('playwright-core');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});
const page = await browser.newPage();
page.setDefaultTimeout(20000);
page.on('pageerror', (e) => out('pageerror', e.message));
`
