// `npm run bench`: scenarios (a)-(f) of issue 7 against the real edge daemon, (a)-(c) also against a
// plain echo server; prints the table and fails (exit 1) on any wrong echo or error.
// Flags: --quick (short runs), --only a,b (scenarios), --json FILE (results), --profile DIR (CPU profiles
// of the edge under a and b, heap snapshots under e), --markdown FILE (the table as Markdown), --transport
// tcp,tls,ws (the echo scenarios through each of the edge's transports; default tcp).
import { writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { LoadGen } from './loadgen/pool.js';
import { CLK_TCK } from './proc.js';
import { markdownTable, textTable } from './report.js';
import type { Context, RunOptions, ScenarioResult } from './scenarios/context.js';
import { met } from './scenarios/context.js';
import { ECHO_SPECS, runEcho } from './scenarios/echo.js';
import { runIdle } from './scenarios/idle.js';
import { runResume } from './scenarios/resume.js';
import { runSessions } from './scenarios/sessions.js';
import type { BenchTransport } from './loadgen/peer.js';

const ALL = ['a', 'b', 'c', 'd', 'e', 'f'] as const;
/** Load-generator worker threads: one per core of the 2-core reference machine. */
const WORKERS = 2;

function options(): RunOptions & { only: Set<string>; json: string | null; markdown: string | null; transports: BenchTransport[] } {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      json: { type: 'string' },
      markdown: { type: 'string' },
      profile: { type: 'string' },
      transport: { type: 'string' },
    },
  });
  const transports = (values.transport ?? 'tcp').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const t of transports) if (t !== 'tcp' && t !== 'tls' && t !== 'ws') throw new Error(`--transport: unknown transport ${JSON.stringify(t)} (use tcp, tls, ws)`);
  const only = new Set((values.only ?? ALL.join(',')).split(',').map((s) => s.trim().toLowerCase()).filter(Boolean));
  for (const k of only) if (!(ALL as readonly string[]).includes(k)) throw new Error(`--only: unknown scenario ${JSON.stringify(k)} (use a..f)`);
  return {
    quick: values.quick ?? false,
    only,
    json: values.json ?? null,
    markdown: values.markdown ?? null,
    profileDir: values.profile ?? null,
    transports: transports as BenchTransport[],
  };
}

export function machine(): string {
  const c = cpus();
  return `${c[0]?.model ?? 'unknown CPU'}, ${c.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}, CLK_TCK ${CLK_TCK}`;
}

async function main(): Promise<void> {
  const o = options();
  const started = performance.now();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`voltlane bench (${o.quick ? 'quick' : 'full'}${o.profileDir ? ', profiling the edge' : ''}): ${machine()}`);
  let fatal: Error | null = null;
  const gen = await LoadGen.start(WORKERS, (e) => {
    fatal ??= e;
    process.stderr.write(`bench: FAILED: ${e.message}\n`);
  });
  const ctx: Context = { gen, opts: o, log };
  const results: ScenarioResult[] = [];
  try {
    for (const key of ALL) {
      if (!o.only.has(key)) continue;
      const spec = ECHO_SPECS.find((s) => s.key === key);
      // The echo scenarios run once per --transport; the others over plain TCP.
      for (const transport of spec ? o.transports : ['tcp' as const]) {
        const t0 = performance.now();
        log(`(${key}) ${spec ? spec.title : ''}${transport === 'tcp' ? '' : ` over ${transport}`}...`);
        const r = spec ? await runEcho(ctx, spec, transport) : key === 'd' ? await runSessions(ctx) : key === 'e' ? await runIdle(ctx) : await runResume(ctx);
        if (fatal) throw fatal;
        results.push(r);
        log(`  ${r.detail}  [${((performance.now() - t0) / 1000).toFixed(1)} s]`);
        for (const line of r.profile ?? []) log(`    ${line}`);
      }
    }
  } finally {
    await gen.close();
  }
  if (fatal) throw fatal;
  log('');
  log(textTable(results));
  const missed = results.filter((r) => !met(r)).map((r) => r.key);
  log('');
  log(`targets met: ${results.length - missed.length}/${results.length}${missed.length ? ` (not met: ${missed.join(', ')})` : ''}; run took ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (o.json) writeFileSync(o.json, JSON.stringify({ machine: machine(), quick: o.quick, results }, null, 2));
  if (o.markdown) writeFileSync(o.markdown, `${markdownTable(results)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
