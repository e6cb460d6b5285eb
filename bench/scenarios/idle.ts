// Scenario (e): 10,000 idle sessions; the edge's settled RSS after them minus before, per session.
import { shares } from '../loadgen/pool.js';
import { settledRss, startCpuWindow } from '../proc.js';
import { heapSnapshot, summarizeHeapGrowth } from '../profile.js';
import type { Context, ScenarioResult } from './context.js';
import { checkMaster, openSessions, profileFile, windowResult, withEdge } from './common.js';

const SESSIONS = 10_000;
const IN_FLIGHT = 256;

export async function runIdle(ctx: Context): Promise<ScenarioResult> {
  const { gen } = ctx;
  const parts = shares(SESSIONS, gen.size);
  const lanes = shares(IN_FLIGHT, gen.size);
  const snapDir = ctx.opts.profileDir ? profileFile(ctx.opts.profileDir, 'heap-e') : null;
  const edgeOpts = snapDir ? { nodeArgs: ['--heapsnapshot-signal=SIGUSR2'], cwd: snapDir } : {};
  return withEdge(ctx, edgeOpts, async (edge, master) => {
    const before = await settledRss(edge.pid);
    const snapBefore = snapDir ? await heapSnapshot(edge.pid, snapDir) : null;
    const stopCpu = startCpuWindow(edge.pid, master.pid);
    const opened = await openSessions(gen, edge.port, parts, lanes, { freshKeys: false, sessionKeys: false });
    const w = stopCpu();
    const ids = opened.flatMap((o) => o.ids);
    if (ids.length !== SESSIONS) throw new Error(`(e) ${ids.length} sessions opened, expected ${SESSIONS}`);
    const after = await settledRss(edge.pid);
    const profile = snapDir && snapBefore ? summarizeHeapGrowth(snapBefore, await heapSnapshot(edge.pid, snapDir), SESSIONS, 15) : undefined;
    await checkMaster(master, 'e');
    const perSession = (after - before) / SESSIONS;
    const head = {
      key: 'e',
      title: `${SESSIONS.toLocaleString('en-US')} idle sessions: edge RSS per session`,
      value: perSession,
      unit: 'KiB/session',
      higherIsBetter: false,
      detail: `settled RSS ${(before / 1024).toFixed(1)} MiB before, ${(after / 1024).toFixed(1)} MiB after`,
      target: { value: 5, text: '<= 5 KiB/session' },
      original: '7.0 KiB/session',
      opName: 'session',
    };
    return { ...windowResult(head, w, SESSIONS, after), ...(profile ? { profile } : {}) };
  });
}
