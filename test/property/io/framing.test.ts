// Properties of the frame decoder: arbitrary frames cut anywhere come out unchanged; the cap always holds.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeFrame, FrameDecoder } from '../../../src/io/framing.js';
import { concat, drain } from '../../unit/io/drain.js';

const frames = fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 600 })), { maxLength: 20 });

/** Cuts `bytes` at the given points (any order, duplicates allowed, taken modulo the length + 1). */
function cut(bytes: Uint8Array, points: number[]): Uint8Array[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

describe('framing properties', () => {
  it('decodes a stream of arbitrary frames cut at arbitrary points into the same frames', () => {
    fc.assert(
      fc.property(frames, fc.array(fc.nat(), { maxLength: 30 }), (fs, points) => {
        const stream = concat(...fs.map(encodeFrame));
        const d = new FrameDecoder();
        const r = drain(cut(stream, points), d);
        expect(r.error).toBeNull();
        expect(r.frames).toEqual(fs);
        expect(d.bufferedBytes).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('holds pending bytes compactly whatever the reads: frames unchanged, earlier frames intact, held memory bounded', () => {
    const big = fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 3000, maxLength: 12_000 })), { maxLength: 8 });
    fc.assert(
      fc.property(big, fc.array(fc.nat(), { maxLength: 60 }), fc.boolean(), (fs, points, ownBuffers) => {
        const stream = concat(...fs.map(encodeFrame));
        // Reads as the socket gives them (each its own buffer) or as views of one big buffer.
        const pieces = cut(stream, points).map((p) => (ownBuffers ? p.slice() : p));
        const d = new FrameDecoder();
        const got: Uint8Array[] = [];
        for (const p of pieces) {
          d.push(p);
          for (let f = d.next(); f !== null; f = d.next()) {
            if (!(f instanceof Uint8Array)) throw f;
            got.push(f);
          }
          // Held memory: at most about twice the pending bytes, plus a few pieces' fixed cost.
          const held = d.heldBytes;
          if (held > 2 * d.bufferedBytes + 4 * 4096 + 1024) expect.fail(`${held} B held for ${d.bufferedBytes} B pending`);
        }
        expect(got.length).toBe(fs.length);
        got.forEach((f, i) => {
          if (!Buffer.from(f).equals(Buffer.from(fs[i]!))) expect.fail(`frame #${i} differs`);
        });
        expect(d.bufferedBytes).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it('with a cap yields the frames up to the first one over the cap, then VL_ERR_FRAME_TOO_LARGE', () => {
    fc.assert(
      fc.property(frames, fc.integer({ min: 0, max: 600 }), fc.array(fc.nat(), { maxLength: 30 }), (fs, cap, points) => {
        const d = new FrameDecoder(cap);
        const r = drain(cut(concat(...fs.map(encodeFrame)), points), d);
        const firstTooLarge = fs.findIndex((f) => f.length > cap);
        for (const f of r.frames) expect(f.length).toBeLessThanOrEqual(cap);
        if (firstTooLarge < 0) {
          expect(r.error).toBeNull();
          expect(r.frames).toEqual(fs);
        } else {
          expect(r.error?.code).toBe('VL_ERR_FRAME_TOO_LARGE');
          expect(r.frames).toEqual(fs.slice(0, firstTooLarge));
          expect(d.bufferedBytes).toBe(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('with a cap, arbitrary bytes yield only frames within the cap or VL_ERR_FRAME_TOO_LARGE, never throwing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 64 }), fc.array(fc.nat(), { maxLength: 10 }), (b, cap, points) => {
        const r = drain(cut(b, points), new FrameDecoder(cap));
        for (const f of r.frames) expect(f.length).toBeLessThanOrEqual(cap);
        if (r.error) expect(r.error.code).toBe('VL_ERR_FRAME_TOO_LARGE');
      }),
      { numRuns: 500 },
    );
  });
});
