// What Node's `net` alone costs where the C bench measures the edge (bench:floor, and the floor rows of bench:c):
// a bare Node echo server under vlload's scenarios a, b and c, and a bare Node server doing scenario f's socket work
// under floor-load.c. The servers are floor-server.mjs; every process is started and stopped here, by PID.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stopChild } from '../children.js';
import { freePort } from '../edge-config.js';
import { cpuMs, rssKiB } from '../proc.js';
import { num, readJson, type Figure } from './targets.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The project root, from bench/c (tests) or dist-bench/bench/c (the compiled bench). */
const root = existsSync(resolve(here, '../../package.json')) ? resolve(here, '../..') : resolve(here, '../../..');

/** Builds floor-load.c into `bin` (cc -O2) unless the program there is newer, and returns its path. */
export function buildFloorLoad(bin: string): string {
  const src = join(root, 'bench/c/floor-load.c');
  if (!existsSync(src)) throw new Error(`${src} is missing`);
  const out = join(bin, 'floor-load');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    execFileSync('cc', ['-O2', '-Wall', '-o', out, src], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  return out;
}

/** Stops a server or load process of the floor by its PID (SIGTERM, then SIGKILL). */
export async function stop(p: ChildProcess): Promise<void> {
  await stopChild(p, 'floor process');
}

export async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((done) => {
      const c = net.connect({ host: '127.0.0.1', port }, () => {
        c.destroy();
        done(true);
      });
      c.once('error', () => done(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

export function nodeServer(mode: 'echo' | 'resume', port: number): ChildProcess {
  return spawn(process.execPath, [join(root, 'bench/c/floor-server.mjs'), mode, String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Echo scenarios of vlload that have a floor (a bare Node echo server in place of vlecho). */
export type EchoScenario = 'a' | 'b' | 'c';

export interface CRun {
  rtPerS: number;
  mbPerS: number;
  p99: number;
  cpuPerRt: number;
}

/** vlload's scenario `s` in plain mode against whatever listens on `port` (PID `pid`, watched for CPU). */
export function vlloadEcho(s: EchoScenario, bin: string, port: number, pid: number, duration: number, warmup: number): CRun {
  const out = execFileSync(
    join(bin, 'vlload'),
    ['--scenario', s, '--mode', 'plain', '--target', `127.0.0.1:${port}`, '--duration', String(duration), '--warmup', String(warmup), '-q', '--watch', `srv=${pid}`],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const j = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
  if (j.errors !== 0) throw new Error(`vlload reported ${j.errors} errors against 127.0.0.1:${port}`);
  return { rtPerS: j.rt_per_s!, mbPerS: j.mb_per_s!, p99: j.lat_p99_us!, cpuPerRt: j.srv_cpu_us_per_rt! };
}

/** vlload's scenario `s` (plain framing) against vlecho (`'vlecho'`) or the bare Node echo server (`'node'`). */
export async function echoFloor(s: EchoScenario, server: 'vlecho' | 'node', bin: string, duration: number, warmup = 2): Promise<CRun> {
  const port = await freePort();
  const p = server === 'vlecho' ? spawn(join(bin, 'vlecho'), ['--listen', `127.0.0.1:${port}`, '-q'], { stdio: ['ignore', 'ignore', 'ignore'] }) : nodeServer('echo', port);
  try {
    await waitListening(port);
    return vlloadEcho(s, bin, port, p.pid!, duration, warmup);
  } finally {
    await stop(p);
  }
}

export interface FRun {
  idleKiB: number;
  upKiB: number;
  staleKiB: number;
  stormS: number;
  cpuPerResumeUs: number;
}

export async function partF(loadBin: string, clients: number): Promise<FRun> {
  const port = await freePort();
  const srv = nodeServer('resume', port);
  let load: ChildProcess | null = null;
  try {
    await waitListening(port);
    await new Promise((r) => setTimeout(r, 500));
    const idleKiB = rssKiB(srv.pid!);
    const l = spawn(loadBin, ['--target', `127.0.0.1:${port}`, '--clients', String(clients), '--inflight', '256'], { stdio: ['pipe', 'pipe', 'inherit'] });
    load = l;
    const lines = createInterface({ input: l.stdout! })[Symbol.asyncIterator]();
    const next = async (want: string): Promise<string[]> => {
      const r = await lines.next();
      if (r.done) throw new Error(`floor-load ended before ${want}`);
      const parts = String(r.value).split(' ');
      if (parts[0] !== want) throw new Error(`floor-load: expected ${want}, got ${String(r.value)}`);
      return parts;
    };
    await next('UP');
    const upKiB = rssKiB(srv.pid!);
    await next('STALE');
    const staleKiB = rssKiB(srv.pid!);
    const cpu0 = cpuMs(srv.pid!);
    l.stdin!.write('go\n');
    const done = await next('DONE');
    const cpu1 = cpuMs(srv.pid!);
    const [code] = (await once(l, 'exit')) as [number | null];
    if (code !== 0 || done[2] !== '0') throw new Error(`floor-load failed (exit ${code}, ${done[2]} errors)`);
    return { idleKiB, upKiB, staleKiB, stormS: Number(done[1]), cpuPerResumeUs: ((cpu1 - cpu0) * 1000) / clients };
  } finally {
    if (load) await stop(load);
    await stop(srv);
  }
}

/**
 * The floor rows of bench:c for scenario `s` (a, b, c and f; none for d and e), measured right after its run.sh
 * run: the bare Node echo server against the baseline vlecho of that run (`out`/base_S.json), f's bare server
 * under floor-load. Shown for context, without targets.
 */
export async function floorFigures(s: string, out: string, bin: string, duration: number): Promise<Figure[]> {
  if (s === 'a' || s === 'b' || s === 'c') {
    const file = join(out, `base_${s}.json`);
    if (!existsSync(file)) return [];
    const base = readJson(file);
    if (!base) throw new Error(`${file} holds no vlload result`);
    const n = await echoFloor(s, 'node', bin, duration);
    const what = 'floor: a bare Node echo server (one hop, no relay)';
    if (s === 'b') return [{ scenario: s, name: `${what}: MB/s vs no edge`, value: n.mbPerS / num(base, 'mb_per_s'), unit: 'x' }];
    const rt: Figure = { scenario: s, name: `${what}: round trips/s vs no edge`, value: n.rtPerS / num(base, 'rt_per_s'), unit: 'x' };
    if (s === 'a') return [rt];
    return [rt, { scenario: s, name: "floor: a bare Node echo server: p99 as a multiple of no edge's p99", value: n.p99 / num(base, 'lat_p99_us'), unit: 'x' }];
  }
  if (s === 'f') {
    const r = await partF(buildFloorLoad(bin), 10_000);
    return [
      { scenario: 'f', name: "floor: a bare Node server doing f's socket work: storm time", value: r.stormS, unit: 's' },
      { scenario: 'f', name: 'floor: a bare Node server: CPU per resume', value: r.cpuPerResumeUs, unit: 'us' },
      { scenario: 'f', name: 'floor: a bare Node server: RSS all dropped / connections', value: r.staleKiB / 10_000, unit: 'KiB' },
    ];
  }
  return [];
}
