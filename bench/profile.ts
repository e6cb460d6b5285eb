// Reading the profiles the bench takes of the edge: top self-time functions of a .cpuprofile, and the
// heap growth between two heap snapshots grouped by constructor.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
  samples: number[];
  timeDeltas: number[];
}

function newest(dir: string, suffix: string): string {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (files.length === 0) throw new Error(`no *${suffix} in ${dir}`);
  return files[0]!;
}

function where(url: string, line: number): string {
  if (!url) return '';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url);
  const file = m ? `${m[1]}/${basename(m[2]!)}` : url.startsWith('node:') ? url : url.includes('/dist-bench/') ? url.slice(url.indexOf('/dist-bench/') + 12) : basename(url);
  return `${file}:${line + 1}`;
}

/** The `top` functions by self time in the newest .cpuprofile of `dir`, as formatted lines. */
export function summarizeCpuProfile(dir: string, top: number): string[] {
  const file = newest(dir, '.cpuprofile');
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byNode = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) byNode.set(p.samples[i]!, (byNode.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const byFn = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const n of p.nodes) {
    const us = byNode.get(n.id) ?? 0;
    if (us === 0) continue;
    total += us;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    const key = `${name}  ${where(n.callFrame.url, n.callFrame.lineNumber)}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  const busy = total - idle;
  const rows = [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `${basename(file)}: ${(total / 1e6).toFixed(1)} s sampled, ${((busy / total) * 100).toFixed(0)}% busy; self time as % of busy time:`,
    ...rows.map(([k, us]) => `${((us / busy) * 100).toFixed(1).padStart(5)}%  ${k}`),
  ];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Asks `pid` (started with --heapsnapshot-signal=SIGUSR2, cwd `dir`) for a heap snapshot; resolves with its path once written. */
export async function heapSnapshot(pid: number, dir: string, timeoutMs = 120_000): Promise<string> {
  const seen = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < deadline) {
    await sleep(500);
    const fresh = readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot') && !seen.has(f));
    if (fresh.length === 0) continue;
    const path = join(dir, fresh[0]!);
    const size = statSync(path).size;
    // Complete once it parses as a whole file: the size stopped growing and it ends the JSON object.
    if (size > 0 && size === last && readFileSync(path, 'utf8').trimEnd().endsWith('}')) return path;
    last = size;
  }
  throw new Error(`no heap snapshot from pid ${pid} within ${timeoutMs} ms`);
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Bytes and object counts per group ("Session", "(closure)", "(string)", ...). */
function groups(path: string): Map<string, { bytes: number; count: number }> {
  const s = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const out = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]!]!;
    const name = s.strings[s.nodes[i + iName]!]!;
    let key: string;
    if (type === 'object' || type === 'native') key = `${name} (${type})`;
    else if (type === 'closure') key = `closure ${name || '(anonymous)'}`;
    else if (type === 'string' || type === 'concatenated string' || type === 'sliced string') key = '(strings)';
    else if (type === 'code') key = '(compiled code)';
    else key = `${name} (${type})`;
    const g = out.get(key) ?? { bytes: 0, count: 0 };
    g.bytes += s.nodes[i + iSize]!;
    g.count++;
    out.set(key, g);
  }
  return out;
}

/** What grew between two snapshots, per session: the `top` groups by bytes, as formatted lines. */
export function summarizeHeapGrowth(before: string, after: string, sessions: number, top: number): string[] {
  const a = groups(before);
  const b = groups(after);
  const rows: Array<{ key: string; bytes: number; count: number }> = [];
  let total = 0;
  for (const [key, g] of b) {
    const old = a.get(key) ?? { bytes: 0, count: 0 };
    const bytes = g.bytes - old.bytes;
    total += bytes;
    rows.push({ key, bytes, count: g.count - old.count });
  }
  rows.sort((x, y) => y.bytes - x.bytes);
  return [
    `JS heap growth over ${sessions.toLocaleString('en-US')} idle sessions: ${(total / sessions).toFixed(0)} B/session (V8 self sizes; native socket memory is outside the JS heap)`,
    ...rows.slice(0, top).map((r) => `${(r.bytes / sessions).toFixed(0).padStart(6)} B  ${(r.count / sessions).toFixed(2).padStart(6)} objs  ${r.key}`),
  ];
}
