// Mass events against the daemon as users run it: N sessions (default 65,535, from many loopback addresses) go
// stale, the edge is stopped with SIGTERM (timed: every session is written to the state file, or with
// --no-persist each ends with a Failure), then started again: every session comes back stale since its own
// drop. The restarted edge gets a reap interval longer than the time the sessions took to go stale and a stale
// timeout that puts every deadline into the same reap tick, at least --expire-after seconds (default 60) after
// the SIGTERM: all of them expire together while a legitimate client keeps an echo going through the master
// every 5 ms. Reported: SIGTERM time, restart time, how long the expiry took, and the gaps in the
// legitimate client's traffic (the largest is the freeze the issue measured in seconds and minutes).
//
//   npm run bench:mass                                 # 65,535 sessions, persist on (the default config)
//   npm run bench:mass -- --sessions 20000 --no-persist --repeat 2
//   npm run bench:mass -- --sessions 20000 --profile /tmp/prof     # CPU profiles of both edge processes
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { encodeFrame, FrameDecoder } from '../src/io/framing.js';
import { decodeHandshake, encodeHandshake } from '../src/io/handshake.js';
import { generateKeyPair } from '../src/io/crypto.js';
import { ProtocolError } from '../src/io/errors.js';
import { freePort } from './edge-config.js';

/** Sessions timed on an empty table, and again on a full one (each evicting). */
const EXTRA = 5_000;
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const VERSION = encodeFrame(encodeHandshake({ type: 'ProtocolVersion', version: 2 }));

interface Proc {
  child: ChildProcess;
  lines: string[];
  onLine: ((line: string) => void) | null;
}

function start(args: string[], env: NodeJS.ProcessEnv, cwd: string, nodeArgs: string[] = []): Proc {
  const child = spawn(process.execPath, [...nodeArgs, MAIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, lines: [], onLine: null };
  let rest = '';
  const take = (chunk: Buffer) => {
    const parts = (rest + chunk.toString()).split('\n');
    rest = parts.pop()!;
    for (const l of parts) {
      if (p.lines.length < 1000) p.lines.push(l);
      p.onLine?.(l);
    }
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  return p;
}

function waitLine(p: Proc, re: RegExp, timeoutMs: number): Promise<void> {
  if (p.lines.some((l) => re.test(l))) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms:\n${p.lines.slice(-20).join('\n')}`)), timeoutMs);
    const prev = p.onLine;
    p.onLine = (l) => {
      prev?.(l);
      if (re.test(l)) {
        clearTimeout(t);
        p.onLine = prev;
        resolve();
      }
    };
  });
}

/** SIGTERM; resolves with the ms until the process exited (and its exit code). */
function sigterm(p: Proc): Promise<{ ms: number; code: number | null }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    p.child.once('exit', (code) => resolve({ ms: performance.now() - t0, code }));
    p.child.kill('SIGTERM');
  });
}

async function staleCount(httpPort: number): Promise<number> {
  const m = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = m.split('\n').find((l) => l.startsWith('voltlane_sessions{state="away.stale"} '));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** N throwaway sessions (handshake done, then dropped: stale), `inFlight` at a time, from the given addresses. */
async function createStale(port: number, n: number, sources: string[], inFlight: number): Promise<void> {
  const key = generateKeyPair();
  const pubKey = encodeFrame(encodeHandshake({ type: 'PubKey', key: key.publicKey }));
  let next = 0;
  let done = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const from = sources[next++ % sources.length]!;
      const s = net.connect({ host: '127.0.0.1', port, localAddress: from, noDelay: true });
      const d = new FrameDecoder(1 << 16);
      const fail = (e: Error) => {
        s.destroy();
        reject(e);
      };
      s.on('error', fail);
      s.once('connect', () => s.write(VERSION));
      s.on('data', (c: Buffer) => {
        d.push(c);
        for (let f = d.next(); f !== null; f = d.next()) {
          if (f instanceof ProtocolError) return fail(f);
          const p = decodeHandshake(f);
          if (p instanceof ProtocolError) return fail(p);
          if (p.type === 'PubKey') s.write(pubKey);
          else if (p.type === 'ClientId') {
            s.removeListener('error', fail);
            s.on('error', () => {});
            s.destroy();
            done++;
            resolve();
          }
        }
      });
    });
  const lane = async (): Promise<void> => {
    while (next < n) await one();
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  if (done !== n) throw new Error(`${done} of ${n} sessions created`);
}

/** A legitimate client: a new session, then a 16-byte echo every `everyMs`; records when each echo came back. */
async function liveClient(port: number, everyMs: number): Promise<{ stop: () => number[]; received: () => number }> {
  const key = generateKeyPair();
  const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
  const d = new FrameDecoder(1 << 16);
  const at: number[] = [];
  let ready: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  let live = false;
  s.once('connect', () => s.write(VERSION));
  s.on('data', (c: Buffer) => {
    d.push(c);
    for (let f = d.next(); f !== null; f = d.next()) {
      if (f instanceof ProtocolError) throw f;
      if (live) {
        at.push(performance.now());
        continue;
      }
      const p = decodeHandshake(f);
      if (p instanceof ProtocolError) throw p;
      if (p.type === 'PubKey') s.write(encodeFrame(encodeHandshake({ type: 'PubKey', key: key.publicKey })));
      else if (p.type === 'ClientId') {
        live = true;
        ready();
      }
    }
  });
  await isReady;
  const payload = encodeFrame(new Uint8Array(16).fill(0x6c));
  const t = setInterval(() => s.write(payload), everyMs);
  return {
    stop: () => {
      clearInterval(t);
      s.destroy();
      return at;
    },
    received: () => at.length,
  };
}

function gaps(at: number[], from: number, to: number): { max: number; p99: number; over50: number } {
  const g: number[] = [];
  for (let i = 1; i < at.length; i++) if (at[i]! >= from && at[i - 1]! <= to) g.push(at[i]! - at[i - 1]!);
  g.sort((a, b) => a - b);
  return { max: g.at(-1) ?? 0, p99: g[Math.floor(g.length * 0.99)] ?? 0, over50: g.filter((x) => x > 50).length };
}

async function runOnce(n: number, sources: string[], persist: boolean, expireAfter: number, profileDir: string | undefined): Promise<Record<string, unknown>> {
  const prof = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const dir = mkdtempSync(join(tmpdir(), 'voltlane-mass-'));
  const [edgePort, masterPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  const master = start(['echo-master', '--listen', `127.0.0.1:${masterPort}`], {}, dir);
  await waitLine(master, /listening/, 10_000);
  let failures = 0;
  let firstFailure = 0;
  let lastFailure = 0;
  master.onLine = (l) => {
    if (!l.includes(' failed: ')) return;
    failures++;
    lastFailure = performance.now();
    if (failures === 1) firstFailure = lastFailure;
  };
  const env = (timeoutSecs: number, reapSecs = 1): NodeJS.ProcessEnv => ({
    VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS: String(timeoutSecs),
    VOLTLANE_CLIENTS_STALE_REAP_INTERVAL_SECS: String(reapSecs),
    VOLTLANE_CLIENTS_MAX_STALE_CLIENTS: '65535',
    VOLTLANE_LIMITS_NEW_CONNECTIONS_PER_ADDRESS_PER_SEC: '1000000',
    VOLTLANE_LIMITS_NEW_CONNECTIONS_BURST: '1000000',
    VOLTLANE_LIMITS_MAX_CONNECTIONS_PER_ADDRESS: '1000000',
    VOLTLANE_LIMITS_MAX_HANDSHAKES_IN_FLIGHT: '1000000',
    VOLTLANE_STATE_PERSIST_SESSIONS: String(persist),
  });
  const edgeArgs = ['--listen', `127.0.0.1:${edgePort}`, '--master', `127.0.0.1:${masterPort}`, '--http', `127.0.0.1:${httpPort}`, '--log-level', 'warn', '--log-format', 'json'];
  const out: Record<string, unknown> = { sessions: n, sources: sources.length, persist };
  try {
    let edge = start(edgeArgs, env(3600), dir, prof);
    await waitLine(edge, /edge\.started|edge\.listening|listening/, 20_000).catch(() => undefined);
    while (!(await fetch(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.ok).catch(() => false))) await new Promise((r) => setTimeout(r, 100));
    const firstStale = Date.now();
    const first = Math.min(EXTRA, n);
    let t0 = performance.now();
    await createStale(edgePort, first, sources, 128);
    out.firstPerSec = Math.round(first / ((performance.now() - t0) / 1000));
    t0 = performance.now();
    await createStale(edgePort, n - first, sources, 128);
    out.createSecs = round((performance.now() - t0) / 1000);
    while ((await staleCount(httpPort)) < n) await new Promise((r) => setTimeout(r, 200));
    if (n >= 65_535) {
      // The table is full: each of these evicts one (the oldest of the address holding the most).
      t0 = performance.now();
      await createStale(edgePort, EXTRA, sources, 128);
      out.evictingPerSec = Math.round(EXTRA / ((performance.now() - t0) / 1000));
      const t = performance.now();
      while (failures < EXTRA && performance.now() - t < 10_000) await new Promise((r) => setTimeout(r, 50));
      out.evicted = failures;
    }
    failures = 0;
    firstFailure = lastFailure = 0;
    const lastStale = Date.now();
    const stoppedAt = performance.now();
    const stop1 = await sigterm(edge);
    out.sigtermMs = Math.round(stop1.ms);
    out.sigtermExit = stop1.code;
    if (!persist) {
      const t = performance.now();
      while (failures < n && performance.now() - t < 10_000) await new Promise((r) => setTimeout(r, 50));
      out.failuresAtShutdown = failures;
      return out;
    }
    // Restarted: every session restored stale since the shutdown; all expire in one reap tick.
    const t1 = performance.now();
    // One reap tick for every deadline: ticks every `reap` ms (epoch multiples), the tick at least expireAfter
    // from now, every deadline (own stale time + timeout) just before it.
    const reapMs = Math.ceil((lastStale - firstStale + 30_000) / 1000) * 1000;
    const tick = Math.ceil((Date.now() + expireAfter * 1000) / reapMs) * reapMs;
    const timeoutSecs = (tick - 500 - lastStale) / 1000;
    out.reapIntervalSecs = reapMs / 1000;
    edge = start(edgeArgs, env(timeoutSecs, reapMs / 1000), dir, prof);
    while (!(await fetch(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.ok).catch(() => false))) await new Promise((r) => setTimeout(r, 20));
    out.restartMs = Math.round(performance.now() - t1);
    const live = await liveClient(edgePort, 5);
    const liveSince = performance.now();
    // The edge's own event-loop delay over the expiry: prom-client's histogram restarts at each scrape.
    const expiryDue = stoppedAt + (tick - Date.now()) + (performance.now() - stoppedAt);
    if (performance.now() > expiryDue - 3000) out.note = 'the restart took longer than --expire-after: expiry began before the client was live';
    else await new Promise((r) => setTimeout(r, Math.max(0, expiryDue - 3000 - performance.now())));
    await lagMax(httpPort);
    const wait = performance.now();
    while (failures < n && performance.now() - wait < 120_000) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 2000));
    out.edgeLoopDelayMaxMs = round((await lagMax(httpPort)) * 1000);
    const at = live.stop();
    out.expired = failures;
    out.expiryMs = Math.round(lastFailure - firstFailure);
    const around = gaps(at, firstFailure - 1000, lastFailure + 1000);
    // The same client in the seconds before the expiry: what the loaded machine does to it anyway.
    const before = gaps(at, liveSince, firstFailure - 1000);
    out.maxGapBeforeExpiryMs = round(before.max);
    out.gapsOver50MsBeforeExpiry = before.over50;
    const all = gaps(at, 0, Infinity);
    out.echoes = at.length;
    out.maxGapDuringExpiryMs = round(around.max);
    out.p99GapDuringExpiryMs = round(around.p99);
    out.gapsOver50Ms = around.over50;
    out.maxGapWholeRunMs = round(all.max);
    const stop2 = await sigterm(edge);
    out.sigtermAfterMs = Math.round(stop2.ms);
    return out;
  } finally {
    master.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    rmSync(dir, { recursive: true, force: true });
  }
}

const round = (x: number): number => Math.round(x * 10) / 10;

async function lagMax(httpPort: number): Promise<number> {
  const m = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = m.split('\n').find((l) => l.startsWith('nodejs_eventloop_lag_max_seconds '));
  return line ? Number(line.split(' ')[1]) : NaN;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sessions: { type: 'string', default: '65535' },
      sources: { type: 'string', default: '16' },
      'no-persist': { type: 'boolean' },
      repeat: { type: 'string', default: '1' },
      profile: { type: 'string' },
      'expire-after': { type: 'string', default: '60' },
    },
  });
  const n = Number(values.sessions);
  const sources = Array.from({ length: Number(values.sources) }, (_, i) => `127.0.1.${i + 2}`);
  for (let i = 0; i < Number(values.repeat); i++) {
    const r = await runOnce(n, sources, values['no-persist'] !== true, Number(values['expire-after']), values.profile);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
