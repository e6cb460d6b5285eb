// The results table: printed to the terminal and written as Markdown for BENCHMARKS.md.
import { met, type ScenarioResult } from './scenarios/context.js';

function num(v: number, unit: string): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (unit === 's') return `${v.toFixed(2)} s`;
  if (unit === 'KiB/session') return `${v.toFixed(2)} KiB`;
  if (unit === 'MB/s') return `${v.toFixed(0)} MB/s`;
  if (unit === 'us p99') return `${Math.round(v).toLocaleString('en-US')} us`;
  return `${Math.round(v).toLocaleString('en-US')} ${unit}`;
}

function pct(v: number | null): string {
  return v === null ? '-' : `${Math.round(v)}%`;
}

export const COLUMNS = ['scenario', 'Voltlane', 'baseline', 'ratio', 'target', 'met', 'edge CPU/op', 'edge RSS', 'CPU edge/master/gen', 'machine busy'] as const;

export function rows(results: ScenarioResult[]): string[][] {
  return results.map((r) => {
    const ratio = r.baseline === null ? '' : r.higherIsBetter ? `${(r.value / r.baseline).toFixed(2)}x` : `${(r.baseline / r.value).toFixed(2)}x`;
    return [
      `(${r.key}) ${r.title}`,
      num(r.value, r.unit),
      r.baseline === null ? '' : num(r.baseline, r.unit),
      ratio,
      r.target.text,
      met(r) ? 'yes' : 'NO',
      r.edgeCpuPerOpUs === null ? '' : `${r.edgeCpuPerOpUs.toFixed(1)} us/${r.opName}`,
      `${r.edgeRssMiB.toFixed(0)} MiB`,
      `${pct(r.cpu.edge)} / ${pct(r.cpu.master)} / ${pct(r.cpu.generator)}`,
      `${pct(r.cpu.machine)} (si ${pct(r.cpu.softirq)})`,
    ];
  });
}

export function textTable(results: ScenarioResult[]): string {
  const body = rows(results);
  const head = [...COLUMNS];
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const details = results.map((r) => `(${r.key}) ${r.detail}${r.baselineDetail ? `; baseline: ${r.baselineDetail}` : ''}`);
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), '', ...details].join('\n');
}

export function markdownTable(results: ScenarioResult[]): string {
  const body = rows(results);
  const orig = results.map((r) => r.original);
  const head = [...COLUMNS.slice(0, 4), 'original Rust', ...COLUMNS.slice(4)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  body.forEach((r, i) => lines.push(`| ${[...r.slice(0, 4), orig[i]!, ...r.slice(4)].join(' | ')} |`));
  return lines.join('\n');
}
