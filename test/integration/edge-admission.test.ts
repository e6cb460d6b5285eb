// Admission under attack, over loopback: idle connections filling the handshake cap are shed for real
// clients; refusal log lines are throttled per reason and address while the counts stay exact; a frame
// trickled below the minimum rate is cut off; tiny TCP segments are held compactly.
import { describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { encodeFrameHeader } from '../../src/io/framing.js';
import { dial, FrameQueue, frame, rawNewSession, rawResume, sleep, waitFor } from '../helpers/wire.js';
import { logsWith, useEdgeFixture } from '../helpers/edge.js';

const fx = useEdgeFixture();
const { open, newSession, marker } = fx;

async function idle(from: string): Promise<FrameQueue> {
  const s = await dial(fx.t.port, '127.0.0.1', from);
  open.push(s);
  return new FrameQueue(s);
}

describe('edge admission: slowloris on the handshake cap', () => {
  it('sheds the longest-idle handshakes for new sessions and resumes while idle connections hold every slot', async () => {
    const t = await fx.start({ limits: { maxHandshakesInFlight: 40, handshakeTimeoutSecs: 30 } });
    const owner = await newSession();
    owner.socket.destroy();
    await waitFor(() => t.edge.stats().stale === 1, 2000, 'stale');
    // 40 connections from 4 addresses, each well under every per-address limit, that never say a word.
    const idlers: FrameQueue[] = [];
    for (let i = 0; i < 40; i++) idlers.push(await idle(`127.0.50.${(i % 4) + 1}`));
    await waitFor(() => t.edge.stats().handshaking === 40, 3000, 'all slots held');
    await sleep(300);
    // Real clients still get in, new and resuming.
    const fresh = [];
    for (let i = 0; i < 10; i++) fresh.push(await rawNewSession(t.port));
    for (const f of fresh) open.push(f.socket);
    const back = await rawResume(t.port, owner.id, owner.keyPair);
    open.push(back.socket);
    await marker(back, 'owner-back');
    await marker(fresh[9]!, 'fresh');
    // The oldest idlers paid for it, and said so in the log.
    // (Each real client that found the cap full took the slot of the longest-idle one.)
    await idlers[0]!.waitClosed(3000);
    expect(t.edge.counters.handshakesShed).toBeGreaterThanOrEqual(1);
    expect(idlers.filter((q) => q.closed)).toHaveLength(t.edge.counters.handshakesShed);
    expect(logsWith(t, 'handshake.refused').some((l) => /idle handshake shed/.test(String(l.reason)))).toBe(true);
    expect(logsWith(t, 'connection.refused')).toHaveLength(0);
  });

  it('refuses when every handshake in flight is younger than the shedding age', async () => {
    const t = await fx.start({ limits: { maxHandshakesInFlight: 2 } });
    await idle('127.0.51.1');
    await idle('127.0.51.2');
    await waitFor(() => t.edge.stats().handshaking === 2, 2000, 'slots held');
    const third = await idle('127.0.51.3');
    await third.waitClosed(2000);
    expect(String(logsWith(t, 'connection.refused')[0]!.reason)).toMatch(/handshakes in flight/);
  });
});

describe('edge admission: refusal log lines', () => {
  it('one line per reason and address per interval, then a count; the counters stay exact', async () => {
    const refusals: string[] = [];
    const t = await fx.start({ general: { refusalLogIntervalSecs: 1 }, limits: { maxConnectionsPerAddress: 1 } });
    await idle('127.0.60.1');
    await waitFor(() => t.edge.stats().handshaking === 1, 2000, 'one held');
    const before = t.edge.counters.refused;
    const flood: FrameQueue[] = [];
    for (let i = 0; i < 30; i++) flood.push(await idle('127.0.60.1'));
    for (const q of flood) await q.waitClosed(2000);
    // Another address is logged on its own line.
    await idle('127.0.60.2');
    const other = await idle('127.0.60.2');
    await other.waitClosed(2000);
    expect(t.edge.counters.refused - before).toBe(31);
    const lines = () => logsWith(t, 'connection.refused');
    expect(lines().map((l) => l.address)).toEqual(['127.0.60.1', '127.0.60.2']);
    await waitFor(() => lines().some((l) => String(l.msg).includes('more')), 3000, 'the summary line');
    const summary = lines().find((l) => String(l.msg).includes('more'))!;
    expect(summary.address).toBe('127.0.60.1');
    expect(summary.msg).toBe('connection.refused: ... and 29 more in the last 1 s');
    expect(summary.more).toBe(29);
    refusals.push(...lines().map((l) => String(l.msg)));
    expect(refusals).toHaveLength(3);
  });
});

describe('edge admission: a frame in progress has a deadline', () => {
  it('cuts off a client trickling a frame below the minimum rate; its session goes stale and can resume', async () => {
    const t = await fx.start({ limits: { frameTimeoutSecs: 0.3, minFrameBytesPerSec: 100 } });
    const c = await newSession();
    const other = await newSession();
    c.socket.write(frame('before'));
    c.socket.write(encodeFrameHeader(10_000));
    const t0 = Date.now();
    const trickle = setInterval(() => c.socket.write(Uint8Array.of(1)), 50);
    try {
      await c.q.waitClosed(5000);
    } finally {
      clearInterval(trickle);
    }
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(3000);
    await waitFor(() => t.edge.stats().stale === 1, 2000, 'stale');
    expect(logsWith(t, 'client.frame_too_slow')).toHaveLength(1);
    expect(t.edge.counters.slowFrames).toBe(1);
    expect(t.master.forId(c.id).filter((p) => p.flag === Flag.Failure)).toHaveLength(0);
    const r = await rawResume(t.port, c.id, c.keyPair);
    open.push(r.socket);
    await marker(r, 'resumed');
    await marker(other, 'other-fine');
  });

  it('a frame arriving at or above the minimum rate is never cut off, however long it takes', async () => {
    const t = await fx.start({ limits: { frameTimeoutSecs: 0.2, minFrameBytesPerSec: 1000 } });
    const c = await newSession();
    const body = Buffer.alloc(1200, 7);
    c.socket.write(encodeFrameHeader(body.length));
    // 100 bytes every 50 ms: 2000 B/s, for 0.6 s (three times the grace period).
    for (let i = 0; i < body.length; i += 100) {
      c.socket.write(body.subarray(i, i + 100));
      await sleep(50);
    }
    const got = await t.master.expect((p) => p.id === c.id && p.flag === Flag.Data, 3000, 'the slow but steady frame');
    expect(got.data.length).toBe(1200);
    expect(c.q.closed).toBe(false);
    expect(logsWith(t, 'client.frame_too_slow')).toHaveLength(0);
  });
});

describe('edge admission: tiny TCP segments', () => {
  it('holds an unfinished frame sent one byte per segment in about its own size', async () => {
    const t = await fx.start();
    const c = await newSession();
    c.socket.write(encodeFrameHeader(100_000));
    for (let i = 0; i < 3000; i++) {
      c.socket.write(Uint8Array.of(i & 0xff));
      if (i % 20 === 0) await sleep(1);
    }
    const s = t.edge.sessions.get(Number(c.id))!;
    await waitFor(() => (s.decoder?.bufferedBytes ?? 0) >= 3000, 5000, 'all bytes at the edge');
    const d = s.decoder!;
    // At most 4 B of heap per pending byte (one Buffer per segment would cost ~160 B each).
    expect(d.heldBytes).toBeLessThanOrEqual(4 * d.bufferedBytes);
  });
});
