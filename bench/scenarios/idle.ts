// Scenario (e): 10,000 idle sessions; the edge's settled RSS after them minus before, per session.
import { startEchoMaster, startEdgeProcess } from '../children.js';
import type { SessionsOpened } from '../loadgen/commands.js';
import { shares } from '../loadgen/pool.js';
import { settledRss, startCpuWindow } from '../proc.js';
import { heapSnapshot, summarizeHeapGrowth } from '../profile.js';
import { cpuShare, type Context, type ScenarioResult } from './context.js';
import { checkMaster, profileFile } from './common.js';

const SESSIONS = 10_000;
const IN_FLIGHT = 256;

export async function runIdle(ctx: Context): Promise<ScenarioResult> {
  const { gen } = ctx;
  const parts = shares(SESSIONS, gen.size);
  const lanes = shares(IN_FLIGHT, gen.size);
  const { helper: master, port: masterPort } = await startEchoMaster();
  const snapDir = ctx.opts.profileDir ? profileFile(ctx.opts.profileDir, 'heap-e') : null;
  const edge = await startEdgeProcess({
    master,
    masterPort,
    ...(snapDir ? { nodeArgs: ['--heapsnapshot-signal=SIGUSR2'], cwd: snapDir } : {}),
  });
  try {
    const before = await settledRss(edge.pid);
    const snapBefore = snapDir ? await heapSnapshot(edge.pid, snapDir) : null;
    const stopCpu = startCpuWindow(edge.pid, master.pid);
    const opened = await gen.all<SessionsOpened>((i) => ({
      cmd: 'sessions.open',
      port: edge.port,
      count: parts[i]!.count,
      concurrency: lanes[i]!.count,
      freshKeys: false,
      sessionKeys: false,
    }));
    const w = stopCpu();
    const ids = opened.flatMap((o) => o.ids);
    if (ids.length !== SESSIONS) throw new Error(`(e) ${ids.length} sessions opened, expected ${SESSIONS}`);
    const after = await settledRss(edge.pid);
    const profile = snapDir && snapBefore ? summarizeHeapGrowth(snapBefore, await heapSnapshot(edge.pid, snapDir), SESSIONS, 15) : undefined;
    await checkMaster(master, 'e');
    const perSession = (after - before) / SESSIONS;
    return {
      key: 'e',
      title: `${SESSIONS.toLocaleString('en-US')} idle sessions: edge RSS per session`,
      value: perSession,
      unit: 'KiB/session',
      higherIsBetter: false,
      baseline: null,
      detail: `settled RSS ${(before / 1024).toFixed(1)} MiB before, ${(after / 1024).toFixed(1)} MiB after`,
      baselineDetail: null,
      target: { value: 5, text: '<= 5 KiB/session' },
      original: '7.0 KiB/session',
      edgeCpuPerOpUs: (w.edgeMs * 1000) / SESSIONS,
      opName: 'session',
      edgeRssMiB: after / 1024,
      cpu: cpuShare(w),
      count: SESSIONS,
      windowSeconds: w.wallMs / 1000,
      ...(profile ? { profile } : {}),
    };
  } finally {
    await gen.all(() => ({ cmd: 'close' })).catch(() => undefined);
    await edge.stop();
    await master.stop();
  }
}
