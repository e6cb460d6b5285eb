// The inspector relay end to end: an edge with inspection on, a WebSocket client in the inspector UI's place,
// a session driven through drop and resume; the actor and snapshot events arrive with the machine's states.
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Edge } from '../../src/actors/edge.js';
import { generateKeyPair } from '../../src/io/crypto.js';
import { EdgeInspector } from '../../src/inspect/inspector.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/edge.js';
import { RawMaster, rawNewSession, rawResume, waitFor, type RawSession } from '../helpers/wire.js';

interface Msg {
  type: string;
  name?: string;
  sessionId: string;
  event?: { type: string };
  snapshot?: { value?: unknown; status?: string; context?: { id?: number } };
}

class UiClient {
  readonly msgs: Msg[] = [];
  readonly ws: WebSocket;
  constructor(url: string) {
    this.ws = new WebSocket(url.replace('http://', 'ws://'));
    this.ws.on('message', (d) => this.msgs.push(JSON.parse(String(d)) as Msg));
  }
  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }
  /** The XState sessionId of the actor whose snapshots carry this Voltlane session id. */
  actorOf(id: number): string | undefined {
    return this.msgs.find((m) => m.snapshot?.context?.id === id)?.sessionId;
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function observedEdge(o: { sessions: number; followId?: number }) {
  const master = new RawMaster();
  const masterPort = await master.listen();
  const inspector = new EdgeInspector({ port: 0, sessions: o.sessions, followId: o.followId ?? null });
  const url = await inspector.start();
  const edge = new Edge({
    config: testConfig(masterPort, { clients: { missedPacketsBufferSize: 8 } }),
    keyPair: generateKeyPair(),
    log: silentLogger(),
    inspect: inspector.observer,
    inspectSession: inspector.inspectSession,
  });
  const { port } = await edge.start();
  cleanups.push(async () => {
    await edge.stop();
    await master.close();
    await inspector.close();
  });
  await master.connected();
  return { edge, master, inspector, url, port };
}

function ui(url: string): UiClient {
  const c = new UiClient(url);
  cleanups.push(() => c.ws.terminate());
  return c;
}

describe('inspection relay', () => {
  it('streams a session through drop and resume: actor, events and snapshots with the states it went through', async () => {
    const { url, port, edge } = await observedEdge({ sessions: 10 });
    const c = ui(url);
    await c.opened();
    const s = await rawNewSession(port);
    const id = Number(s.id);
    s.socket.destroy();
    await waitFor(() => edge.stats().stale === 1, 5000, 'the session to go stale');
    const back: RawSession = await rawResume(port, s.id, s.keyPair);
    cleanups.push(() => void back.socket.destroy());
    await waitFor(() => c.msgs.some((m) => m.type === '@xstate.snapshot' && m.event?.type === 'resume.passed'), 5000, 'resume.passed');

    const actor = c.actorOf(id);
    expect(actor).toBeDefined();
    const mine = c.msgs.filter((m) => m.sessionId === actor);
    const reg = mine.find((m) => m.type === '@xstate.actor');
    expect(reg?.name).toBe('session');
    expect(reg?.snapshot?.value).toEqual({ live: 'connected' });
    expect(mine.filter((m) => m.type === '@xstate.event').map((m) => m.event?.type)).toEqual([
      'xstate.init',
      'socket.closed',
      'resume.requested',
      'resume.passed',
    ]);
    expect(mine.filter((m) => m.type === '@xstate.snapshot').map((m) => m.snapshot?.value)).toEqual([
      { live: 'connected' },
      { away: 'stale' },
      { away: 'challenged' },
      { live: 'connected' },
    ]);
    expect(c.msgs.some((m) => m.type === '@xstate.actor' && m.name === 'supervisor')).toBe(true);
  });

  it('a UI that joins late first gets every inspected actor as it is now', async () => {
    const { url, port } = await observedEdge({ sessions: 10 });
    const s = await rawNewSession(port);
    cleanups.push(() => void s.socket.destroy());
    const late = ui(url);
    await late.opened();
    await waitFor(() => late.msgs.length >= 2, 5000, 'the actors');
    const names = late.msgs.filter((m) => m.type === '@xstate.actor').map((m) => m.name);
    expect(names.sort()).toEqual(['session', 'supervisor']);
    const session = late.msgs.find((m) => m.name === 'session');
    expect(session?.snapshot?.context?.id).toBe(Number(s.id));
    expect(session?.snapshot?.value).toEqual({ live: 'connected' });
  });

  it('inspects at most N sessions at a time plus the followed id, and frees a slot when a session ends', async () => {
    const { url, port, inspector, master } = await observedEdge({ sessions: 1, followId: 3 });
    const c = ui(url);
    await c.opened();
    const a = await rawNewSession(port); // 1: sampled
    const b = await rawNewSession(port); // 2: over the sample
    const f = await rawNewSession(port); // 3: followed
    cleanups.push(() => {
      for (const x of [a, b, f]) x.socket.destroy();
    });
    expect([a.id, b.id, f.id]).toEqual([1n, 2n, 3n]);
    expect(inspector.sampler.size).toBe(1);
    master.send(1n, 0x02); // Kick session 1: its slot frees
    await waitFor(() => inspector.sampler.size === 0, 5000, 'the slot to free');
    const d = await rawNewSession(port); // 4: takes the free slot
    cleanups.push(() => void d.socket.destroy());
    await waitFor(() => c.actorOf(4) !== undefined && c.actorOf(3) !== undefined, 5000, 'sessions 3 and 4');
    b.socket.destroy(); // session 2 changes state too, but nobody watches it
    await waitFor(() => c.msgs.some((m) => m.snapshot?.context?.id === 3 && m.event?.type === 'xstate.init'), 5000, 'session 3');
    await new Promise((r) => setTimeout(r, 50));
    expect(c.actorOf(2)).toBeUndefined();
    expect(inspector.sampler.size).toBe(1);
    expect(inspector.stats().droppedQueueFull).toBe(0);
  });
});
