// Properties of the frame decoder: arbitrary frames cut anywhere come out unchanged; the cap always holds.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeFrame, FrameDecoder, FRAME_HEADER_SIZE, wholeFrameAt } from '../../../src/io/framing.js';
import { ProtocolError } from '../../../src/io/errors.js';
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

  it('a reader that takes whole frames out of each chunk while the decoder is idle gets what the decoder alone gets', () => {
    // The edge's readers (client sockets, the master link): frames lying whole in a read are taken in place with
    // wholeFrameAt; the rest goes to the decoder. Same frames, same order, the oversize error at the same frame.
    const cap = fc.oneof(fc.constant(0xffff_ffff), fc.integer({ min: 0, max: 700 }));
    fc.assert(
      fc.property(frames, fc.array(fc.nat(), { maxLength: 30 }), cap, (fs, points, maxFrame) => {
        const chunks = cut(concat(...fs.map(encodeFrame)), points);
        const expected = drain(chunks, new FrameDecoder(maxFrame));
        const d = new FrameDecoder(maxFrame);
        const got: Uint8Array[] = [];
        let error: ProtocolError | null = null;
        for (const chunk of chunks) {
          let rest = chunk;
          if (d.idle) {
            let off = 0;
            for (let len; (len = wholeFrameAt(chunk, off, chunk.length, maxFrame)) >= 0; off += FRAME_HEADER_SIZE + len) {
              got.push(chunk.slice(off + FRAME_HEADER_SIZE, off + FRAME_HEADER_SIZE + len));
            }
            rest = chunk.subarray(off);
          }
          d.push(rest);
          for (let f = d.next(); f !== null && error === null; f = d.next()) {
            if (f instanceof ProtocolError) error = f;
            else got.push(f.slice());
          }
          if (error !== null) break;
        }
        expect(got).toEqual(expected.frames.map((f) => f.slice()));
        expect(error?.code ?? null).toBe(expected.error?.code ?? null);
        if (error === null) expect(d.idle).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
