// The inspector relay's delivery guarantees, through real WebSocket viewers on loopback: a viewer that falls
// behind misses events but never an actor registration, one that stops reading altogether is closed (1008) so
// its memory stays bounded, close delivers everything first and says 1001, and the bridge page's hold buffer
// (its own script, run against the relay) keeps every registration while it drops other events.
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { InspectRelay } from '../../src/inspect/relay.js';
import { waitFor } from '../helpers/wire.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function relay(o: Partial<ConstructorParameters<typeof InspectRelay>[0]> = {}): Promise<InspectRelay> {
  const r = new InspectRelay({ port: 0, ...o });
  await r.start();
  cleanups.push(() => r.close());
  return r;
}

interface Ev {
  type: string;
  sessionId: string;
  n?: number;
  pad?: string;
  snapshot?: { status: string };
}

class Viewer {
  readonly msgs: Ev[] = [];
  readonly ws: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;
  constructor(port: number) {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    this.ws.on('message', (d) => this.msgs.push(JSON.parse(String(d)) as Ev));
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    cleanups.push(() => this.ws.terminate());
  }
  async opened(r: InspectRelay, count: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    await waitFor(() => r.clients === count, 5000, 'the relay to see the viewer');
  }
}

const reg = (sessionId: string, padBytes = 0): string => JSON.stringify({ type: '@xstate.actor', sessionId, pad: 'x'.repeat(padBytes), snapshot: { status: 'active' } });
const event = (sessionId: string, n: number, padBytes = 0, status = 'active'): string =>
  JSON.stringify({ type: '@xstate.snapshot', sessionId, n, pad: 'x'.repeat(padBytes), snapshot: { status } });

describe('inspector relay delivery', () => {
  it('a viewer that falls behind misses events but gets every registration, in order; others are not held up', async () => {
    const r = await relay({ maxBufferedBytes: 64 * 1024 });
    const slow = new Viewer(r.port);
    await slow.opened(r, 1);
    const fast = new Viewer(r.port);
    await fast.opened(r, 2);
    slow.ws.pause();
    // 16 MiB of events (enough to fill loopback's socket buffers), a registration every 16 events.
    const sent: string[] = [];
    for (let i = 0; i < 256; i++) {
      if (i % 16 === 0) r.broadcast(reg(`a${i}`), true), sent.push(`a${i}`);
      r.broadcast(event(`a${i - (i % 16)}`, i, 64 * 1024));
      await new Promise((res) => setImmediate(res));
    }
    expect(r.dropped).toBeGreaterThan(0);
    slow.ws.resume();
    await waitFor(() => fast.msgs.length === 256 + 16 && slow.msgs.filter((m) => m.type === '@xstate.actor').length === 16, 20_000, 'the viewers');
    // The slow viewer: every registration, in the order sent, each before any event of its actor.
    expect(slow.msgs.filter((m) => m.type === '@xstate.actor').map((m) => m.sessionId)).toEqual(sent);
    const seen = new Set<string>();
    for (const m of slow.msgs) {
      if (m.type === '@xstate.actor') seen.add(m.sessionId);
      else expect(seen.has(m.sessionId), `event ${m.n} before its registration`).toBe(true);
    }
    expect(slow.msgs.length).toBeLessThan(256 + 16);
    expect(r.tooSlow).toBe(0);
  });

  it('a viewer that stops reading is closed with 1008 once 4x its budget is unsent; the other keeps everything', async () => {
    const r = await relay({ maxBufferedBytes: 64 * 1024 });
    const stuck = new Viewer(r.port);
    await stuck.opened(r, 1);
    const ok = new Viewer(r.port);
    await ok.opened(r, 2);
    stuck.ws.pause();
    let i = 0;
    while (r.tooSlow === 0 && i < 2000) {
      r.broadcast(reg(`s${i}`, 8 * 1024), true); // a session's registration carries its machine: some KiB
      r.broadcast(event(`s${i}`, i, 32 * 1024));
      i++;
      await new Promise((res) => setImmediate(res));
    }
    expect(r.tooSlow).toBe(1);
    expect(i).toBeLessThan(2000);
    stuck.ws.resume();
    expect((await stuck.closed).code).toBe(1008);
    await waitFor(() => ok.msgs.length === 2 * i, 20_000, 'the reading viewer to get everything');
    await waitFor(() => r.clients === 1, 5000, 'the closed viewer to leave');
  });

  it('close delivers everything already broadcast, then closes each viewer with 1001', async () => {
    const r = new InspectRelay({ port: 0 });
    await r.start();
    const a = new Viewer(r.port);
    await a.opened(r, 1);
    const b = new Viewer(r.port);
    await b.opened(r, 2);
    r.broadcast(reg('x'), true);
    for (let i = 0; i < 12; i++) r.broadcast(event('x', i, 64 * 1024)); // 768 KiB, under the 1 MiB budget
    r.broadcast(event('x', 12, 0, 'done'));
    await r.close();
    for (const v of [a, b]) {
      expect(await v.closed).toEqual({ code: 1001, reason: 'voltlane edge shutting down' });
      expect(v.msgs.map((m) => m.n ?? -1)).toEqual([-1, ...Array.from({ length: 13 }, (_, k) => k)]);
    }
  });
});

describe('the bridge page', () => {
  /** The page's own script, run with a real WebSocket to the relay; what it posts to the inspector frame is kept. */
  async function page(r: InspectRelay): Promise<{ posted: Ev[]; connected: () => void; ws: () => WebSocket }> {
    const html = await (await fetch(r.url)).text();
    const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
    const posted: Ev[] = [];
    const listeners: Array<(e: { data: unknown }) => void> = [];
    let socket: WebSocket | undefined;
    const ctx = vm.createContext({
      document: { getElementById: () => ({ contentWindow: { postMessage: (ev: Ev) => posted.push(ev) } }) },
      addEventListener: (_type: string, f: (e: { data: unknown }) => void) => listeners.push(f),
      location: { host: `127.0.0.1:${r.port}` },
      WebSocket: class extends WebSocket {
        constructor(url: string) {
          super(url);
          socket = this;
          cleanups.push(() => this.terminate());
        }
      },
      JSON,
      Set,
    });
    vm.runInContext(script, ctx);
    await waitFor(() => r.clients === 1, 5000, 'the page to connect');
    return { posted, connected: () => listeners.forEach((f) => f({ data: { type: '@statelyai.connected' } })), ws: () => socket! };
  }

  it('holds at most N events while the inspector loads, dropping the oldest others first and never a live actor', async () => {
    const r = await relay({ pageHoldLimit: 20 });
    const p = await page(r);
    const sent: Ev[] = [];
    const send = (msg: string, registration = false) => {
      sent.push(JSON.parse(msg) as Ev);
      r.broadcast(msg, registration);
    };
    send(reg('sup'));
    for (let i = 0; i < 30; i++) {
      if (i % 5 === 0) send(reg(`a${i}`), true);
      send(event(i % 10 === 5 ? 'sup' : `a${i - (i % 5)}`, i));
    }
    // An actor that ends while held: dropped with its events once registrations alone pass the limit.
    send(reg('gone'), true);
    send(event('gone', 100, 0, 'done'));
    for (let i = 0; i < 20; i++) send(reg(`b${i}`), true);
    await waitFor(() => p.ws().bufferedAmount === 0, 5000, 'delivery');
    await new Promise((res) => setTimeout(res, 100));
    expect(p.posted).toEqual([]);
    p.connected();
    const regs = p.posted.filter((m) => m.type === '@xstate.actor').map((m) => m.sessionId);
    const live = sent.filter((m) => m.type === '@xstate.actor' && m.sessionId !== 'gone').map((m) => m.sessionId);
    expect(regs).toEqual(live);
    const others = p.posted.filter((m) => m.type !== '@xstate.actor');
    // The 20 newest: 'gone''s event pushed out the oldest, then left with its actor.
    expect(others.map((m) => m.n)).toEqual(Array.from({ length: 19 }, (_, k) => 11 + k));
    // Order kept: what was posted is what was sent, less the dropped events.
    const order = sent.filter((m) => p.posted.some((q) => JSON.stringify(q) === JSON.stringify(m)));
    expect(p.posted).toEqual(order);
    // Once ready, events go straight through.
    r.broadcast(event('sup', 999));
    await waitFor(() => p.posted.at(-1)?.n === 999, 5000, 'a live event');
  });
});
