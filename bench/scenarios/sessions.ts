// Scenario (d): new sessions with fresh client keys through the full handshake, at most 256 in flight.
import { startEchoMaster, startEdgeProcess } from '../children.js';
import type { SessionsOpened } from '../loadgen/commands.js';
import { shares } from '../loadgen/pool.js';
import { rssKiB, startCpuWindow } from '../proc.js';
import { cpuShare, type Context, type ScenarioResult } from './context.js';
import { checkMaster, profileFile } from './common.js';
import { summarizeCpuProfile } from '../profile.js';

const IN_FLIGHT = 256;

async function measureSessions(ctx: Context): Promise<ScenarioResult> {
  const { gen } = ctx;
  const total = ctx.opts.quick ? 2_000 : 5_000;
  const parts = shares(total, gen.size);
  const lanes = shares(IN_FLIGHT, gen.size);
  // Key pairs are generated before the clock starts: a real client has its key before it dials.
  await gen.all((i) => ({ cmd: 'keys', count: parts[i]!.count }));
  const { helper: master, port: masterPort } = await startEchoMaster();
  const profDir = ctx.opts.profileDir ? profileFile(ctx.opts.profileDir, 'cpu-d') : null;
  const edge = await startEdgeProcess({ master, masterPort, ...(profDir ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir] } : {}) });
  try {
    const stopCpu = startCpuWindow(edge.pid, master.pid);
    const opened = await gen.all<SessionsOpened>((i) => ({
      cmd: 'sessions.open',
      port: edge.port,
      count: parts[i]!.count,
      concurrency: lanes[i]!.count,
      freshKeys: true,
      sessionKeys: false,
    }));
    const w = stopCpu();
    const rss = rssKiB(edge.pid);
    const ids = opened.flatMap((o) => o.ids);
    if (ids.length !== total) throw new Error(`(d) ${ids.length} sessions opened, expected ${total}`);
    if (new Set(ids).size !== total) throw new Error('(d) the edge issued the same session id twice');
    await checkMaster(master, 'd');
    await gen.all(() => ({ cmd: 'close' }));
    const seconds = w.wallMs / 1000;
    return {
      key: 'd',
      title: `${total.toLocaleString('en-US')} new sessions, <= ${IN_FLIGHT} handshakes in flight`,
      value: total / seconds,
      unit: 'sessions/s',
      higherIsBetter: true,
      baseline: null,
      detail: `${total.toLocaleString('en-US')} sessions in ${seconds.toFixed(2)} s`,
      baselineDetail: null,
      target: { value: 4_215, text: '>= 4,215 sessions/s (1.5x)' },
      original: '2,810 sessions/s',
      edgeCpuPerOpUs: (w.edgeMs * 1000) / total,
      opName: 'session',
      edgeRssMiB: rss / 1024,
      cpu: cpuShare(w),
      count: total,
      windowSeconds: seconds,
    };
  } finally {
    await gen.all(() => ({ cmd: 'close' })).catch(() => undefined);
    await edge.stop();
    await master.stop();
  }
}

export async function runSessions(ctx: Context): Promise<ScenarioResult> {
  const r = await measureSessions(ctx);
  if (ctx.opts.profileDir) r.profile = summarizeCpuProfile(profileFile(ctx.opts.profileDir, 'cpu-d'), 15);
  return r;
}
