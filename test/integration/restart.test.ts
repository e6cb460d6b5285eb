// Sessions across edge processes, through the real command (dist/cli/main.js as a child process) and real sockets:
// SIGTERM then start again (live and stale sessions, buffered packets), kill -9 under traffic, state off, a damaged
// state file.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { configIn } from '../helpers/daemon.js';
import { freePort, frame, rawNewSession, rawResume, RawMaster, refused, text, waitFor, type RawSession } from '../helpers/wire.js';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const children: ChildProcess[] = [];
const dirs: string[] = [];
const masters: RawMaster[] = [];
const sockets: RawSession[] = [];

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build (npm test does it)`);
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.socket.destroy();
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const m of masters.splice(0)) await m.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Daemon {
  child: ChildProcess;
  /** Log lines so far, parsed. */
  logs: () => Array<Record<string, unknown>>;
  /** Everything it printed. */
  out: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const BUFFERING = {
  VOLTLANE_CLIENTS_MISSED_PACKETS_BUFFER_SIZE: '16',
  VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS: '120',
  VOLTLANE_CLIENTS_CHANNEL_CAPACITY: '64',
};

async function daemon(dir: string, port: number, masterPort: number, env: Record<string, string> = {}): Promise<Daemon> {
  const child = spawn(
    process.execPath,
    [MAIN, '--config', configIn(dir), '--listen', `127.0.0.1:${port}`, '--master', `127.0.0.1:${masterPort}`, '--log-format', 'json'],
    { cwd: dir, env: { ...process.env, ...BUFFERING, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const logs = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  await waitFor(() => out.includes('"edge.started"') || child.exitCode !== null, 15_000, 'the daemon to start');
  expect(child.exitCode, out).toBeNull();
  return { child, logs, out: () => out, exited };
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'voltlane-restart-'));
  dirs.push(d);
  return d;
}

async function newMaster(): Promise<RawMaster> {
  const m = new RawMaster();
  masters.push(m);
  await m.listen();
  return m;
}

const logged = (d: Daemon, msg: string, sessionId?: bigint) =>
  d.logs().some((l) => l.msg === msg && (sessionId === undefined || l.sessionId === String(sessionId)));

async function track<T extends RawSession>(p: Promise<T>): Promise<T> {
  const s = await p;
  sockets.push(s);
  return s;
}

describe('sessions across edge processes', () => {
  it('SIGTERM then start: live and stale sessions resume, buffered packets replay exactly, ids continue, one Reconnection each, no Failure', async () => {
    const dir = tempDir();
    const master = await newMaster();
    const port = await freePort();
    const first = await daemon(dir, port, master.port);
    await master.connected();
    const a = await track(rawNewSession(port));
    const b = await track(rawNewSession(port));
    const c = await track(rawNewSession(port));
    // b drops: stale, and the master's packets for it are buffered.
    b.socket.destroy();
    await waitFor(() => logged(first, 'session.stale', b.id), 5000, 'b to go stale');
    master.send(b.id, Flag.Data, Buffer.from('b1'));
    master.send(b.id, Flag.Data, Buffer.from('b2'));
    // a and c are live; what the master sent them before the stop is delivered.
    master.send(a.id, Flag.Data, Buffer.from('a0'));
    master.send(c.id, Flag.Data, Buffer.from('c0'));
    expect(text(await a.q.next())).toBe('a0');
    expect(text(await c.q.next())).toBe('c0');
    a.socket.write(frame('from a before'));
    await master.expect((p) => p.id === a.id && text(p.data) === 'from a before');

    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    await a.q.waitClosed(5000);
    await c.q.waitClosed(5000);
    expect(logged(first, 'store.saved')).toBe(true);
    const state = join(dir, 'voltlane.state');
    expect(statSync(state).mode & 0o777).toBe(0o600);

    const second = await daemon(dir, port, master.port);
    await waitFor(() => master.connections === 2, 10_000, 'the new edge to dial the master');
    expect(second.logs().find((l) => l.msg === 'store.restored')).toMatchObject({ sessions: 3, stale: 3, buffered: 2 });
    // Master data for a restored session before its client is back: buffered, as for any stale session.
    master.send(a.id, Flag.Data, Buffer.from('a1'));
    master.send(a.id, Flag.Data, Buffer.from('a2'));
    master.send(c.id, Flag.Data, Buffer.from('c1'));

    const ra = await track(rawResume(port, a.id, a.keyPair));
    const rb = await track(rawResume(port, b.id, b.keyPair));
    const rc = await track(rawResume(port, c.id, c.keyPair));
    expect([text(await ra.q.next()), text(await ra.q.next())]).toEqual(['a1', 'a2']);
    expect([text(await rb.q.next()), text(await rb.q.next())]).toEqual(['b1', 'b2']);
    expect(text(await rc.q.next())).toBe('c1');
    // Live traffic both ways after the replay.
    master.send(b.id, Flag.Data, Buffer.from('b3'));
    expect(text(await rb.q.next())).toBe('b3');
    rb.socket.write(frame('from b after'));
    await master.expect((p) => p.id === b.id && text(p.data) === 'from b after');
    // Nothing more was replayed than buffered.
    expect(ra.q.frames).toHaveLength(0);
    expect(rc.q.frames).toHaveLength(0);

    for (const s of [a, b, c]) {
      const ps = master.forId(s.id);
      expect(ps.filter((p) => p.flag === Flag.Reconnection), `Reconnection for ${s.id}`).toHaveLength(1);
      expect(ps.filter((p) => p.flag === Flag.Failure), `Failure for ${s.id}`).toHaveLength(0);
    }
    // Ids continue: a new session gets an id above every earlier one.
    const d = await track(rawNewSession(port));
    expect(d.id > c.id).toBe(true);

    // And again: the sessions resumed in the second process survive a second restart.
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
    const third = await daemon(dir, port, master.port);
    await waitFor(() => master.connections === 3, 10_000, 'the third edge to dial the master');
    expect(third.logs().find((l) => l.msg === 'store.restored')).toMatchObject({ sessions: 4 });
    const rd = await track(rawResume(port, d.id, d.keyPair));
    rd.socket.write(frame('d after two restarts'));
    await master.expect((p) => p.id === d.id && text(p.data) === 'd after two restarts');
    const e = await track(rawNewSession(port));
    expect(e.id > d.id).toBe(true);
    expect(master.drain().filter((p) => p.flag === Flag.Failure)).toEqual([]);
    third.child.kill('SIGTERM');
    expect((await third.exited).code).toBe(0);
  }, 120_000);

  it('kill -9 under traffic, then start: every session resumes, ids continue', async () => {
    const dir = tempDir();
    const master = await newMaster();
    const port = await freePort();
    const first = await daemon(dir, port, master.port);
    await master.connected();
    const clients: RawSession[] = [];
    for (let i = 0; i < 8; i++) clients.push(await track(rawNewSession(port)));
    // Traffic both ways until the kill.
    let n = 0;
    const pump = setInterval(() => {
      for (const s of clients) {
        if (!s.socket.destroyed) s.socket.write(frame(`up ${n}`));
        if (master.socket && !master.socket.destroyed) master.send(s.id, Flag.Data, Buffer.from(`down ${n}`));
      }
      n++;
    }, 2);
    await waitFor(() => n > 50, 5000, 'traffic');
    // One more session created right before the kill: its record is written before its id reaches it.
    const late = await track(rawNewSession(port));
    clients.push(late);
    first.child.kill('SIGKILL');
    const exit = await first.exited;
    clearInterval(pump);
    expect(exit.signal).toBe('SIGKILL');

    const second = await daemon(dir, port, master.port);
    await waitFor(() => master.connections === 2, 10_000, 'the new edge to dial the master');
    expect(second.logs().find((l) => l.msg === 'store.restored')).toMatchObject({ sessions: clients.length, stale: clients.length });
    for (const s of clients) {
      const r = await track(rawResume(port, s.id, s.keyPair));
      r.socket.write(frame(`back ${s.id}`));
    }
    for (const s of clients) {
      await master.expect((p) => p.id === s.id && text(p.data) === `back ${s.id}`, 5000, `data of ${s.id} after the resume`);
      const ps = master.forId(s.id);
      expect(ps.filter((p) => p.flag === Flag.Reconnection)).toHaveLength(1);
      expect(ps.filter((p) => p.flag === Flag.Failure)).toHaveLength(0);
      // The Reconnection comes before the data sent on the new socket.
      const rec = ps.findIndex((p) => p.flag === Flag.Reconnection);
      expect(ps.findIndex((p) => text(p.data) === `back ${s.id}`)).toBeGreaterThan(rec);
    }
    const fresh = await track(rawNewSession(port));
    expect(clients.every((s) => fresh.id > s.id)).toBe(true);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 120_000);

  it('with state.persist_sessions = false, shutdown sends one Failure per session before the firehose closes; ids still continue', async () => {
    const dir = tempDir();
    const master = await newMaster();
    const port = await freePort();
    const env = { VOLTLANE_STATE_PERSIST_SESSIONS: 'false' };
    const first = await daemon(dir, port, master.port, env);
    await master.connected();
    const a = await track(rawNewSession(port));
    const b = await track(rawNewSession(port));
    const c = await track(rawNewSession(port));
    b.socket.destroy();
    await waitFor(() => logged(first, 'session.stale', b.id), 5000, 'b to go stale');
    const masterQ = master.q!;
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    await masterQ.waitClosed(5000);
    const failures = master.drain().filter((p) => p.flag === Flag.Failure);
    expect(failures.map((p) => [p.id, text(p.data)]).sort()).toEqual([a.id, b.id, c.id].map((id) => [id, 'shutdown']).sort());

    const second = await daemon(dir, port, master.port, env);
    await refused(rawResume(port, a.id, a.keyPair), 'a resume of an ended session to be refused');
    const d = await track(rawNewSession(port));
    expect(d.id > c.id).toBe(true);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 120_000);

  it('a damaged state file: moved aside, an error naming it, and the edge serves with what it could read', async () => {
    const dir = tempDir();
    const master = await newMaster();
    const port = await freePort();
    const first = await daemon(dir, port, master.port);
    await master.connected();
    const a = await track(rawNewSession(port));
    first.child.kill('SIGTERM');
    expect((await first.exited).code, first.out()).toBe(0);
    const state = join(dir, 'voltlane.state');
    writeFileSync(state, 'this is not a state file\n\u0000\u0001garbage');

    const second = await daemon(dir, port, master.port);
    const err = second.logs().find((l) => typeof l.msg === 'string' && l.msg.startsWith('store.damaged'));
    expect(err).toBeDefined();
    expect(err!.level).toBe(50); // pino's error
    expect(String(err!.msg)).toContain(state);
    expect(readdirSync(dir).some((f) => f.startsWith('voltlane.state.damaged-'))).toBe(true);
    // The session was in the damaged file only: it is gone; the edge serves, and ids still continue (the journal's floor).
    await refused(rawResume(port, a.id, a.keyPair), 'a resume of a session lost with the damaged file to be refused');
    const b = await track(rawNewSession(port));
    expect(b.id > a.id).toBe(true);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 120_000);
});
