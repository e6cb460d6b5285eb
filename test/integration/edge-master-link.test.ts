// The master link over loopback (PROTOCOL.md sec. 5, 7): starting with no master, losing and regaining it with
// clients kept and their traffic held in order, Failure/Reconnection held too, and a clean shutdown.
import { describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import net from 'node:net';
import { Edge } from '../../src/actors/edge.js';
import { generateKeyPair } from '../../src/io/crypto.js';
import { silentLogger } from '../../src/log.js';
import { frame, freePort, rawResume, RawMaster, sleep, text, waitFor } from '../helpers/wire.js';
import { testConfig, useEdgeFixture } from '../helpers/edge.js';

const fx = useEdgeFixture();
const { open, masters, newSession } = fx;

function summary(m: RawMaster): string[] {
  return m
    .drain()
    .map((p) => `${p.id}:${p.flag === Flag.Data ? text(p.data) : p.flag === Flag.Failure ? `F(${text(p.data)})` : p.flag === Flag.Reconnection ? 'R' : 'K'}`);
}

describe('edge master link', () => {
  it('dials the master only once its listener is bound: an edge that cannot listen never links to the master', async () => {
    const m = new RawMaster();
    masters.push(m);
    const masterPort = await m.listen();
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const busyPort = (taken.address() as net.AddressInfo).port;
    try {
      const edge = new Edge({ config: testConfig(masterPort, { listener: { address: { host: '127.0.0.1', port: busyPort } } }), keyPair: generateKeyPair(), log: silentLogger() });
      await expect(edge.start()).rejects.toThrow(/EADDRINUSE/);
      await sleep(300);
      expect(m.connections).toBe(0);
      await edge.stop();
      // An edge that does listen links once it accepts: a client connecting as soon as the master sees it gets in.
      const ok = new Edge({ config: testConfig(masterPort), keyPair: generateKeyPair(), log: silentLogger() });
      const { port } = await ok.start();
      await m.connected();
      const c = net.connect({ host: '127.0.0.1', port });
      await new Promise<void>((resolve, reject) => c.once('connect', () => resolve()).once('error', reject));
      c.destroy();
      await ok.stop();
    } finally {
      taken.close();
    }
  });

  it('drops a master link that announces a frame over its cap, keeps the clients and reconnects', async () => {
    const t = await fx.start({ master: { reconnectMinMs: 20, reconnectMaxMs: 50 } });
    const a = await newSession();
    // 8 MiB + 9 is the largest tagged frame the edge reads from the master; announce one byte more.
    const header = Buffer.alloc(4);
    header.writeUInt32LE(8 * 1024 * 1024 + 10, 0);
    t.master.sendRaw(header);
    await waitFor(() => t.master.connections === 2, 5000, 'the edge to redial');
    expect(t.logs.some((l) => String(l.msg).startsWith('master.protocol_error'))).toBe(true);
    expect(a.q.closed).toBe(false);
    await t.master.connected();
    t.master.send(a.id, Flag.Data, Buffer.from('after'));
    expect(text(await a.q.next())).toBe('after');
  });

  it('starts with no master, accepts clients, holds their data and delivers it in order once the master is up', async () => {
    const port = await freePort();
    const t = await fx.start({}, { masterPort: port });
    await sleep(100); // several failed dials
    expect(t.edge.stats().masterConnected).toBe(false);
    const a = await newSession();
    const b = await newSession();
    for (let i = 0; i < 50; i++) {
      a.socket.write(frame(`a${i}`));
      b.socket.write(frame(`b${i}`));
    }
    await waitFor(() => t.edge.stats().heldForMaster === 100, 3000, 'all held');
    const m = new RawMaster();
    masters.push(m);
    await m.listen(port);
    await waitFor(() => m.drain().length === 100, 5000, 'held data delivered');
    expect(m.forId(a.id).map((p) => text(p.data))).toEqual(Array.from({ length: 50 }, (_, i) => `a${i}`));
    expect(m.forId(b.id).map((p) => text(p.data))).toEqual(Array.from({ length: 50 }, (_, i) => `b${i}`));
    expect(t.edge.stats().heldForMaster).toBe(0);
    // Live traffic both ways afterwards.
    m.send(a.id, Flag.Data, Buffer.from('down'));
    expect(text(await a.q.next())).toBe('down');
    a.socket.write(frame('a-live'));
    await m.expect((p) => p.id === a.id && text(p.data) === 'a-live');
  });

  it('keeps clients connected when the master drops, reconnects, and delivers data sent meanwhile in order', async () => {
    const t = await fx.start({ master: { reconnectMinMs: 20, reconnectMaxMs: 50 } });
    const port = t.master.port;
    const a = await newSession();
    a.socket.write(frame('before'));
    await t.master.expect((p) => p.id === a.id && text(p.data) === 'before');
    // The master goes away entirely (socket and listener).
    await t.master.close();
    await waitFor(() => !t.edge.stats().masterConnected, 3000, 'the edge to notice');
    for (let i = 0; i < 20; i++) a.socket.write(frame(`held${i}`));
    await waitFor(() => t.edge.stats().heldForMaster === 20, 3000, 'held');
    await sleep(100); // a few failed redials
    expect(a.q.closed).toBe(false);
    const m = new RawMaster();
    masters.push(m);
    await m.listen(port);
    await waitFor(() => m.drain().length === 20, 5000, 'held delivered');
    a.socket.write(frame('after'));
    await m.expect((p) => text(p.data) === 'after');
    expect(summary(m)).toEqual([...Array.from({ length: 20 }, (_, i) => `1:held${i}`), '1:after']);
    m.send(a.id, Flag.Data, Buffer.from('down'));
    expect(text(await a.q.next())).toBe('down');
    expect(t.edge.supervisor.getSnapshot().context.reconnects).toBe(1);
  });

  it('reconnects after the master closes only its socket, and data keeps flowing in order', async () => {
    const t = await fx.start({ master: { reconnectMinMs: 20, reconnectMaxMs: 50 } });
    const a = await newSession();
    const first = t.master.socket!;
    first.destroy();
    await waitFor(() => t.master.connections === 2 && t.edge.stats().masterConnected, 3000, 'reconnect');
    for (let i = 0; i < 10; i++) a.socket.write(frame(`x${i}`));
    await waitFor(() => t.master.forId(a.id).length === 10, 3000, 'data after reconnect');
    expect(t.master.forId(a.id).map((p) => text(p.data))).toEqual(Array.from({ length: 10 }, (_, i) => `x${i}`));
    t.master.send(a.id, Flag.Data, Buffer.from('down'));
    expect(text(await a.q.next())).toBe('down');
  });

  it('holds Failure and Reconnection produced while the master is down, in order with the data', async () => {
    const t = await fx.start({
      master: { reconnectMinMs: 20, reconnectMaxMs: 50 },
      clients: { staleTimeoutSecs: 0.2, staleReapIntervalSecs: 0.05 },
      limits: { maxFrameSize: 100 },
    });
    const port = t.master.port;
    const a = await newSession(); // resumes while the master is down
    const b = await newSession(); // expires while the master is down
    const c = await newSession(); // sends an oversize frame while the master is down
    await t.master.close();
    await waitFor(() => !t.edge.stats().masterConnected, 3000, 'the edge to notice');
    a.socket.write(frame('a-before'));
    await waitFor(() => t.edge.stats().heldForMaster === 1, 3000, 'held a-before');
    a.socket.destroy();
    b.socket.destroy();
    c.socket.write(Buffer.concat([frame('c-last'), frame(Buffer.alloc(101))]));
    await c.q.waitClosed(2000);
    await waitFor(() => t.edge.stats().stale === 2, 2000, 'a and b stale');
    const r = await rawResume(t.port, a.id, a.keyPair, { extra: frame('a-after') });
    open.push(r.socket);
    await waitFor(() => !t.edge.sessions.has(Number(b.id)), 3000, 'b reaped');
    await waitFor(() => t.edge.stats().heldForMaster === 6, 3000, 'six held');
    const m = new RawMaster();
    masters.push(m);
    await m.listen(port);
    await waitFor(() => m.drain().length === 6, 5000, 'held delivered');
    const got = summary(m);
    expect(got.filter((s) => s.startsWith('1:'))).toEqual(['1:a-before', '1:R', '1:a-after']);
    expect(got.filter((s) => s.startsWith('2:'))).toEqual(['2:F(stale timeout)']);
    expect(got.filter((s) => s.startsWith('3:'))).toEqual(['3:c-last', '3:F(frame too large)']);
  });
});

describe('edge master link: backpressure', () => {
  it('with the master down, stops reading clients past master.channel_capacity and delivers everything in order later', async () => {
    const port = await freePort();
    const t = await fx.start({ master: { channelCapacity: 10 } }, { masterPort: port });
    const a = await newSession();
    const N = 2000;
    // 1 KiB frames: one socket read (at most 64 KiB) can never hold all N of them.
    const pad = '.'.repeat(1000);
    for (let i = 0; i < N; i++) a.socket.write(frame(`a${i}${pad}`));
    await sleep(200);
    // Reading paused: far fewer than N held (one read's worth at most past the cap).
    const held = t.edge.stats().heldForMaster;
    expect(held).toBeGreaterThanOrEqual(10);
    expect(held).toBeLessThan(N);
    const m = new RawMaster();
    masters.push(m);
    await m.listen(port);
    await waitFor(() => m.drain().length === N, 5000, 'all delivered');
    expect(m.forId(a.id).map((p) => text(p.data))).toEqual(Array.from({ length: N }, (_, i) => `a${i}${pad}`));
    // Reading resumed for good: live traffic flows.
    a.socket.write(frame('live'));
    await m.expect((p) => text(p.data) === 'live');
  });

  it('with a master that does not read, stops reading clients instead of buffering without bound; resumes when it reads', async () => {
    const t = await fx.start({ master: { channelCapacityBytes: 1 << 20 } });
    const a = await newSession();
    t.master.socket!.pause();
    const chunk = Buffer.alloc(1024, 0x63);
    const N = 30_000; // 30 MiB
    for (let i = 0; i < N; i++) {
      chunk.writeUInt32LE(i, 0);
      a.socket.write(frame(chunk));
    }
    await sleep(300);
    // The edge stopped reading: most of the 30 MiB still waits in the client's own socket.
    expect(a.socket.writableLength).toBeGreaterThan(5 * 1024 * 1024);
    t.master.socket!.resume();
    await waitFor(() => t.master.drain().length === N, 10_000, 'everything delivered');
    const ids = t.master.forId(a.id).map((p) => Buffer.from(p.data).readUInt32LE(0));
    expect(ids).toEqual(Array.from({ length: N }, (_, i) => i));
  });
});

describe('edge master link: traffic across a drop', () => {
  it('a client streaming through a master drop: the new connection gets a contiguous, in-order run up to the end', async () => {
    const t = await fx.start({ master: { reconnectMinMs: 20, reconnectMaxMs: 50 } });
    const port = t.master.port;
    const a = await newSession();
    const N = 3000;
    let i = 0;
    const pump = async (upTo: number) => {
      for (; i < upTo; i++) {
        a.socket.write(frame(String(i)));
        if (i % 100 === 0) await sleep(1);
      }
    };
    await pump(1000);
    const oldMaster = t.master;
    await oldMaster.close();
    await pump(2000);
    const m = new RawMaster();
    masters.push(m);
    await m.listen(port);
    await pump(N);
    await m.expect((p) => text(p.data) === String(N - 1), 5000, 'the last message');
    const before = oldMaster.drain().map((p) => Number(text(p.data)));
    const after = m.drain().map((p) => Number(text(p.data)));
    // In order, no duplicates, no gaps within either connection; only the drop itself may lose a tail.
    before.forEach((v, k) => expect(v).toBe(k));
    after.forEach((v, k) => expect(v).toBe(after[0]! + k));
    expect(after[0]!).toBeGreaterThanOrEqual(before.length);
    expect(after[0]!).toBeLessThanOrEqual(1200);
  });
});
