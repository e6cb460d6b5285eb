// Scenarios (a), (b), (c): closed-loop echo clients through the edge and its echo master, then the same
// load against the plain length-prefixed echo server (the no-edge baseline).
import { startBaseline, startEchoMaster, startEdgeProcess, type Helper } from '../children.js';
import type { EchoCollect } from '../loadgen/commands.js';
import { Histogram } from '../loadgen/histogram.js';
import { shares } from '../loadgen/pool.js';
import { rssKiB, startCpuWindow } from '../proc.js';
import { summarizeCpuProfile } from '../profile.js';
import { cpuShare, sleep, type CpuShare, type Context, type ScenarioResult } from './context.js';
import { checkMaster, profileFile } from './common.js';
import type { BenchTransport } from '../loadgen/peer.js';

export interface EchoSpec {
  key: 'a' | 'b' | 'c';
  title: string;
  clients: number;
  size: number;
  inflight: number;
  /** What the headline figure is. */
  figure: 'roundTrips' | 'megabytes' | 'p99';
  target: { value: number; text: string };
  original: string;
}

export const ECHO_SPECS: readonly EchoSpec[] = [
  { key: 'a', title: '1,000 clients x 64 B, 8 in flight', clients: 1000, size: 64, inflight: 8, figure: 'roundTrips', target: { value: 261_000, text: '>= 261,000 rt/s (1.5x)' }, original: '174,000 rt/s (p99 70 ms)' },
  { key: 'b', title: '100 clients x 16 KiB, 4 in flight', clients: 100, size: 16 * 1024, inflight: 4, figure: 'megabytes', target: { value: 994, text: '>= 994 MB/s' }, original: '994 MB/s' },
  { key: 'c', title: '10 clients x 64 B, 1 in flight', clients: 10, size: 64, inflight: 1, figure: 'p99', target: { value: 297, text: 'p99 <= 297 us' }, original: '113 us p50 / 297 us p99' },
];

interface EchoRun {
  roundTrips: number;
  seconds: number;
  hist: Histogram;
  cpu: CpuShare;
  edgeMs: number;
  rssKiB: number;
}

async function drive(
  ctx: Context,
  spec: EchoSpec,
  port: number,
  edge: boolean,
  serverPid: number,
  masterPid: number | null,
  transport: BenchTransport = 'tcp',
): Promise<EchoRun> {
  const { gen, opts } = ctx;
  const parts = shares(spec.clients, gen.size);
  await gen.all((i) => ({ cmd: 'echo.open', port, edge, first: parts[i]!.first, count: parts[i]!.count, size: spec.size, inflight: spec.inflight, transport }));
  await gen.all(() => ({ cmd: 'echo.run' }));
  await sleep(opts.quick ? 1_000 : 3_000);
  await gen.all(() => ({ cmd: 'echo.mark' }));
  const stopCpu = startCpuWindow(serverPid, masterPid ?? serverPid);
  await sleep(opts.quick ? 3_000 : 10_000);
  const collected = await gen.all<EchoCollect>(() => ({ cmd: 'echo.collect' }));
  const w = stopCpu();
  const rss = rssKiB(serverPid);
  const totals = await gen.all<number>(() => ({ cmd: 'echo.finish' }));
  const hist = new Histogram();
  let roundTrips = 0;
  for (const c of collected) {
    hist.merge(new Histogram(c.hist));
    roundTrips += c.roundTrips;
  }
  if (roundTrips === 0) throw new Error(`(${spec.key}) no round trip completed in the measured window`);
  if (hist.total !== roundTrips) throw new Error(`(${spec.key}) histogram holds ${hist.total} samples for ${roundTrips} round trips`);
  ctx.log(`  ${edge ? 'edge' : 'baseline'}: ${totals.reduce((a, b) => a + b, 0).toLocaleString('en-US')} echoes checked in all`);
  return { roundTrips, seconds: w.wallMs / 1000, hist, cpu: cpuShare({ ...w, masterMs: masterPid === null ? null : w.masterMs }), edgeMs: w.edgeMs, rssKiB: rss };
}

function headline(spec: EchoSpec, r: EchoRun): number {
  if (spec.figure === 'roundTrips') return r.roundTrips / r.seconds;
  if (spec.figure === 'megabytes') return (r.roundTrips * spec.size) / r.seconds / 1e6;
  return r.hist.quantile(0.99);
}

function latency(r: EchoRun, server: string): string {
  const q = (x: number) => fmtUs(r.hist.quantile(x));
  const c = r.cpu;
  const pct = (v: number) => `${Math.round(v)}%`;
  return (
    `p50 ${q(0.5)}, p99 ${q(0.99)}, ${Math.round(r.roundTrips / r.seconds).toLocaleString('en-US')} rt/s; CPU ${server} ${pct(c.edge)}` +
    `${c.master === null ? '' : `, master ${pct(c.master)}`}, generator ${pct(c.generator)}, machine ${pct(c.machine)} busy (softirq ${pct(c.softirq)})`
  );
}

function fmtUs(us: number): string {
  return us >= 10_000 ? `${(us / 1000).toFixed(1)} ms` : `${Math.round(us)} us`;
}

/** Runs one echo scenario through the edge over `transport` (the baseline is always the plain TCP echo server). */
export async function runEcho(ctx: Context, spec: EchoSpec, transport: BenchTransport = 'tcp'): Promise<ScenarioResult> {
  const { helper: master, port: masterPort } = await startEchoMaster();
  let profileDir: string | null = null;
  const nodeArgs: string[] = [];
  if (ctx.opts.profileDir) {
    profileDir = profileFile(ctx.opts.profileDir, `cpu-${spec.key}`);
    nodeArgs.push('--cpu-prof', '--cpu-prof-dir', profileDir);
  }
  const edge = await startEdgeProcess({ master, masterPort, nodeArgs, transports: transport !== 'tcp' });
  let viaEdge: EchoRun;
  try {
    viaEdge = await drive(ctx, spec, edge.ports[transport], true, edge.pid, master.pid, transport);
    await checkMaster(master, spec.key);
  } finally {
    await edge.stop();
    await master.stop();
  }
  let base: EchoRun;
  const { helper: baseline, port } = await startBaseline();
  try {
    base = await drive(ctx, spec, port, false, baseline.pid, null);
  } finally {
    await baseline.stop();
  }
  const value = headline(spec, viaEdge);
  const result: ScenarioResult = {
    key: spec.key,
    title: transport === 'tcp' ? spec.title : `${spec.title}, over ${transport === 'ws' ? 'WebSocket' : 'TLS'}`,
    ...(transport !== 'tcp' ? { transport } : {}),
    value,
    unit: spec.figure === 'roundTrips' ? 'rt/s' : spec.figure === 'megabytes' ? 'MB/s' : 'us p99',
    higherIsBetter: spec.figure !== 'p99',
    baseline: headline(spec, base),
    detail: latency(viaEdge, 'edge'),
    baselineDetail: latency(base, 'echo server'),
    target: spec.target,
    original: spec.original,
    edgeCpuPerOpUs: (viaEdge.edgeMs * 1000) / viaEdge.roundTrips,
    opName: 'round trip',
    edgeRssMiB: viaEdge.rssKiB / 1024,
    cpu: viaEdge.cpu,
    count: viaEdge.roundTrips,
    windowSeconds: viaEdge.seconds,
  };
  if (profileDir) result.profile = summarizeCpuProfile(profileDir, 15);
  return result;
}

export type { Helper };
