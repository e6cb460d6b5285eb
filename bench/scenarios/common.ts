// What the session scenarios share: the edge and echo master around a run, opening sessions, checks, paths, results.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startEchoMaster, startEdgeProcess, type EdgeProcess, type EdgeStartOptions, type Helper } from '../children.js';
import type { SessionsOpened } from '../loadgen/commands.js';
import type { LoadGen } from '../loadgen/pool.js';
import type { CpuWindow } from '../proc.js';
import { summarizeCpuProfile } from '../profile.js';
import { cpuShare, type Context, type ScenarioResult } from './context.js';

/** Fails unless the echo master saw no Failure and no protocol error. */
export async function checkMaster(master: Helper, key: string): Promise<{ data: number; reconnections: number }> {
  const s = await master.request({ type: 'stats' }, 'stats');
  if (s.failures > 0 || s.errors.length > 0) {
    throw new Error(`(${key}) the echo master saw ${s.failures} Failure packet(s) and errors: ${s.errors.join('; ')}`);
  }
  return { data: s.data, reconnections: s.reconnections };
}

/** A fresh sub-directory of the profile directory. */
export function profileFile(dir: string, name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}

/**
 * Runs `measure` with edge options that write the edge's CPU profile to `<profileDir>/<name>` when profiling,
 * then adds the profile's summary to the result.
 */
export async function withCpuProfile(
  ctx: Context,
  name: string,
  measure: (edgeOpts: { nodeArgs?: string[] }) => Promise<ScenarioResult>,
): Promise<ScenarioResult> {
  const dir = ctx.opts.profileDir ? profileFile(ctx.opts.profileDir, name) : null;
  const r = await measure(dir ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] } : {});
  if (ctx.opts.profileDir) r.profile = summarizeCpuProfile(profileFile(ctx.opts.profileDir, name), 15);
  return r;
}

/**
 * Starts an echo master and an edge process dialing it, runs `body`, then (whether it threw or not) closes the
 * generator's connections and stops the edge, then the master.
 */
export async function withEdge<T>(
  ctx: Context,
  edgeOpts: Omit<EdgeStartOptions, 'master' | 'masterPort'>,
  body: (edge: EdgeProcess, master: Helper) => Promise<T>,
): Promise<T> {
  const { helper: master, port: masterPort } = await startEchoMaster();
  const edge = await startEdgeProcess({ master, masterPort, ...edgeOpts });
  try {
    return await body(edge, master);
  } finally {
    await ctx.gen.all(() => ({ cmd: 'close' })).catch(() => undefined);
    await edge.stop();
    await master.stop();
  }
}

/** Worker i opens `parts[i].count` sessions on `port` with `lanes[i].count` handshakes in flight. */
export function openSessions(
  gen: LoadGen,
  port: number,
  parts: ReadonlyArray<{ count: number }>,
  lanes: ReadonlyArray<{ count: number }>,
  keys: { freshKeys: boolean; sessionKeys: boolean },
): Promise<SessionsOpened[]> {
  return gen.all<SessionsOpened>((i) => ({
    cmd: 'sessions.open',
    port,
    count: parts[i]!.count,
    concurrency: lanes[i]!.count,
    freshKeys: keys.freshKeys,
    sessionKeys: keys.sessionKeys,
  }));
}

/** What a scenario names itself; the rest of its row comes from the measured window. */
export type ResultHead = Pick<ScenarioResult, 'key' | 'title' | 'value' | 'unit' | 'higherIsBetter' | 'detail' | 'target' | 'original' | 'opName'>;

/** A row with no baseline: `count` units of work in window `w`, the edge at `rssKiB` afterwards. */
export function windowResult(head: ResultHead, w: CpuWindow, count: number, rssKiB: number): ScenarioResult {
  return {
    key: head.key,
    title: head.title,
    value: head.value,
    unit: head.unit,
    higherIsBetter: head.higherIsBetter,
    baseline: null,
    detail: head.detail,
    baselineDetail: null,
    target: head.target,
    original: head.original,
    edgeCpuPerOpUs: (w.edgeMs * 1000) / count,
    opName: head.opName,
    edgeRssMiB: rssKiB / 1024,
    cpu: cpuShare(w),
    count,
    windowSeconds: w.wallMs / 1000,
  };
}
