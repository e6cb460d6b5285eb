// Scenario (d): new sessions with fresh client keys through the full handshake, at most 256 in flight.
import { shares } from '../loadgen/pool.js';
import { rssKiB, startCpuWindow } from '../proc.js';
import type { Context, ScenarioResult } from './context.js';
import { checkMaster, openSessions, windowResult, withCpuProfile, withEdge } from './common.js';

const IN_FLIGHT = 256;

async function measureSessions(ctx: Context, profOpts: { nodeArgs?: string[] }): Promise<ScenarioResult> {
  const { gen } = ctx;
  const total = ctx.opts.quick ? 2_000 : 5_000;
  const parts = shares(total, gen.size);
  const lanes = shares(IN_FLIGHT, gen.size);
  // Key pairs are generated before the clock starts: a real client has its key before it dials.
  await gen.all((i) => ({ cmd: 'keys', count: parts[i]!.count }));
  return withEdge(ctx, profOpts, async (edge, master) => {
    const stopCpu = startCpuWindow(edge.pid, master.pid);
    const opened = await openSessions(gen, edge.port, parts, lanes, { freshKeys: true, sessionKeys: false });
    const w = stopCpu();
    const rss = rssKiB(edge.pid);
    const ids = opened.flatMap((o) => o.ids);
    if (ids.length !== total) throw new Error(`(d) ${ids.length} sessions opened, expected ${total}`);
    if (new Set(ids).size !== total) throw new Error('(d) the edge issued the same session id twice');
    await checkMaster(master, 'd');
    await gen.all(() => ({ cmd: 'close' }));
    const seconds = w.wallMs / 1000;
    const head = {
      key: 'd',
      title: `${total.toLocaleString('en-US')} new sessions, <= ${IN_FLIGHT} handshakes in flight`,
      value: total / seconds,
      unit: 'sessions/s',
      higherIsBetter: true,
      detail: `${total.toLocaleString('en-US')} sessions in ${seconds.toFixed(2)} s`,
      target: { value: 4_215, text: '>= 4,215 sessions/s (1.5x)' },
      original: '2,810 sessions/s',
      opName: 'session',
    };
    return windowResult(head, w, total, rss);
  });
}

export function runSessions(ctx: Context): Promise<ScenarioResult> {
  return withCpuProfile(ctx, 'cpu-d', (profOpts) => measureSessions(ctx, profOpts));
}
