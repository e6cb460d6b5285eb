// SIGHUP through the real process: the config file is read again; a lowered limit refuses the next connection,
// the log level moves, a restart-only key is reported and left as it is, a bad file changes nothing.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { processScope, stopDaemon, waitForLog, type Daemon } from '../helpers/daemon.js';
import { freePort, frame, rawNewSession, RawMaster, refused, text, waitFor, type RawSession } from '../helpers/wire.js';

const { run, master: startMaster, tempDir } = processScope('reload');
const sessions: RawSession[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.socket.destroy();
});

const lines = (d: Daemon, prefix: string) => d.logs().filter((l) => typeof l.msg === 'string' && l.msg.startsWith(prefix));

/** Sends SIGHUP and waits for the reload's outcome line (reloaded or failed), returning the lines it added. */
async function hup(d: Daemon): Promise<Array<Record<string, unknown>>> {
  const before = d.logs().length;
  process.kill(d.child.pid!, 'SIGHUP');
  await waitFor(
    () => d.child.exitCode !== null || d.logs().slice(before).some((l) => /^config\.(reloaded|reload_failed)/.test(String(l.msg))),
    10_000,
    'the reload',
  );
  expect(d.child.exitCode).toBeNull();
  return d.logs().slice(before);
}

/** The daemon on `config` (written with `text`), on a free port with a master of its own. */
async function startEdge(text: string, extra: string[] = []): Promise<{ d: Daemon; port: number; master: RawMaster; config: string }> {
  const dir = tempDir();
  const config = join(dir, 'connserver.toml');
  writeFileSync(config, text);
  const master = await startMaster();
  const port = await freePort();
  const d = run(['--config', config, '--listen', `127.0.0.1:${port}`, '--master', `127.0.0.1:${master.port}`, '--log-format', 'json', ...extra], { cwd: dir });
  return { d, port, master, config };
}

async function newSession(port: number): Promise<RawSession> {
  const s = await rawNewSession(port);
  sessions.push(s);
  return s;
}

describe('SIGHUP reloads the config', () => {
  it('applies live keys to new work at once, reports restart-only keys, and a bad file changes nothing', async () => {
    const { d, port, master, config } = await startEdge('[limits]\nmax_connections_per_address = 100\n');
    await waitForLog(d, 'edge.started');
    await master.connected();
    await newSession(port);
    await newSession(port);

    // Lower the per-address cap to the two open now, raise the reconnect floor, and change a restart-only key
    // (the frame cap), and the listener address, which the --listen flag overrides anyway (no change).
    writeFileSync(
      config,
      '[listener]\naddress = "127.0.0.1:1"\n[master]\nreconnect_min_ms = 250\n[limits]\nmax_connections_per_address = 2\nmax_frame_size = 1000\n',
    );
    const out = await hup(d);
    const reloaded = out.filter((l) => String(l.msg).startsWith('config.reloaded'));
    expect(reloaded).toHaveLength(1);
    expect(reloaded[0]).toMatchObject({
      level: 30,
      msg: 'config.reloaded: master.reconnect_min_ms 100 -> 250, limits.max_connections_per_address 100 -> 2',
      changed: { 'master.reconnect_min_ms': { from: '100', to: '250' }, 'limits.max_connections_per_address': { from: '100', to: '2' } },
    });
    const restart = out.filter((l) => String(l.msg).startsWith('config.needs_restart'));
    expect(restart).toHaveLength(1);
    expect(restart[0]).toMatchObject({ level: 40, msg: 'config.needs_restart: limits.max_frame_size 8388599 -> 1000: kept as they are until the edge is restarted' });

    // The lowered cap refuses the next connection from this address...
    const err = await refused(rawNewSession(port), 'the third connection to be refused');
    expect(err).toBeInstanceOf(Error);
    await waitFor(() => lines(d, 'connection.refused').some((l) => String(l.reason).includes('per-address connection limit reached (2)')), 5000, 'the refusal line');
    // ...and the frame cap is still the one the edge started with: a 5,000-byte packet goes through.
    const big = 'x'.repeat(5000);
    sessions[0]!.socket.write(frame(big));
    const p = await master.expect((x) => x.flag === Flag.Data && x.data.length === 5000);
    expect(text(p.data)).toBe(big);

    // A syntax error: one error line, nothing changed (the cap still refuses, no reloaded line).
    writeFileSync(config, '[limits]\nmax_connections_per_address = \n');
    const bad = await hup(d);
    const failed = bad.filter((l) => String(l.msg).startsWith('config.reload_failed'));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 50 });
    expect(String(failed[0]!.msg)).toMatch(/^config\.reload_failed: cannot parse .*connserver\.toml: line 2.*; nothing changed$/);
    expect(bad.filter((l) => String(l.msg).startsWith('config.reloaded'))).toHaveLength(0);
    await refused(rawNewSession(port), 'the cap to hold after a bad file');

    // A value the schema refuses: the same, naming the key.
    writeFileSync(config, '[limits]\nmax_connections_per_address = 0\n');
    const invalid = (await hup(d)).filter((l) => String(l.msg).startsWith('config.reload_failed'));
    expect(invalid).toHaveLength(1);
    expect(String(invalid[0]!.msg)).toContain('limits.max_connections_per_address: bad value 0');
    await refused(rawNewSession(port), 'the cap to hold after an invalid value');

    // Raise the cap again and go quiet (warn): the next session connects, and its info line is not written.
    const KEEP = '[master]\nreconnect_min_ms = 250\n';
    writeFileSync(config, `[general]\nlog_level = "warn"\n${KEEP}[limits]\nmax_connections_per_address = 3\n`);
    const quiet = (await hup(d)).filter((l) => String(l.msg).startsWith('config.reloaded'));
    expect(quiet.map((l) => l.msg)).toEqual(['config.reloaded: general.log_level "info" -> "warn", limits.max_connections_per_address 2 -> 3']);
    const created = lines(d, 'session.created').length;
    await newSession(port);
    // Back to info: the next session's line is written again.
    writeFileSync(config, `${KEEP}[limits]\nmax_connections_per_address = 4\n`);
    const loud = (await hup(d)).filter((l) => String(l.msg).startsWith('config.reloaded'));
    expect(loud.map((l) => l.msg)).toEqual(['config.reloaded: general.log_level "warn" -> "info", limits.max_connections_per_address 3 -> 4']);
    expect(lines(d, 'session.created')).toHaveLength(created);
    await newSession(port);
    await waitFor(() => lines(d, 'session.created').length === created + 1, 5000, 'the session line at info again');

    // The same file again: nothing to apply, still exactly one line saying so.
    const same = (await hup(d)).filter((l) => String(l.msg).startsWith('config.reloaded'));
    expect(same.map((l) => l.msg)).toEqual(['config.reloaded: no setting that can change while running changed']);
    expect(d.child.exitCode).toBeNull();
  });
});

describe('SIGHUP with --workers', () => {
  it('the primary passes it on: every worker reloads and applies the new cap', async () => {
    const { d, port, config } = await startEdge('[limits]\nmax_connections = 100\n', ['--workers', '2']);
    await waitFor(() => lines(d, 'edge.started').length === 2, 20_000, 'two workers');
    writeFileSync(config, '[limits]\nmax_connections = 1\n');
    process.kill(d.child.pid!, 'SIGHUP');
    await waitFor(() => lines(d, 'config.reloaded').length === 2, 10_000, 'both workers to reload');
    expect(lines(d, 'workers.reload')).toHaveLength(1);
    expect(lines(d, 'config.reloaded').map((l) => l.msg)).toEqual([
      'config.reloaded: limits.max_connections 100 -> 1',
      'config.reloaded: limits.max_connections 100 -> 1',
    ]);
    // Each worker now holds at most one connection: of three held open at once, at most two get a session.
    const attempts = await Promise.allSettled([rawNewSession(port), rawNewSession(port), rawNewSession(port)]);
    for (const a of attempts) if (a.status === 'fulfilled') sessions.push(a.value);
    expect(attempts.filter((a) => a.status === 'fulfilled').length).toBeLessThanOrEqual(2);
    expect(attempts.filter((a) => a.status === 'rejected').length).toBeGreaterThanOrEqual(1);
    expect(d.child.exitCode).toBeNull();
    for (const s of sessions.splice(0)) s.socket.destroy();
    await stopDaemon(d, 'SIGTERM');
  });
});
