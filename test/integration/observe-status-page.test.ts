// The status page in headless Chromium (Debian's /usr/bin/chromium via playwright-core): it shows a connected
// session in the session machine's live counts; the screenshot goes to test-artifacts/status-page.png.
// Skipped (with the reason) when Chromium is missing outside CI; with CI=true a missing Chromium fails.
import { existsSync, mkdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Edge } from '../../src/actors/edge.js';
import { generateKeyPair } from '../../src/io/crypto.js';
import { LifecycleRecorder } from '../../src/http/lifecycle.js';
import { StatusServer } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/edge.js';
import { RawMaster, rawNewSession } from '../helpers/wire.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const skipReason = `${CHROMIUM} is not installed (run .ci/install-chromium.sh); set CI=true to make this a failure`;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

if (!haveChromium && !inCi) console.warn(`status page test skipped: ${skipReason}`);

describe('status page in headless Chromium', () => {
  it.skipIf(!haveChromium && !inCi)('shows a connected session in the live counts and the master link state', async () => {
    if (!haveChromium) throw new Error(`CI=true but ${CHROMIUM} is missing: .ci/install-chromium.sh should have installed it`);
    const { chromium } = await import('playwright-core');
    const master = new RawMaster();
    const masterPort = await master.listen();
    const lifecycle = new LifecycleRecorder();
    const edge = new Edge({ config: testConfig(masterPort), keyPair: generateKeyPair(), log: silentLogger(), onLifecycle: lifecycle.record });
    const { port } = await edge.start();
    const status = new StatusServer({ edge, lifecycle, address: { host: '127.0.0.1', port: 0 } });
    const url = await status.start();
    cleanups.push(async () => {
      await edge.stop();
      await master.close();
      await status.close();
    });
    await master.connected();
    const s = await rawNewSession(port);
    cleanups.push(() => void s.socket.destroy());

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    cleanups.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(url)) external.push(r.url());
    });
    await page.goto(url);
    const connected = page.locator('[data-state="live.connected"]');
    await expect.poll(() => connected.textContent(), { timeout: 10_000 }).toBe('1');
    await expect.poll(() => page.locator('#master').textContent(), { timeout: 5_000 }).toBe('connected');
    expect(await page.locator('#events').textContent()).toContain('session.created');
    expect(await page.locator('[data-state="away.stale"]').textContent()).toBe('0');
    expect(external).toEqual([]); // self-contained: no request leaves the status server
    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/status-page.png', fullPage: true });
    expect(existsSync('test-artifacts/status-page.png')).toBe(true);
  });
});
