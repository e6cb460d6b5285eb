// The edge as a child process of `voltlane fuzz`: started by the fuzzer (this same voltlane in a temporary
// directory, or an operator's shell command), restarted on the same state with SIGTERM or kill -9 for the
// restart and kill steps, and stopped at the end. Ready means: it accepts TCP connections at its client address.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG_TOML } from '../config/defaults.js';
import type { FuzzClock } from './clock.js';
import type { ModelConfig } from './model.js';
import type { EdgeControl, RestartTimes } from './system.js';

export interface DaemonSpec {
  /** The program and its arguments. */
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Where the edge serves clients: it is ready once it accepts a connection there. */
  readonly edge: { host: string; port: number };
  /** The child's stdout and stderr (an open file descriptor, 'inherit' or 'ignore'). */
  readonly output: number | 'inherit' | 'ignore';
  /** Longest wait for it to serve after a start, and to exit after SIGTERM. */
  readonly timeoutMs: number;
}

/** A shell command as a spawn spec that signals reach: `exec` makes the edge the shell's own process. */
export function shellCommand(line: string): { command: string; args: string[] } {
  return { command: '/bin/sh', args: ['-c', `exec ${line}`] };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class DaemonEdge implements EdgeControl {
  /** Restart steps (SIGTERM) and kill steps (kill -9) taken so far. */
  restarts = 0;
  kills = 0;
  #child: ChildProcess | null = null;
  #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;

  constructor(
    readonly spec: DaemonSpec,
    readonly clock: FuzzClock,
  ) {}

  /** Starts the edge and resolves once it serves; rejects if it exits first or takes longer than `timeoutMs`. */
  async start(): Promise<void> {
    const { spec } = this;
    const stdio: StdioOptions = ['ignore', spec.output, spec.output];
    const child = spawn(spec.command, [...spec.args], { env: spec.env, stdio, ...(spec.cwd ? { cwd: spec.cwd } : {}) });
    this.#child = child;
    this.#exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.once('error', () => undefined);
    const deadline = Date.now() + spec.timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the edge (${spec.command} ${spec.args.join(' ')}) exited (${child.exitCode ?? child.signalCode}) before serving at ${spec.edge.host}:${spec.edge.port}`);
      }
      if (await accepts(spec.edge.host, spec.edge.port)) return;
      if (Date.now() > deadline) throw new Error(`the edge did not serve at ${spec.edge.host}:${spec.edge.port} within ${spec.timeoutMs} ms of its start`);
      await sleep(10);
    }
  }

  /** `restart`: SIGTERM, which must exit 0 (sessions written), then start; `kill`: SIGKILL, then start. */
  async restart(kind: 'restart' | 'kill'): Promise<RestartTimes> {
    const stoppedAt = this.clock.now();
    const exit = await this.#signal(kind === 'restart' ? 'SIGTERM' : 'SIGKILL');
    if (kind === 'restart') this.restarts++;
    else this.kills++;
    if (kind === 'restart' && exit.code !== 0) {
      throw new Error(`the edge exited with ${exit.code ?? exit.signal} after SIGTERM, not 0`);
    }
    await this.start();
    return { stoppedAt, readyAt: this.clock.now() };
  }

  /** SIGTERM and wait (SIGKILL past the timeout). Idempotent. */
  async stop(): Promise<void> {
    await this.#signal('SIGTERM').catch(() => this.#signal('SIGKILL'));
  }

  async #signal(sig: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = this.#child;
    const exit = this.#exit;
    if (!child || !exit) throw new Error('the edge was not started');
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, sig);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the edge did not exit within ${this.spec.timeoutMs} ms of ${sig}`)), this.spec.timeoutMs);
    });
    try {
      return await Promise.race([exit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

type Address = { host: string; port: number };
const show = (a: Address): string => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

/** The edge settings the fuzzer's model assumes, as the environment of an edge it starts itself. */
function settingsEnv(m: ModelConfig, maxFrameSize: number): Record<string, string> {
  return {
    VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS: String(m.staleTimeoutMs / 1000),
    VOLTLANE_CLIENTS_STALE_REAP_INTERVAL_SECS: String(m.reapIntervalMs / 1000),
    VOLTLANE_CLIENTS_MISSED_PACKETS_BUFFER_SIZE: String(m.missedBufferSize),
    VOLTLANE_CLIENTS_MAX_STALE_CLIENTS: String(m.maxStaleClients),
    // Every fuzzer client comes from one address: that address may fill the whole stale table.
    VOLTLANE_LIMITS_MAX_STALE_SHARE_PER_ADDRESS: String(m.maxStaleClients),
    VOLTLANE_LIMITS_MAX_FRAME_SIZE: String(maxFrameSize),
    // The fuzzer drops the link and restarts the edge on purpose: redial at once. Loopback rate limits out of the way.
    VOLTLANE_MASTER_RECONNECT_MIN_MS: '10',
    VOLTLANE_MASTER_RECONNECT_MAX_MS: '50',
    VOLTLANE_LIMITS_NEW_CONNECTIONS_PER_ADDRESS_PER_SEC: '100000',
    VOLTLANE_LIMITS_NEW_CONNECTIONS_BURST: '100000',
    VOLTLANE_LIMITS_FAILED_RESUMES_PER_ADDRESS_PER_MIN: '100000',
  };
}

export interface EdgeUnderFuzz {
  readonly control: DaemonEdge;
  /** One line: how many restart and kill steps ran (and where the edge's log is kept, with `withLog`). */
  summary(withLog: boolean): string;
  /** Stops the edge; removes its temporary directory unless `keepFiles`. */
  stop(keepFiles: boolean): Promise<void>;
}

/**
 * The edge `voltlane fuzz` runs itself: `self` starts this voltlane (the script running now) in a fresh
 * temporary directory with the model's settings; `command` runs an operator's shell command. Null: neither.
 */
export async function edgeUnderFuzz(o: {
  self: boolean;
  command: string | undefined;
  edge: Address;
  masterListen: Address;
  model: ModelConfig;
  maxFrameSize: number;
  clock: FuzzClock;
}): Promise<EdgeUnderFuzz | null> {
  if (!o.self && o.command === undefined) return null;
  let dir: string | null = null;
  let fd: number | null = null;
  let spec: DaemonSpec;
  if (o.self) {
    dir = mkdtempSync(join(tmpdir(), 'voltlane-fuzz-edge-'));
    const config = join(dir, 'connserver.toml');
    writeFileSync(config, DEFAULT_CONFIG_TOML);
    fd = openSync(join(dir, 'edge.log'), 'a', 0o600);
    spec = {
      command: process.execPath,
      args: [process.argv[1]!, '--config', config, '--listen', show(o.edge), '--master', show(o.masterListen), '--log-format', 'json'],
      env: { ...process.env, ...settingsEnv(o.model, o.maxFrameSize) },
      cwd: dir,
      edge: o.edge,
      output: fd,
      timeoutMs: 30_000,
    };
  } else {
    spec = { ...shellCommand(o.command!), env: process.env, edge: o.edge, output: 'inherit', timeoutMs: 30_000 };
  }
  const control = new DaemonEdge(spec, o.clock);
  const cleanup = (keepFiles: boolean): void => {
    if (fd !== null) closeSync(fd);
    fd = null;
    if (dir && !keepFiles) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await control.start();
  } catch (e) {
    cleanup(true);
    throw new Error(`${(e as Error).message}${dir ? `; its log: ${join(dir, 'edge.log')}` : ''}`);
  }
  return {
    control,
    summary: (withLog) =>
      `edge restarted ${control.restarts} time(s) with SIGTERM and ${control.kills} time(s) with kill -9` +
      (dir && withLog ? `; its log: ${join(dir, 'edge.log')}` : ''),
    async stop(keepFiles) {
      await control.stop().catch(() => undefined);
      cleanup(keepFiles);
    },
  };
}
