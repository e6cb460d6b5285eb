// `voltlane fuzz`: runs the lifecycle fuzzer against a running edge (the fuzzer is its master and N clients) and
// reports each violated invariant with a minimal replayable sequence. Exit 0: all runs passed; 1: a violation; 2: setup.
import { readFileSync, writeFileSync } from 'node:fs';
import { errnoCode } from '../errno.js';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkAddress } from '../config/address.js';
import { ConfigError, formatAddress, loadConfig, type Config, type HostPort } from '../config/index.js';
import { edgeSettings } from '../http/settings.js';
import { dialable, fetchEdgeSettings, fuzzingProblems, resolveSettings, SettingsError, settingsMismatches, FUZZ_SETTINGS } from '../fuzz/settings.js';
import { wallClock } from '../fuzz/clock.js';
import { MasterPeer } from '../fuzz/master-peer.js';
import { formatReport, runLifecycleFuzz } from '../fuzz/run.js';
import { edgeUnderFuzz } from '../fuzz/daemon-edge.js';
import type { LifecycleTarget } from '../fuzz/system.js';

export const FUZZ_HELP = `voltlane fuzz: the lifecycle fuzzer against a running edge

Usage:
  voltlane fuzz --config PATH [--http ADDR] [--runs N] [--seed S] [--replay FILE] [options]
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
Exit 2: a usage error, an unreachable edge, or settings that do not match the edge's.

The fuzzer's model must use the edge's settings. Give it the edge's config file:
  --config PATH            the edge's connserver.toml (read, never written; the same
                           VOLTLANE_* environment and ./.env apply as for the edge):
                           --edge defaults to its listener.address, --master-listen
                           to its master.address, and the settings below to its values
  --http ADDR              the edge's status server (default: [http] address in --config):
                           the settings are confirmed against the running edge's
                           /status.json before any run; a difference is reported as a
                           settings mismatch (exit 2), not as a violated invariant
Flags override the file (each is also checked against the running edge):
  --stale-timeout SECS     clients.stale_timeout_secs            (default 0.5)
  --reap-interval SECS     clients.stale_reap_interval_secs      (default 0.05)
  --missed-buffer N        clients.missed_packets_buffer_size    (default 4)
  --max-stale N            clients.max_stale_clients             (default 65535)
                           (the fuzzer's clients share one address: with a small
                           max_stale_clients, set limits.max_stale_share_per_address
                           to the same count, so that address may fill the table)
  --max-frame N            limits.max_frame_size                 (default 8388599)
A short stale timeout keeps runs fast. Raise the edge's rate limits for loopback
(limits.new_connections_per_address_per_sec, new_connections_burst and
failed_resumes_per_address_per_min, e.g. 100000: checked when the settings are known)
and keep master.reconnect_max_ms small (e.g. 200): the fuzzer drops the link on purpose.
For example, with a connserver.toml for fuzzing:

  [listener]
  address = "127.0.0.1:43000"
  [master]
  address = "127.0.0.1:43001"
  reconnect_max_ms = 200
  [clients]
  stale_timeout_secs = 0.5
  stale_reap_interval_secs = 0.05
  missed_packets_buffer_size = 4
  [limits]
  new_connections_per_address_per_sec = 100000
  new_connections_burst = 100000
  failed_resumes_per_address_per_min = 100000
  [http]
  address = "127.0.0.1:43002"

  voltlane --config fuzz.toml &
  voltlane fuzz --config fuzz.toml --runs 50

Restart and kill steps: with either of these the fuzzer runs the edge itself and adds
two steps, an edge restart (SIGTERM, then start again on the same state) and a kill
(kill -9, then start), checking that sessions survive them as src/store/DESIGN.md
promises (after a restart every session is stale and resumable with its buffered
packets; after a kill too, less the packets buffered since the last state file write):
  --start-edge             start this voltlane as the edge, in a temporary directory, with
                           the settings above (stale timeout 2 s unless given), listening at
                           --edge and dialing --master-listen; its log goes to edge.log there
  --edge-command CMD       start the edge with this shell command (run as "exec CMD", so
                           signals reach it); it must serve at --edge, dial --master-listen
                           and use the settings above

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

function addr(v: string | undefined, name: string): HostPort {
  if (!v) throw new UsageError(`--${name} is required without --config (see voltlane fuzz --help)`);
  const a = checkAddress(v);
  if (typeof a === 'string') throw new UsageError(`--${name}: ${a}`);
  return a;
}

/** The edge's config file, read as the edge reads it but never written: a missing file is a usage error. */
function readEdgeConfig(path: string): { config: Config; path: string } {
  if (!existsSync(path)) throw new UsageError(`--config ${path}: no such file (give the connserver.toml the edge runs with)`);
  try {
    const loaded = loadConfig({ path, writeDefault: false });
    return { config: loaded.config, path: loaded.path };
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`--config ${path}: ${e.message}`);
    throw e;
  }
}

/** Same port, and the same host where both are IP literals (a name may be an alias of the address). */
function sameAddress(a: string | number | null | undefined, b: HostPort): boolean {
  if (typeof a !== 'string') return false;
  const x = checkAddress(a);
  if (typeof x === 'string' || x.port !== b.port) return false;
  return isIP(x.host) === 0 || isIP(b.host) === 0 || x.host === b.host;
}

export async function runFuzzCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        config: { type: 'string' },
        http: { type: 'string' },
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
        'start-edge': { type: 'boolean' },
        'edge-command': { type: 'string' },
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
  let passed = false;
  let daemon: Awaited<ReturnType<typeof edgeUnderFuzz>> = null;
  try {
    const cfg = values.config !== undefined ? readEdgeConfig(values.config) : null;
    const edge = values.edge !== undefined || !cfg ? addr(values.edge, 'edge') : dialable(cfg.config.listener.address);
    const listen = values['master-listen'] !== undefined || !cfg ? addr(values['master-listen'], 'master-listen') : cfg.config.master.address;
    const waitMs = num(values['wait-ms'], 'wait-ms', 2000, 1);
    const replay = values.replay ? readReplay(values.replay) : null;
    const seed = replay ? replay.seed : values.seed !== undefined ? num(values.seed, 'seed', 0, -(2 ** 31)) | 0 : undefined;
    // An edge the fuzzer starts itself gets 2 s of stale time by default: a process restart takes a while.
    const flags = { ...values, ...(values['start-edge'] && values['stale-timeout'] === undefined && !cfg ? { 'stale-timeout': '2' } : {}) };
    const settings = resolveSettings(flags as Record<string, string | undefined>, cfg, (text, flag) => num(text, flag, 0, flag === 'max-frame' ? 1 : 0));
    // Confirmed against the running edge when it has a status server; otherwise the file's values are checked alone.
    const httpAddress = values.http !== undefined ? addr(values.http, 'http') : (cfg?.config.http?.address ?? null);
    let confirmed: string | null = null;
    if (httpAddress) {
      const { settings: running, url } = await fetchEdgeSettings(httpAddress);
      const mismatches = settingsMismatches(settings, running, url);
      if (!sameAddress(running['master.address'], listen)) {
        mismatches.push(`master.address: the fuzzer listens at ${formatAddress(listen)}, the running edge dials ${JSON.stringify(running['master.address'] ?? null)} (${url})`);
      }
      if (mismatches.length > 0) throw new SettingsError('settings mismatch', mismatches);
      const problems = fuzzingProblems(running, url);
      if (problems.length > 0) throw new SettingsError('edge not set up for fuzzing', problems);
      confirmed = url;
    } else if (cfg) {
      const problems = fuzzingProblems(edgeSettings(cfg.config), cfg.path);
      if (problems.length > 0) throw new SettingsError('edge not set up for fuzzing', problems);
    }
    const shown = FUZZ_SETTINGS.map((s) => `${s.dotted}=${settings.values[s.name]}`).join(', ');
    process.stdout.write(
      confirmed
        ? `voltlane fuzz: settings confirmed by the running edge (${confirmed}): ${shown}\n`
        : `voltlane fuzz: settings ${shown}; not confirmed by the running edge (give --http or an [http] address)\n`,
    );
    const target: LifecycleTarget = {
      edge,
      master: (master = new MasterPeer({ host: listen.host, port: listen.port, timeoutMs: waitMs * 4 })),
      clock: wallClock,
      model: {
        staleTimeoutMs: settings.values.staleTimeoutSecs * 1000,
        reapIntervalMs: settings.values.staleReapIntervalSecs * 1000,
        missedBufferSize: settings.values.missedPacketsBufferSize,
        maxStaleClients: settings.values.maxStaleClients,
        marginMs: 150,
      },
      reconnectMaxMs: 0,
      waitMs,
      settleMs: 40,
      issued: new Set(),
    };
    await master.listen();
    if (values['start-edge'] && values['edge-command']) throw new UsageError('--start-edge and --edge-command exclude each other');
    daemon = await edgeUnderFuzz({ self: values['start-edge'] === true, command: values['edge-command'], edge, masterListen: listen, model: target.model, maxFrameSize: settings.values.maxFrameSize, clock: wallClock });
    if (daemon) target.control = daemon.control;
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
      ...(daemon ? { restarts: ['restart', 'kill'] as Array<'restart' | 'kill'> } : {}),
      maxFrameSize: settings.values.maxFrameSize,
      replayLine: () =>
        `voltlane fuzz ${replayArgs(argv).join(' ')}${values['start-edge'] ? ' --start-edge' : ''}` +
        `${values['edge-command'] ? ` --edge-command ${JSON.stringify(values['edge-command'])}` : ''} --replay ${out}`,
    });
    process.stdout.write(formatReport(report) + '\n');
    if (daemon) process.stdout.write(`voltlane fuzz: ${daemon.summary(!report.ok)}\n`);
    if (report.ok) {
      passed = true;
      return 0;
    }
    if (!confirmed && !values['start-edge']) {
      process.stdout.write(
        `note: the edge's settings were not confirmed (no --http, no [http] address): if they differ from the ones above, this is a settings mismatch, not an edge bug\n`,
      );
    }
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
    if (e instanceof SettingsError) {
      process.stderr.write(`voltlane fuzz: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`voltlane fuzz: ${e instanceof UsageError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 2;
  } finally {
    await daemon?.stop(!passed);
    await master?.close();
  }
}

/** The command line that reaches the same edge with the same settings (for the replay line). */
function replayArgs(argv: readonly string[]): string[] {
  const keep = new Set(['--config', '--http', '--edge', '--master-listen', '--wait-ms', ...FUZZ_SETTINGS.map((s) => `--${s.flag}`)]);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [name, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), true] : [a, false];
    if (!keep.has(name)) continue;
    if (inline) out.push(a);
    else if (i + 1 < argv.length) out.push(a, argv[++i]!);
  }
  return out;
}
