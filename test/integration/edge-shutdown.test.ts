// Shutdown over loopback: edge.stop() closes client sockets and the master connection, resolves, and leaves no
// open handles behind (sockets, servers, timers).
import { describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { dial, frame, FrameQueue, freePort, rawNewSession, rawResume, RawMaster, sleep, text, waitFor } from '../helpers/wire.js';
import { startEdge, useEdgeFixture } from '../helpers/edge.js';

const fx = useEdgeFixture();
const { open, masters } = fx;

const tcpHandles = (): string[] => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP'));

/** Records every timer created while installed; `leaked()` lists those still pending and keeping the process alive. */
function trackTimers(): { leaked(): string[]; restore(): void } {
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  const realSetInterval = globalThis.setInterval;
  const realClearInterval = globalThis.clearInterval;
  const pending = new Map<NodeJS.Timeout, string>();
  const where = (): string => (new Error().stack ?? '').split('\n').slice(3, 5).join(' <- ').trim();
  globalThis.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const h: NodeJS.Timeout = realSetTimeout(() => {
      pending.delete(h);
      fn(...args);
    }, ms);
    pending.set(h, `timeout ${ms}ms at ${where()}`);
    return h;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((h: NodeJS.Timeout | undefined) => {
    if (h) pending.delete(h);
    realClearTimeout(h);
  }) as typeof clearTimeout;
  globalThis.setInterval = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const h = realSetInterval(fn, ms, ...args);
    pending.set(h, `interval ${ms}ms at ${where()}`);
    return h;
  }) as typeof setInterval;
  globalThis.clearInterval = ((h: NodeJS.Timeout | undefined) => {
    if (h) pending.delete(h);
    realClearInterval(h);
  }) as typeof clearInterval;
  return {
    leaked: () => [...pending].filter(([h]) => h.hasRef()).map(([, w]) => w),
    restore() {
      globalThis.setTimeout = realSetTimeout;
      globalThis.clearTimeout = realClearTimeout;
      globalThis.setInterval = realSetInterval;
      globalThis.clearInterval = realClearInterval;
    },
  };
}

describe('edge shutdown', () => {
  it('stop() closes client sockets and the master connection, resolves, and leaves no open handles', async () => {
    const baseTcp = tcpHandles().length;
    const timers = trackTimers();
    try {
      const m = new RawMaster();
      masters.push(m);
      await m.listen();
      const edge = await startEdge(
        { clients: { missedPacketsBufferSize: 4, staleTimeoutSecs: 30 }, limits: { handshakeTimeoutSecs: 5 } },
        { master: m },
      );
      const a = await rawNewSession(edge.port);
      const b = await rawNewSession(edge.port);
      b.socket.destroy(); // a stale session with its timer
      await waitFor(() => edge.edge.stats().stale === 1, 2000, 'stale');
      const c = await rawNewSession(edge.port);
      const pendingSock = await dial(edge.port); // a handshake in flight with its timer
      const pending = new FrameQueue(pendingSock);
      await waitFor(() => edge.edge.stats().handshaking === 1, 2000, 'pending');
      a.socket.write(frame('last words'));
      await m.expect((p) => text(p.data) === 'last words');
      // Data the master sent just before the stop still reaches the client.
      m.send(c.id, Flag.Data, Buffer.from('goodbye'));
      expect(text(await c.q.next())).toBe('goodbye');
      const masterQ = m.q!;
      await edge.edge.stop();
      await a.q.waitClosed(2000);
      await c.q.waitClosed(2000);
      await pending.waitClosed(2000);
      await masterQ.waitClosed(2000);
      expect(edge.edge.masterState).toBe('stopped');
      await waitFor(() => edge.edge.stats().openSockets === 0, 2000, 'the edge to see its sockets closed');
      expect(edge.edge.stats()).toMatchObject({ sessions: 0, handshaking: 0, openSockets: 0, masterConnected: false });
      // A second stop resolves too.
      await edge.edge.stop();
      // An edge that does not keep its sessions ends each with one Failure, sent before the firehose closed.
      const failures = m.drain().filter((p) => p.flag === Flag.Failure);
      expect(failures.map((p) => [p.id, text(p.data)]).sort()).toEqual(
        [a.id, b.id, c.id].map((id) => [id, 'shutdown']).sort(),
      );
      await m.close();
      masters.length = 0;
      for (const s of [a.socket, b.socket, c.socket, pendingSock]) s.destroy();
      await waitFor(() => tcpHandles().length <= baseTcp && timers.leaked().length === 0, 2000, 'handles released').catch(() => {});
      expect(tcpHandles()).toHaveLength(baseTcp);
      expect(timers.leaked()).toEqual([]);
    } finally {
      timers.restore();
    }
  });

  it('a shutdown that ends the sessions: one Failure "shutdown" each (live, stale, mid-challenge), attempts closed, one log line for all', async () => {
    const t = await fx.start({ clients: { missedPacketsBufferSize: 4 } });
    const a = await fx.newSession();
    const b = await fx.newSession();
    const c = await fx.newSession();
    b.socket.destroy();
    c.socket.destroy();
    await waitFor(() => t.edge.stats().stale === 2, 2000, 'stale');
    t.master.send(c.id, Flag.Data, Buffer.from('held'));
    await waitFor(() => t.edge.sessions.get(Number(c.id))?.missedCount === 1, 2000, 'held');
    let release!: () => void;
    const stopped = new Promise<void>((r) => (release = r));
    let challenged!: () => void;
    const atChallenge = new Promise<void>((r) => (challenged = r));
    const attempt = rawResume(t.port, b.id, b.keyPair, {
      onChallenge: async () => {
        challenged();
        await stopped;
      },
    }).catch((e: unknown) => e);
    await atChallenge;
    await t.edge.stop();
    release();
    expect(await attempt).toBeInstanceOf(Error);
    await a.q.waitClosed(2000);
    const failures = t.master.drain().filter((p) => p.flag === Flag.Failure);
    expect(failures.map((p) => [p.id, text(p.data)]).sort()).toEqual([a.id, b.id, c.id].map((id) => [id, 'shutdown']).sort());
    expect(t.edge.sessions.size).toBe(0);
    expect(t.edge.clientBudget.used).toBe(0);
    expect(t.logs.filter((l) => l.msg === 'session.reaped')).toHaveLength(0);
    expect(t.logs.filter((l) => String(l.msg).startsWith('session.reaped: every session ended at shutdown')).map((l) => l.sessions)).toEqual([3]);
  });

  it('stop() resolves while the master is unreachable', async () => {
    const port = await freePort();
    const t = await fx.start({}, { masterPort: port });
    const a = await rawNewSession(t.port);
    open.push(a.socket);
    a.socket.write(frame('held'));
    await sleep(50);
    const t0 = Date.now();
    await t.edge.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    await a.q.waitClosed(2000);
  });
});
