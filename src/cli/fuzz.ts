// `voltlane fuzz`: runs the lifecycle fuzzer against a running edge (the fuzzer is its master and N clients) and
// reports each violated invariant with a minimal replayable sequence. Exit 0: all runs passed; 1: a violation; 2: setup.
import { readFileSync, writeFileSync } from 'node:fs';
import { errnoCode } from '../errno.js';
import { parseArgs } from 'node:util';
import { checkAddress } from '../config/address.js';
import { wallClock } from '../fuzz/clock.js';
import { MasterPeer } from '../fuzz/master-peer.js';
import { formatReport, runLifecycleFuzz } from '../fuzz/run.js';
import type { LifecycleTarget } from '../fuzz/system.js';

export const FUZZ_HELP = `voltlane fuzz: the lifecycle fuzzer against a running edge

Usage:
  voltlane fuzz --edge HOST:PORT --master-listen ADDR [--runs N] [--seed S] [--replay FILE] [options]

The fuzzer is the edge's master and its clients. It listens at --master-listen for
the edge's firehose, so start (or restart) the edge with master.address pointing there,
then connects clients to --edge and plays random sequences of connects, sends both
ways, drops, half-open takeovers, resumes (right key, wrong key, reflected challenge,
unknown id), kicks, stale expiry, missed-packet overflow, oversize frames and master
link drops. After every step it checks PROTOCOL.md's promises: each master packet
reaches its client exactly once and in order (or the master got one Failure), no
Failure after a Kick, one Reconnection per resume, ids never reused, client order kept.
On a violation it shrinks the sequence, prints it, writes a replay file and exits 1.

The edge must use settings the fuzzer knows; pass them if they differ from these:
  --stale-timeout SECS     clients.stale_timeout_secs            (default 0.5)
  --reap-interval SECS     clients.stale_reap_interval_secs      (default 0.05)
  --missed-buffer N        clients.missed_packets_buffer_size    (default 4)
  --max-stale N            clients.max_stale_clients             (default 65535)
                           (the fuzzer's clients share one address: with a small
                           max_stale_clients, set limits.max_stale_share_per_address
                           to the same count, so that address may fill the table)
  --max-frame N            limits.max_frame_size                 (default 8388599)
A short stale timeout keeps runs fast. Raise the edge's rate limits for loopback
(limits.new_connections_per_address_per_sec and
failed_resumes_per_address_per_min, e.g. 100000) and keep master.reconnect_max_ms
small (e.g. 200): the fuzzer drops the link on purpose. For example:

  VOLTLANE_MASTER_ADDRESS=127.0.0.1:43001 VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS=0.5 \\
  VOLTLANE_CLIENTS_STALE_REAP_INTERVAL_SECS=0.05 VOLTLANE_CLIENTS_MISSED_PACKETS_BUFFER_SIZE=4 \\
  VOLTLANE_MASTER_RECONNECT_MAX_MS=200 VOLTLANE_LIMITS_FAILED_RESUMES_PER_ADDRESS_PER_MIN=100000 \\
  VOLTLANE_LIMITS_NEW_CONNECTIONS_PER_ADDRESS_PER_SEC=100000 voltlane --listen 127.0.0.1:43000 &
  voltlane fuzz --edge 127.0.0.1:43000 --master-listen 127.0.0.1:43001 --runs 50

Other options:
  --runs N                 random runs (default 20)
  --seed S                 fast-check seed (default: random, printed)
  --replay FILE            replay the failure recorded in FILE (written on every violation)
  --out FILE               where to write the replay file (default ./voltlane-fuzz-failure.json)
  --max-commands N         commands per run (default 25)
  --wait-ms MS             how long to wait for a packet that must arrive (default 2000)
  --connect-timeout SECS   how long to wait for the edge to dial the fuzzer (default 30)
  --help
`;

interface ReplayFile {
  seed: number;
  path: string;
  replayPath?: string;
  counterexample?: string;
  error?: string;
}

class UsageError extends Error {}

/** The replay file `--replay` names, checked: a missing, unreadable or foreign file is a usage error, not a stack trace. */
function readReplay(path: string): ReplayFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = errnoCode(e);
    throw new UsageError(code === 'ENOENT' ? `--replay ${path}: no such file (a violation writes it; see --out)` : `--replay ${path}: cannot read it (${code ?? String(e)})`);
  }
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch {
    throw new UsageError(`--replay ${path}: not JSON; expected the replay file a violation writes`);
  }
  const f = file as Partial<ReplayFile> | null;
  if (f === null || typeof f !== 'object' || typeof f.seed !== 'number' || typeof f.path !== 'string') {
    throw new UsageError(`--replay ${path}: not a replay file (it needs a numeric "seed" and a string "path")`);
  }
  return f as ReplayFile;
}

function num(v: string | undefined, name: string, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number >= ${min}, not ${JSON.stringify(v)}`);
  return n;
}

function addr(v: string | undefined, name: string): { host: string; port: number } {
  if (!v) throw new UsageError(`--${name} is required (see voltlane fuzz --help)`);
  const a = checkAddress(v);
  if (typeof a === 'string') throw new UsageError(`--${name}: ${a}`);
  return a;
}

export async function runFuzzCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        edge: { type: 'string' },
        'master-listen': { type: 'string' },
        runs: { type: 'string' },
        seed: { type: 'string' },
        replay: { type: 'string' },
        out: { type: 'string' },
        'stale-timeout': { type: 'string' },
        'reap-interval': { type: 'string' },
        'missed-buffer': { type: 'string' },
        'max-stale': { type: 'string' },
        'max-frame': { type: 'string' },
        'max-commands': { type: 'string' },
        'wait-ms': { type: 'string' },
        'connect-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`voltlane fuzz: ${(e as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(FUZZ_HELP);
    return 0;
  }
  let master: MasterPeer | null = null;
  try {
    const edge = addr(values.edge, 'edge');
    const listen = addr(values['master-listen'], 'master-listen');
    const waitMs = num(values['wait-ms'], 'wait-ms', 2000, 1);
    const replay = values.replay ? readReplay(values.replay) : null;
    const seed = replay ? replay.seed : values.seed !== undefined ? num(values.seed, 'seed', 0, -(2 ** 31)) | 0 : undefined;
    const target: LifecycleTarget = {
      edge,
      master: (master = new MasterPeer({ host: listen.host, port: listen.port, timeoutMs: waitMs * 4 })),
      clock: wallClock,
      model: {
        staleTimeoutMs: num(values['stale-timeout'], 'stale-timeout', 0.5) * 1000,
        reapIntervalMs: num(values['reap-interval'], 'reap-interval', 0.05) * 1000,
        missedBufferSize: num(values['missed-buffer'], 'missed-buffer', 4),
        maxStaleClients: num(values['max-stale'], 'max-stale', 65535),
        marginMs: 150,
      },
      reconnectMaxMs: 0,
      waitMs,
      settleMs: 40,
      issued: new Set(),
    };
    await master.listen();
    const connectTimeout = num(values['connect-timeout'], 'connect-timeout', 30) * 1000;
    process.stdout.write(`voltlane fuzz: listening for the edge's firehose on ${listen.host}:${master.port}; waiting for the edge to dial...\n`);
    try {
      await master.awaitConnection(undefined, connectTimeout);
    } catch {
      throw new UsageError(
        `the edge did not connect to ${listen.host}:${master.port} within ${connectTimeout / 1000} s: point its master.address there (see --help)`,
      );
    }
    process.stdout.write(`voltlane fuzz: edge connected; fuzzing clients at ${edge.host}:${edge.port}\n`);
    const out = values.out ?? 'voltlane-fuzz-failure.json';
    const report = await runLifecycleFuzz({
      setup: async () => ({ target, dispose: async () => {} }),
      numRuns: replay ? 1 : num(values.runs, 'runs', 20, 1),
      ...(seed !== undefined ? { seed } : {}),
      ...(replay?.path ? { path: replay.path } : {}),
      ...(replay?.replayPath ? { replayPath: replay.replayPath } : {}),
      maxCommands: num(values['max-commands'], 'max-commands', 25, 1),
      maxFrameSize: num(values['max-frame'], 'max-frame', 8_388_599, 1),
      replayLine: () => `voltlane fuzz --edge ${values.edge} --master-listen ${values['master-listen']} --replay ${out}`,
    });
    process.stdout.write(formatReport(report) + '\n');
    if (report.ok) return 0;
    const file: ReplayFile = {
      seed: report.seed,
      path: report.path ?? '',
      ...(report.replayPath ? { replayPath: report.replayPath } : {}),
      ...(report.counterexample ? { counterexample: report.counterexample } : {}),
      ...(report.error ? { error: report.error } : {}),
    };
    writeFileSync(out, JSON.stringify(file, null, 2) + '\n');
    return 1;
  } catch (e) {
    process.stderr.write(`voltlane fuzz: ${e instanceof UsageError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 2;
  } finally {
    await master?.close();
  }
}
