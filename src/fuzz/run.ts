// Runs the lifecycle fuzzer: fast-check model runs against a target edge, shrinking a failure to a minimal
// command sequence and reporting it with its seed, path and the line that replays it.
import fc from 'fast-check';
import { lifecycleCommands } from './commands.js';
import { LifecycleModel } from './model.js';
import { LifecycleSystem, type LifecycleTarget } from './system.js';

export interface LifecycleFuzzOptions {
  /** A fresh target per run (or the same edge each time); `dispose` runs after the run. */
  setup(): Promise<{ target: LifecycleTarget; dispose(): Promise<void> }>;
  numRuns: number;
  seed?: number;
  path?: string;
  /** Commands' own replay path, printed in the counterexample (`replayPath="..."`). */
  replayPath?: string;
  maxCommands?: number;
  maxSessions?: number;
  /** limits.max_frame_size of the edge (default: Voltlane's). */
  maxFrameSize?: number;
  timeSteps?: number[];
  /** Edge process steps to include: the target's `control` must support them. */
  restarts?: Array<'restart' | 'kill'>;
  /** A cluster target's number of edges (its `cluster` control): adds edge choice, late master data, edge death. */
  edges?: number;
  /** Stop shrinking after this long (ms); the smallest failure so far is reported. */
  shrinkTimeLimitMs?: number;
  /** Builds the replay line from seed and path. */
  replayLine?(r: { seed: number; path: string; replayPath: string | undefined }): string;
}

export interface LifecycleFuzzReport {
  ok: boolean;
  numRuns: number;
  seed: number;
  path?: string;
  replayPath?: string;
  /** The shrunk command sequence. */
  counterexample?: string;
  error?: string;
  replay?: string;
  ms: number;
}

export async function runLifecycleFuzz(o: LifecycleFuzzOptions): Promise<LifecycleFuzzReport> {
  const started = Date.now();
  const seed = o.seed ?? (Date.now() ^ (Math.random() * 0x1_0000_0000)) | 0;
  const cmds = fc.commands(lifecycleCommands({ maxSessions: o.maxSessions ?? 4, maxFrameSize: o.maxFrameSize ?? 8_388_599, timeSteps: o.timeSteps ?? [1_000, 4_000, 9_999, 10_000, 25_000], ...(o.restarts ? { restarts: o.restarts } : {}), ...(o.edges ? { edges: o.edges } : {}) }), {
    maxCommands: o.maxCommands ?? 25,
    size: 'max',
    ...(o.replayPath ? { replayPath: o.replayPath } : {}),
  });
  const property = fc.asyncProperty(cmds, async (c) => {
    const { target, dispose } = await o.setup();
    const model = new LifecycleModel(target.model);
    const real = new LifecycleSystem(target);
    try {
      await fc.asyncModelRun(() => ({ model, real }), c);
      await real.finish(model);
    } finally {
      real.dispose();
      await dispose();
    }
  });
  const details = await fc.check(property, {
    numRuns: o.numRuns,
    seed,
    ...(o.path ? { path: o.path } : {}),
    ...(o.shrinkTimeLimitMs ? { interruptAfterTimeLimit: o.shrinkTimeLimitMs, markInterruptAsFailure: false } : {}),
  });
  const ms = Date.now() - started;
  if (!details.failed) return { ok: true, numRuns: details.numRuns, seed, ms };
  const counterexample = details.counterexample ? String(details.counterexample[0]) : undefined;
  const replayPath = counterexample?.match(/replayPath="([^"]*)"/)?.[1];
  const err = details.errorInstance;
  const r: LifecycleFuzzReport = {
    ok: false,
    numRuns: details.numRuns,
    seed: details.seed,
    ...(details.counterexamplePath ? { path: details.counterexamplePath } : {}),
    ...(replayPath ? { replayPath } : {}),
    ...(counterexample ? { counterexample } : {}),
    error: err instanceof Error ? err.message : String(err),
    ms,
  };
  if (o.replayLine) r.replay = o.replayLine({ seed: r.seed, path: r.path ?? '', replayPath });
  return r;
}

/** The report as text for a terminal or a test failure. */
export function formatReport(r: LifecycleFuzzReport): string {
  if (r.ok) return `lifecycle fuzz: ${r.numRuns} run(s) passed in ${r.ms} ms (seed ${r.seed})`;
  return [
    `lifecycle fuzz: invariant violated after ${r.numRuns} run(s) (seed ${r.seed}, path "${r.path ?? ''}")`,
    `minimal sequence: ${r.counterexample ?? '(none)'}`,
    `violation: ${r.error ?? ''}`,
    ...(r.replay ? [`replay: ${r.replay}`] : []),
  ].join('\n');
}
