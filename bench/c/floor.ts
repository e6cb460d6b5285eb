// `npm run bench:floor`: what Node's `net` alone costs on this machine where the C bench measures the edge, so
// that the edge's figures can be read against the runtime's floor instead of only against a C server's.
//   a, b, c: vlload's echo scenario against vlecho (C, epoll) and against a bare Node server that writes every
//      chunk back (one hop, no framing, no relay): the best a Node process does there.
//   f: floor-load.c does scenario f's socket work (10,000 connections set up and kept, all dropped, then all
//      reconnecting, at most 256 at a time, each with f's four request/reply steps) against a bare Node server
//      answering each message with a reply of the edge's size: Node's CPU per resume-shaped connection, and the
//      RSS of a Node process that has just accepted and dropped 10,000 connections (f's "RSS per stale session"
//      for a process that keeps nothing).
// Every server is started and stopped here, by PID. Ratios are within one run, minutes apart.
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildFloorLoad, echoFloor, partF, type CRun, type FRun } from './floor-runs.js';
import { median } from './targets.js';
import { buildTools } from './tools.js';

const HELP = `npm run bench:floor -- [options]
  --parts LIST     a,b,c,f (default c,f)
  --repeat N       each part N times, alternating the servers (default 2)
  --duration S     a, b, c: measured seconds (default 10, 2 s warm-up)
  --clients N      f's connections (default 10000)
Tools are built in VL_BENCH_BIN (default ${tmpdir()}/voltlane-vlbench) from ../shared/bench (or VL_BENCH_DIR).`;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const log = (line: string) => process.stdout.write(`${line}\n`);

function options() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      parts: { type: 'string', default: 'c,f' },
      repeat: { type: 'string', default: '2' },
      duration: { type: 'string', default: '10' },
      clients: { type: 'string', default: '10000' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    log(HELP);
    process.exit(0);
  }
  const parts = values.parts.split(/[,\s]+/).filter(Boolean);
  for (const p of parts) if (!['a', 'b', 'c', 'f'].includes(p)) throw new Error(`--parts: unknown part ${JSON.stringify(p)} (a, b, c, f)`);
  const repeat = Number(values.repeat);
  const duration = Number(values.duration);
  const clients = Number(values.clients);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat must be a positive integer');
  if (!(duration > 0)) throw new Error('--duration must be positive');
  if (!Number.isInteger(clients) || clients < 1) throw new Error('--clients must be a positive integer');
  return { parts, repeat, duration, clients };
}

const f1 = (v: number) => v.toFixed(1);
const f2 = (v: number) => v.toFixed(2);

async function main(): Promise<void> {
  const o = options();
  const benchDir = resolve(process.env.VL_BENCH_DIR ?? join(root, '../shared/bench'));
  const bin = resolve(process.env.VL_BENCH_BIN ?? join(tmpdir(), 'voltlane-vlbench'));
  buildTools(benchDir, bin, false);
  const loadBin = buildFloorLoad(bin);
  log(`bench:floor: Node ${process.version}; tools in ${bin}`);

  for (const sc of ['a', 'b', 'c'] as const) {
    if (!o.parts.includes(sc)) continue;
    const runs: Array<{ c: CRun; node: CRun }> = [];
    const perS = (r: CRun) => (sc === 'b' ? r.mbPerS : r.rtPerS);
    const unit = sc === 'b' ? 'MB/s' : 'rt/s';
    log(`\n${sc}: vlload scenario ${sc} (${o.duration} s), plain framing, against vlecho (C) and a bare Node echo server`);
    log(`| run | vlecho ${unit} | Node ${unit} | Node / vlecho | vlecho p99 | Node p99 | Node p99 / vlecho p99 | vlecho CPU per rt | Node CPU per rt |`);
    log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (let i = 1; i <= o.repeat; i++) {
      const r = { c: await echoFloor(sc, 'vlecho', bin, o.duration), node: await echoFloor(sc, 'node', bin, o.duration) };
      runs.push(r);
      log(`| ${i} | ${Math.round(perS(r.c))} | ${Math.round(perS(r.node))} | ${f2(perS(r.node) / perS(r.c))}x | ${f1(r.c.p99)} us | ${f1(r.node.p99)} us | ${f2(r.node.p99 / r.c.p99)}x | ${f1(r.c.cpuPerRt)} us | ${f1(r.node.cpuPerRt)} us |`);
    }
    log(`median: bare Node echo = ${f2(median(runs.map((r) => perS(r.node) / perS(r.c))))}x of vlecho's ${unit}, p99 ${f2(median(runs.map((r) => r.node.p99 / r.c.p99)))}x of vlecho's`);
  }
  if (o.parts.includes('f')) {
    const runs: FRun[] = [];
    log(`\nf: floor-load, ${o.clients} connections set up, dropped, then reconnecting (at most 256 at a time, 4 request/reply steps each), against a bare Node server`);
    log('| run | RSS idle (MiB) | all up (MiB) | all dropped (MiB) | RSS all dropped / connections | storm | server CPU per resume |');
    log('|---|---:|---:|---:|---:|---:|---:|');
    for (let i = 1; i <= o.repeat; i++) {
      const r = await partF(loadBin, o.clients);
      runs.push(r);
      log(`| ${i} | ${f1(r.idleKiB / 1024)} | ${f1(r.upKiB / 1024)} | ${f1(r.staleKiB / 1024)} | ${f2(r.staleKiB / o.clients)} KiB | ${f2(r.stormS)} s | ${Math.round(r.cpuPerResumeUs)} us |`);
    }
    log(`median: ${Math.round(median(runs.map((r) => r.cpuPerResumeUs)))} us of server CPU per resume-shaped connection, storm ${f2(median(runs.map((r) => r.stormS)))} s, RSS all dropped ${f2(median(runs.map((r) => r.staleKiB / o.clients)))} KiB per connection`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:floor: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
