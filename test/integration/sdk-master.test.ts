// voltlane/master over real loopback sockets: the test plays the edge with raw sockets and asserts bytes and events.
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProtocolError } from '../../src/io/errors.js';
import { Flag, decodeFirehose, encodeFirehose } from '../../src/io/firehose.js';
import { FrameDecoder } from '../../src/io/framing.js';
import { parseListenAddress } from '../../src/sdk/master-address.js';
import {
  EdgeConnection,
  type MasterEvents,
  type MasterOptions,
  type MasterServer,
  MasterError,
  createEchoHandler,
  listen,
} from '../../src/sdk/master.js';
import { fromHex, loadVectors, toHex } from '../vectors/vectors.js';

const vectors = loadVectors();
const U64_MAX = 2n ** 64n - 1n;
const BYTE_ORDER_ID = 0x0102030405060708n;

// ---------------------------------------------------------------- harness

const masters: MasterServer[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(masters.splice(0).map((m) => m.close()));
});

async function startMaster(options: MasterOptions = {}): Promise<MasterServer> {
  const master = await listen('127.0.0.1:0', options);
  masters.push(master);
  return master;
}

/** A raw socket playing the edge: collects every byte the master writes. */
class RawEdge {
  readonly sock: net.Socket;
  #chunks: Buffer[] = [];
  received = 0;
  #waiters: Array<{ n: number; resolve: () => void; reject: (e: Error) => void }> = [];
  readonly closed: Promise<void>;

  constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.received += chunk.length;
      this.#waiters = this.#waiters.filter((w) => {
        if (this.received < w.n) return true;
        w.resolve();
        return false;
      });
    });
    sock.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      sock.once('close', () => {
        for (const w of this.#waiters) w.reject(new Error(`edge socket closed after ${this.received} of ${w.n} bytes`));
        resolve();
      });
    });
  }

  bytes(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  /** Resolves with everything received once at least `n` bytes are in. */
  async waitFor(n: number): Promise<Buffer> {
    if (this.received < n) {
      await new Promise<void>((resolve, reject) => this.#waiters.push({ n, resolve, reject }));
    }
    return this.bytes();
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.sock.write(bytes, (err) => (err ? reject(err) : resolve())));
  }
}

/** Dials the master and resolves once both the raw socket and the master's EdgeConnection exist. */
async function connectEdge(
  master: MasterServer,
  socketOptions: Partial<net.TcpNetConnectOpts> = {},
): Promise<{ raw: RawEdge; edge: EdgeConnection }> {
  const sock = net.connect({ ...socketOptions, host: '127.0.0.1', port: master.address.port });
  sockets.push(sock);
  const raw = new RawEdge(sock);
  const edgeSeen = new Promise<EdgeConnection>((resolve) => {
    const onEdge = (edge: EdgeConnection): void => {
      if (edge.remotePort !== sock.localPort) return;
      master.off('edge', onEdge);
      resolve(edge);
    };
    master.on('edge', onEdge);
  });
  await once(sock, 'connect');
  sock.setNoDelay(true);
  return { raw, edge: await edgeSeen };
}

type Seen =
  | { event: 'data'; id: bigint; data: string; edge: EdgeConnection }
  | { event: 'failure'; id: bigint; reason: string; edge: EdgeConnection }
  | { event: 'reconnection'; id: bigint; edge: EdgeConnection };

/** Records the master's packet events in order. */
function record(master: MasterServer): { seen: Seen[]; take(): Seen[]; waitFor(n: number): Promise<Seen[]> } {
  const seen: Seen[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  const push = (s: Seen): void => {
    seen.push(s);
    if (waiter && seen.length >= waiter.n) waiter.resolve();
  };
  master.on('data', (id, data, edge) => push({ event: 'data', id, data: toHex(data), edge }));
  master.on('failure', (id, reason, edge) => push({ event: 'failure', id, reason, edge }));
  master.on('reconnection', (id, edge) => push({ event: 'reconnection', id, edge }));
  return {
    seen,
    take: () => seen.splice(0),
    waitFor: async (n) => {
      if (seen.length < n) await new Promise<void>((resolve) => (waiter = { n, resolve }));
      return seen;
    },
  };
}

/** Counts the bytes every FrameDecoder is fed: the master's receive path, observable without polling. */
function tapDecoders(): { total(): number; until(n: number): Promise<void> } {
  let total = 0;
  let waiter: { n: number; resolve: () => void } | undefined;
  const push = FrameDecoder.prototype.push;
  vi.spyOn(FrameDecoder.prototype, 'push').mockImplementation(function (this: FrameDecoder, chunk: Uint8Array) {
    push.call(this, chunk);
    total += chunk.length;
    if (waiter && total >= waiter.n) waiter.resolve();
  });
  return {
    total: () => total,
    until: async (n) => {
      if (total < n) await new Promise<void>((resolve) => (waiter = { n, resolve }));
    },
  };
}

/** Splits a byte stream into frame payloads (no FrameDecoder, so tapDecoders counts only the master). */
function frames(stream: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off + 4 <= stream.length) {
    const len = stream[off]! | (stream[off + 1]! << 8) | (stream[off + 2]! << 16) | (stream[off + 3]! << 24);
    out.push(stream.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  expect(off).toBe(stream.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** The edge -> master vectors (Kick only goes the other way) and the events they must produce. */
const inbound = vectors.firehose.valid.filter((v) => v.flags !== Flag.Kick);
const inboundStream = concat(inbound.map((v) => fromHex(v.hex)));
function expectedEvents(edge: EdgeConnection): Seen[] {
  return inbound.map((v): Seen => {
    const id = BigInt(v.id);
    if (v.flags === Flag.Data) return { event: 'data', id, data: v.data, edge };
    if (v.flags === Flag.Failure) return { event: 'failure', id, reason: Buffer.from(v.data, 'hex').toString('utf8'), edge };
    return { event: 'reconnection', id, edge };
  });
}

/** The next `name` event's arguments. Unlike events.once, it does not listen for 'error' (which would change what the master does). */
function nextEvent<K extends keyof MasterEvents>(master: MasterServer, name: K): Promise<MasterEvents[K]> {
  return new Promise((resolve) => {
    const on = (...args: MasterEvents[K]): void => {
      master.off(name, on as never);
      resolve(args);
    };
    master.on(name, on as never);
  });
}

async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  return done;
}

// ---------------------------------------------------------------- tests

describe('listen', () => {
  it('binds "host:port", "[::1]:port", "::1:port" and {host, port} with port 0', async () => {
    for (const [target, host] of [
      ['127.0.0.1:0', '127.0.0.1'],
      ['[::1]:0', '::1'],
      ['::1:0', '::1'],
      [{ host: '127.0.0.1', port: 0 }, '127.0.0.1'],
    ] as const) {
      const master = await listen(target);
      masters.push(master);
      expect(master.address.host).toBe(host);
      expect(master.address.port).toBeGreaterThan(0);
    }
  });

  it('parses addresses at the last colon and rejects malformed ones with a clear message', () => {
    expect(parseListenAddress('localhost:8080')).toEqual({ host: 'localhost', port: 8080 });
    expect(parseListenAddress('::1:42000')).toEqual({ host: '::1', port: 42000 });
    expect(parseListenAddress('[fe80::1]:7')).toEqual({ host: 'fe80::1', port: 7 });
    expect(parseListenAddress(42000)).toEqual({ host: undefined, port: 42000 });
    expect(() => parseListenAddress('nohost')).toThrow(/host:port/);
    expect(() => parseListenAddress(':80')).toThrow(/host:port/);
    expect(() => parseListenAddress('127.0.0.1:65536')).toThrow(/port 65536 is above 65535/);
    expect(() => parseListenAddress('127.0.0.1:http')).toThrow(/port "http" is not a whole number/);
  });

  it('rejects bad options naming the option', async () => {
    await expect(listen('127.0.0.1:0', { highWaterMark: 0 })).rejects.toThrow(/highWaterMark/);
    await expect(listen('127.0.0.1:0', { maxFrameSize: 8 })).rejects.toThrow(/maxFrameSize/);
    await expect(listen('127.0.0.1:0', { onProtocolError: 'explode' as 'close' })).rejects.toThrow(/onProtocolError/);
  });

  it('rejects when the port is taken', async () => {
    const master = await startMaster();
    await expect(listen(master.address)).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+/);
  });
});

describe('receiving from an edge', () => {
  it('emits data, failure and reconnection with exact ids and payloads for one merged write', async () => {
    const master = await startMaster();
    const rec = record(master);
    const { raw, edge } = await connectEdge(master);
    await raw.write(inboundStream);
    await rec.waitFor(inbound.length);
    expect(rec.take()).toEqual(expectedEvents(edge));
    expect(expectedEvents(edge).map((e) => e.id)).toEqual(expect.arrayContaining([U64_MAX, BYTE_ORDER_ID]));
  });

  it('decodes the stream split in two at every byte', async () => {
    const master = await startMaster();
    const rec = record(master);
    const { raw, edge } = await connectEdge(master);
    const tap = tapDecoders();
    const expected = expectedEvents(edge);
    for (let k = 1; k < inboundStream.length; k++) {
      const base = tap.total();
      await raw.write(inboundStream.subarray(0, k));
      await tap.until(base + k);
      await raw.write(inboundStream.subarray(k));
      await tap.until(base + inboundStream.length);
      expect(rec.take(), `split at byte ${k}`).toEqual(expected);
    }
  });

  it('decodes the stream delivered one byte per read', async () => {
    const master = await startMaster();
    const rec = record(master);
    const { raw, edge } = await connectEdge(master);
    const tap = tapDecoders();
    for (let i = 0; i < inboundStream.length; i++) {
      await raw.write(inboundStream.subarray(i, i + 1));
      await tap.until(i + 1);
    }
    expect(tap.total()).toBe(inboundStream.length);
    expect(rec.take()).toEqual(expectedEvents(edge));
  });

  it('reports an edge that hangs up as edgeClosed without an error', async () => {
    const master = await startMaster();
    const { raw, edge } = await connectEdge(master);
    const closed = nextEvent(master, 'edgeClosed');
    raw.sock.end();
    expect(await closed).toEqual([edge, undefined]);
    expect(master.edges.size).toBe(0);
    expect(edge.open).toBe(false);
    expect(() => edge.send(1n, 'x')).toThrow(MasterError);
  });
});

describe('sending to an edge', () => {
  it('writes Data and Kick packets byte-exact to the vectors', async () => {
    const master = await startMaster();
    const { raw } = await connectEdge(master);
    const outbound = vectors.firehose.valid.filter((v) => v.flags === Flag.Data || v.flags === Flag.Kick);
    for (const v of outbound) {
      if (v.flags === Flag.Kick) expect(master.kick(BigInt(v.id))).toBe(true);
      else expect(master.send(BigInt(v.id), fromHex(v.data))).toBe(true);
    }
    const expected = outbound.map((v) => v.hex).join('');
    expect(toHex(await raw.waitFor(expected.length / 2))).toBe(expected);
  });

  it('encodes strings as UTF-8', async () => {
    const master = await startMaster();
    const { raw } = await connectEdge(master);
    master.send(1n, 'hello');
    expect(toHex(await raw.waitFor(18))).toBe('0e00000001000000000000000068656c6c6f');
  });

  it('refuses ids outside u64 without corrupting the stream', async () => {
    const master = await startMaster();
    const { raw } = await connectEdge(master);
    expect(() => master.send(-1n, 'x')).toThrow(RangeError);
    expect(() => master.send(2n ** 64n, 'x')).toThrow(RangeError);
    expect(() => master.kick(-1n)).toThrow(RangeError);
    expect(() => master.send(7 as unknown as bigint, 'x')).toThrow(/bigint/);
    master.send(1n, 'hello');
    expect(toHex(await raw.waitFor(18))).toBe('0e00000001000000000000000068656c6c6f');
  });

  it('throws VL_ERR_NO_EDGE when no edge is connected', async () => {
    const master = await startMaster();
    expect(() => master.send(1n, 'x')).toThrow(expect.objectContaining({ code: 'VL_ERR_NO_EDGE' }));
    expect(() => master.kick(1n)).toThrow(/no edge is connected/);
  });

  it('batches 1000 sends of one turn into one socket write, intact and in order', async () => {
    const master = await startMaster();
    const { raw } = await connectEdge(master);
    const write = vi.spyOn(net.Socket.prototype, 'write');
    const expected: Uint8Array[] = [];
    for (let i = 0; i < 1000; i++) {
      const id = BigInt(i) * 0x1_0000_0001n;
      const data = Buffer.from(`packet ${i}`);
      master.send(id, data);
      expected.push(encodeFirehose(id, Flag.Data, data));
    }
    const total = expected.reduce((n, b) => n + b.length, 0);
    const got = await raw.waitFor(total);
    expect(write.mock.calls.length).toBe(1);
    expect(toHex(got)).toBe(toHex(concat(expected)));
  });

  it('returns false past highWaterMark while the edge does not read, and drain() waits for it', async () => {
    const highWaterMark = 256 * 1024;
    const master = await startMaster({ highWaterMark });
    const { raw, edge } = await connectEdge(master);
    raw.sock.pause();
    const chunk = 64 * 1024;
    let sent = 0;
    let accepted = true;
    while (accepted && sent < 2048) {
      accepted = master.send(BigInt(sent), new Uint8Array(chunk).fill(sent & 0xff));
      sent++;
    }
    expect(accepted).toBe(false);
    expect(edge.backlogBytes).toBeGreaterThanOrEqual(highWaterMark);
    expect(edge.send(BigInt(sent), new Uint8Array(chunk).fill(sent & 0xff))).toBe(false);
    sent++;
    const drained = master.drain();
    const edgeDrained = edge.drain();
    expect(await settled(drained)).toBe(false);
    raw.sock.resume();
    await drained;
    await edgeDrained;
    expect(edge.backlogBytes).toBeLessThan(highWaterMark);
    const packets = frames(await raw.waitFor(sent * (13 + chunk)));
    expect(packets.length).toBe(sent);
    packets.forEach((p, i) => {
      const pkt = decodeFirehose(p);
      if (pkt instanceof ProtocolError) throw pkt;
      expect(pkt.id).toBe(BigInt(i));
      expect(pkt.data.length).toBe(chunk);
      expect(pkt.data.every((b) => b === (i & 0xff))).toBe(true);
    });
  });

  it('rejects drain() of an edge that closes before draining', async () => {
    const master = await startMaster({ highWaterMark: 256 * 1024 });
    const { raw, edge } = await connectEdge(master);
    raw.sock.pause();
    for (let i = 0; i < 2048 && edge.send(1n, new Uint8Array(64 * 1024)); i++);
    const drained = edge.drain();
    expect(await settled(drained)).toBe(false);
    raw.sock.destroy();
    await expect(drained).rejects.toMatchObject({ code: 'VL_ERR_EDGE_CLOSED' });
    await expect(master.drain()).resolves.toBeUndefined();
  });
});

describe('malformed packets from an edge', () => {
  const malformed = [
    ...vectors.firehose.invalid.map((v) => ({ hex: v.hex, why: v.reason })),
    { hex: '090000002a0000000000000002', why: 'Kick, which edges never send' },
  ];

  for (const { hex, why } of malformed) {
    it(`closes the edge on ${why} and keeps serving another edge`, async () => {
      const master = await startMaster();
      const errors: Array<[Error, EdgeConnection | undefined]> = [];
      master.on('error', (err, edge) => errors.push([err, edge]));
      const rec = record(master);
      const bad = await connectEdge(master);
      const good = await connectEdge(master);

      const badPort = bad.raw.sock.localPort;
      const badClosed = nextEvent(master, 'edgeClosed');
      await bad.raw.write(concat([encodeFirehose(5n, Flag.Data, Buffer.from('ok')), fromHex(hex)]));
      const [closedEdge, closeError] = await badClosed;
      await bad.raw.closed;

      expect(closedEdge).toBe(bad.edge);
      expect(errors).toHaveLength(1);
      const [err, errEdge] = errors[0]!;
      expect(errEdge).toBe(bad.edge);
      expect(closeError).toBe(err);
      expect(err).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).code).toMatch(/^VL_ERR_(SHORT_PACKET|UNKNOWN_FLAG)$/);
      expect(err.message).toContain(`edge 127.0.0.1:${badPort}: `);
      expect(rec.take()).toEqual([{ event: 'data', id: 5n, data: '6f6b', edge: bad.edge }]);
      expect([...master.edges]).toEqual([good.edge]);

      await good.raw.write(encodeFirehose(6n, Flag.Data, Buffer.from('still here')));
      await rec.waitFor(1);
      expect(rec.take()).toEqual([{ event: 'data', id: 6n, data: toHex(Buffer.from('still here')), edge: good.edge }]);
      master.send(6n, 'reply');
      expect(toHex(await good.raw.waitFor(18))).toBe(toHex(encodeFirehose(6n, Flag.Data, Buffer.from('reply'))));
    });
  }

  it('names the reason: short packet, unknown flag, Kick', async () => {
    const master = await startMaster({ onProtocolError: 'skip' });
    const errors: Error[] = [];
    master.on('error', (err) => errors.push(err));
    const rec = record(master);
    const { raw } = await connectEdge(master);
    await raw.write(concat([fromHex('080000000100000000000000'), fromHex('09000000010000000000000004'), fromHex('090000002a0000000000000002'), encodeFirehose(1n, Flag.Data)]));
    await rec.waitFor(1);
    expect(errors.map((e) => [(e as ProtocolError).code, e.message.replace(/^edge [^ ]+: /, '')])).toEqual([
      ['VL_ERR_SHORT_PACKET', 'firehose packet of 8 bytes is shorter than id + flag (9 bytes)'],
      ['VL_ERR_UNKNOWN_FLAG', 'firehose packet with unknown flag 0x04'],
      ['VL_ERR_UNKNOWN_FLAG', 'firehose packet with Kick (0x02), which only a master sends'],
    ]);
  });

  it("skips malformed packets with onProtocolError: 'skip' and keeps the connection", async () => {
    const master = await startMaster({ onProtocolError: 'skip' });
    const errors: Error[] = [];
    master.on('error', (err) => errors.push(err));
    const rec = record(master);
    const { raw, edge } = await connectEdge(master);
    const parts: Uint8Array[] = [];
    vectors.firehose.invalid.forEach((v, i) => {
      parts.push(encodeFirehose(BigInt(i), Flag.Data, Buffer.from([i])), fromHex(v.hex));
    });
    parts.push(encodeFirehose(99n, Flag.Reconnection));
    await raw.write(concat(parts));
    await rec.waitFor(vectors.firehose.invalid.length + 1);
    expect(errors).toHaveLength(vectors.firehose.invalid.length);
    expect(rec.take().map((s) => [s.event, s.id])).toEqual([
      ...vectors.firehose.invalid.map((_, i) => ['data', BigInt(i)]),
      ['reconnection', 99n],
    ]);
    expect(edge.open).toBe(true);
    master.send(99n, 'hello');
    const reply = encodeFirehose(99n, Flag.Data, Buffer.from('hello'));
    expect(toHex(await raw.waitFor(reply.length))).toBe(toHex(reply));
  });

  it('closes an edge that announces a frame over maxFrameSize, even in skip mode', async () => {
    const master = await startMaster({ maxFrameSize: 64, onProtocolError: 'skip' });
    const errors: Error[] = [];
    master.on('error', (err) => errors.push(err));
    const { raw, edge } = await connectEdge(master);
    const closed = nextEvent(master, 'edgeClosed');
    await raw.write(fromHex('41000000'));
    expect(await closed).toEqual([edge, errors[0]]);
    expect(errors[0]).toMatchObject({ code: 'VL_ERR_FRAME_TOO_LARGE' });
    expect(errors[0]!.message).toMatch(/^edge 127\.0\.0\.1:\d+: frame of 65 bytes exceeds the cap of 64$/);
  });

  it('never throws without an error listener: it logs through the logger option', async () => {
    const warn = vi.fn();
    const master = await startMaster({ logger: { warn } });
    const { raw, edge } = await connectEdge(master);
    const closed = nextEvent(master, 'edgeClosed');
    await raw.write(fromHex('09000000010000000000000004'));
    const [, err] = await closed;
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ err, code: 'VL_ERR_UNKNOWN_FLAG', edge: edge.toString() }),
      'master.protocol_error',
    );
  });
});

describe('several edges', () => {
  it('routes send and kick by id to the edge that last sent for it', async () => {
    const master = await startMaster();
    const rec = record(master);
    const a = await connectEdge(master);
    const b = await connectEdge(master);
    expect(master.edges.size).toBe(2);

    await a.raw.write(encodeFirehose(1n, Flag.Data, Buffer.from('a')));
    await b.raw.write(encodeFirehose(U64_MAX, Flag.Data, Buffer.from('b')));
    await rec.waitFor(2);
    rec.take();

    master.send(1n, 'to-a');
    master.send(U64_MAX, 'to-b');
    expect(() => master.send(3n, 'x')).toThrow(expect.objectContaining({ code: 'VL_ERR_NO_ROUTE' }));
    const toA = encodeFirehose(1n, Flag.Data, Buffer.from('to-a'));
    const toB = encodeFirehose(U64_MAX, Flag.Data, Buffer.from('to-b'));
    expect(toHex(await a.raw.waitFor(toA.length))).toBe(toHex(toA));
    expect(toHex(await b.raw.waitFor(toB.length))).toBe(toHex(toB));

    // Failure ends the route; Reconnection (here through the other edge) re-creates it.
    await a.raw.write(encodeFirehose(1n, Flag.Failure, Buffer.from('stale timeout')));
    await rec.waitFor(1);
    expect(rec.take()).toEqual([{ event: 'failure', id: 1n, reason: 'stale timeout', edge: a.edge }]);
    expect(() => master.send(1n, 'x')).toThrow(/none has sent anything for this id/);
    await b.raw.write(encodeFirehose(1n, Flag.Reconnection));
    await rec.waitFor(1);
    rec.take();
    master.send(1n, 'now-b');

    // A kick goes to the routed edge and forgets the route.
    master.kick(U64_MAX);
    expect(() => master.send(U64_MAX, 'x')).toThrow(MasterError);
    const bExpected = concat([toB, encodeFirehose(1n, Flag.Data, Buffer.from('now-b')), encodeFirehose(U64_MAX, Flag.Kick)]);
    expect(toHex(await b.raw.waitFor(bExpected.length))).toBe(toHex(bExpected));
    expect(a.raw.received).toBe(toA.length);

    // With one edge left, everything goes to it.
    const aClosed = nextEvent(master, 'edgeClosed');
    a.raw.sock.end();
    await aClosed;
    master.send(BYTE_ORDER_ID, 'abc');
    const last = fromHex(vectors.firehose.valid.find((v) => v.id === String(BYTE_ORDER_ID))!.hex);
    expect(toHex((await b.raw.waitFor(bExpected.length + last.length)).subarray(bExpected.length))).toBe(toHex(last));
  });

  it('close() flushes and closes every edge and the listener', async () => {
    const master = await startMaster();
    const a = await connectEdge(master);
    const b = await connectEdge(master);
    const closedEdges: EdgeConnection[] = [];
    master.on('edgeClosed', (edge) => closedEdges.push(edge));
    a.edge.send(1n, 'bye-a');
    b.edge.send(2n, 'bye-b');
    await master.close();
    await Promise.all([a.raw.closed, b.raw.closed]);
    expect(toHex(a.raw.bytes())).toBe(toHex(encodeFirehose(1n, Flag.Data, Buffer.from('bye-a'))));
    expect(toHex(b.raw.bytes())).toBe(toHex(encodeFirehose(2n, Flag.Data, Buffer.from('bye-b'))));
    expect(new Set(closedEdges)).toEqual(new Set([a.edge, b.edge]));
    expect(master.edges.size).toBe(0);
    const refused = net.connect({ host: '127.0.0.1', port: master.address.port });
    sockets.push(refused);
    await expect(once(refused, 'connect')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('close() cuts off an edge that never hangs up after closeTimeoutMs', async () => {
    const master = await startMaster({ closeTimeoutMs: 50 });
    const { edge } = await connectEdge(master, { allowHalfOpen: true });
    const closed = nextEvent(master, 'edgeClosed');
    await master.close();
    expect(await closed).toEqual([edge, undefined]);
    expect(master.edges.size).toBe(0);
  });
});

describe('createEchoHandler', () => {
  it('sends every Data packet back to its id on the edge it came from', async () => {
    const master = await startMaster();
    const detach = createEchoHandler(master);
    const { raw } = await connectEdge(master);
    const big = new Uint8Array(100_000).map((_, i) => i & 0xff);
    const packets = [
      encodeFirehose(U64_MAX, Flag.Data, Buffer.from('ping')),
      encodeFirehose(BYTE_ORDER_ID, Flag.Data, big),
      encodeFirehose(3n, Flag.Data),
    ];
    const stream = concat(packets);
    await raw.write(stream);
    expect(toHex(await raw.waitFor(stream.length))).toBe(toHex(stream));
    expect(master.listenerCount('data')).toBe(1);
    detach();
    expect(master.listenerCount('data')).toBe(0);
  });

  it('pauses reading from an edge whose backlog passes highWaterMark and resumes it after drain', async () => {
    const master = await startMaster({ highWaterMark: 256 * 1024 });
    createEchoHandler(master);
    const pause = EdgeConnection.prototype.pause;
    const paused = new Promise<void>((resolve) => {
      vi.spyOn(EdgeConnection.prototype, 'pause').mockImplementation(function (this: EdgeConnection) {
        pause.call(this);
        resolve();
      });
    });
    const resume = vi.spyOn(EdgeConnection.prototype, 'resume');
    const { raw } = await connectEdge(master);
    raw.sock.pause();
    const packets = Array.from({ length: 512 }, (_, i) =>
      encodeFirehose(BigInt(i), Flag.Data, new Uint8Array(64 * 1024).fill(i & 0xff)),
    );
    const stream = Buffer.concat(packets);
    raw.sock.write(stream);
    await paused;
    expect(resume).not.toHaveBeenCalled();
    raw.sock.resume();
    const echoed = await raw.waitFor(stream.length);
    expect(echoed.equals(stream)).toBe(true);
    expect(resume).toHaveBeenCalled();
  });
});
