// FrameWriter against a fake socket: one gathered write per turn, no copies of large payloads, flush threshold.
import { afterEach, describe, expect, it } from 'vitest';
import { beforeNextSocketWrite, FrameWriter, type FrameSink } from '../../../src/io/writer.js';
import { encodeFrame } from '../../../src/io/framing.js';
import { encodeFirehose, Flag } from '../../../src/io/firehose.js';
import { fromHex, loadVectors, toHex } from '../../vectors/vectors.js';

/** writer.ts flushes inline once this many bytes are pending (FLUSH_AT there). */
const FLUSH_AT = 256 * 1024;
/** writer.ts hands payloads this large to the socket as they are (COPY_LIMIT there). */
const COPY_LIMIT = 16 * 1024;

/** A fake socket: groups the pieces written between cork() and uncork() into one gathered write. */
class FakeSink implements FrameSink {
  /** Each entry is one gathered write: the pieces, kept by reference (not copied). */
  readonly writes: Uint8Array[][] = [];
  writableLength = 0;
  destroyed = false;
  writeResult = true;
  #corked: Uint8Array[] | null = null;

  write(chunk: Uint8Array): boolean {
    if (this.#corked) this.#corked.push(chunk);
    else this.writes.push([chunk]);
    return this.writeResult;
  }
  cork(): void {
    if (this.#corked) throw new Error('nested cork');
    this.#corked = [];
  }
  uncork(): void {
    if (!this.#corked) throw new Error('uncork without cork');
    this.writes.push(this.#corked);
    this.#corked = null;
  }
  get corked(): boolean {
    return this.#corked !== null;
  }
  /** Every byte written so far, in order. */
  bytes(): string {
    return this.writes.flat().map(toHex).join('');
  }
}

/** Resolves after the writer's own setImmediate flush, which was queued first. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function payload(n: number, seed = 7): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i + seed) & 0xff);
}

const sinks: FakeSink[] = [];
function sink(): FakeSink {
  const s = new FakeSink();
  sinks.push(s);
  return s;
}
afterEach(async () => {
  await nextTurn();
  for (const s of sinks.splice(0)) expect(s.corked).toBe(false);
});

describe('FrameWriter: batching', () => {
  it('writes nothing synchronously and sends one turn\'s frames as one write after setImmediate', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    const frames = [payload(3), payload(0), payload(100)];
    for (const f of frames) w.writeFrame(f);
    expect(s.writes).toHaveLength(0);
    expect(w.queuedBytes).toBe(4 + 3 + 4 + 0 + 4 + 100);
    await nextTurn();
    expect(s.writes).toHaveLength(1);
    expect(s.bytes()).toBe(frames.map((f) => toHex(encodeFrame(f))).join(''));
    expect(w.queuedBytes).toBe(0);
  });

  it('keeps a turn of small frames in one contiguous piece as its region grows', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    const frames = Array.from({ length: 100 }, (_, i) => payload(1000, i));
    for (const f of frames) w.writeFrame(f);
    await nextTurn();
    expect(s.writes).toHaveLength(1);
    expect(s.writes[0]!.length).toBe(1);
    expect(s.bytes()).toBe(frames.map((f) => toHex(encodeFrame(f))).join(''));
  });

  it('gathers copied and uncopied pieces into one corked write, in order', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    const frames = Array.from({ length: 10 }, (_, i) => payload(i % 2 === 0 ? 100 : 20_000, i));
    for (const f of frames) w.writeFrame(f);
    await nextTurn();
    expect(s.writes).toHaveLength(1);
    expect(s.writes[0]!.length).toBeGreaterThan(1);
    expect(s.bytes()).toBe(frames.map((f) => toHex(encodeFrame(f))).join(''));
  });

  it('gives each writer its own single write in the same turn', async () => {
    const a = sink();
    const b = sink();
    const wa = new FrameWriter(a);
    const wb = new FrameWriter(b);
    wa.writeFrame(payload(5, 1));
    wb.writeFrame(payload(6, 2));
    wa.writeFrame(payload(7, 3));
    await nextTurn();
    expect(a.writes).toHaveLength(1);
    expect(b.writes).toHaveLength(1);
    expect(a.bytes()).toBe(toHex(encodeFrame(payload(5, 1))) + toHex(encodeFrame(payload(7, 3))));
    expect(b.bytes()).toBe(toHex(encodeFrame(payload(6, 2))));
  });

  it('never overwrites bytes already handed to the socket in later turns', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    const all: string[] = [];
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 5; i++) {
        const f = payload(700 + turn * 13 + i, turn * 5 + i);
        all.push(toHex(encodeFrame(f)));
        w.writeFrame(f);
      }
      await nextTurn();
    }
    expect(s.writes).toHaveLength(20);
    expect(s.bytes()).toBe(all.join(''));
  });

  it('flush() sends at once, and a later turn adds nothing', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    w.writeFrame(payload(10));
    expect(w.flush()).toBe(true);
    expect(s.writes).toHaveLength(1);
    await nextTurn();
    expect(s.writes).toHaveLength(1);
  });

  it('passes the socket\'s backpressure signal back from flush()', () => {
    const s = sink();
    s.writeResult = false;
    const w = new FrameWriter(s);
    w.writeFrame(payload(10));
    expect(w.flush()).toBe(false);
  });
});

describe('FrameWriter: large payloads', () => {
  it.each([COPY_LIMIT, 100_000])('hands a %i-byte payload to the socket without copying it', async (n) => {
    const s = sink();
    const w = new FrameWriter(s);
    const big = payload(n);
    w.writeFrame(payload(3));
    w.writeFrame(big);
    w.writeTagged(9, Flag.Data, big);
    await nextTurn();
    expect(s.writes).toHaveLength(1);
    const pieces = s.writes[0]!;
    expect(pieces.filter((p) => p === big)).toHaveLength(2);
    expect(s.bytes()).toBe(
      toHex(encodeFrame(payload(3))) + toHex(encodeFrame(big)) + toHex(encodeFirehose(9, Flag.Data, big)),
    );
  });

  it('copies a payload just under the limit, so the caller may reuse it', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    const small = payload(COPY_LIMIT - 1);
    const expected = toHex(encodeFrame(small));
    w.writeFrame(small);
    small.fill(0);
    await nextTurn();
    expect(s.bytes()).toBe(expected);
  });
});

describe('FrameWriter: flush threshold', () => {
  it('flushes inline once pending bytes reach the threshold, without waiting for the turn', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    const f = payload(1000);
    let queued = 0;
    while (queued + 1004 < FLUSH_AT) {
      w.writeFrame(f);
      queued += 1004;
    }
    expect(s.writes).toHaveLength(0);
    expect(w.queuedBytes).toBe(queued);
    w.writeFrame(f);
    expect(s.writes).toHaveLength(1);
    expect(w.queuedBytes).toBe(0);
    expect(s.bytes().length / 2).toBe(queued + 1004);
    w.writeFrame(payload(1, 1));
    expect(s.writes).toHaveLength(1);
    await nextTurn();
    expect(s.writes).toHaveLength(2);
    expect(s.writes[1]!.map(toHex).join('')).toBe(toHex(encodeFrame(payload(1, 1))));
  });

  it('flushes inline when one payload alone exceeds the threshold', () => {
    const s = sink();
    const w = new FrameWriter(s);
    const huge = payload(FLUSH_AT + 1);
    w.writeFrame(huge);
    expect(s.writes).toHaveLength(1);
    expect(s.writes[0]).toContain(huge);
  });
});

describe('FrameWriter: tagged packets and bookkeeping', () => {
  it('writes every firehose vector byte-exact with writeTagged, in order', async () => {
    const V = loadVectors();
    const s = sink();
    const w = new FrameWriter(s);
    for (const v of V.firehose.valid) w.writeTagged(BigInt(v.id), v.flags, fromHex(v.data));
    await nextTurn();
    expect(s.writes).toHaveLength(1);
    expect(s.bytes()).toBe(V.firehose.valid.map((v) => v.hex).join(''));
  });

  it('writeRaw queues already-framed bytes unchanged', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    w.writeRaw(encodeFrame(payload(4)));
    w.writeFrame(payload(2));
    await nextTurn();
    expect(s.bytes()).toBe(toHex(encodeFrame(payload(4))) + toHex(encodeFrame(payload(2))));
  });

  it('reports backlog as queued bytes plus the socket\'s unwritten bytes', () => {
    const s = sink();
    s.writableLength = 500;
    const w = new FrameWriter(s);
    w.writeFrame(payload(10));
    expect(w.backlogBytes).toBe(514);
    w.flush();
    expect(w.backlogBytes).toBe(500);
  });

  it('writes nothing to a destroyed socket', async () => {
    const s = sink();
    s.destroyed = true;
    const w = new FrameWriter(s);
    w.writeFrame(payload(10));
    expect(w.flush()).toBe(false);
    await nextTurn();
    expect(s.writes).toHaveLength(0);
    expect(w.queuedBytes).toBe(0);
  });

  it('discard() forgets what was queued', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    w.writeFrame(payload(10));
    w.writeFrame(payload(COPY_LIMIT));
    w.discard();
    expect(w.queuedBytes).toBe(0);
    await nextTurn();
    expect(s.writes).toHaveLength(0);
    w.writeFrame(payload(3));
    await nextTurn();
    expect(s.bytes()).toBe(toHex(encodeFrame(payload(3))));
  });
});

describe('beforeNextSocketWrite', () => {
  it('runs once, before the turn flush hands any writer bytes to its socket, and before an early flush too', async () => {
    const order: string[] = [];
    const sink = {
      write: (c: Uint8Array) => (order.push(`write ${c.length}`), true),
      cork: () => {},
      uncork: () => {},
      writableLength: 0,
      destroyed: false,
    };
    const w = new FrameWriter(sink);
    w.writeFrame(Uint8Array.of(1, 2, 3));
    beforeNextSocketWrite(() => order.push('journal'));
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['journal', 'write 7']);
    // An explicit flush runs a pending hook first; a hook runs once.
    order.length = 0;
    w.writeFrame(Uint8Array.of(9));
    beforeNextSocketWrite(() => order.push('journal 2'));
    w.flush();
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['journal 2', 'write 5']);
    // With no writer dirty, the hook still runs at the end of the turn.
    order.length = 0;
    beforeNextSocketWrite(() => order.push('alone'));
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['alone']);
  });
});

describe('FrameWriter: frames from a range of a buffer', () => {
  it('writeFrameFrom and writeTaggedFrom queue the same bytes as writeFrame and writeTagged of the view', async () => {
    const src = payload(3 * COPY_LIMIT, 11);
    for (const n of [0, 1, 64, COPY_LIMIT - 1, COPY_LIMIT, COPY_LIMIT + 5]) {
      for (const start of [0, 3, COPY_LIMIT]) {
        const a = sink();
        const b = sink();
        const wa = new FrameWriter(a);
        const wb = new FrameWriter(b);
        wa.writeFrame(src.subarray(start, start + n));
        wa.writeTagged(42, Flag.Data, src.subarray(start, start + n));
        wb.writeFrameFrom(src, start, n);
        wb.writeTaggedFrom(42, Flag.Data, src, start, n);
        expect(wb.queuedBytes).toBe(wa.queuedBytes);
        await nextTurn();
        expect(b.bytes()).toBe(a.bytes());
        expect(b.bytes()).toBe(toHex(encodeFrame(src.subarray(start, start + n))) + toHex(encodeFirehose(42, Flag.Data, src.subarray(start, start + n))));
      }
    }
  });

  it('copies a payload below COPY_LIMIT: later writes to the source do not change what is sent', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    const src = payload(200, 3);
    const want = toHex(encodeFrame(src.slice(10, 74))) + toHex(encodeFirehose(7, Flag.Data, src.slice(100, 164)));
    w.writeFrameFrom(src, 10, 64);
    w.writeTaggedFrom(7, Flag.Data, src, 100, 64);
    src.fill(0);
    await nextTurn();
    expect(s.bytes()).toBe(want);
  });
  it('writeFrameFrom copies a payload of COPY_LIMIT and more too: the source may be a read buffer used again', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    const src = payload(COPY_LIMIT * 2 + 10, 5);
    const want = toHex(encodeFrame(src.slice(3, 3 + COPY_LIMIT + 1)));
    w.writeFrameFrom(src, 3, COPY_LIMIT + 1);
    src.fill(0);
    await nextTurn();
    expect(s.bytes()).toBe(want);
  });
});
