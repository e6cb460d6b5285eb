// The processes the bench runs beside its load generator: the edge daemon (started as users start it),
// the echo master and the baseline echo server. Each is stopped by its PID with SIGTERM.
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchToChild, ChildToBench } from './ipc.js';
import { edgeConfigToml, freePort } from './edge-config.js';

const here = (rel: string) => fileURLToPath(new URL(rel, import.meta.url));
/** The daemon's entry point compiled in this same run (tsconfig.bench.json puts src/ beside bench/). */
export const EDGE_MAIN = here('../src/cli/main.js');

const STOP_TIMEOUT_MS = 15_000;

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** SIGTERM, then SIGKILL after a timeout; resolves with how it exited. */
export async function stopChild(child: ChildProcess, what: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
  const done = exited(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    process.stderr.write(`bench: ${what} (pid ${child.pid}) did not exit on SIGTERM within ${STOP_TIMEOUT_MS} ms; killing it\n`);
    child.kill('SIGKILL');
  }, STOP_TIMEOUT_MS);
  const r = await done;
  clearTimeout(timer);
  return r;
}

/** A forked helper (echo master or baseline) speaking the IPC messages of ipc.ts. */
export class Helper {
  readonly child: ChildProcess;
  readonly name: string;
  #listeners = new Set<(m: ChildToBench) => void>();
  fatal: string | null = null;

  constructor(child: ChildProcess, name: string) {
    this.child = child;
    this.name = name;
    child.on('message', (m: ChildToBench) => {
      if (m.type === 'fatal') this.fatal ??= m.message;
      for (const l of [...this.#listeners]) l(m);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the first message of `type` (and rejects if the child exits first or `timeoutMs` passes). */
  waitFor<T extends ChildToBench['type']>(type: T, timeoutMs = 30_000): Promise<Extract<ChildToBench, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onExit = () => done(new Error(`${this.name} exited (code ${this.child.exitCode}) while the bench waited for '${type}'`));
      const timer = setTimeout(() => done(new Error(`${this.name}: no '${type}' within ${timeoutMs} ms`)), timeoutMs);
      const l = (m: ChildToBench) => {
        if (m.type === type) done(null, m as Extract<ChildToBench, { type: T }>);
        else if (m.type === 'fatal') done(new Error(`${this.name}: ${m.message}`));
      };
      const done = (err: Error | null, m?: Extract<ChildToBench, { type: T }>) => {
        clearTimeout(timer);
        this.#listeners.delete(l);
        this.child.off('exit', onExit);
        if (err) reject(err);
        else resolve(m!);
      };
      this.#listeners.add(l);
      this.child.once('exit', onExit);
    });
  }

  send(m: BenchToChild): void {
    this.child.send(m);
  }

  async request<T extends ChildToBench['type']>(m: BenchToChild, reply: T, timeoutMs?: number): Promise<Extract<ChildToBench, { type: T }>> {
    const p = this.waitFor(reply, timeoutMs);
    this.send(m);
    return p;
  }

  async stop(): Promise<void> {
    await stopChild(this.child, this.name);
  }
}

async function startHelper(script: string, name: string): Promise<{ helper: Helper; port: number }> {
  const child = fork(here(script), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const helper = new Helper(child, name);
  const { port } = await helper.waitFor('ready');
  return { helper, port };
}

export function startEchoMaster(): Promise<{ helper: Helper; port: number }> {
  return startHelper('./echo-master.js', 'echo master');
}

export function startBaseline(): Promise<{ helper: Helper; port: number }> {
  return startHelper('./echo-baseline.js', 'baseline echo server');
}

export interface EdgeProcess {
  pid: number;
  port: number;
  /** The listener of each transport (tls and ws are 0 unless started with `transports`). */
  ports: { tcp: number; tls: number; ws: number };
  dir: string;
  /** Warning and error lines the edge logged (JSON), at most 200. */
  logLines: string[];
  /** SIGTERM; rejects unless the edge exits 0. */
  stop(): Promise<void>;
}

export interface EdgeStartOptions {
  master: Helper;
  masterPort: number;
  missedPackets?: number;
  /** Extra node flags (--cpu-prof, --heapsnapshot-signal=...). */
  nodeArgs?: string[];
  /** Working directory of the edge (where profiles land); default its temp dir. */
  cwd?: string;
  /** Also run the TLS and WebSocket listeners (a self-signed certificate is made for TLS). */
  transports?: boolean;
}

/**
 * Starts `node dist-bench/src/cli/main.js --config <tmp>/connserver.toml --log-level warn --log-format json`
 * and resolves once the edge has dialled the echo master (so its listener is bound).
 */
export async function startEdgeProcess(o: EdgeStartOptions): Promise<EdgeProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'voltlane-bench-'));
  const port = await freePort();
  const config = join(dir, 'connserver.toml');
  let transports: { tlsPort: number; wsPort: number; certFile: string; keyFile: string } | undefined;
  if (o.transports) {
    // A self-signed certificate for the TLS listener, made here (the load generator does not verify it).
    const certFile = join(dir, 'edge.pem');
    const keyFile = join(dir, 'edge.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    transports = { tlsPort: await freePort(), wsPort: await freePort(), certFile, keyFile };
  }
  writeFileSync(
    config,
    edgeConfigToml({ listenPort: port, masterPort: o.masterPort, ...(o.missedPackets !== undefined ? { missedPackets: o.missedPackets } : {}), ...(transports ? { transports } : {}) }),
  );
  const connected = o.master.waitFor('edge', 30_000);
  // VOLTLANE_BENCH_EDGE_ARGS adds daemon flags, e.g. "--http 127.0.0.1:9464 --inspect 9465 --inspect-sessions 100".
  const extra = (process.env.VOLTLANE_BENCH_EDGE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), EDGE_MAIN, '--config', config, '--log-level', 'warn', '--log-format', 'json', ...extra], {
    cwd: o.cwd ?? dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logLines: string[] = [];
  let stderr = '';
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    const lines = (partial + s).split('\n');
    partial = lines.pop()!;
    for (const l of lines) if (l && logLines.length < 200) logLines.push(l);
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    if (stderr.length < 20_000) stderr += s;
  });
  const early = exited(child).then(({ code, signal }) => {
    throw new Error(`the edge exited during start-up (code ${code}, signal ${signal}): ${stderr.trim() || logLines.join('\n')}`);
  });
  try {
    await Promise.race([connected, early]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  early.catch(() => undefined);
  return {
    pid: child.pid!,
    port,
    ports: { tcp: port, tls: transports?.tlsPort ?? 0, ws: transports?.wsPort ?? 0 },
    dir,
    logLines,
    async stop() {
      const { code, signal } = await stopChild(child, 'edge');
      if (logLines.length > 0) {
        process.stderr.write(`bench: the edge logged ${logLines.length} warning/error line(s), first: ${logLines.slice(0, 3).join(' | ')}\n`);
      }
      if (code !== 0) throw new Error(`the edge exited with code ${code} signal ${signal} on SIGTERM (expected 0): ${stderr.trim()}`);
    },
  };
}
