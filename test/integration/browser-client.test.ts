// voltlane/client in headless Chromium (Debian's /usr/bin/chromium via playwright-core): the browser build,
// loaded by a plain <script type="module"> from a page served here, talks to a real edge over WebSocket,
// exchanges data with a master, loses its socket, resumes with the missed packets replayed in order,
// resumes again from a ResumeState kept in localStorage across a page reload, reports the session lost once
// the master kicked it, and starts a new session from the stale ResumeState with onSessionLost: 'new-session'.
// Skipped (with the reason) when Chromium is missing outside CI; with CI=true a missing Chromium fails.
import { existsSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { useEdgeFixture } from '../helpers/edge.js';
import { freePort, text } from '../helpers/wire.js';
// @ts-expect-error: a plain ES module script without types
import { buildBrowserClient } from '../../scripts/build-browser.mjs';
import { startBrowserDemo } from '../../src/cli/demo-browser.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const skipReason = `${CHROMIUM} is not installed (run .ci/install-chromium.sh); set CI=true to make this a failure`;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// A browser launch and many steps: minutes of wall time on a loaded machine, not seconds of work.
const fx = useEdgeFixture();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const build = (): Promise<string> => buildBrowserClient({ write: false, minify: false }) as Promise<string>;

/** The test page: the client from /voltlane-client.js, a WebSocket wrapper that can take the network down. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>voltlane browser client</title>
<script type="module">
import { connect } from '/voltlane-client.js';
const Real = WebSocket;
const sockets = new Set();
window.netDown = false;
window.deadPort = 0;
// The network as the page sees it: while it is down, new connections go to a port where nothing listens.
window.WebSocket = class extends Real {
  constructor(url, protocols) {
    super(window.netDown ? url.replace(/:\\d+\\//, ':' + window.deadPort + '/') : url, protocols);
    sockets.add(this);
    this.addEventListener('close', () => sockets.delete(this));
  }
};
window.dropAll = () => { for (const s of sockets) s.close(); };
window.events = [];
const opts = { reconnect: { initialDelayMs: 20, maxDelayMs: 100, windowMs: 30000 } };
function watch(c) {
  window.client = c;
  c.on('message', (m) => events.push('msg:' + new TextDecoder().decode(m)));
  c.on('disconnected', () => events.push('disconnected'));
  c.on('resumed', () => events.push('resumed'));
  c.on('failed', (e) => events.push('failed:' + e.code));
  c.on('sessionLost', (id, e) => events.push('sessionLost:' + id + ':' + e.code));
  c.on('session', (id) => events.push('session:' + id));
  localStorage.setItem('voltlane', JSON.stringify(c.resumeState()));
  return String(c.id);
}
window.start = async (url) => watch(await connect(url, opts));
window.resumeStored = async (extra) => {
  const state = JSON.parse(localStorage.getItem('voltlane'));
  return watch(await connect(state.address, { ...opts, ...extra, resume: state }));
};
window.ready = true;
</script>`;

async function servePage(bundle: string): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    if (req.url === '/voltlane-client.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(bundle);
    } else if (req.url === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE);
    } else {
      res.writeHead(404).end();
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
}

describe('the browser build', () => {
  it('is one ES module with no Node built-ins', async () => {
    const bundle = await build();
    expect(bundle).not.toMatch(/\bfrom\s*["']node:|\brequire\(|import\(["']node:/);
    expect(bundle).toMatch(/export\s*\{[^}]*\bconnect\b/);
  });
});

if (!haveChromium && !inCi) console.warn(`browser client test skipped: ${skipReason}`);

describe('voltlane/client in headless Chromium', () => {
  it.skipIf(!haveChromium && !inCi)('connects over WebSocket, exchanges data, loses its socket and resumes with replay', { timeout: 120_000 }, async () => {
    if (!haveChromium) throw new Error(`CI=true but ${CHROMIUM} is missing: .ci/install-chromium.sh should have installed it`);
    const { chromium } = await import('playwright-core');
    const t = await fx.start({
      clients: { missedPacketsBufferSize: 16, staleTimeoutSecs: 60 },
      websocket: { address: { host: '127.0.0.1', port: 0 }, path: '/edge', allowedOrigins: [] },
    });
    const wsUrl = `ws://127.0.0.1:${t.edge.transports.address('ws')!.port}/edge`;
    const pageUrl = await servePage(await build());
    const deadPort = await freePort();

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(pageUrl);
    await page.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
    await page.evaluate((p) => ((globalThis as unknown as { deadPort: number }).deadPort = p), deadPort);
    const events = () => page.evaluate(() => (globalThis as unknown as { events: string[] }).events.slice());

    // Connect and exchange data with the master.
    const id = BigInt(await page.evaluate((u) => (globalThis as unknown as { start(u: string): Promise<string> }).start(u), wsUrl));
    await page.evaluate(() => (globalThis as unknown as { client: { send(s: string): void } }).client.send('hello from the browser'));
    await t.master.expect((p) => p.id === id && p.flag === Flag.Data && text(p.data) === 'hello from the browser', 10_000);
    t.master.send(id, Flag.Data, new TextEncoder().encode('hello, browser'));
    await expect.poll(events, { timeout: 10_000 }).toEqual([`session:${id}`, 'msg:hello, browser']);

    // The network goes down and the socket is lost: the session goes stale, the master's packets are buffered.
    await page.evaluate(() => {
      const w = globalThis as unknown as { netDown: boolean; dropAll(): void };
      w.netDown = true;
      w.dropAll();
    });
    await expect.poll(() => t.edge.stats().stale, { timeout: 10_000 }).toBe(1);
    for (let i = 0; i < 3; i++) t.master.send(id, Flag.Data, new TextEncoder().encode(`missed ${i}`));
    await expect.poll(() => t.edge.sessions.get(Number(id))?.missedCount ?? 0, { timeout: 10_000 }).toBe(3);
    // It comes back: the client resumes by itself and gets the missed packets first, in order.
    await page.evaluate(() => ((globalThis as unknown as { netDown: boolean }).netDown = false));
    await t.master.expect((p) => p.id === id && p.flag === Flag.Reconnection, 15_000, 'Reconnection');
    t.master.send(id, Flag.Data, new TextEncoder().encode('live again'));
    await expect
      .poll(events, { timeout: 10_000 })
      .toEqual([`session:${id}`, 'msg:hello, browser', 'disconnected', 'resumed', 'msg:missed 0', 'msg:missed 1', 'msg:missed 2', 'msg:live again']);
    expect(t.edge.counters.replayed).toBe(3);

    // A page reload: the new page resumes the same session from the ResumeState it left in localStorage.
    await page.reload();
    await page.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
    await expect.poll(() => t.edge.stats().stale, { timeout: 10_000 }).toBe(1);
    t.master.send(id, Flag.Data, new TextEncoder().encode('while reloading'));
    await expect.poll(() => t.edge.sessions.get(Number(id))?.missedCount ?? 0, { timeout: 10_000 }).toBe(1);
    const again = await page.evaluate(() => (globalThis as unknown as { resumeStored(): Promise<string> }).resumeStored());
    expect(BigInt(again)).toBe(id);
    await expect.poll(events, { timeout: 10_000 }).toEqual([`session:${id}`, 'msg:while reloading']);
    await page.evaluate(() => (globalThis as unknown as { client: { send(s: string): void } }).client.send('back after reload'));
    await t.master.expect((p) => p.id === id && text(p.data) === 'back after reload', 10_000);

    // The master kicks the session: the client's resume is closed after ClientId; it reports the session lost.
    const clear = () => page.evaluate(() => (globalThis as unknown as { events: string[] }).events.splice(0));
    await clear();
    t.master.send(id, Flag.Kick);
    await expect
      .poll(events, { timeout: 15_000 })
      .toEqual(['disconnected', `sessionLost:${id}:VL_ERR_SESSION_LOST`, 'failed:VL_ERR_SESSION_LOST']);
    // A new page load with the stale ResumeState and onSessionLost: 'new-session' begins a new session.
    await clear();
    const fresh = BigInt(await page.evaluate(() => (globalThis as unknown as { resumeStored(o: object): Promise<string> }).resumeStored({ onSessionLost: 'new-session' })));
    expect(fresh > id).toBe(true);
    await expect.poll(events, { timeout: 10_000 }).toEqual([`sessionLost:${id}:VL_ERR_SESSION_LOST`, `session:${fresh}`]);
    await page.evaluate(() => (globalThis as unknown as { client: { send(s: string): void } }).client.send('on a new session'));
    await t.master.expect((p) => p.id === fresh && text(p.data) === 'on a new session', 10_000);
    expect(pageErrors).toEqual([]);
  });
});

describe('voltlane demo --browser', () => {
  it.skipIf(!haveChromium && !inCi)('serves a page where the browser client sends, gets echoes and resumes after a drop', { timeout: 120_000 }, async () => {
    if (!haveChromium) throw new Error(`CI=true but ${CHROMIUM} is missing: .ci/install-chromium.sh should have installed it`);
    const { existsSync: exists } = await import('node:fs');
    // The demo serves dist/browser/voltlane-client.js as built; build it from the current source first.
    if (!exists('dist/browser/voltlane-client.js')) await buildBrowserClient();
    const { chromium } = await import('playwright-core');
    const demo = await startBrowserDemo('127.0.0.1:0', { out: () => {}, logLevel: 'off' });
    cleanups.push(() => demo.stop());
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    await page.goto(demo.url);
    const log = page.locator('#log');
    await expect.poll(() => log.textContent(), { timeout: 10_000 }).toMatch(/new session \d+/);
    await page.fill('#msg', 'hello demo');
    await page.click('button:has-text("Send")');
    await expect.poll(() => log.textContent(), { timeout: 10_000 }).toContain('<- hello demo');
    await page.click('#drop');
    await expect.poll(() => log.textContent(), { timeout: 15_000 }).toMatch(/resumed session \d+/);
    await expect.poll(() => log.textContent(), { timeout: 10_000 }).toMatch(/resumed session[\s\S]*<- tick \d+/);
  });
});
