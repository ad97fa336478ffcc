// A small remote control for headless Chromium, for tests/e2e/test_browser.py: one JSON command
// per stdin line, one JSON answer per stdout line ({ok: true, result} or {ok: false, error}).
// Uses playwright-core from web/node_modules (no browser download: it drives the Chromium whose
// path CHROMIUM names, Debian's `chromium` package).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const require = createRequire(join(process.env.WEB_ROOT, 'package.json'));
const { chromium } = require('playwright-core');

const ACTIVITY = '.webchat__basic-transcript__activity';
const SEND_BOX = '[data-id="webchat-sendbox-input"]';

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true });
const page = await browser.newPage({ viewport: { width: 1100, height: 1000 }, locale: 'nl-NL' });
const problems = [];
let origin = null;

page.on('request', request => {
  const url = request.url();
  if (origin && !url.startsWith(origin) && !/^(data|blob):/u.test(url)) {
    problems.push(`request outside the page's server: ${url}`);
  }
});
page.on('pageerror', error => problems.push(`page error: ${error.message}`));

// Texts of the transcript's activities, in order (Web Chat's screen-reader copies left out).
const activityTexts = () => page.locator(ACTIVITY).evaluateAll(nodes => nodes.map(node => node.innerText));

async function waitForText(text, after, timeout) {
  await page.waitForFunction(
    ([selector, wanted, from]) =>
      [...document.querySelectorAll(selector)].slice(from).some(node => node.innerText.includes(wanted)),
    [ACTIVITY, text, after],
    { timeout, polling: 100 }
  );
}

const commands = {
  async open({ url }) {
    origin = new URL(url).origin;
    await page.goto(url);
  },
  async route_404({ path }) {
    await page.route(`**${path}`, route => route.fulfill({ status: 404, body: 'not here' }));
  },
  async visible({ selector, timeout = 10000 }) {
    await page.locator(selector).first().waitFor({ state: 'visible', timeout });
    return page.locator(selector).first().innerText();
  },
  async person({ name, timeout = 15000 }) {
    const value = await page.locator('#persoon option').evaluateAll(
      (options, wanted) => options.find(option => option.textContent.startsWith(wanted))?.value,
      name
    );
    if (!value) throw new Error(`no person ${name} on the page`);
    await page.locator('#persoon:not([disabled])').selectOption(value, { timeout });
    await page.locator(`#webchat[data-persoon="${value}"][data-status="online"]`).waitFor({ timeout });
    await page.locator(SEND_BOX).waitFor({ timeout });
    return value;
  },
  async say({ text, expect, timeout = 15000 }) {
    const before = await page.locator(ACTIVITY).count();
    await page.locator(SEND_BOX).fill(text);
    await page.locator(SEND_BOX).press('Enter');
    if (expect) await waitForText(expect, before, timeout);
  },
  async click({ button, expect, timeout = 15000 }) {
    const before = await page.locator(ACTIVITY).count();
    const target = page.locator(ACTIVITY).getByRole('button', { name: button, exact: true }).last();
    await target.click({ timeout });
    if (expect) await waitForText(expect, before, timeout);
  },
  async wait({ text, timeout = 15000 }) {
    await waitForText(text, 0, timeout);
  },
  async transcript() {
    return activityTexts();
  },
  async problems() {
    return problems;
  },
  async screenshot({ path }) {
    await page.screenshot({ path, fullPage: true });
    return path;
  }
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { op, ...args } = JSON.parse(line);
  if (op === 'close') break;
  try {
    const result = await commands[op](args);
    process.stdout.write(JSON.stringify({ ok: true, result: result ?? null }) + '\n');
  } catch (error) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(error?.message || error) }) + '\n');
  }
}
await browser.close();
// stdin may still be open (the test closes it after this answer): leave anyway.
process.exit(0);
