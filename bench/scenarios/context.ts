// What every scenario gets (the load generator, the run's options) and what it returns (one row of the table).
import type { LoadGen } from '../loadgen/pool.js';

export interface RunOptions {
  quick: boolean;
  /** Directory for CPU profiles and heap snapshots; profiling is off when null. */
  profileDir: string | null;
}

export interface Context {
  gen: LoadGen;
  opts: RunOptions;
  log: (line: string) => void;
}

/** CPU use over a scenario's measured window, in percent of one core. */
export interface CpuShare {
  edge: number;
  master: number | null;
  generator: number;
  /** The whole machine, in percent of all its cores (100 = every core busy), and its softirq part. */
  machine: number;
  softirq: number;
}

/** CpuShare from a measured window. */
export function cpuShare(w: { edgeMs: number; masterMs: number | null; generatorMs: number; wallMs: number; machineBusyPct: number; machineSoftirqPct: number }): CpuShare {
  return {
    edge: (w.edgeMs / w.wallMs) * 100,
    master: w.masterMs === null ? null : (w.masterMs / w.wallMs) * 100,
    generator: (w.generatorMs / w.wallMs) * 100,
    machine: w.machineBusyPct,
    softirq: w.machineSoftirqPct,
  };
}

export interface ScenarioResult {
  key: string;
  title: string;
  /** The clients' transport to the edge when not plain TCP. */
  transport?: string;
  /** The headline figure and its unit. */
  value: number;
  unit: string;
  higherIsBetter: boolean;
  /** The same figure with no edge in the path (a plain echo server), when the scenario has one. */
  baseline: number | null;
  /** Secondary figures (latency percentiles etc.), already formatted. */
  detail: string;
  baselineDetail: string | null;
  target: { value: number; text: string };
  original: string;
  /** The edge's CPU time per unit of work (round trip, session), in microseconds. */
  edgeCpuPerOpUs: number | null;
  opName: string;
  edgeRssMiB: number;
  cpu: CpuShare;
  /** Work done: round trips, sessions, packets. */
  count: number;
  windowSeconds: number;
  /** Profile summaries, when profiling. */
  profile?: string[];
}

export function met(r: ScenarioResult): boolean {
  return r.higherIsBetter ? r.value >= r.target.value : r.value <= r.target.value;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
