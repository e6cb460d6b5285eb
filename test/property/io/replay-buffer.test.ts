// Replay buffers and their slab pool: packets come back in order and intact, across growth, reuse of freed
// blocks by other buffers, serialize/deserialize and from/toArray; the pool's byte counts return to zero. The
// router's path (replayAppend in place, else replayGrow and append after asking the budget) keeps the packet and byte bounds
// and says exactly what a new block adds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BUFFER_OVERHEAD,
  NO_REPLAY,
  RECORD_HEADER,
  SlabPool,
  replayAppend,
  replayBytes,
  replayCount,
  replayDeserialize,
  replayFootprint,
  replayFootprintAfter,
  replayFrom,
  replayGrow,
  replayPackets,
  replayPush,
  replayRelease,
  replaySerialize,
  replayToArray,
} from '../../../src/actors/replay-buffer.js';

/** A buffer's handle with its pool, so that a test can hold many buffers the way the edge's sessions do. */
class ReplayBuffer {
  handle = NO_REPLAY;
  constructor(readonly pool: SlabPool) {}
  static from(pool: SlabPool, packets: Iterable<Uint8Array>): ReplayBuffer {
    const b = new ReplayBuffer(pool);
    b.handle = replayFrom(pool, packets);
    return b;
  }
  static deserialize(pool: SlabPool, bytes: Uint8Array): ReplayBuffer {
    const b = new ReplayBuffer(pool);
    b.handle = replayDeserialize(pool, bytes);
    return b;
  }
  get count(): number {
    return replayCount(this.handle);
  }
  get bytes(): number {
    return replayBytes(this.handle);
  }
  get footprint(): number {
    return replayFootprint(this.handle);
  }
  footprintAfter(n: number): number {
    return replayFootprintAfter(this.handle, n);
  }
  push(data: Uint8Array): void {
    this.handle = replayPush(this.pool, this.handle, data, 0, data.length);
  }
  packets(): IterableIterator<Uint8Array> {
    return replayPackets(this.handle);
  }
  toArray(): Uint8Array[] {
    return replayToArray(this.handle);
  }
  serialize(): Uint8Array {
    return replaySerialize(this.handle);
  }
  clear(): void {
    this.handle = replayRelease(this.handle);
  }
}

/** Equal lists of byte strings (compared as buffers: deep equality of large arrays is slow). */
function same(got: Iterable<Uint8Array>, want: Uint8Array[]): void {
  const g = [...got];
  expect(g.length).toBe(want.length);
  g.forEach((p, i) => expect(Buffer.compare(p, want[i]!), `packet ${i}`).toBe(0));
}

const packet = fc.uint8Array({ minLength: 0, maxLength: 300 });
const big = fc.uint8Array({ minLength: 60_000, maxLength: 140_000 });

describe('ReplayBuffer', () => {
  it('gives back what was pushed, in order, while other buffers grow and free blocks of the same pool', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 7 }), fc.oneof({ weight: 40, arbitrary: packet }, { weight: 1, arbitrary: big }), fc.boolean()), { maxLength: 80 }),
        (ops) => {
          const pool = new SlabPool();
          const bufs = Array.from({ length: 8 }, () => new ReplayBuffer(pool));
          const model: Uint8Array[][] = bufs.map(() => []);
          for (const [i, data, clear] of ops) {
            if (clear && model[i]!.length > 0) {
              same(bufs[i]!.toArray(), model[i]!);
              bufs[i]!.clear();
              model[i] = [];
            } else {
              const before = bufs[i]!.footprintAfter(data.length);
              bufs[i]!.push(data);
              expect(bufs[i]!.footprint).toBe(before);
              model[i]!.push(data.slice());
            }
          }
          let held = 0;
          for (let i = 0; i < bufs.length; i++) {
            const b = bufs[i]!;
            expect(b.count).toBe(model[i]!.length);
            expect(b.bytes).toBe(model[i]!.reduce((n, p) => n + p.length, 0));
            same(b.packets(), model[i]!);
            const copy = ReplayBuffer.deserialize(pool, b.serialize());
            same(copy.toArray(), model[i]!);
            const again = ReplayBuffer.from(pool, b.packets());
            same(again.toArray(), model[i]!);
            copy.clear();
            again.clear();
            held += b.footprint;
          }
          expect(pool.bytesHeld).toBe(held);
          for (const b of bufs) b.clear();
          expect(pool.bytesHeld).toBe(0);
          expect(pool.slabs).toBeLessThanOrEqual(11);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('appends in place within the bounds, refuses past them, and says what a new block adds to the footprint', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 3 }), fc.oneof({ weight: 20, arbitrary: packet }, { weight: 1, arbitrary: big }), fc.boolean()), { maxLength: 60 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 400_000 }),
        (ops, maxPackets, maxBytes) => {
          const pool = new SlabPool();
          const hs = [NO_REPLAY, NO_REPLAY, NO_REPLAY, NO_REPLAY];
          const model: Uint8Array[][] = [[], [], [], []];
          for (const [i, data, release] of ops) {
            if (release) {
              hs[i] = replayRelease(hs[i]!);
              model[i] = [];
              continue;
            }
            const m = model[i]!;
            const before = replayFootprint(hs[i]!);
            // Inside a larger buffer, as the router sees it.
            const frame = new Uint8Array(data.length + 9);
            frame.set(data, 9);
            const need = replayAppend(hs[i]!, frame, 9, data.length, maxPackets, maxBytes);
            const held = m.reduce((n, p) => n + p.length, 0);
            expect(need < 0).toBe(m.length >= maxPackets || held + data.length > maxBytes);
            if (need > 0) {
              // The router's way: a grown copy, the packet appended to it, the old block released.
              const to = replayGrow(pool, hs[i]!, data.length);
              expect(replayAppend(to, frame, 9, data.length, maxPackets, maxBytes)).toBe(0);
              replayRelease(hs[i]!);
              hs[i] = to;
            }
            expect(replayFootprint(hs[i]!)).toBe(before + Math.max(need, 0));
            if (need >= 0) m.push(data.slice());
            frame.fill(0xee);
            expect(replayCount(hs[i]!)).toBe(m.length);
            same(replayPackets(hs[i]!), m);
          }
          expect(pool.bytesHeld).toBe(hs.reduce((n, h) => n + replayFootprint(h), 0));
          for (const h of hs) replayRelease(h);
          expect(pool.bytesHeld).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('stores small packets compactly: ten 16-byte packets take one 256-byte block, after one growth from the first 64-byte one', () => {
    const pool = new SlabPool();
    let h = NO_REPLAY;
    const blocks: number[] = [];
    for (let i = 0; i < 10; i++) {
      const next = replayPush(pool, h, new Uint8Array(16).fill(i), 0, 16);
      if (next !== h) blocks.push(replayFootprint(next) - BUFFER_OVERHEAD);
      h = next;
    }
    expect(blocks).toEqual([64, 256]);
    expect(replayBytes(h)).toBe(160);
    expect(replaySerialize(h).length).toBe(10 * (16 + RECORD_HEADER));
    expect(replayFootprint(h)).toBe(256 + BUFFER_OVERHEAD);
    expect(pool.bytesHeld).toBe(256 + BUFFER_OVERHEAD);
    replayRelease(h);
    expect(pool.bytesHeld).toBe(0);
  });

  it('an empty buffer holds nothing and releasing it does nothing', () => {
    const pool = new SlabPool();
    expect([replayCount(NO_REPLAY), replayBytes(NO_REPLAY), replayFootprint(NO_REPLAY)]).toEqual([0, 0, 0]);
    expect([...replayPackets(NO_REPLAY)]).toEqual([]);
    expect(replaySerialize(NO_REPLAY).length).toBe(0);
    expect(replayRelease(NO_REPLAY)).toBe(NO_REPLAY);
    expect(pool.bytesHeld).toBe(0);
    // A bound of 0 packets refuses the first one.
    expect(replayAppend(NO_REPLAY, new Uint8Array(4), 0, 4, 0, 100)).toBe(-1);
  });

  it('gives slabs back once their blocks are free, keeping one empty slab per size', () => {
    const pool = new SlabPool();
    const bufs = Array.from({ length: 10_000 }, () => {
      const b = new ReplayBuffer(pool);
      b.push(new Uint8Array(50));
      return b;
    });
    const peak = pool.slabs;
    expect(peak).toBeGreaterThan(2);
    for (const b of bufs) b.clear();
    expect(pool.slabs).toBe(1);
    expect(pool.bytesHeld).toBe(0);
    // Freed slabs' entries in the free list are skipped, never handed out.
    const again = Array.from({ length: 10_000 }, (_, i) => ReplayBuffer.from(pool, [Uint8Array.of(i & 0xff, i >> 8)]));
    again.forEach((b, i) => expect(b.toArray()).toEqual([Uint8Array.of(i & 0xff, i >> 8)]));
    expect(pool.slabs).toBe(peak);
  });

  it('refuses serialized bytes that are not whole records', () => {
    const pool = new SlabPool();
    expect(() => ReplayBuffer.deserialize(pool, Uint8Array.of(5, 0, 0, 0, 1, 2))).toThrow(RangeError);
    expect(() => ReplayBuffer.deserialize(pool, Uint8Array.of(0, 0, 0))).toThrow(RangeError);
    expect(ReplayBuffer.deserialize(pool, Uint8Array.of(0, 0, 0, 0)).toArray()).toEqual([new Uint8Array(0)]);
    expect(ReplayBuffer.deserialize(pool, new Uint8Array(0)).count).toBe(0);
  });
});
