// The `voltlane` command as a child process (the built dist/), for tests that need real processes: kill -9, workers.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll } from 'vitest';
import { DEFAULT_CONFIG_TOML } from '../../src/config/index.js';
import { RawMaster, waitFor } from './wire.js';

export const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface Daemon {
  child: ChildProcess;
  out(): string;
  err(): string;
  exited: Promise<number | null>;
  /** Parsed JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
}

export function requireBuilt(): void {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build (npm test does it)`);
}

export function voltlane(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Daemon {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    out: () => out,
    err: () => err,
    exited,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        }),
  };
}

/** Waits for a log line whose msg starts with `msg` (or the process to exit, which throws). */
export async function waitForLog(d: Daemon, msg: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await waitFor(
    () => {
      if (d.child.exitCode !== null) throw new Error(`voltlane exited (${d.child.exitCode}) before logging ${msg}: ${d.err()}`);
      found = d.logs().find((l) => typeof l.msg === 'string' && l.msg.startsWith(msg));
      return found !== undefined;
    },
    timeoutMs,
    msg,
  );
  return found!;
}

/** Ends a child by its PID (SIGKILL unless told), waiting for the exit. */
export async function stopDaemon(d: Daemon, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return;
  process.kill(d.child.pid!, signal);
  await d.exited;
}

/**
 * `<dir>/connserver.toml`, written with the default configuration if it is not there yet: the daemon refuses a
 * --config path that does not exist (voltlane init writes one), so tests that name one write it first.
 */
export function configIn(dir: string): string {
  const path = join(dir, 'connserver.toml');
  if (!existsSync(path)) writeFileSync(path, DEFAULT_CONFIG_TOML);
  return path;
}

/**
 * For a test file of real processes (call it once, at the top): checks dist/ is built, and after each test ends
 * the daemons it ran (by PID), closes its masters and removes its temp dirs.
 */
export function processScope(prefix: string): {
  run: (args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }) => Daemon;
  master: () => Promise<RawMaster>;
  tempDir: () => string;
} {
  const daemons: Daemon[] = [];
  const masters: RawMaster[] = [];
  const dirs: string[] = [];
  beforeAll(requireBuilt);
  afterEach(async () => {
    for (const d of daemons.splice(0)) await stopDaemon(d);
    for (const m of masters.splice(0)) await m.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return {
    run: (args, opts = {}) => {
      const d = voltlane(args, opts);
      daemons.push(d);
      return d;
    },
    master: async () => {
      const m = new RawMaster();
      masters.push(m);
      await m.listen();
      return m;
    },
    tempDir: () => {
      const d = mkdtempSync(join(tmpdir(), `voltlane-${prefix}-`));
      dirs.push(d);
      return d;
    },
  };
}
