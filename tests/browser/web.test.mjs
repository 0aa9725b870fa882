// The web front end in real headless Chromium (Debian's package), driven by playwright-core:
// the chat page, the quota prompt and registration, stopping a stream, code pages with and
// without JavaScript, search, the widget on a page of another origin, axe-core and the
// 375 px layout. Each server is a real `codecite serve` on loopback over the fixture corpus;
// one of them answers through a slow OpenAI-compatible stub, so that a stream can be
// watched mid-answer and stopped.
//
// Environment: CODECITE_BIN (the binary), CHROMIUM (default /usr/bin/chromium), and
// SCREENSHOT_DIR to save the README's screenshots.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const bin = process.env.CODECITE_BIN;
const shots = process.env.SCREENSHOT_DIR;
if (!bin) throw new Error('set CODECITE_BIN to the codecite binary');

const children = [];
const servers = [];
const dirs = [];
let browser;
let app;      // codecite with the extractive composer
let slow;     // codecite with a slow LLM stub behind it
let hostUrl;  // a page of another origin that embeds the widget

function listen(server) {
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server.address().port)));
}

async function freePort() {
  // Below the kernel's ephemeral range (32768 and up): a port from that range can be taken,
  // before the server binds it, as the source port of our own connection to it, which then
  // connects to itself and never answers.
  for (;;) {
    const port = 10000 + Math.floor(Math.random() * 22000);
    const s = createServer();
    const bound = await new Promise((ok) => {
      s.once('error', () => ok(false));
      s.listen(port, '127.0.0.1', () => ok(true));
    });
    if (bound) {
      await new Promise((ok) => s.close(ok));
      return port;
    }
  }
}

/** An OpenAI-compatible stub that streams one word every 250 ms. */
async function slowLlm() {
  const words = 'E11.9 is type 2 diabetes mellitus without complications [1]. It is the default when the documentation names no complication, and E11.99X is not a code. '.split(' ');
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let i = 0;
    const timer = setInterval(() => {
      if (i < words.length) {
        const chunk = { id: 'stub', object: 'chat.completion.chunk', created: 0, model: 'stub', choices: [{ index: 0, delta: { content: words[i] + ' ' }, finish_reason: null }] };
        res.write(`data: ${JSON.stringify(chunk)}\n\n`);
        i += 1;
      } else {
        res.write('data: [DONE]\n\n');
        res.end();
        clearInterval(timer);
      }
    }, 250);
    res.on('close', () => clearInterval(timer));
  });
  servers.push(server);
  return `http://127.0.0.1:${await listen(server)}/v1`;
}

/** Starts `codecite serve` on the fixture corpus; resolves once it is ready. */
async function codecite(env) {
  const dir = mkdtempSync(join(tmpdir(), 'codecite-web-'));
  dirs.push(dir);
  const port = await freePort();
  const config = join(dir, 'codecite.toml');
  writeFileSync(config, '[rate_limits]\nauth_per_ip_per_minute = 6000\nauth_per_ip_burst = 1000\nper_ip_burst = 10000\nper_ip_per_minute = 60000\n');
  const child = spawn(bin, ['--config', config, 'serve', '--data-dir', join(dir, 'data'), '--corpus', join(repo, 'tests/fixtures/corpus'), '--addr', `127.0.0.1:${port}`], {
    env: { ...process.env, ...env, RUST_LOG: 'error,tower_http=off' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i += 1) {
    try {
      const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return base;
    } catch { /* not listening yet */ }
    if (child.exitCode !== null) throw new Error(`codecite exited with ${child.exitCode}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error('codecite did not become ready');
}

before(async () => {
  const host = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A clinic's site</title></head>
<body><main><h1>Riverside Clinic billing office</h1><p>Questions about codes? Use the assistant.</p></main>
<script src="${app}/widget.js" data-title="Clinic coding help" data-accent="#0b6e4f"></script></body></html>`);
  });
  servers.push(host);
  const hostPort = await freePort();
  hostUrl = `http://127.0.0.1:${hostPort}`;
  app = await codecite({ CODECITE_CORS_ORIGINS: hostUrl });
  await new Promise((ok) => host.listen(hostPort, '127.0.0.1', ok));
  slow = await codecite({ CODECITE_LLM_BASE_URL: await slowLlm(), CODECITE_LLM_MODEL: 'stub' });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  if (shots) mkdirSync(shots, { recursive: true });
});

after(async () => {
  if (browser) await browser.close();
  for (const c of children) c.kill('SIGTERM');
  for (const s of servers) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function page(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, ...options });
  return context.newPage();
}

async function shoot(p, name) {
  if (shots) await p.screenshot({ path: join(shots, name), fullPage: false });
}

/** Types a question once the previous answer has ended (the Ask button is enabled again). */
async function ask(p, question) {
  await p.locator('.cc-form button[type=submit]:not([disabled])').waitFor();
  await p.getByLabel('Your coding question').fill(question);
  await p.keyboard.press('Enter');
}

test('the chat page streams an answer with linked verified codes and marked unverified ones', async () => {
  const p = await page();
  await p.goto(app + '/');
  await p.getByRole('button', { name: 'What is CPT code 99213?' }).waitFor();
  await p.locator('.cc-quota').filter({ hasText: '1 question left' }).waitFor();
  await ask(p, 'What is J9999 and E11.9?');
  const link = p.locator('.cc-a a.cc-code', { hasText: 'E11.9' }).first();
  await link.waitFor();
  assert.equal(await link.getAttribute('href'), '/codes/E11.9');
  const unverified = p.locator('.cc-a .cc-unverified', { hasText: 'J9999' }).first();
  await unverified.waitFor();
  assert.match(await unverified.innerText(), /unverified/);
  await p.locator('.cc-quota').filter({ hasText: '0 questions left' }).waitFor();
  assert.match(await p.locator('.cc-a').innerText(), /Type 2 diabetes mellitus without complications/);
  await p.locator('.cc-sources').getByText('Sources').click();
  await p.locator('.cc-sources a', { hasText: 'E11.9' }).first().waitFor();
  // The citation opens the code page, on the same guest session.
  await link.click();
  await p.waitForURL('**/codes/E11.9');
  await p.getByRole('heading', { level: 1, name: /E11\.9/ }).waitFor();
  await p.context().close();
});

test('a guest past its quota sees the register prompt, registers and keeps going', async () => {
  const p = await page();
  await p.goto(app + '/');
  await ask(p, 'What is E11.9?');
  await p.locator('.cc-a a.cc-code', { hasText: 'E11.9' }).first().waitFor();
  await ask(p, 'What is 99213?');
  const wall = p.locator('.cc-paywall');
  await wall.getByText(/guest accounts are limited to 1/).waitFor();
  const email = `coder${Date.now()}@example.com`;
  await wall.getByLabel('Email').fill(email);
  await wall.getByLabel(/^Password/).fill('a long password');
  await wall.getByRole('button', { name: 'Register and continue' }).click();
  await p.locator('.cc-a a.cc-code', { hasText: '99213' }).first().waitFor();
  await p.locator('.cc-quota').filter({ hasText: '3 questions left' }).waitFor();
  // Both turns are one conversation of the registered account.
  const conversations = await p.evaluate(() => fetch('/api/conversations').then((r) => r.json()));
  assert.equal(conversations.conversations.length, 1);
  assert.equal(conversations.conversations[0].turns, 2);
  const me = await p.evaluate(() => fetch('/api/me').then((r) => r.json()));
  assert.equal(me.account.email, email);
  await p.context().close();

  // Elsewhere, signing in brings the conversation back; signing out leaves a guest.
  const q = await page();
  await q.goto(app + '/');
  await q.locator('.cc-tools').getByRole('button', { name: 'Sign in' }).click();
  await q.locator('.cc-paywall').getByLabel('Email').fill(email);
  await q.locator('.cc-paywall').getByLabel('Password').fill('a long password');
  await q.locator('.cc-paywall').getByRole('button', { name: 'Sign in' }).click();
  await q.locator('.cc-tools').getByRole('button', { name: 'Sign out' }).waitFor();
  await q.locator('.cc-history summary').click();
  await q.locator('.cc-history').getByRole('button', { name: 'What is E11.9?' }).click();
  await q.locator('.cc-q', { hasText: 'What is 99213?' }).waitFor();
  await q.locator('.cc-tools').getByRole('button', { name: 'Sign out' }).click();
  await q.locator('.cc-tools').getByRole('button', { name: 'Sign in' }).waitFor();
  await q.locator('.cc-quota').filter({ hasText: '1 question left' }).waitFor();
  await q.context().close();
});

test('a streaming answer shows mid-answer and the stop button cancels it', async () => {
  const p = await page();
  await p.goto(slow + '/');
  await ask(p, 'What is E11.9?');
  const answer = p.locator('.cc-a').first();
  await p.locator('.cc-a a.cc-code', { hasText: 'E11.9' }).first().waitFor();
  await p.waitForFunction(() => document.querySelector('.cc-a').innerText.split(' ').length >= 8);
  await shoot(p, 'chat.png');
  const stop = p.getByRole('button', { name: 'Stop' });
  await stop.click();
  await p.locator('.cc-status', { hasText: 'Stopped.' }).waitFor();
  const cut = await answer.innerText();
  assert.doesNotMatch(cut, /is not a code/, 'the stream stopped before its end');
  await stop.waitFor({ state: 'hidden' });
  await p.waitForTimeout(600);
  assert.equal(await answer.innerText(), cut, 'nothing arrives after stop');
  assert.equal(await p.getByRole('button', { name: 'Ask' }).isEnabled(), true);
  await p.context().close();
});

test('code pages render on the server, work without JavaScript, and ask about their code', async () => {
  const noJs = await page({ javaScriptEnabled: false });
  const r = await noJs.goto(app + '/codes/75946');
  assert.equal(r.status(), 200);
  await noJs.getByRole('heading', { level: 1, name: /75946/ }).waitFor();
  await noJs.getByText('Deleted 2016').waitFor();
  await noJs.getByRole('heading', { name: 'Replaced by' }).waitFor();
  await noJs.locator('ul.codes a', { hasText: '37253' }).waitFor();
  // The second page view of this guest is refused in the product's words.
  const spent = await noJs.goto(app + '/codes/99213');
  assert.equal(spent.status(), 402);
  await noJs.getByText(/0 code page views remaining\. Guest accounts are limited to 1 page view\. Register a free account to get 5 more views/).waitFor();
  assert.equal(await noJs.getByRole('link', { name: 'Register a free account' }).getAttribute('href'), '/?register=1');
  await noJs.context().close();

  const p = await page();
  await p.goto(app + '/codes/99213');
  await p.getByRole('heading', { level: 1, name: /99213/ }).waitFor();
  await shoot(p, 'code-page.png');
  await p.getByLabel('Your question about 99213').fill('Can it be billed with a preventive visit?');
  await p.getByRole('button', { name: 'Ask', exact: true }).click();
  await p.waitForURL(/\/\?code=99213/);
  await p.locator('.cc-q', { hasText: 'About 99213: Can it be billed with a preventive visit?' }).waitFor();
  await p.locator('.cc-a a.cc-code', { hasText: '99213' }).first().waitFor();
  await p.context().close();

  const missing = await page({ javaScriptEnabled: false });
  const gone = await missing.goto(app + '/codes/E11.99');
  assert.equal(gone.status(), 404);
  await missing.getByRole('heading', { name: 'Close matches' }).waitFor();
  await missing.locator('.results a.code', { hasText: 'E11.9' }).first().waitFor();
  await missing.context().close();
});

test('the search page ranks named codes first and filters by system, without JavaScript', async () => {
  const p = await page({ javaScriptEnabled: false });
  await p.goto(app + '/search?q=colonoscopy');
  await p.locator('.results a.code', { hasText: '45378' }).first().waitFor();
  await p.goto(app + '/search?q=E11.9+diabetes');
  const first = p.locator('.results li').first();
  assert.match(await first.innerText(), /E11\.9[\s\S]*exact/);
  await p.selectOption('#system', 'CPT');
  await p.getByRole('button', { name: 'Search' }).last().click();
  await p.waitForURL(/system=CPT/);
  const badges = await p.locator('.results .badge').allInnerTexts();
  assert.ok(badges.length > 0 && badges.every((b) => b === 'CPT' || b === 'exact'), badges.join(','));
  await p.context().close();
  const shot = await page();
  await shot.goto(app + '/search?q=colonoscopy');
  await shoot(shot, 'search.png');
  await shot.context().close();
});

test('the widget works on a page of another origin with its own token', async () => {
  const p = await page();
  await p.goto(hostUrl + '/');
  const launcher = p.getByRole('button', { name: 'Ask a coding question' });
  await launcher.click();
  await p.getByRole('dialog', { name: 'Clinic coding help' }).waitFor();
  await ask(p, 'What is E11.9?');
  const link = p.locator('.cc-a a.cc-code', { hasText: 'E11.9' }).first();
  await link.waitFor();
  assert.equal(await link.getAttribute('href'), `${app}/codes/E11.9`);
  await shoot(p, 'widget.png');
  const token = await p.evaluate((api) => localStorage.getItem('codecite.token:' + api), app);
  assert.match(token, /^ccs_/);
  await p.locator('.cc-quota').filter({ hasText: '0 questions left' }).waitFor();
  await ask(p, 'And E11.65?');
  await p.locator('.cc-paywall').getByText(/guest accounts are limited/).waitFor();
  await p.keyboard.press('Escape');
  assert.equal(await p.locator('.cc-panel').isHidden(), true);
  await p.context().close();
});

for (const [name, path] of [['chat page', '/'], ['code page', '/codes/99213'], ['search page', '/search?q=diabetes']]) {
  test(`the ${name} has no serious accessibility violations and fits 375 px`, async () => {
    const p = await page({ viewport: { width: 375, height: 740 } });
    await p.goto(app + path);
    await p.locator('main').waitFor();
    if (path === '/') await p.locator('.cc-examples button').first().waitFor();
    await p.addScriptTag({ content: axeSource });
    const result = await p.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice'] }));
    const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), []);
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${path} scrolls sideways by ${overflow}px at 375 px`);
    await p.context().close();
  });
}
