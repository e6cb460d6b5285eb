// One memory budget for everything buffered for clients, over loopback with a small budget: replay buffers of
// stale sessions are dropped oldest first (their sessions end with one Failure, as on a buffer overflow), then
// clients behind on their output are disconnected (they go stale); /metrics shows the bytes and the drops, and
// the log says so once per interval.
import { describe, expect, it } from 'vitest';
import { Flag, encodeFirehose } from '../../src/io/firehose.js';
import { LifecycleRecorder } from '../../src/http/lifecycle.js';
import { StatusServer } from '../../src/http/server.js';
import { BUFFER_OVERHEAD } from '../../src/actors/replay-buffer.js';
import { rawResume, refused, sleep, text, waitFor, type RawSession } from '../helpers/wire.js';
import { logsWith, useEdgeFixture } from '../helpers/edge.js';

const fx = useEdgeFixture();
const { open, newSession } = fx;

/** One packet of this size fills a 64 KiB block of a replay buffer. */
const BIG = 60_000;
const BLOCK = 65_536 + BUFFER_OVERHEAD;
const failures = (t: typeof fx.t, id: bigint) => t.master.forId(id).filter((p) => p.flag === Flag.Failure).map((p) => text(p.data));

describe('client buffer budget', () => {
  it('drops the oldest replay buffers past the budget: those sessions end with one Failure, the others resume with theirs', async () => {
    const t = await fx.start({
      clients: { missedPacketsBufferSize: 100, missedPacketsBufferBytes: 1_048_576 },
      limits: { clientBufferBudgetBytes: 200_000 },
      general: { refusalLogIntervalSecs: 10 },
    });
    const c: RawSession[] = [];
    for (let i = 0; i < 4; i++) c.push(await newSession());
    for (const x of c) x.socket.destroy();
    await waitFor(() => t.edge.stats().stale === 4, 3000, 'four stale');
    for (let i = 0; i < 3; i++) t.master.send(c[i]!.id, Flag.Data, Buffer.alloc(BIG, i + 1));
    await waitFor(() => t.edge.clientBudget.bufferedSessions === 3, 3000, 'three buffers');
    // Blocks and per-buffer overhead are counted, not just the payload.
    expect(t.edge.clientBudget.used).toBe(3 * BLOCK);
    // A fourth buffer does not fit: the oldest (c0's) is dropped for it; growing c3's drops c1's.
    t.master.send(c[3]!.id, Flag.Data, Buffer.alloc(BIG, 4));
    await t.master.expect((p) => p.id === c[0]!.id && p.flag === Flag.Failure, 3000, 'c0 Failure');
    t.master.send(c[3]!.id, Flag.Data, Buffer.alloc(BIG, 5));
    await t.master.expect((p) => p.id === c[1]!.id && p.flag === Flag.Failure, 3000, 'c1 Failure');
    expect(failures(t, c[0]!.id)).toEqual(['missed packet buffer overflow']);
    expect(failures(t, c[1]!.id)).toEqual(['missed packet buffer overflow']);
    expect(t.edge.clientBudget.used).toBeLessThanOrEqual(200_000);
    expect(t.edge.clientBudget.counters).toEqual({ staleBuffersDropped: 2, slowReadersClosed: 0 });
    // One log line for both drops: the rest of the interval is summed up at its end.
    expect(logsWith(t, 'client_buffer.over_budget')).toHaveLength(1);
    for (const x of c.slice(0, 2)) await refused(rawResume(t.port, x.id, x.keyPair));
    const r2 = await rawResume(t.port, c[2]!.id, c[2]!.keyPair);
    const r3 = await rawResume(t.port, c[3]!.id, c[3]!.keyPair);
    open.push(r2.socket, r3.socket);
    expect((await r2.q.next())[0]).toBe(3);
    expect([(await r3.q.next())[0], (await r3.q.next())[0]]).toEqual([4, 5]);
    expect(failures(t, c[2]!.id)).toEqual([]);
    expect(failures(t, c[3]!.id)).toEqual([]);
    expect(t.edge.clientBudget.used).toBe(0);
    expect(t.edge.clientBudget.bufferedSessions).toBe(0);
  });

  it('then disconnects a client behind on its output (it goes stale, resumable); another client gets everything in order', async () => {
    const budget = 512 * 1024;
    const t = await fx.start({ clients: { missedPacketsBufferSize: 100_000, missedPacketsBufferBytes: 64 * 1024 * 1024 }, limits: { clientBufferBudgetBytes: budget } });
    const status = new StatusServer({ edge: t.edge, lifecycle: new LifecycleRecorder(), address: { host: '127.0.0.1', port: 0 } });
    const base = await status.start();
    try {
      const away = await newSession();
      away.socket.destroy();
      await waitFor(() => t.edge.stats().stale === 1, 3000, 'stale');
      t.master.send(away.id, Flag.Data, Buffer.alloc(100_000, 7));
      await waitFor(() => t.edge.clientBudget.bufferedSessions === 1, 3000, 'buffered');
      const slow = await newSession();
      const fast = await newSession();
      slow.socket.pause();
      const payload = Buffer.alloc(1024, 0x61);
      let sent = 0;
      // Far more for the slow client than socket buffers hold, but under its own 4 MiB cap at any time.
      const slowStale = () => t.edge.stale.get(Number(slow.id)) !== undefined;
      for (let r = 0; r < 600 && !slowStale(); r++) {
        const out: Uint8Array[] = [];
        for (let i = 0; i < 50; i++) {
          out.push(encodeFirehose(slow.id, Flag.Data, payload));
          if (i % 10 === 0) out.push(encodeFirehose(fast.id, Flag.Data, Buffer.from(`f${sent++}`)));
        }
        t.master.sendRaw(Buffer.concat(out));
        await sleep(1);
      }
      await waitFor(slowStale, 5000, 'the slow client to go stale');
      // What was still on its way to the slow client is buffered for it now (within the budget).
      await sleep(100);
      // The replay buffer went first, then the client behind.
      expect(failures(t, away.id)).toEqual(['missed packet buffer overflow']);
      expect(t.edge.clientBudget.counters).toEqual({ staleBuffersDropped: 1, slowReadersClosed: 1 });
      const over = logsWith(t, 'client.overflow');
      expect(over).toHaveLength(1);
      expect(String(over[0]!.reason)).toMatch(/client buffer budget of 524288 bytes/);
      expect(failures(t, slow.id)).toEqual([]);
      await fast.q.until(() => fast.q.frames.length >= sent, 5000, 'all fast packets');
      expect(fast.q.frames.map(text)).toEqual(Array.from({ length: sent }, (_, i) => `f${i}`));
      const m = await (await fetch(base + 'metrics')).text();
      const metric = (name: string) => Number(m.split('\n').find((l) => l.startsWith(name + ' '))!.slice(name.length + 1));
      expect(metric('voltlane_client_buffer_drops_total{what="stale_buffer"}')).toBe(1);
      expect(metric('voltlane_client_buffer_drops_total{what="slow_client"}')).toBe(1);
      expect(metric('voltlane_client_buffer_budget_bytes')).toBe(budget);
      expect(metric('voltlane_client_buffer_bytes')).toBeLessThanOrEqual(budget);
      // The slow client's session is stale, not ended: it resumes.
      slow.socket.destroy();
      const back = await rawResume(t.port, slow.id, slow.keyPair);
      open.push(back.socket);
      await t.master.expect((p) => p.id === slow.id && p.flag === Flag.Reconnection, 3000, 'Reconnection');
    } finally {
      await status.close();
    }
  });
});
