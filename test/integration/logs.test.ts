// The daemon's log output as an operator reads it (real process, JSON lines): debug shows handshake steps, resume
// attempts with their outcome, master link events and the reconnect backoff; trace adds per-packet routing; every
// sessionId is the decimal string; a master that never comes up gives one WARN and then summaries, not a line
// per retry.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { requireBuilt, stopDaemon, voltlane, waitForLog, type Daemon } from '../helpers/daemon.js';
import { frame, freePort, RawMaster, rawNewSession, rawResume, refused, sleep, waitFor } from '../helpers/wire.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
beforeAll(requireBuilt);

type Line = Record<string, unknown>;

async function daemon(level: string, masterPort: number, env: NodeJS.ProcessEnv = {}): Promise<{ d: Daemon; port: number }> {
  // Its own directory: the default ./connserver.toml and the key are written there on first start.
  const dir = mkdtempSync(join(tmpdir(), 'voltlane-logs-'));
  const port = await freePort();
  const d = voltlane(['--listen', `127.0.0.1:${port}`, '--master', `127.0.0.1:${masterPort}`, '--log-level', level, '--log-format', 'json'], { cwd: dir, env });
  cleanups.push(async () => {
    await stopDaemon(d);
    rmSync(dir, { recursive: true, force: true });
  });
  await waitForLog(d, 'edge.started');
  return { d, port };
}

const msgs = (d: Daemon): string[] => d.logs().map((l) => String(l.msg));
const has = (d: Daemon, prefix: string): boolean => msgs(d).some((m) => m.startsWith(prefix));

function expectOneSessionIdForm(lines: Line[]): number {
  const withId = lines.filter((l) => 'sessionId' in l);
  for (const l of withId) expect(l.sessionId, JSON.stringify(l)).toMatch(/^[0-9]+$/);
  return withId.length;
}

describe('daemon logs', () => {
  it('debug: handshake steps, resume attempts and their outcome, master link and backoff; sessionId always a decimal string', async () => {
    const master = new RawMaster();
    const masterPort = await master.listen();
    cleanups.push(() => master.close());
    const { d, port } = await daemon('debug', masterPort, { VOLTLANE_MASTER_RECONNECT_MIN_MS: '20', VOLTLANE_MASTER_RECONNECT_MAX_MS: '100' });
    await master.connected();
    const s = await rawNewSession(port);
    s.socket.write(frame('hello'));
    await master.expect((p) => p.flag === Flag.Data, 5000, 'the data');
    s.socket.destroy();
    await waitForLog(d, 'session.stale');
    // A resume that fails (wrong key), one refused (unknown id), one that passes.
    await refused(rawResume(port, s.id, s.keyPair, { wrongKey: true }));
    await refused(rawResume(port, 987654321n, s.keyPair));
    const back = await rawResume(port, s.id, s.keyPair);
    cleanups.push(() => void back.socket.destroy());
    await waitForLog(d, 'session.resumed');
    // The master goes away: lost, backoff, dialing again.
    await master.close();
    await waitFor(() => msgs(d).filter((m) => m === 'master.dialing').length >= 3, 10_000, 'redials');

    const id = String(s.id);
    const lines = d.logs();
    const of = (msg: string) => lines.filter((l) => String(l.msg).startsWith(msg));
    expect(of('handshake.version').length).toBeGreaterThanOrEqual(4);
    expect(of('handshake.client_key')).toHaveLength(1);
    expect(of('resume.requested').map((l) => l.sessionId)).toEqual([id, '987654321', id]);
    expect(of('resume.challenge_sent').map((l) => l.sessionId)).toEqual([id, id]);
    expect(of('resume.failed')).toMatchObject([{ sessionId: id, reason: 'challenge response: sealed blob failed authentication' }]);
    expect(of('resume.refused')).toMatchObject([{ sessionId: '987654321', reason: 'resume of unknown session 987654321' }]);
    expect(of('resume.response_ok')).toHaveLength(1);
    expect(of('resume.passed')).toMatchObject([{ sessionId: id }]);
    expect(of('master.connected')).toHaveLength(1);
    expect(of('master.lost')).toHaveLength(1);
    expect(of('master.backoff').length).toBeGreaterThanOrEqual(2);
    expect(of('master.backoff')[0]).toHaveProperty('delayMs');
    // Per-packet routing is trace only.
    expect(has(d, 'route.')).toBe(false);
    // One form: `grep '"sessionId":"<id>"'` finds the session's whole story.
    expect(expectOneSessionIdForm(lines)).toBeGreaterThan(8);
    const grepped = d.out().split('\n').filter((l) => l.includes(`"sessionId":"${id}"`)).map((l) => (JSON.parse(l) as Line).msg);
    expect(grepped).toEqual(expect.arrayContaining(['session.created', 'session.stale', 'resume.requested', 'resume.passed', 'session.resumed']));
    expect(d.out()).not.toMatch(/"sessionId":[0-9]/);
  }, 30_000);

  it('trace: each packet routed, both ways', async () => {
    const master = new RawMaster();
    const masterPort = await master.listen();
    cleanups.push(() => master.close());
    const { d, port } = await daemon('trace', masterPort);
    await master.connected();
    const s = await rawNewSession(port);
    cleanups.push(() => void s.socket.destroy());
    s.socket.write(frame('up'));
    await master.expect((p) => p.flag === Flag.Data, 5000, 'the data');
    master.send(s.id, Flag.Data, new TextEncoder().encode('down!'));
    master.send(424242n, Flag.Data, new TextEncoder().encode('nobody'));
    await waitFor(() => d.logs().filter((l) => l.msg === 'route.master_to_client').length === 2, 5000, 'the routing lines');
    const id = String(s.id);
    expect(d.logs().filter((l) => l.msg === 'route.client_to_master')).toMatchObject([{ sessionId: id, bytes: 2 }]);
    expect(d.logs().filter((l) => l.msg === 'route.master_to_client')).toMatchObject([
      { sessionId: id, bytes: 5, to: 'client' },
      { sessionId: '424242', bytes: 6, to: 'no session' },
    ]);
    expectOneSessionIdForm(d.logs());
  }, 30_000);

  it('a master that never comes up: one WARN, then a summary per window, not a line per retry', async () => {
    const nowhere = await freePort(); // nothing listens there
    const { d } = await daemon('info', nowhere, { VOLTLANE_MASTER_RECONNECT_MIN_MS: '10', VOLTLANE_MASTER_RECONNECT_MAX_MS: '40' });
    await sleep(3_500);
    const master = d.logs().filter((l) => String(l.msg).startsWith('master.'));
    const first = master.filter((l) => String(l.msg).startsWith('master.unreachable'));
    const summaries = master.filter((l) => String(l.msg).startsWith('master.still_unreachable'));
    expect(first).toHaveLength(1);
    expect(first[0]!.level).toBe(40);
    // Windows of 1 s, then 2 s: one or two summaries in 3.5 s, each counting its attempts.
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    expect(summaries.length).toBeLessThanOrEqual(2);
    expect(master).toHaveLength(first.length + summaries.length);
    const attempts = summaries.reduce((n, l) => n + Number(l.attempts), 0);
    expect(attempts).toBeGreaterThan(15); // dozens of retries (10 to 40 ms apart), two or three lines
    expect(String(summaries[0]!.msg)).toMatch(/^master\.still_unreachable: \d+ attempts in the last 1(\.\d)? s$/);
  }, 30_000);
});
