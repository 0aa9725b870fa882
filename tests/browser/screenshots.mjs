// Saves the README's code page and search screenshots from a running codecite (the full
// corpus reads better than the test fixture): node screenshots.mjs http://127.0.0.1:8080 ../../docs
// The chat screenshot, mid-answer, comes from the browser tests (SCREENSHOT_DIR).
import { chromium } from 'playwright-core';
import { join } from 'node:path';

const [base, out] = process.argv.slice(2);
if (!base || !out) throw new Error('usage: node screenshots.mjs BASE_URL OUT_DIR');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
const page = await context.newPage();
const key = process.env.CODECITE_API_KEY;
if (key) await context.setExtraHTTPHeaders({ Authorization: `Bearer ${key}` });
await page.goto(`${base}/codes/99213`);
await page.screenshot({ path: join(out, 'code-page.png') });
await page.goto(`${base}/search?q=colonoscopy`);
await page.screenshot({ path: join(out, 'search.png') });
await browser.close();
