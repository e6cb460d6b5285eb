// voltlane/client against the real `voltlane` command (dist/cli/main.js) restarted under it: a client process
// that restarts from its saved resumeState() resumes after SIGTERM and after kill -9 of the edge; an edge that
// comes back without the session (persistence off) makes the client report VL_ERR_SESSION_LOST within two
// attempts instead of retrying for its whole window, or, with onSessionLost: 'new-session', carry on under a new id.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { connect, type ClientOptions, type ResumeState, type VoltlaneClient } from '../../src/sdk/client.js';
import { configIn, requireBuilt, stopDaemon, voltlane, waitForLog, type Daemon } from '../helpers/daemon.js';
import { freePort, RawMaster, text, waitFor } from '../helpers/wire.js';

const CLIENT_JS = fileURLToPath(new URL('../../dist/sdk/client.js', import.meta.url));
const dirs: string[] = [];
const daemons: Daemon[] = [];
const masters: RawMaster[] = [];
const clients: VoltlaneClient[] = [];
const procs: ChildProcess[] = [];

beforeAll(requireBuilt);

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of daemons.splice(0)) await stopDaemon(d);
  for (const m of masters.splice(0)) await m.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

// The window is far longer than any test here may run: only the edge's answer can end a resume in time.
const LONG: ClientOptions = { reconnect: { initialDelayMs: 20, maxDelayMs: 200, windowMs: 600_000 }, handshakeTimeoutMs: 5_000 };

async function setup(env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'voltlane-sdk-restart-'));
  dirs.push(dir);
  const master = new RawMaster();
  masters.push(master);
  await master.listen();
  const port = await freePort();
  const start = async (): Promise<Daemon> => {
    const d = voltlane(
      ['--config', configIn(dir), '--listen', `127.0.0.1:${port}`, '--master', `127.0.0.1:${master.port}`, '--log-format', 'json'],
      {
        cwd: dir,
        env: {
          VOLTLANE_CLIENTS_MISSED_PACKETS_BUFFER_SIZE: '16',
          VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS: '120',
          // Every refusal on its own log line: the tests count them.
          VOLTLANE_GENERAL_REFUSAL_LOG_INTERVAL_SECS: '0',
          ...env,
        },
      },
    );
    daemons.push(d);
    await waitForLog(d, 'edge.started');
    return d;
  };
  return { dir, master, port, address: `127.0.0.1:${port}`, start };
}

const refusalsOf = (d: Daemon, id: bigint): number =>
  d.logs().filter((l) => String(l.reason) === `resume of unknown session ${id}`).length;

/**
 * A client application as its own process: connects (or resumes from RESUME), prints every event as a JSON
 * line (`session` with its resumeState), sends each stdin line.
 */
const APP = `
import { connect } from ${JSON.stringify(CLIENT_JS)};
import { createInterface } from 'node:readline';
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const resume = process.env.RESUME ? JSON.parse(process.env.RESUME) : undefined;
const c = await connect(process.env.ADDRESS, { ...JSON.parse(process.env.OPTIONS), resume });
c.on('session', (id) => out({ event: 'session', id: String(id), state: c.resumeState() }));
c.on('resumed', (id) => out({ event: 'resumed', id: String(id) }));
c.on('sessionLost', (id, e) => out({ event: 'sessionLost', id: String(id), code: e.code }));
c.on('failed', (e) => out({ event: 'failed', code: e.code }));
c.on('message', (m) => out({ event: 'message', text: new TextDecoder().decode(m) }));
createInterface({ input: process.stdin }).on('line', (l) => c.send(l));
`;

interface AppEvent {
  event: string;
  id?: string;
  code?: string;
  text?: string;
  state?: ResumeState;
}

function app(address: string, options: ClientOptions, resume?: ResumeState) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', APP], {
    env: { ...process.env, ADDRESS: address, OPTIONS: JSON.stringify(options), ...(resume ? { RESUME: JSON.stringify(resume) } : {}) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  procs.push(child);
  const events: AppEvent[] = [];
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  createInterface({ input: child.stdout! }).on('line', (l) => events.push(JSON.parse(l) as AppEvent));
  return {
    child,
    events,
    send: (line: string) => child.stdin!.write(`${line}\n`),
    until: (pred: (e: AppEvent) => boolean, what: string) =>
      waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`the client process exited (${child.exitCode}): ${err}`);
          return events.some(pred);
        },
        20_000,
        what,
      ),
  };
}

describe('voltlane/client across edge restarts (real processes)', () => {
  it('a client process restarted from its resumeState() resumes after SIGTERM and after kill -9 of the edge, buffered packets first', async () => {
    const { master, address, start } = await setup();
    let edge = await start();
    await master.connected();
    const first = app(address, LONG);
    await first.until((e) => e.event === 'session', 'the first session');
    const saved = first.events.find((e) => e.event === 'session')!.state!;
    const id = BigInt(saved.id);
    first.send('before');
    await master.expect((p) => p.id === id && text(p.data) === 'before', 10_000);
    // The client process dies, then the edge restarts gracefully while the session is stale.
    first.child.kill('SIGKILL');
    await waitForLog(edge, 'session.stale');
    master.send(id, Flag.Data, Buffer.from('while the client was gone'));
    await stopDaemon(edge, 'SIGTERM');
    edge = await start();
    await waitFor(() => master.connections === 2, 10_000, 'the new edge to dial the master');
    expect(edge.logs().find((l) => l.msg === 'store.restored')).toMatchObject({ sessions: 1, stale: 1, buffered: 1 });
    // Restored before the port opens: a resume that comes at once finds its session, not "unknown session".
    const order = edge.logs().map((l) => l.msg);
    expect(order.indexOf('store.restored')).toBeLessThan(order.indexOf('edge.listening'));
    master.send(id, Flag.Data, Buffer.from('while the edge was restarting'));

    const second = app(address, LONG, saved);
    await second.until((e) => e.event === 'message' && e.text === 'while the edge was restarting', 'the buffered packets');
    expect(second.events.filter((e) => e.event === 'message').map((e) => e.text)).toEqual(['while the client was gone', 'while the edge was restarting']);
    expect(second.events.find((e) => e.event === 'session')!.id).toBe(saved.id);
    second.send('after SIGTERM');
    await master.expect((p) => p.id === id && text(p.data) === 'after SIGTERM', 10_000);

    // kill -9 of the edge under the live client: the same client object resumes on the next process by itself.
    process.kill(edge.child.pid!, 'SIGKILL');
    await edge.exited;
    edge = await start();
    await second.until((e) => e.event === 'resumed', 'the resume after kill -9');
    second.send('after kill -9');
    await master.expect((p) => p.id === id && text(p.data) === 'after kill -9', 10_000);
    const forId = master.forId(id);
    expect(forId.filter((p) => p.flag === Flag.Reconnection)).toHaveLength(2);
    expect(forId.filter((p) => p.flag === Flag.Failure)).toEqual([]);
    expect(second.events.some((e) => e.event === 'sessionLost' || e.event === 'failed')).toBe(false);
  }, 120_000);

  it('an edge restarted without the session (persist_sessions = false): VL_ERR_SESSION_LOST after two refused attempts, not at the window end', async () => {
    const { master, address, start } = await setup({ VOLTLANE_STATE_PERSIST_SESSIONS: 'false' });
    let edge = await start();
    await master.connected();
    const client = await connect(address, LONG);
    clients.push(client);
    const id = client.id;
    const order: string[] = [];
    client.on('sessionLost', (lost, e) => order.push(`sessionLost ${lost} ${e.code}`));
    const failed = new Promise<Error & { code?: string }>((resolve) => client.once('failed', resolve));
    await stopDaemon(edge, 'SIGTERM');
    await master.expect((p) => p.id === id && p.flag === Flag.Failure, 10_000, 'the shutdown Failure');
    edge = await start();
    const err = await failed;
    expect(err.code).toBe('VL_ERR_SESSION_LOST');
    expect(err.message).toContain(`session ${id} is lost`);
    expect(order).toEqual([`sessionLost ${id} VL_ERR_SESSION_LOST`]);
    expect(client.state).toBe('closed');
    expect(refusalsOf(edge, id)).toBe(2);
  }, 120_000);

  it("onSessionLost: 'new-session': the client starts a new session by itself on the restarted edge and carries on under its new id", async () => {
    const { master, address, start } = await setup({ VOLTLANE_STATE_PERSIST_SESSIONS: 'false' });
    let edge = await start();
    await master.connected();
    const client = await connect(address, { ...LONG, onSessionLost: 'new-session' });
    clients.push(client);
    const id = client.id;
    await new Promise((resolve) => client.once('session', resolve));
    const events: string[] = [];
    client.on('sessionLost', (lost, e) => events.push(`sessionLost ${lost} ${e.code}`));
    client.on('session', (sid) => events.push(`session ${sid}`));
    client.on('failed', (e) => events.push(`failed ${e.code}`));
    const renewed = new Promise<bigint>((resolve) => client.once('session', resolve));
    await stopDaemon(edge, 'SIGTERM');
    edge = await start();
    const newId = await renewed;
    expect(newId > id).toBe(true);
    expect(client.id).toBe(newId);
    expect(events).toEqual([`sessionLost ${id} VL_ERR_SESSION_LOST`, `session ${newId}`]);
    expect(refusalsOf(edge, id)).toBe(2);
    client.send('on the new session');
    await master.expect((p) => p.id === newId && text(p.data) === 'on the new session', 10_000);
    master.send(newId, Flag.Data, Buffer.from('to the new session'));
    const got = await new Promise<Uint8Array>((resolve) => client.once('message', resolve));
    expect(text(got)).toBe('to the new session');
    expect(client.resumeState().id).toBe(String(newId));
  }, 120_000);
});
