// The inspector relay of the real daemon (`voltlane --inspect`), watched by WebSocket viewers in the Stately UI's
// place: with sampling, nothing in the stream points at an actor the viewer was never shown; on SIGTERM the
// supervisor's drain and stop and the sampled session's final state arrive before the relay closes the viewer
// with 1001 (going away).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { configIn, requireBuilt, stopDaemon, voltlane, waitForLog, type Daemon } from '../helpers/daemon.js';
import { freePort, RawMaster, rawNewSession, waitFor, type RawSession } from '../helpers/wire.js';

interface Msg {
  type: string;
  name?: string;
  sessionId: string;
  sourceId?: string;
  event?: { type: string };
  snapshot?: { value?: unknown; status?: string; context?: { id?: number } };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
beforeAll(requireBuilt);

class Viewer {
  readonly msgs: Msg[] = [];
  readonly ws: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;
  constructor(port: number) {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    this.ws.on('message', (d) => this.msgs.push(JSON.parse(String(d)) as Msg));
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    cleanups.push(() => this.ws.terminate());
  }
  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }
  registered(): Set<string> {
    return new Set(this.msgs.filter((m) => m.type === '@xstate.actor').map((m) => m.sessionId));
  }
  actorOf(id: number): string | undefined {
    return this.msgs.find((m) => m.snapshot?.context?.id === id)?.sessionId;
  }
}

/** XState ids an event names: its source, and the actor in a done/error/snapshot event's type. */
function pointsAt(m: Msg): string[] {
  const out: string[] = [];
  if (m.sourceId !== undefined) out.push(m.sourceId);
  const t = /^xstate\.(?:done|error)\.actor\.(.+)$|^xstate\.snapshot\.(.+)$/.exec(m.event?.type ?? '');
  if (t) out.push((t[1] ?? t[2])!);
  return out;
}

async function daemon(): Promise<{ d: Daemon; port: number; inspectPort: number; master: RawMaster }> {
  const dir = mkdtempSync(join(tmpdir(), 'voltlane-inspect-'));
  const master = new RawMaster();
  const masterPort = await master.listen();
  const [port, inspectPort] = [await freePort(), await freePort()];
  const d = voltlane(
    ['--config', configIn(dir), '--listen', `127.0.0.1:${port}`, '--master', `127.0.0.1:${masterPort}`, '--log-format', 'json', '--inspect', String(inspectPort), '--inspect-sessions', '1'],
    { cwd: dir },
  );
  cleanups.push(async () => {
    await stopDaemon(d);
    await master.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await waitForLog(d, 'inspect.relay');
  await master.connected();
  return { d, port, inspectPort, master };
}

describe('voltlane --inspect', () => {
  it('with sampling, the stream never names an actor the viewer was not shown; on SIGTERM it flushes the end, then closes with 1001', async () => {
    const { d, port, inspectPort, master } = await daemon();
    const v = new Viewer(inspectPort);
    await v.opened();
    const sessions: RawSession[] = [];
    for (let i = 0; i < 4; i++) sessions.push(await rawNewSession(port));
    cleanups.push(() => sessions.forEach((s) => s.socket.destroy()));
    const ids = sessions.map((s) => Number(s.id));
    await waitFor(() => v.actorOf(ids[0]!) !== undefined, 5000, 'the sampled session');
    // Sessions 2..4 are not sampled: kicked, they end (final state, xstate.done.actor to their parent).
    for (const id of ids.slice(1)) master.send(BigInt(id), 0x02);
    // Then the sampled one ends too, and its slot goes to a new session.
    master.send(BigInt(ids[0]!), 0x02);
    await waitFor(() => v.msgs.some((m) => m.sessionId === v.actorOf(ids[0]!) && m.snapshot?.status === 'done'), 5000, 'session 1 to end');
    const late = await rawNewSession(port);
    cleanups.push(() => void late.socket.destroy());
    await waitFor(() => v.actorOf(Number(late.id)) !== undefined, 5000, 'the new sampled session');

    process.kill(d.child.pid!, 'SIGTERM');
    const closed = await v.closed;
    expect(await d.exited).toBe(0);
    expect(closed.code).toBe(1001);

    const shown = v.registered();
    const supervisor = v.msgs.find((m) => m.type === '@xstate.actor' && m.name === 'supervisor')!.sessionId;
    expect(shown.size).toBe(3); // the supervisor and the two sampled sessions, never the three others
    for (const m of v.msgs) {
      expect(shown.has(m.sessionId), JSON.stringify(m)).toBe(true);
      for (const x of pointsAt(m)) expect(shown.has(x), `${JSON.stringify(m)} names ${x}`).toBe(true);
    }
    // The sampled session's end is in the supervisor's stream (the UI knows that actor).
    expect(v.msgs.some((m) => m.sessionId === supervisor && m.event?.type === `xstate.done.actor.${v.actorOf(ids[0]!)}`)).toBe(true);
    // The shutdown: the supervisor drained and stopped, the live sampled session reached its final state.
    const sup = v.msgs.filter((m) => m.sessionId === supervisor && m.type === '@xstate.snapshot').map((m) => m.snapshot?.value);
    expect(sup.slice(-2)).toEqual(['draining', 'stopped']);
    const lastOfLate = v.msgs.filter((m) => m.sessionId === v.actorOf(Number(late.id)) && m.type === '@xstate.snapshot').at(-1);
    expect(lastOfLate?.snapshot?.status).toBe('done');
    expect(['kept', 'reaped']).toContain(lastOfLate?.snapshot?.value);
  });
});
