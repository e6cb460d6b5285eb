// Scenario (f): stale sessions with 10 buffered packets each reconnect at once; every packet must be
// replayed in order. The figure is the time until the last session has all of its packets.
import type { SessionsResumed } from '../loadgen/commands.js';
import { shares } from '../loadgen/pool.js';
import { rssKiB, settledCpu, startCpuWindow } from '../proc.js';
import { sleep, type Context, type ScenarioResult } from './context.js';
import { checkMaster, openSessions, windowResult, withCpuProfile, withEdge } from './common.js';

const PACKETS = 10;
const SIZE = 64;
/** Outstanding TCP connects per worker while reconnecting (the rest of each reconnect is not throttled). */
const CONNECT_GATE = 256;
/**
 * Reconnects in progress per worker. With all 10,000 at once the edge's event loop is busy with ECDH for
 * seconds, its listen backlog (Node's default 511) overflows and the kernel resets connections.
 */
const RESUMES_IN_FLIGHT = 1024;

async function measureResume(ctx: Context, profOpts: { nodeArgs?: string[] }): Promise<ScenarioResult> {
  const { gen } = ctx;
  const total = ctx.opts.quick ? 1_000 : 10_000;
  const parts = shares(total, gen.size);
  const lanes = shares(256, gen.size);
  await gen.all((i) => ({ cmd: 'keys', count: parts[i]!.count }));
  const edgeOpts = { missedPackets: 16, ...profOpts };
  return withEdge(ctx, edgeOpts, async (edge, master) => {
    const opened = await openSessions(gen, edge.port, parts, lanes, { freshKeys: true, sessionKeys: true });
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
    const head = {
      key: 'f',
      title: `${total.toLocaleString('en-US')} stale sessions x ${PACKETS} buffered packets resume at once`,
      value: seconds,
      unit: 's',
      higherIsBetter: false,
      detail: `${resumed.toLocaleString('en-US')} resumed, ${packets.toLocaleString('en-US')} packets replayed in order, ${Math.round(total / seconds).toLocaleString('en-US')} resumes/s`,
      target: { value: 3, text: '< 3 s (10,000 sessions)' },
      original: 'not measured',
      opName: 'resume',
    };
    return windowResult(head, w, total, rss);
  });
}

export function runResume(ctx: Context): Promise<ScenarioResult> {
  return withCpuProfile(ctx, 'cpu-f', (profOpts) => measureResume(ctx, profOpts));
}
