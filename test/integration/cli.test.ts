// The `voltlane` command as users run it (the built dist/, which `npm run build` and `npm test` build): the daemon with its
// first-start config and persistent key, SIGTERM, config errors, echo-master with the interactive client,
// and the demo.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../src/cli/demo.js';
import { DEFAULT_CONFIG_TOML } from '../../src/config/index.js';
import { Flag } from '../../src/io/firehose.js';
import { freePort, frame, rawNewSession, RawMaster, text, waitFor } from '../helpers/wire.js';
import { TestCa } from '../helpers/certs.js';
import { configIn } from '../helpers/daemon.js';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const children: ChildProcess[] = [];
const dirs: string[] = [];
const masters: RawMaster[] = [];

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build (npm test does it)`);
});

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const m of masters.splice(0)) await m.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function voltlane(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'voltlane-cli-'));
  dirs.push(d);
  return d;
}

/** The daemon in `dir`: with `--config <dir>/connserver.toml` (written first), or as `firstStart` without --config. */
async function startDaemon(dir: string, masterPort: number, firstStart = false): Promise<{ run: Run; port: number }> {
  const port = await freePort();
  const run = voltlane([...(firstStart ? [] : ['--config', configIn(dir)]), '--listen', `127.0.0.1:${port}`, '--master', `127.0.0.1:${masterPort}`, '--log-format', 'json'], { cwd: dir });
  await waitFor(() => run.out().includes('edge.started') || run.child.exitCode !== null, 10_000, 'the daemon to start');
  expect(run.child.exitCode).toBeNull();
  return { run, port };
}

describe('voltlane (the command)', () => {
  it('prints its version and help', async () => {
    const v = voltlane(['--version']);
    expect(await v.exited).toBe(0);
    expect(v.out()).toMatch(/^voltlane \d+\.\d+\.\d+\n$/);
    const h = voltlane(['--help']);
    expect(await h.exited).toBe(0);
    expect(h.out()).toContain('voltlane echo-master');
  });

  it('runs the daemon: writes the default config and a 0600 key on first start, keeps the key across restarts, exits 0 on SIGTERM', async () => {
    const dir = tempDir();
    const master = new RawMaster();
    masters.push(master);
    const masterPort = await master.listen();
    const first = await startDaemon(dir, masterPort, true);
    expect(readFileSync(join(dir, 'connserver.toml'), 'utf8')).toBe(DEFAULT_CONFIG_TOML);
    expect(statSync(join(dir, 'voltlane.key')).mode & 0o777).toBe(0o600);
    await master.connected();
    const c = await rawNewSession(first.port);
    c.socket.write(frame('through the daemon'));
    const p = await master.expect((x) => x.flag === Flag.Data);
    expect(text(p.data)).toBe('through the daemon');
    c.socket.destroy();
    first.run.child.kill('SIGTERM');
    expect(await first.run.exited).toBe(0);
    expect(first.run.out()).toContain('edge.stopped');

    const second = await startDaemon(dir, masterPort);
    const c2 = await rawNewSession(second.port);
    expect(Buffer.from(c2.edgeKey)).toEqual(Buffer.from(c.edgeKey));
    c2.socket.destroy();
    second.run.child.kill('SIGINT');
    expect(await second.run.exited).toBe(0);
  });

  it('refuses a bad configuration value with exit 2 and a message naming the key', async () => {
    const dir = tempDir();
    const run = voltlane(['--config', configIn(dir)], { cwd: dir, env: { VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS: 'soon' } });
    expect(await run.exited).toBe(2);
    expect(run.err()).toContain('clients.stale_timeout_secs');
    expect(run.err()).toContain('VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS');
  });

  it('echo-master and the interactive client: stdin lines go out, echoes are printed', async () => {
    const dir = tempDir();
    const masterPort = await freePort();
    const em = voltlane(['echo-master', '--listen', `127.0.0.1:${masterPort}`]);
    await waitFor(() => em.out().includes('listening'), 10_000, 'the echo master');
    const { run: daemon, port } = await startDaemon(dir, masterPort);
    await waitFor(() => em.out().includes('edge connected'), 10_000, 'the edge to dial the echo master');
    const client = voltlane(['client', `127.0.0.1:${port}`]);
    await waitFor(() => client.err().includes('session 1'), 10_000, 'the client session');
    client.child.stdin!.write('hello edge\n');
    client.child.stdin!.write('second line\n');
    await waitFor(() => client.out().includes('second line'), 10_000, 'the echoes');
    expect(client.out()).toBe('hello edge\nsecond line\n');
    client.child.stdin!.end();
    expect(await client.exited).toBe(0);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    em.child.kill('SIGTERM');
    expect(await em.exited).toBe(0);
  });
});

describe('voltlane over TLS and WebSocket', () => {
  it('serves tls:// and ws:// to the interactive client, and reloads the certificate (SIGHUP, file changes)', async () => {
    const dir = tempDir();
    const ca = new TestCa();
    const other = new TestCa('Second CA');
    try {
      const first = ca.issue('edge');
      const second = other.issue('edge');
      const masterPort = await freePort();
      const em = voltlane(['echo-master', '--listen', `127.0.0.1:${masterPort}`]);
      await waitFor(() => em.out().includes('listening'), 10_000, 'the echo master');
      const [tlsPort, wsPort] = [await freePort(), await freePort()];
      const { copyFileSync, writeFileSync } = await import('node:fs');
      copyFileSync(first.certFile, join(dir, 'edge.pem'));
      copyFileSync(first.keyFile, join(dir, 'edge.key'));
      const env = {
        VOLTLANE_TLS_ADDRESS: `127.0.0.1:${tlsPort}`,
        VOLTLANE_TLS_CERT_FILE: 'edge.pem', // relative to the config file's directory
        VOLTLANE_TLS_KEY_FILE: 'edge.key',
        VOLTLANE_WEBSOCKET_ADDRESS: `127.0.0.1:${wsPort}`,
        VOLTLANE_WEBSOCKET_PATH: '/edge',
      };
      const port = await freePort();
      const daemon = voltlane(['--config', configIn(dir), '--listen', `127.0.0.1:${port}`, '--master', `127.0.0.1:${masterPort}`, '--log-format', 'json'], { cwd: tempDir(), env });
      await waitFor(() => daemon.out().includes('edge.started') || daemon.child.exitCode !== null, 10_000, 'the daemon to start');
      expect(daemon.out()).toContain(`"tls":"127.0.0.1:${tlsPort}"`);
      const talk = async (args: string[], line: string) => {
        const c = voltlane(['client', ...args]);
        await waitFor(() => /session \d+/.test(c.err()) || c.child.exitCode !== null, 10_000, `a session over ${args[0]}`);
        c.child.stdin!.write(`${line}\n`);
        await waitFor(() => c.out().includes(line), 10_000, `the echo over ${args[0]}`);
        c.child.stdin!.end();
        expect(await c.exited).toBe(0);
      };
      await talk([`tls://127.0.0.1:${tlsPort}`, '--ca', ca.ca.certFile], 'over tls');
      await talk([`ws://127.0.0.1:${wsPort}/edge`], 'over ws');
      // SIGHUP reads the files again (and does not end the daemon, as it would by default).
      daemon.child.kill('SIGHUP');
      await waitFor(() => daemon.out().includes('tls.reload: files unchanged'), 10_000, 'the SIGHUP reload');
      expect(daemon.child.exitCode).toBeNull();
      // A renewed certificate from another CA (picked up by the file watch, or SIGHUP): new connections get it.
      writeFileSync(join(dir, 'edge.key'), second.key);
      writeFileSync(join(dir, 'edge.pem'), second.cert);
      daemon.child.kill('SIGHUP');
      await waitFor(() => daemon.out().includes('tls.reloaded'), 10_000, 'the reload');
      await talk([`tls://127.0.0.1:${tlsPort}`, '--ca', other.ca.certFile], 'after the reload');
      daemon.child.kill('SIGTERM');
      expect(await daemon.exited).toBe(0);
      em.child.kill('SIGTERM');
      expect(await em.exited).toBe(0);
    } finally {
      ca.remove();
      other.remove();
    }
  });
});

describe('voltlane demo', () => {
  it('shows traffic, a dropped client resuming and its replayed packets', async () => {
    const lines: string[] = [];
    const r = await runDemo({ durationMs: 4000, out: (l) => lines.push(l), logLevel: 'off' });
    expect(r.resumed).toBe(true);
    expect(r.replayed).toBeGreaterThan(0);
    expect(r.echoed).toBeGreaterThan(0);
    expect(lines.some((l) => l.includes('resumed session'))).toBe(true);
  });
});
