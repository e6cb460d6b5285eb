// Session-ending limits over loopback (PROTOCOL.md sec. 6): stale expiry, eviction of the oldest stale session,
// the client frame cap, and a client that does not read (backpressure) which must not slow another.
import { describe, expect, it } from 'vitest';
import { Flag, encodeFirehose } from '../../src/io/firehose.js';
import { frame, rawResume, refused, sleep, text, waitFor } from '../helpers/wire.js';
import { logsWith, useEdgeFixture } from '../helpers/edge.js';
import { SimClock } from '../../src/fuzz/clock.js';

const fx = useEdgeFixture();
const { open, newSession, marker } = fx;

describe('edge limits: stale sessions', () => {
  // On a simulated clock (the edge's injected clock, advanced by the test): the reap moment is exact, so a
  // reap one millisecond early fails here every time. Sockets and the master link are real.
  it('reaps a stale session exactly at its deadline, not a millisecond before, with exactly one Failure, then refuses its resume', async () => {
    const clock = new SimClock(1_000_000_000); // a multiple of the 50 ms reap interval
    const t = await fx.start({ clients: { staleTimeoutSecs: 0.2, staleReapIntervalSecs: 0.05 } }, { clock });
    const c = await newSession();
    const other = await newSession();
    c.socket.destroy();
    await waitFor(() => t.edge.stats().stale === 1, 2000, 'stale');
    // Deadline: stale since T, timeout 200 ms, on a 50 ms tick: T + 200.
    await clock.advance(199);
    // The master link is ordered: a Failure sent during the advance would arrive before this marker.
    await marker(other, 'at 199 ms');
    expect(t.master.forId(c.id)).toHaveLength(0);
    expect(t.edge.stats().stale).toBe(1);
    await clock.advance(1);
    const f = await t.master.expect((p) => p.id === c.id && p.flag === Flag.Failure, 3000, 'Failure at 200 ms');
    expect(text(f.data)).toBe('stale timeout');
    expect(t.edge.sessions.has(Number(c.id))).toBe(false);
    await refused(rawResume(t.port, c.id, c.keyPair));
    await clock.advance(1000);
    await marker(other, 'm');
    expect(t.master.forId(c.id)).toHaveLength(1);
  });

  it('reaps a session that went stale between ticks on the first tick at or after its deadline', async () => {
    const clock = new SimClock(1_000_000_000);
    const t = await fx.start({ clients: { staleTimeoutSecs: 0.2, staleReapIntervalSecs: 0.05 } }, { clock });
    const c = await newSession();
    const other = await newSession();
    await clock.advance(1);
    c.socket.destroy();
    await waitFor(() => t.edge.stats().stale === 1, 2000, 'stale');
    // Stale since T + 1: deadline T + 201, reaped on the tick at T + 250 (not on the tick at T + 200: a deadline
    // a millisecond early, or rounded down to a tick, would do that).
    await clock.advance(248);
    await marker(other, 'at 249 ms');
    expect(t.master.forId(c.id)).toHaveLength(0);
    await clock.advance(1);
    const f = await t.master.expect((p) => p.id === c.id && p.flag === Flag.Failure, 3000, 'Failure at 250 ms');
    expect(text(f.data)).toBe('stale timeout');
  });

  it('a session resumed before its timeout is not reaped later', async () => {
    const clock = new SimClock(1_000_000_000);
    const t = await fx.start({ clients: { staleTimeoutSecs: 0.2, staleReapIntervalSecs: 0.05 } }, { clock });
    const c = await newSession();
    c.socket.destroy();
    await waitFor(() => t.edge.stats().stale === 1, 2000, 'stale');
    await clock.advance(199);
    const r = await rawResume(t.port, c.id, c.keyPair);
    open.push(r.socket);
    await clock.advance(1000);
    await marker(r, 'alive');
    expect(t.master.forId(c.id).map((p) => p.flag)).toEqual([Flag.Reconnection, Flag.Data]);
  });

  it('with max_stale_clients = 1, a second stale session evicts the oldest with Failure "evicted"', async () => {
    const t = await fx.start({ clients: { maxStaleClients: 1 } });
    const a = await newSession();
    const b = await newSession();
    a.socket.destroy();
    await waitFor(() => t.edge.stats().stale === 1, 2000, 'a stale');
    b.socket.destroy();
    const f = await t.master.expect((p) => p.flag === Flag.Failure, 3000, 'eviction');
    expect(f.id).toBe(a.id);
    expect(text(f.data)).toBe('evicted');
    await waitFor(() => t.edge.sessions.size === 1, 2000, 'a gone');
    expect(t.edge.stats().stale).toBe(1);
    await refused(rawResume(t.port, a.id, a.keyPair));
    const r = await rawResume(t.port, b.id, b.keyPair);
    open.push(r.socket);
    await marker(r, 'b-back');
    expect(t.master.forId(b.id).map((p) => p.flag)).toEqual([Flag.Reconnection, Flag.Data]);
    expect(t.master.forId(a.id)).toHaveLength(1);
  });
});

describe('edge limits: client frame cap', () => {
  it('closes a client announcing a frame over max_frame_size and ends its session with "frame too large"', async () => {
    const t = await fx.start({ limits: { maxFrameSize: 1000 } });
    const c = await newSession();
    c.socket.write(frame(Buffer.alloc(1000, 1)));
    const ok = await t.master.expect((p) => p.id === c.id && p.flag === Flag.Data);
    expect(ok.data.length).toBe(1000);
    // Only the header of a 1001-byte frame: the edge must not wait for its body.
    c.socket.write(Uint8Array.of(0xe9, 0x03, 0, 0));
    await c.q.waitClosed(2000);
    const f = await t.master.expect((p) => p.id === c.id && p.flag === Flag.Failure);
    expect(text(f.data)).toBe('frame too large');
    expect(t.edge.sessions.size).toBe(0);
    await refused(rawResume(t.port, c.id, c.keyPair));
    // Later master data for the ended id is answered with a Failure of its own ("unknown client").
    t.master.send(c.id, Flag.Data, Buffer.from('late'));
    await waitFor(() => t.master.forId(c.id).length === 3, 3000, 'the answer to late data');
    expect(t.master.forId(c.id).map((p) => [p.flag, p.flag === Flag.Failure ? text(p.data) : ''])).toEqual([
      [Flag.Data, ''],
      [Flag.Failure, 'frame too large'],
      [Flag.Failure, 'unknown client'],
    ]);
    expect(logsWith(t, 'client.frame_too_large')).toHaveLength(1);
  });

  it('forwards the frames before an oversize one in the same write, then ends the session', async () => {
    const t = await fx.start({ limits: { maxFrameSize: 100 } });
    const c = await newSession();
    c.socket.write(Buffer.concat([frame('a'), frame('b'), frame(Buffer.alloc(101))]));
    await c.q.waitClosed(2000);
    await t.master.expect((p) => p.id === c.id && p.flag === Flag.Failure);
    expect(t.master.forId(c.id).map((p) => `${p.flag}:${p.flag === Flag.Data ? text(p.data) : ''}`)).toEqual(['0:a', '0:b', '1:']);
  });
});

describe('edge limits: a client that does not read', () => {
  it('is disconnected and goes stale (then resumable) while another client receives everything in order', async () => {
    const t = await fx.start({
      clients: { channelCapacityBytes: 64 * 1024, missedPacketsBufferSize: 100_000, missedPacketsBufferBytes: 64 * 1024 * 1024 },
    });
    const slow = await newSession();
    const fast = await newSession();
    slow.socket.pause();
    const payload = Buffer.alloc(1024, 0x61);
    const rounds = 40;
    const perRound = 500; // 40 x 500 x 1 KiB = 20 MiB for the slow client, far more than socket buffers hold
    let sent = 0;
    for (let r = 0; r < rounds; r++) {
      const out: Uint8Array[] = [];
      for (let i = 0; i < perRound; i++) {
        out.push(encodeFirehose(slow.id, Flag.Data, payload));
        if (i % 10 === 0) out.push(encodeFirehose(fast.id, Flag.Data, Buffer.from(`f${sent++}`)));
      }
      t.master.sendRaw(Buffer.concat(out));
      await sleep(1);
      if (t.edge.stats().stale === 1) break;
    }
    await waitFor(() => t.edge.stats().stale === 1, 5000, 'the slow client to go stale');
    for (let i = 0; i < 20; i++) t.master.send(fast.id, Flag.Data, Buffer.from(`f${sent++}`));
    await fast.q.until(() => fast.q.frames.length >= sent, 5000, 'all fast packets');
    expect(fast.q.frames.map(text)).toEqual(Array.from({ length: sent }, (_, i) => `f${i}`));
    expect(fast.q.closed).toBe(false);
    expect(logsWith(t, 'client.overflow').length).toBe(1);
    expect(String(logsWith(t, 'client.overflow')[0]!.reason)).toMatch(/bytes/);
    await waitFor(() => t.edge.stats().openSockets === 1, 2000, 'the slow socket closed by the edge');
    expect(t.master.forId(slow.id).filter((p) => p.flag === Flag.Failure)).toHaveLength(0);
    // The slow client reconnects: its session is there, stale, resumable.
    slow.socket.destroy();
    const r = await rawResume(t.port, slow.id, slow.keyPair);
    open.push(r.socket);
    await t.master.expect((p) => p.id === slow.id && p.flag === Flag.Reconnection);
  });

  it('with a small packet capacity, a non-reading client is cut off by packet count', async () => {
    const t = await fx.start({ clients: { channelCapacity: 64, missedPacketsBufferSize: 100_000, missedPacketsBufferBytes: 64 * 1024 * 1024 } });
    const slow = await newSession();
    const fast = await newSession();
    slow.socket.pause();
    const payload = Buffer.alloc(2048, 0x62);
    let sent = 0;
    for (let r = 0; r < 40 && t.edge.stats().stale === 0; r++) {
      const out: Uint8Array[] = [];
      for (let i = 0; i < 500; i++) {
        out.push(encodeFirehose(slow.id, Flag.Data, payload));
        if (i % 50 === 0) out.push(encodeFirehose(fast.id, Flag.Data, Buffer.from(`g${sent++}`)));
      }
      t.master.sendRaw(Buffer.concat(out));
      await sleep(5);
    }
    await waitFor(() => t.edge.stats().stale === 1, 5000, 'the slow client to go stale');
    await fast.q.until(() => fast.q.frames.length >= sent, 5000, 'all fast packets');
    expect(fast.q.frames.map(text)).toEqual(Array.from({ length: sent }, (_, i) => `g${i}`));
    expect(String(logsWith(t, 'client.overflow')[0]!.reason)).toMatch(/64 packets/);
  });
});

describe('edge limits: connections', () => {
  async function dialed(): Promise<import('../helpers/wire.js').FrameQueue> {
    const { dial, FrameQueue } = await import('../helpers/wire.js');
    const s = await dial(fx.t.port);
    open.push(s);
    return new FrameQueue(s);
  }

  it('refuses connections past max_connections_per_address, and accepts again once one closes', async () => {
    const t = await fx.start({ limits: { maxConnectionsPerAddress: 2 } });
    const a = await newSession();
    const b = await dialed();
    await waitFor(() => t.edge.stats().handshaking === 1, 2000, 'b pending');
    const c = await dialed();
    await c.waitClosed(2000);
    const lines = logsWith(t, 'connection.refused');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.address).toBe('127.0.0.1');
    expect(String(lines[0]!.reason)).toMatch(/per-address/);
    b.socket.destroy();
    a.socket.destroy();
    await waitFor(() => t.edge.stats().openSockets === 0, 2000, 'closed');
    const d = await newSession();
    const e = await newSession();
    expect([d.id, e.id]).toEqual([2n, 3n]);
  });

  it('refuses connections past max_connections', async () => {
    const t = await fx.start({ limits: { maxConnections: 1 } });
    await newSession();
    const c = await dialed();
    await c.waitClosed(2000);
    expect(String(logsWith(t, 'connection.refused')[0]!.reason)).toMatch(/connection limit/);
  });

  it('refuses handshakes past max_handshakes_in_flight', async () => {
    const t = await fx.start({ limits: { maxHandshakesInFlight: 1 } });
    const a = await dialed();
    await waitFor(() => t.edge.stats().handshaking === 1, 2000, 'a pending');
    const b = await dialed();
    await b.waitClosed(2000);
    expect(String(logsWith(t, 'connection.refused')[0]!.reason)).toMatch(/handshakes in flight/);
    expect(a.closed).toBe(false);
  });

  it('refuses new connections over the per-address rate', async () => {
    const t = await fx.start({ limits: { newConnectionsBurst: 2, newConnectionsPerAddressPerSec: 0.001 } });
    await newSession();
    await newSession();
    const c = await dialed();
    await c.waitClosed(2000);
    expect(String(logsWith(t, 'connection.refused')[0]!.reason)).toMatch(/rate/);
  });
});

describe('edge limits: max_stale_clients = 0', () => {
  it('evicts a session the moment it goes stale, with one Failure "evicted"', async () => {
    const t = await fx.start({ clients: { maxStaleClients: 0 } });
    const c = await newSession();
    c.socket.destroy();
    const f = await t.master.expect((p) => p.id === c.id && p.flag === Flag.Failure);
    expect(text(f.data)).toBe('evicted');
    await waitFor(() => t.edge.sessions.size === 0, 2000, 'gone');
    await sleep(100);
    expect(t.master.forId(c.id)).toHaveLength(1);
  });
});

describe('edge limits: payloads near 8 MiB with the default caps', () => {
  it('carries a client payload of 8,388,599 bytes to the master and a master payload of the same size to the client', async () => {
    const t = await fx.start();
    const c = await newSession();
    const big = Buffer.alloc(8_388_599);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
    c.socket.write(frame(big));
    const up = await t.master.expect((p) => p.id === c.id && p.flag === Flag.Data, 10_000, 'the big upload');
    expect(up.data.length).toBe(big.length);
    expect(Buffer.from(up.data).equals(big)).toBe(true);
    t.master.send(c.id, Flag.Data, big);
    t.master.send(c.id, Flag.Data, Buffer.from('after'));
    const down = await c.q.next(10_000);
    expect(down.length).toBe(big.length);
    expect(Buffer.from(down).equals(big)).toBe(true);
    expect(text(await c.q.next())).toBe('after');
    expect(t.edge.stats()).toMatchObject({ live: 1, stale: 0 });
  });
});
