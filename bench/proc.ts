// Readings of a process from /proc: CPU time (utime + stime) and resident memory (VmRSS), and waiting for it to settle.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, 100 when that fails). */
export const CLK_TCK: number = (() => {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(v) && v > 0 ? v : 100;
  } catch {
    return 100;
  }
})();

/** `pid` and its child processes (the workers of `voltlane --workers N`), from /proc. */
export function processTree(pid: number): number[] {
  const out = [pid];
  let names: string[];
  try {
    names = readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n));
  } catch {
    return out;
  }
  for (const n of names) {
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(n));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU time used so far by `pid` (all its threads) and its child processes, in milliseconds. */
export function cpuMs(pid: number): number {
  const tree = processTree(pid);
  if (tree.length === 1) return ownCpuMs(pid);
  let sum = 0;
  for (const p of tree) {
    try {
      sum += ownCpuMs(p);
    } catch {
      // a child that exited meanwhile
    }
  }
  return sum;
}

function ownCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is parenthesised and may hold spaces: split after its closing paren.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse /proc/${pid}/stat`);
  return ((utime + stime) * 1000) / CLK_TCK;
}

/** Resident set size of `pid` and its child processes, in KiB (VmRSS of /proc/<pid>/status). */
export function rssKiB(pid: number): number {
  const tree = processTree(pid);
  if (tree.length === 1) return ownRssKiB(pid);
  return tree.reduce((n, p) => {
    try {
      return n + ownRssKiB(p);
    } catch {
      return n;
    }
  }, 0);
}

function ownRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/** CPU time of this process (main thread and every worker thread), in milliseconds. */
export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Waits until `pid` is idle (under 2% of a core over a 300 ms window) and its RSS moved less
 * than 0.5% across that window, then returns the RSS in KiB. Gives up after `timeoutMs` and
 * returns the last reading.
 */
export async function settledRss(pid: number, timeoutMs = 8_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let cpu = cpuMs(pid);
  let rss = rssKiB(pid);
  for (;;) {
    await sleep(300);
    const cpu2 = cpuMs(pid);
    const rss2 = rssKiB(pid);
    const idle = cpu2 - cpu <= 6;
    const steady = Math.abs(rss2 - rss) <= rss * 0.005;
    cpu = cpu2;
    rss = rss2;
    if ((idle && steady) || Date.now() > deadline) return rss2;
  }
}

/** Waits until `pid` used under 2% of a core over a 300 ms window (or `timeoutMs` passed). */
export async function settledCpu(pid: number, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let cpu = cpuMs(pid);
  for (;;) {
    await sleep(300);
    const cpu2 = cpuMs(pid);
    if (cpu2 - cpu <= 6 || Date.now() > deadline) return;
    cpu = cpu2;
  }
}

/** Machine-wide CPU ticks from /proc/stat: busy (all but idle and iowait), of which softirq, and the total. */
function machineTicks(): { busy: number; softirq: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is already inside user).
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, softirq: v[6] ?? 0, total };
}

/** A CPU meter over a window: start it, then `stop()` gives the milliseconds used since. */
export interface CpuWindow {
  edgeMs: number;
  masterMs: number;
  generatorMs: number;
  wallMs: number;
  /** The whole machine over the window, in percent of all cores: busy, and the softirq part (loopback TCP) of it. */
  machineBusyPct: number;
  machineSoftirqPct: number;
}

export function startCpuWindow(edgePid: number, masterPid: number): () => CpuWindow {
  const e0 = cpuMs(edgePid);
  const m0 = cpuMs(masterPid);
  const g0 = selfCpuMs();
  const k0 = machineTicks();
  const t0 = performance.now();
  return () => {
    const k1 = machineTicks();
    const total = Math.max(1, k1.total - k0.total);
    return {
      edgeMs: cpuMs(edgePid) - e0,
      masterMs: cpuMs(masterPid) - m0,
      generatorMs: selfCpuMs() - g0,
      wallMs: performance.now() - t0,
      machineBusyPct: ((k1.busy - k0.busy) / total) * 100,
      machineSoftirqPct: ((k1.softirq - k0.softirq) / total) * 100,
    };
  };
}
