// `voltlane fuzz --start-edge` through the real command: the fuzzer starts the daemon (dist/cli/main.js) itself and
// adds restart (SIGTERM, start) and kill (kill -9, start) steps, keeping every invariant across them; an edge that
// loses its sessions at a restart (persist_sessions = false, a planted bug as far as the model is concerned) is
// caught with exit 1 and a minimal sequence that names the restart or kill step.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, requireBuilt } from '../helpers/daemon.js';
import { freePort } from '../helpers/wire.js';

const dirs: string[] = [];
beforeAll(requireBuilt);
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function fuzz(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'vl-fuzz-restart-'));
  dirs.push(dir);
  const edge = `127.0.0.1:${await freePort()}`;
  const master = `127.0.0.1:${await freePort()}`;
  const child = spawn(
    process.execPath,
    [MAIN, 'fuzz', '--start-edge', '--edge', edge, '--master-listen', master, '--out', join(dir, 'failure.json'), ...args],
    { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, out };
}

const steps = (out: string): { restarts: number; kills: number } => {
  const m = /edge restarted (\d+) time\(s\) with SIGTERM and (\d+) time\(s\) with kill -9/.exec(out);
  if (!m) throw new Error(`no restart summary in:\n${out}`);
  return { restarts: Number(m[1]), kills: Number(m[2]) };
};

describe('voltlane fuzz --start-edge', () => {
  it('restart and kill steps against the real daemon: every invariant holds across them (exit 0)', async () => {
    const { code, out } = await fuzz(['--runs', '4', '--seed', '1', '--max-commands', '20', '--max-frame', '4096']);
    expect(code, out).toBe(0);
    expect(out).toContain('4 run(s) passed');
    const { restarts, kills } = steps(out);
    expect(restarts, out).toBeGreaterThan(0);
    expect(kills, out).toBeGreaterThan(0);
  }, 240_000);

  it('catches an edge that loses its sessions at a restart or a kill (persist_sessions = false): exit 1, the step named', async () => {
    const { code, out } = await fuzz(['--runs', '20', '--seed', '11', '--max-commands', '12', '--max-frame', '4096'], {
      VOLTLANE_STATE_PERSIST_SESSIONS: 'false',
    });
    expect(code, out).toBe(1);
    expect(out).toContain('invariant violated');
    expect(out).toMatch(/minimal sequence: .*edge(Restart|Kill)/);
    expect(out).toMatch(/replay: voltlane fuzz .* --start-edge --replay /);
  }, 240_000);
});
