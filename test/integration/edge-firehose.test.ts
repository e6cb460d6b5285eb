// The firehose rules of PROTOCOL.md sec. 5 over loopback: Failure for unknown ids, Kick, master protocol errors
// that are skipped, and per-client order with many clients at once.
import { describe, expect, it } from 'vitest';
import { Flag, encodeFirehose } from '../../src/io/firehose.js';
import { encodeFrame } from '../../src/io/framing.js';
import { frame, rawResume, refused, sleep, text, waitFor, type RawSession } from '../helpers/wire.js';
import { logsWith, useEdgeFixture } from '../helpers/edge.js';

const fx = useEdgeFixture();
const { newSession, marker } = fx;

const U64_MAX = 2n ** 64n - 1n;

describe('edge firehose: data for ids with no session', () => {
  it('answers master data for a never-issued id with a Failure for that exact id', async () => {
    const t = await fx.start();
    const c = await newSession();
    t.master.send(99n, Flag.Data, Buffer.from('who?'));
    const f = await t.master.expect((p) => p.flag === Flag.Failure);
    expect(f.id).toBe(99n);
    // Byte-exact: id 99 LE, flag 01, then the reason.
    const raw = t.master.raw[t.master.packets.indexOf(f)]!;
    expect(Buffer.from(raw.subarray(0, 9))).toEqual(Buffer.from([99, 0, 0, 0, 0, 0, 0, 0, 1]));
    expect(text(f.data).length).toBeGreaterThan(0);
    await marker(c, 'after');
    expect(t.edge.sessions.size).toBe(1);
  });

  it('echoes ids of 2^53 and above byte-exact, up to 2^64-1, and id 0', async () => {
    const t = await fx.start();
    const ids = [U64_MAX, 2n ** 53n, 2n ** 53n + 1n, 0x0102030405060708n, 0n];
    for (const id of ids) t.master.send(id, Flag.Data, Buffer.from('x'));
    for (const id of ids) {
      const f = await t.master.expect((p) => p.flag === Flag.Failure, 3000, `Failure for ${id}`);
      expect(f.id).toBe(id);
      const raw = t.master.raw[t.master.packets.indexOf(f)]!;
      const want = Buffer.alloc(8);
      want.writeBigUInt64LE(id);
      expect(Buffer.from(raw.subarray(0, 8))).toEqual(want);
      expect(raw[8]).toBe(Flag.Failure);
    }
  });

  it('after a stale expiry, sends exactly one Failure for the session; each later master data for the id is answered with a Failure', async () => {
    const t = await fx.start({ clients: { staleTimeoutSecs: 0.2, staleReapIntervalSecs: 0.05 } });
    const c = await newSession();
    const other = await newSession();
    c.socket.destroy();
    const f = await t.master.expect((p) => p.id === c.id && p.flag === Flag.Failure, 3000, 'stale Failure');
    expect(text(f.data)).toBe('stale timeout');
    await refused(rawResume(t.port, c.id, c.keyPair));
    t.master.send(c.id, Flag.Data, Buffer.from('late'));
    t.master.send(c.id, Flag.Data, Buffer.from('later'));
    t.master.send(other.id, Flag.Data, Buffer.from('ping-other'));
    expect(text(await other.q.next())).toBe('ping-other');
    await marker(other, 'back');
    await waitFor(() => t.master.forId(c.id).length === 3, 3000, 'two answers');
    expect(t.master.forId(c.id).map((p) => [p.flag, text(p.data)])).toEqual([
      [Flag.Failure, 'stale timeout'],
      [Flag.Failure, 'unknown client'],
      [Flag.Failure, 'unknown client'],
    ]);
  });
});

describe('edge firehose: Kick', () => {
  it('closes a live session, sends no Failure for it, and forgets it: later data for it is answered with a Failure', async () => {
    const t = await fx.start({ clients: { staleTimeoutSecs: 0.1, staleReapIntervalSecs: 0.05 } });
    const c = await newSession();
    const other = await newSession();
    await marker(c, 'hello');
    t.master.send(c.id, Flag.Kick);
    await c.q.waitClosed(2000);
    await waitFor(() => !t.edge.sessions.has(1), 2000, 'session gone');
    expect(t.edge.stats().stale).toBe(0);
    // Past the stale timeout: no Failure of its own; master data for it is answered like an id never issued.
    await sleep(250);
    t.master.send(c.id, Flag.Data, Buffer.from('late'));
    await marker(other, 'marker');
    await waitFor(() => t.master.forId(c.id).length === 2, 3000, 'the answer');
    await sleep(150);
    expect(t.master.forId(c.id).map((p) => [p.flag, text(p.data)])).toEqual([[Flag.Data, 'hello'], [Flag.Failure, 'unknown client']]);
    await refused(rawResume(t.port, c.id, c.keyPair));
  });

  it('drops a stale session without a Failure', async () => {
    const t = await fx.start({ clients: { staleTimeoutSecs: 0.2, staleReapIntervalSecs: 0.05, missedPacketsBufferSize: 4 } });
    const c = await newSession();
    const other = await newSession();
    c.socket.destroy();
    await waitFor(() => t.edge.stats().stale === 1, 2000, 'stale');
    t.master.send(c.id, Flag.Data, Buffer.from('buffered'));
    t.master.send(c.id, Flag.Kick);
    await waitFor(() => t.edge.sessions.size === 1, 2000, 'dropped');
    expect(t.edge.stats().stale).toBe(0);
    await sleep(300); // past the stale timeout
    await marker(other, 'marker');
    await sleep(150);
    expect(t.master.forId(c.id)).toEqual([]);
    await refused(rawResume(t.port, c.id, c.keyPair));
  });

  it('kicks a session mid-takeover: both sockets closed, no Failure', async () => {
    const t = await fx.start();
    const c = await newSession();
    const other = await newSession();
    await refused(
      rawResume(t.port, c.id, c.keyPair, {
        onChallenge: () => {
          t.master.send(c.id, Flag.Kick);
        },
      }),
    );
    await c.q.waitClosed(2000);
    await marker(other, 'marker');
    await sleep(150);
    expect(t.master.forId(c.id)).toEqual([]);
    expect(t.edge.stats()).toMatchObject({ sessions: 1, handshaking: 0 });
  });

  it('kicks a stale session mid-reconnect: the attempt is closed, no Failure, the id is gone', async () => {
    const t = await fx.start({ clients: { missedPacketsBufferSize: 4 } });
    const c = await newSession();
    const other = await newSession();
    c.socket.destroy();
    await waitFor(() => t.edge.stats().stale === 1, 2000, 'stale');
    await refused(
      rawResume(t.port, c.id, c.keyPair, {
        onChallenge: async () => {
          t.master.send(c.id, Flag.Kick);
          await waitFor(() => t.edge.sessions.size === 1, 2000, 'dropped');
        },
      }),
    );
    await marker(other, 'marker');
    await sleep(150);
    expect(t.master.forId(c.id)).toEqual([]);
    expect(t.edge.stats()).toMatchObject({ sessions: 1, stale: 0, handshaking: 0 });
    await refused(rawResume(t.port, c.id, c.keyPair));
  });

  it('ignores a Kick for an unknown id: nothing is sent', async () => {
    const t = await fx.start();
    const c = await newSession();
    t.master.send(999n, Flag.Kick);
    t.master.send(U64_MAX, Flag.Kick);
    t.master.send(c.id, Flag.Data, Buffer.from('after-kick'));
    expect(text(await c.q.next())).toBe('after-kick');
    await marker(c, 'marker');
    await sleep(150);
    expect(t.master.drain().map((p) => [p.id, p.flag])).toEqual([[c.id, Flag.Data]]);
    expect(c.q.closed).toBe(false);
    expect(logsWith(t, 'master.kick_unknown')).toHaveLength(2);
  });
});

describe('edge firehose: master protocol errors', () => {
  it('logs and skips short packets, unknown flags and edge-to-master flags; other traffic is intact and in order', async () => {
    const t = await fx.start();
    const c = await newSession();
    await marker(c, 'up-1');
    const data = (s: string) => encodeFirehose(c.id, Flag.Data, Buffer.from(s));
    const withFlag = (flag: number) => {
      const b = encodeFirehose(c.id, Flag.Data, Buffer.from('zz'));
      b[12] = flag;
      return b;
    };
    const bad = [
      encodeFrame(new Uint8Array(0)),
      encodeFrame(new Uint8Array(8).fill(1)),
      encodeFrame(Uint8Array.of(1, 0, 0)),
      withFlag(0x04),
      withFlag(0xff),
      withFlag(Flag.Failure),
      withFlag(Flag.Reconnection),
    ];
    const stream: Uint8Array[] = [data('d0')];
    bad.forEach((b, i) => stream.push(b, data(`d${i + 1}`)));
    // One write, then the same byte by byte split in two halves: framing must not be thrown off.
    t.master.sendRaw(Buffer.concat(stream));
    const got: string[] = [];
    for (let i = 0; i <= bad.length; i++) got.push(text(await c.q.next()));
    expect(got).toEqual(['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7']);
    const all = Buffer.concat(stream);
    t.master.sendRaw(all.subarray(0, 17));
    await sleep(20);
    t.master.sendRaw(all.subarray(17));
    const again: string[] = [];
    for (let i = 0; i <= bad.length; i++) again.push(text(await c.q.next()));
    expect(again).toEqual(got);
    await marker(c, 'up-2');
    expect(t.master.drain().map((p) => `${p.id}:${p.flag}:${text(p.data)}`)).toEqual(['1:0:up-1', '1:0:up-2']);
    expect(logsWith(t, 'master.protocol_error')).toHaveLength(2 * bad.length);
    expect(t.edge.counters.masterProtocolErrors).toBe(2 * bad.length);
    expect(t.master.connections).toBe(1);
    expect(t.edge.stats().masterConnected).toBe(true);
    expect(c.q.closed).toBe(false);
  });
});

describe('edge firehose: ordering', () => {
  it('keeps per-client order for 20 clients x 200 messages in both directions', async () => {
    const t = await fx.start();
    const N = 20;
    const M = 200;
    const clients: RawSession[] = [];
    for (let i = 0; i < N; i++) clients.push(await newSession());
    // Up: all clients at once, each message its own write.
    for (let k = 0; k < M; k++) for (const c of clients) c.socket.write(frame(`${c.id}:${k}`));
    await waitFor(() => t.master.drain().length === N * M, 10_000, 'all client messages at the master');
    for (const c of clients) {
      const mine = t.master.forId(c.id).map((p) => text(p.data));
      expect(mine).toEqual(Array.from({ length: M }, (_, k) => `${c.id}:${k}`));
    }
    // Down: interleaved across clients.
    const out: Uint8Array[] = [];
    for (let k = 0; k < M; k++) for (const c of clients) out.push(encodeFirehose(c.id, Flag.Data, Buffer.from(`down-${c.id}-${k}`)));
    t.master.sendRaw(Buffer.concat(out));
    for (const c of clients) {
      await c.q.until(() => c.q.frames.length >= M, 10_000, `client ${c.id} messages`);
      expect(c.q.frames.map(text)).toEqual(Array.from({ length: M }, (_, k) => `down-${c.id}-${k}`));
    }
  });
});

describe('edge firehose: Kick after data', () => {
  it('delivers the data the master sent before the Kick, then closes', async () => {
    const t = await fx.start();
    const c = await newSession();
    await marker(c, 'hello');
    t.master.sendRaw(Buffer.concat([encodeFirehose(c.id, Flag.Data, Buffer.from('last-1')), encodeFirehose(c.id, Flag.Data, Buffer.from('last-2')), encodeFirehose(c.id, Flag.Kick)]));
    await c.q.waitClosed(2000);
    expect(c.q.frames.map(text)).toEqual(['last-1', 'last-2']);
  });
});

describe('edge firehose: the master stream cut anywhere', () => {
  it('delivers packets of every size byte-exact and in order per client, however the reads cut them (the read buffer is reused)', async () => {
    const t = await fx.start({ clients: { missedPacketsBufferSize: 64, missedPacketsBufferBytes: 4 << 20 } });
    const a = await newSession();
    const b = await newSession();
    const gone = await newSession();
    gone.socket.destroy();
    await waitFor(() => t.edge.stats().stale === 1, 2000, 'stale');
    // Sizes around the writer's copy limit and past the link's 256 KiB read buffer; bytes depend on client and index.
    const sizes = [0, 1, 64, 16_383, 16_384, 70_000, 300_000, 5, 13];
    const body = (who: number, i: number, n: number) => Uint8Array.from({ length: n }, (_, k) => (k * 7 + i * 31 + who * 101) & 0xff);
    const packets: Uint8Array[] = [];
    const want = new Map<bigint, Uint8Array[]>([[a.id, []], [b.id, []], [gone.id, []]]);
    sizes.forEach((n, i) => {
      for (const [who, c] of [a, b, gone].entries()) {
        const d = body(who, i, n);
        want.get(c.id)!.push(d);
        packets.push(encodeFirehose(c.id, Flag.Data, d));
      }
    });
    const all = Buffer.concat(packets);
    // Twice: in one write (several full reads in one turn), then cut at random points with pauses between the pieces.
    for (const [id, ds] of want) want.set(id, [...ds, ...ds]);
    t.master.sendRaw(all);
    let seed = 12345;
    const rnd = (m: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % m);
    for (let off = 0; off < all.length; ) {
      const n = Math.min(all.length - off, 1 + rnd(rnd(2) === 0 ? 40 : 200_000));
      t.master.sendRaw(all.subarray(off, off + n));
      off += n;
      await sleep(1);
    }
    for (const c of [a, b]) {
      for (const [i, d] of want.get(c.id)!.entries()) {
        const got = await c.q.next(5000, `packet ${i} of ${c.id}`);
        if (!Buffer.from(got).equals(Buffer.from(d))) expect.fail(`packet ${i} (${d.length} B) for session ${c.id} differs`);
      }
    }
    // The stale session kept its copies: a resume replays them byte-exact (the read buffer was reused meanwhile).
    const r = await rawResume(t.port, gone.id, gone.keyPair);
    for (const [i, d] of want.get(gone.id)!.entries()) {
      const got = await r.q.next(5000, `replayed packet ${i}`);
      if (!Buffer.from(got).equals(Buffer.from(d))) expect.fail(`replayed packet ${i} (${d.length} B) differs`);
    }
    r.socket.destroy();
    expect(t.edge.counters.masterProtocolErrors).toBe(0);
    expect(t.master.connections).toBe(1);
  });
});
