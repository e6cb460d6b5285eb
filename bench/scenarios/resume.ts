// Scenario (f): stale sessions with 10 buffered packets each reconnect at once; every packet must be
// replayed in order. The figure is the time until the last session has all of its packets.
import { startEchoMaster, startEdgeProcess } from '../children.js';
import type { SessionsOpened, SessionsResumed } from '../loadgen/commands.js';
import { shares } from '../loadgen/pool.js';
import { rssKiB, settledCpu, startCpuWindow } from '../proc.js';
import { cpuShare, sleep, type Context, type ScenarioResult } from './context.js';
import { checkMaster, profileFile } from './common.js';
import { summarizeCpuProfile } from '../profile.js';

const PACKETS = 10;
const SIZE = 64;
/** Outstanding TCP connects per worker while reconnecting (the rest of each reconnect is not throttled). */
const CONNECT_GATE = 256;
/**
 * Reconnects in progress per worker. With all 10,000 at once the edge's event loop is busy with ECDH for
 * seconds, its listen backlog (Node's default 511) overflows and the kernel resets connections.
 */
const RESUMES_IN_FLIGHT = 1024;

async function measureResume(ctx: Context): Promise<ScenarioResult> {
  const { gen } = ctx;
  const total = ctx.opts.quick ? 1_000 : 10_000;
  const parts = shares(total, gen.size);
  const lanes = shares(256, gen.size);
  await gen.all((i) => ({ cmd: 'keys', count: parts[i]!.count }));
  const { helper: master, port: masterPort } = await startEchoMaster();
  const profDir = ctx.opts.profileDir ? profileFile(ctx.opts.profileDir, 'cpu-f') : null;
  const edge = await startEdgeProcess({ master, masterPort, missedPackets: 16, ...(profDir ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir] } : {}) });
  try {
    const opened = await gen.all<SessionsOpened>((i) => ({
      cmd: 'sessions.open',
      port: edge.port,
      count: parts[i]!.count,
      concurrency: lanes[i]!.count,
      freshKeys: true,
      sessionKeys: true,
    }));
    const ids = opened.flatMap((o) => o.ids);
    if (ids.length !== total) throw new Error(`(f) ${ids.length} sessions opened, expected ${total}`);
    await gen.all(() => ({ cmd: 'sessions.drop' }));
    await settledCpu(edge.pid);
    const pushed = await master.request({ type: 'push', ids, count: PACKETS, size: SIZE }, 'pushed', 120_000);
    if (pushed.packets !== total * PACKETS) throw new Error(`(f) the master pushed ${pushed.packets} packets, expected ${total * PACKETS}`);
    await settledCpu(edge.pid);
    ctx.log(`  ${total.toLocaleString('en-US')} stale sessions hold ${PACKETS} buffered packets each; reconnecting all at once`);

    const stopCpu = startCpuWindow(edge.pid, master.pid);
    const res = await gen.all<SessionsResumed>(() => ({ cmd: 'sessions.resume', port: edge.port, connectGate: CONNECT_GATE, inflight: RESUMES_IN_FLIGHT, packets: PACKETS, size: SIZE }));
    const w = stopCpu();
    const rss = rssKiB(edge.pid);
    const resumed = res.reduce((n, r) => n + r.resumed, 0);
    const packets = res.reduce((n, r) => n + r.packets, 0);
    if (resumed !== total || packets !== total * PACKETS) {
      throw new Error(`(f) ${resumed} sessions resumed with ${packets} packets, expected ${total} with ${total * PACKETS}`);
    }
    let seen = await checkMaster(master, 'f');
    for (let i = 0; i < 50 && seen.reconnections < total; i++) {
      await sleep(100);
      seen = await checkMaster(master, 'f');
    }
    if (seen.reconnections !== total) throw new Error(`(f) the master heard ${seen.reconnections} Reconnection packets, expected ${total}`);
    const seconds = w.wallMs / 1000;
    return {
      key: 'f',
      title: `${total.toLocaleString('en-US')} stale sessions x ${PACKETS} buffered packets resume at once`,
      value: seconds,
      unit: 's',
      higherIsBetter: false,
      baseline: null,
      detail: `${resumed.toLocaleString('en-US')} resumed, ${packets.toLocaleString('en-US')} packets replayed in order, ${Math.round(total / seconds).toLocaleString('en-US')} resumes/s`,
      baselineDetail: null,
      target: { value: 3, text: '< 3 s (10,000 sessions)' },
      original: 'not measured',
      edgeCpuPerOpUs: (w.edgeMs * 1000) / total,
      opName: 'resume',
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

export async function runResume(ctx: Context): Promise<ScenarioResult> {
  const r = await measureResume(ctx);
  if (ctx.opts.profileDir) r.profile = summarizeCpuProfile(profileFile(ctx.opts.profileDir, 'cpu-f'), 15);
  return r;
}
