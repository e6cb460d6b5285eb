// The figures of issue 13 read from one run.sh scenario's output (vlload JSON, run.sh's summary), each
// as a ratio against the no-edge baseline of the same run where there is one, with its target.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Figure {
  scenario: string;
  name: string;
  value: number;
  /** How the value is printed. */
  unit: 'x' | 'us' | 'ms' | 's' | 'KiB' | '/s' | 'MB/s';
  /** Target: value >= min or value <= max; none for figures shown for context. */
  min?: number;
  max?: number;
  /** Owned elsewhere (the stale-buffer rows), shown for the whole picture. */
  note?: string;
}

type Json = Record<string, unknown>;

/** The last line of a vlload JSON output file, parsed; null when missing, empty or not JSON. */
export function readJson(file: string): Json | null {
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8').trim();
  if (!text) return null;
  try {
    return JSON.parse(text.split('\n').pop()!) as Json;
  } catch {
    return null;
  }
}

/** A number field of vlload's JSON, NaN when absent. */
export function num(j: Json | null, key: string): number {
  const v = j?.[key];
  return typeof v === 'number' ? v : Number.NaN;
}

/** A cell of run.sh's summary table, by scenario prefix and metric name. */
function summaryCell(out: string, prefix: string, metric: string): string | null {
  const file = join(out, 'summary.md');
  if (!existsSync(file)) return null;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells[1]?.startsWith(prefix) && cells[2] === metric) return cells[3] ?? null;
  }
  return null;
}

/** The figures of scenario `s` in run.sh's output folder `out`. */
export function figures(s: string, out: string): Figure[] {
  const e = readJson(join(out, `edge_${s}.json`));
  const b = readJson(join(out, `base_${s}.json`));
  const f: Figure[] = [];
  const ratio = (key: string) => num(e, key) / num(b, key);
  switch (s) {
    case 'a':
      f.push({ scenario: 'a', name: '1,000 x 64 B, window 8: round trips/s vs no edge', value: ratio('rt_per_s'), unit: 'x', min: 0.38 });
      f.push({ scenario: 'a', name: 'edge CPU per round trip', value: num(e, 'edge_cpu_us_per_rt'), unit: 'us' });
      break;
    case 'b':
      f.push({ scenario: 'b', name: '100 x 16 KiB, window 4: MB/s vs no edge', value: ratio('mb_per_s'), unit: 'x', min: 0.25 });
      f.push({ scenario: 'b', name: 'edge MB/s (payload, one way)', value: num(e, 'mb_per_s'), unit: 'MB/s' });
      f.push({ scenario: 'b', name: 'edge CPU per round trip', value: num(e, 'edge_cpu_us_per_rt'), unit: 'us' });
      break;
    case 'c':
      f.push({ scenario: 'c', name: '10 x 64 B, window 1: round trips/s vs no edge', value: ratio('rt_per_s'), unit: 'x', min: 0.45 });
      f.push({ scenario: 'c', name: 'p99 round trip as a multiple of no edge\'s p99', value: ratio('lat_p99_us'), unit: 'x', max: 2.0 });
      f.push({ scenario: 'c', name: 'p99 round trip', value: num(e, 'lat_p99_us'), unit: 'us' });
      f.push({ scenario: 'c', name: 'no edge: p99 round trip', value: num(b, 'lat_p99_us'), unit: 'us' });
      f.push({ scenario: 'c', name: 'edge CPU per round trip', value: num(e, 'edge_cpu_us_per_rt'), unit: 'us' });
      break;
    case 'd':
      f.push({ scenario: 'd', name: '5,000 new sessions: sessions/s', value: num(e, 'sessions_per_s'), unit: '/s' });
      f.push({ scenario: 'd', name: 'edge CPU per new session', value: (num(e, 'edge_cpu_s') * 1e6) / num(e, 'sessions'), unit: 'us' });
      break;
    case 'e':
      f.push({ scenario: 'e', name: '10,000 idle sessions: edge RSS per idle session', value: Number(summaryCell(out, 'e:', 'edge KiB per idle session') ?? Number.NaN), unit: 'KiB', max: 3.5 });
      break;
    case 'f': {
      const resumed = num(e, 'resumed_ok');
      f.push({ scenario: 'f', name: '10,000 resumes x 10 buffered: storm time', value: num(e, 'storm_s'), unit: 's', max: 1.5 });
      f.push({ scenario: 'f', name: 'resume p99 (connect to last buffered packet)', value: num(e, 'resume_p99_ms'), unit: 'ms', max: 100 });
      f.push({ scenario: 'f', name: 'edge CPU per resume', value: (num(e, 'edge_cpu_s') * 1e6) / resumed, unit: 'us', max: 150 });
      f.push({ scenario: 'f', name: 'feeding 100,000 packets into stale buffers', value: num(e, 'feed_s'), unit: 's', max: 0.1, note: 'stale buffers' });
      f.push({ scenario: 'f', name: 'edge RSS per stale session (VmRSS all stale / sessions)', value: num(e, 'edge_rss_stale_kb') / num(e, 'stale'), unit: 'KiB', max: 6, note: 'stale buffers' });
      break;
    }
  }
  return f;
}

/** run.sh's exit codes line for the scenario: non-zero means a verification failure. */
export function failures(out: string): string[] {
  const file = join(out, 'summary.md');
  if (!existsSync(file)) return ['no summary'];
  const m = /^exit codes: (.*)$/m.exec(readFileSync(file, 'utf8'));
  if (!m) return ['no exit codes'];
  return m[1]!.trim().split(/\s+/).filter((kv) => !kv.endsWith('=0'));
}

export function met(f: Figure): boolean | null {
  if (!Number.isFinite(f.value)) return f.min === undefined && f.max === undefined ? null : false;
  if (f.min !== undefined) return f.value >= f.min;
  if (f.max !== undefined) return f.value <= f.max;
  return null;
}

export function fmt(v: number, unit: Figure['unit']): string {
  if (!Number.isFinite(v)) return 'n/a';
  switch (unit) {
    case 'x':
      return `${v.toFixed(2)}x`;
    case 's':
      return `${v.toFixed(2)} s`;
    case 'KiB':
      return `${v.toFixed(2)} KiB`;
    case 'ms':
      return `${v.toFixed(1)} ms`;
    default:
      return `${Math.round(v).toLocaleString('en-US')} ${unit}`;
  }
}

export function targetText(f: Figure): string {
  if (f.min !== undefined) return `>= ${fmt(f.min, f.unit)}`;
  if (f.max !== undefined) return `<= ${fmt(f.max, f.unit)}`;
  return '';
}

export function median(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}
