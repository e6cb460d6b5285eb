// `npm run bench:c`: the C bench of ../shared/bench (vlload, vlmaster, vlecho via its run.sh) against the
// daemon started as users start it, `node dist/cli/main.js --config FILE`, one run.sh per scenario so each
// edge figure sits next to its own no-edge baseline; prints every figure of issue 13 with its target.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RAISED_LIMITS } from '../edge-config.js';
import { summarizeCpuProfile } from '../profile.js';
import { floorFigures } from './floor-runs.js';
import { buildTools, ensureCryptoLibs } from './tools.js';
import { failures, figures, fmt, median, met, targetText, type Figure } from './targets.js';

const ALL = ['a', 'b', 'c', 'd', 'e', 'f'];
const WITH_BASELINE = new Set(['a', 'b', 'c']);
/** Packets each stale session holds in f (vlload's default); the edge's buffer must take them. */
const BUFFERED = 10;

const HELP = `npm run bench:c -- [options]
  --scenarios LIST   a,b,c,d,e,f (default a,b,c,e,f)
  --repeat N         run every scenario N times (default 1); the summary shows each run and the median
  --out DIR          where run.sh's JSON and logs go (default a new ${tmpdir()}/voltlane-cbench.XXXXXX)
  --profile          the edge runs with node --cpu-prof; top self-time functions printed per scenario
  --strace           the edge runs under strace -f -c; syscall counts printed per scenario
  --node-args='A B'  extra node options for the edge (for example '--trace-gc' or '--max-semi-space-size=2'),
                     split on spaces; its log (edge_X.log in the run's folder) gets what they print
  --duration S, --warmup S, --hold S   passed to run.sh (a-c measured seconds, warm-up; e's idle hold)
  --markdown FILE, --json FILE         write the summary
  --bench-dir DIR    the C bench sources (default ../shared/bench, or VL_BENCH_DIR)
  --workers N        the edge runs as N worker processes on one port (general.workers; a-e: vlmaster's feed
                     for f needs a single firehose). Edge CPU and RSS are then the primary's only
  --redis-url URL    the workers (or the one edge) form a cluster on this Redis/Valkey ([cluster] redis_url)
  --skip-floor       leave out the floor rows: after a, b, c and f, a bare Node server doing the same socket work
                     (bench/c/floor-server.mjs; npm run bench:floor runs them alone)
Tools are built in VL_BENCH_BIN (default ${tmpdir()}/voltlane-vlbench), never in the bench folder.`;

function options() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      scenarios: { type: 'string', default: 'a,b,c,e,f' },
      repeat: { type: 'string', default: '1' },
      out: { type: 'string' },
      profile: { type: 'boolean', default: false },
      strace: { type: 'boolean', default: false },
      'node-args': { type: 'string', default: '' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      hold: { type: 'string' },
      markdown: { type: 'string' },
      json: { type: 'string' },
      'bench-dir': { type: 'string' },
      workers: { type: 'string' },
      'redis-url': { type: 'string' },
      'skip-floor': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const scenarios = values.scenarios.split(/[,\s]+/).filter(Boolean).map((s) => s.toLowerCase());
  for (const s of scenarios) if (!ALL.includes(s)) throw new Error(`--scenarios: unknown scenario ${JSON.stringify(s)} (a..f)`);
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat must be a positive integer');
  const workers = values.workers === undefined ? 1 : Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1) throw new Error('--workers must be a positive integer');
  if (workers > 1 && scenarios.includes('f')) throw new Error("--workers: scenario f needs a single firehose (vlmaster's feed); leave f out");
  const nodeArgs = values['node-args'].split(' ').filter(Boolean);
  for (const a of nodeArgs) if (!a.startsWith('-')) throw new Error(`--node-args: ${JSON.stringify(a)} is not a node option`);
  return { ...values, scenarios, repeat, workers, nodeArgs, redisUrl: values['redis-url'] ?? '' };
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Four consecutive free ports on 127.0.0.1 below the ephemeral range (edge, master, vlecho, control). */
async function freePorts(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((done) => {
      const s = net.createServer();
      s.once('error', () => done(false));
      s.listen({ host: '127.0.0.1', port }, () => s.close(() => done(true)));
    });
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + 4 * Math.floor(Math.random() * 3_000);
    let ok = true;
    for (let i = 0; i < 4 && ok; i++) ok = await free(base + i);
    if (ok) return base;
  }
  throw new Error('no four free consecutive ports found');
}

/** The edge's connserver.toml: the defaults with the limits the bench needs (shared/bench/README.md, scenario f). */
function edgeConfig(edgePort: number, masterPort: number, workers = 1, redisUrl = ''): string {
  return `# Written by npm run bench:c. Everything not set here is Voltlane's default.
[general]
log_level = "Warn"
${workers > 1 ? `# --workers: N processes on one port\nworkers = ${workers}\n` : ''}${redisUrl ? `\n[cluster]\n# --redis-url\nredis_url = ${JSON.stringify(redisUrl)}\n` : ''}
[listener]
address = "127.0.0.1:${edgePort}"

[master]
address = "127.0.0.1:${masterPort}"

[clients]
# default 0: (f) feeds ${BUFFERED} packets to each stale session
missed_packets_buffer_size = 16
# default 300: longer than the whole run, so no session of (f) is reaped
stale_timeout_secs = 3600
# (f) holds 10,000 stale sessions; the default 65535 is enough
max_stale_clients = 65535

[limits]
${RAISED_LIMITS.filter((l) => l.key.startsWith('limits.'))
  .map((l) => `# default ${l.default}: ${l.why}\n${l.key.slice('limits.'.length)} = ${l.value}`)
  .join('\n')}
`;
}

function run(cmd: string, args: string[], cwd: string): Promise<number> {
  return new Promise((done, fail) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
    p.once('error', fail);
    p.once('exit', (code, signal) => done(code ?? (signal ? 128 : 1)));
  });
}

/** `strace -c` output: the syscalls by count, as "name count" lines, and the total. */
function straceSummary(file: string, top: number): { lines: string[]; total: number; byName: Map<string, number> } {
  const byName = new Map<string, number>();
  if (!existsSync(file)) return { lines: [`(no strace output at ${file})`], total: 0, byName };
  let total = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
    if (!m || m[2] === 'total') continue;
    byName.set(m[2]!, Number(m[1]));
    total += Number(m[1]);
  }
  const lines = [...byName.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([n, c]) => `${c.toLocaleString('en-US').padStart(12)}  ${n}`);
  return { lines, total, byName };
}

/** What one operation of the scenario is, and how many there were (for syscalls per operation). */
function operations(s: string, out: string): { name: string; count: number } {
  try {
    const j = JSON.parse(readFileSync(join(out, `edge_${s}.json`), 'utf8').trim().split('\n').pop()!) as Record<string, number>;
    if (s === 'a' || s === 'b' || s === 'c') return { name: 'round trip (warm-up included)', count: j.round_trips_incl_warmup ?? Number.NaN };
    if (s === 'f') return { name: 'session (set-up, drop and resume)', count: j.sessions ?? Number.NaN };
    return { name: 'session', count: j.sessions ?? Number.NaN };
  } catch {
    return { name: 'operation', count: Number.NaN };
  }
}

async function main(): Promise<void> {
  const o = options();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const main = join(root, 'dist/cli/main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: npm run build first`);
  const benchDir = resolve(o['bench-dir'] ?? process.env.VL_BENCH_DIR ?? join(root, '../shared/bench'));
  const binDir = resolve(process.env.VL_BENCH_BIN ?? join(tmpdir(), 'voltlane-vlbench'));
  if (o.scenarios.includes('f')) ensureCryptoLibs(log);
  const runSh = buildTools(benchDir, binDir, o.scenarios.includes('f'));
  const outRoot = resolve(o.out ?? mkdtempSync(join(tmpdir(), 'voltlane-cbench.')));
  mkdirSync(outRoot, { recursive: true });
  log(`bench:c: tools from ${benchDir} built in ${binDir}; results in ${outRoot}`);

  const all: Array<{ rep: number; figures: Figure[] }> = [];
  const failed: string[] = [];
  for (let rep = 1; rep <= o.repeat; rep++) {
    for (const s of o.scenarios) {
      const out = join(outRoot, `run${rep}-${s}`);
      mkdirSync(out, { recursive: true });
      const base = await freePorts();
      const cfg = join(out, 'connserver.toml');
      writeFileSync(cfg, edgeConfig(base, base + 1, o.workers, o.redisUrl));
      const node = ['node', ...o.nodeArgs, ...(o.profile ? ['--cpu-prof', '--cpu-prof-dir', join(out, 'cpuprofile')] : []), main, '--config', cfg, '--log-format', 'json'];
      const edgeCmd = [...(o.strace ? ['strace', '-f', '-c', '-o', join(out, 'strace.txt')] : []), ...node].map((a) => `'${a}'`).join(' ');
      const args = [
        '--edge-cmd', edgeCmd, '--edge-cwd', out, '--label', 'voltlane',
        '--edge-port', String(base), '--master-port', String(base + 1), '--echo-port', String(base + 2), '--control-port', String(base + 3),
        '--scenarios', s, '--baseline', WITH_BASELINE.has(s) ? s : 'none', '--out', out,
        ...(o.duration ? ['--duration', o.duration] : []),
        ...(o.warmup ? ['--warmup', o.warmup] : []),
        ...(o.hold ? ['--hold', o.hold] : []),
        ...(s === 'f' ? ['--buffered', String(BUFFERED)] : []),
      ];
      log(`\nbench:c: run ${rep}/${o.repeat}, scenario ${s} (ports ${base}-${base + 3})`);
      await run(runSh, args, root);
      const bad = failures(out);
      if (bad.length > 0) failed.push(`run ${rep} ${s}: ${bad.join(' ')} (see ${out})`);
      const figs = figures(s, out);
      if (!o['skip-floor'] && o.workers === 1) {
        try {
          figs.push(...(await floorFigures(s, out, binDir, Number(o.duration ?? 10))));
        } catch (err) {
          log(`  floor of ${s} not measured: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      all.push({ rep, figures: figs });
      for (const f of figs) log(`  ${f.scenario}: ${f.name}: ${fmt(f.value, f.unit)}${targetText(f) ? `  (target ${targetText(f)}: ${met(f) ? 'met' : 'NOT met'})` : ''}`);
      if (o.profile) {
        try {
          for (const line of summarizeCpuProfile(join(out, 'cpuprofile'), 20)) log(`    ${line}`);
        } catch (err) {
          log(`    (no CPU profile: ${err instanceof Error ? err.message : String(err)}; the edge must exit by itself on SIGTERM within 5 s)`);
        }
      }
      if (o.strace) {
        const st = straceSummary(join(out, 'strace.txt'), 12);
        const ops = operations(s, out);
        log(`    syscalls of the edge, whole scenario: ${st.total.toLocaleString('en-US')}, ${(st.total / ops.count).toFixed(2)} per ${ops.name}`);
        for (const line of st.lines) log(`    ${line}`);
      }
    }
  }

  // The summary: one row per figure, each run's value, the median, the target.
  const keys = [...new Map(all.flatMap((r) => r.figures.map((f) => [`${f.scenario}|${f.name}`, f] as const))).values()];
  const head = ['figure', ...Array.from({ length: o.repeat }, (_, i) => `run ${i + 1}`), ...(o.repeat > 1 ? ['median'] : []), 'target', 'met'];
  const rows = keys.map((k) => {
    const vals = Array.from(
      { length: o.repeat },
      (_, i) =>
        all
          .filter((r) => r.rep === i + 1)
          .flatMap((r) => r.figures)
          .find((f) => f.scenario === k.scenario && f.name === k.name)?.value ?? Number.NaN,
    );
    const m: Figure = { ...k, value: o.repeat > 1 ? median(vals) : vals[0]! };
    const ok = met(m);
    return [
      `${k.scenario}: ${k.name}${k.note ? ` (${k.note})` : ''}`,
      ...vals.map((v) => fmt(v, k.unit)),
      ...(o.repeat > 1 ? [fmt(m.value, k.unit)] : []),
      targetText(k),
      ok === null ? '' : ok ? 'yes' : 'NO',
    ];
  });
  const md = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  log(`\n${md}\n`);
  if (o.markdown) writeFileSync(o.markdown, `${md}\n`);
  if (o.json) writeFileSync(o.json, JSON.stringify({ runs: all, failed }, null, 2));
  if (failed.length > 0) {
    log(`bench:c: FAILED checks (wrong or missing echoes, failed resumes, a crashed edge):\n  ${failed.join('\n  ')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:c: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
