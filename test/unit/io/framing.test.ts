// FrameDecoder behaviour beyond the vectors: the length cap, zero-copy views, sticky errors, empty frames.
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../src/io/errors.js';
import { encodeFrame, encodeFrameHeader, FrameDecoder, MAX_U32 } from '../../../src/io/framing.js';
import { concat, drain } from './drain.js';

function bytes(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

describe('FrameDecoder: length cap', () => {
  it('rejects a header announcing cap + 1 at once, before any body arrives, holding nothing', () => {
    const d = new FrameDecoder(100);
    d.push(encodeFrameHeader(101));
    const r = d.next();
    expect(r).toBeInstanceOf(ProtocolError);
    expect((r as ProtocolError).code).toBe('VL_ERR_FRAME_TOO_LARGE');
    expect((r as ProtocolError).message).toContain('101');
    expect(d.bufferedBytes).toBe(0);
  });

  it('drops the part of an oversized body that came with its header', () => {
    const d = new FrameDecoder(100);
    d.push(concat(encodeFrameHeader(5000), bytes(1000)));
    expect(d.next()).toBeInstanceOf(ProtocolError);
    expect(d.bufferedBytes).toBe(0);
  });

  it('rejects an oversized frame that follows good ones, after yielding them', () => {
    const d = new FrameDecoder(8);
    const r = drain([concat(encodeFrame(bytes(8)), encodeFrame(bytes(3)), encodeFrameHeader(9), bytes(9))], d);
    expect(r.frames.map((f) => f.length)).toEqual([8, 3]);
    expect(r.error?.code).toBe('VL_ERR_FRAME_TOO_LARGE');
    expect(d.bufferedBytes).toBe(0);
  });

  it('accepts a frame of exactly the cap', () => {
    const d = new FrameDecoder(100);
    d.push(encodeFrameHeader(100));
    expect(d.next()).toBeNull();
    expect(d.pendingFrameLength).toBe(100);
    d.push(bytes(100));
    expect((d.next() as Uint8Array).length).toBe(100);
  });

  it('waits without allocating for a 4 GiB frame when uncapped', () => {
    const d = new FrameDecoder();
    expect(d.maxFrame).toBe(MAX_U32);
    d.push(encodeFrameHeader(MAX_U32));
    expect(d.next()).toBeNull();
    expect(d.pendingFrameLength).toBe(MAX_U32);
    expect(d.bufferedBytes).toBe(0);
  });

  it('with a cap of 0 accepts empty frames and rejects a 1-byte one', () => {
    const r = drain([concat(encodeFrame(new Uint8Array(0)), encodeFrame(bytes(1)))], new FrameDecoder(0));
    expect(r.frames).toHaveLength(1);
    expect(r.error?.code).toBe('VL_ERR_FRAME_TOO_LARGE');
  });
});

describe('FrameDecoder: zero copy', () => {
  it('hands out a frame lying inside one chunk as a view of that chunk', () => {
    const chunk = concat(encodeFrame(bytes(10, 1)), encodeFrame(bytes(20, 2)));
    const r = drain([chunk]);
    expect(r.frames).toHaveLength(2);
    const [a, b] = r.frames as [Uint8Array, Uint8Array];
    expect(a.buffer).toBe(chunk.buffer);
    expect(a.byteOffset).toBe(chunk.byteOffset + 4);
    expect(b.buffer).toBe(chunk.buffer);
    expect(b.byteOffset).toBe(chunk.byteOffset + 18);
    expect(b).toEqual(bytes(20, 2));
  });

  it('views a frame inside a chunk that is itself a view at an offset', () => {
    const backing = new Uint8Array(100);
    backing.set(encodeFrame(bytes(16)), 37);
    const chunk = backing.subarray(37, 57);
    const [frame] = drain([chunk]).frames;
    expect(frame!.buffer).toBe(backing.buffer);
    expect(frame!.byteOffset).toBe(41);
    expect(frame).toEqual(bytes(16));
  });

  it('copies a frame split across chunks into a fresh buffer with the right bytes', () => {
    const whole = encodeFrame(bytes(64));
    const first = whole.slice(0, 30);
    const second = whole.slice(30);
    const [frame] = drain([first, second]).frames;
    expect(frame).toEqual(bytes(64));
    expect(frame!.buffer).not.toBe(first.buffer);
    expect(frame!.buffer).not.toBe(second.buffer);
  });

  it('reads a header split 1 + 3 and then views a body that sits in the next chunk', () => {
    const whole = encodeFrame(bytes(300));
    const tail = whole.slice(4);
    const r = drain([whole.slice(0, 1), whole.slice(1, 4), tail]);
    expect(r.frames).toHaveLength(1);
    expect(r.frames[0]).toEqual(bytes(300));
    expect(r.frames[0]!.buffer).toBe(tail.buffer);
  });
});

describe('FrameDecoder: errors are sticky', () => {
  it('keeps returning the same error and ignores further input until reset', () => {
    const d = new FrameDecoder(4);
    d.push(encodeFrameHeader(5));
    const first = d.next();
    expect(first).toBeInstanceOf(ProtocolError);
    d.push(encodeFrame(bytes(2)));
    expect(d.bufferedBytes).toBe(0);
    expect(d.next()).toBe(first);
    expect(d.next()).toBe(first);

    d.reset();
    d.push(encodeFrame(bytes(2)));
    expect(d.next()).toEqual(bytes(2));
    expect(d.next()).toBeNull();
  });
});

describe('FrameDecoder: zero-length frames', () => {
  it('yields each empty frame, including ones back to back and between others', () => {
    const empty = encodeFrame(new Uint8Array(0));
    const r = drain([concat(empty, empty, encodeFrame(bytes(3)), empty)]);
    expect(r.error).toBeNull();
    expect(r.frames.map((f) => f.length)).toEqual([0, 0, 3, 0]);
  });

  it('yields an empty frame as soon as its 4-byte header is complete', () => {
    const d = new FrameDecoder();
    d.push(Uint8Array.of(0, 0, 0));
    expect(d.next()).toBeNull();
    d.push(Uint8Array.of(0));
    const f = d.next();
    expect(f).toBeInstanceOf(Uint8Array);
    expect((f as Uint8Array).length).toBe(0);
    expect(d.next()).toBeNull();
    expect(d.bufferedBytes).toBe(0);
  });

  it('ignores empty chunks', () => {
    const d = new FrameDecoder();
    d.push(new Uint8Array(0));
    expect(d.bufferedBytes).toBe(0);
    expect(d.next()).toBeNull();
  });
});

describe('encodeFrameHeader', () => {
  it.each([-1, 1.5, MAX_U32 + 1, Number.NaN])('throws a RangeError for length %s', (n) => {
    expect(() => encodeFrameHeader(n)).toThrow(RangeError);
  });

  it('writes the largest u32 little-endian', () => {
    expect(Array.from(encodeFrameHeader(MAX_U32))).toEqual([255, 255, 255, 255]);
    expect(Array.from(encodeFrameHeader(0x01020304))).toEqual([4, 3, 2, 1]);
  });
});

describe('FrameDecoder: pending bytes held compactly', () => {
  it('one-byte reads of an unfinished frame cost about their size, not one buffer each', () => {
    const d = new FrameDecoder();
    d.push(encodeFrameHeader(1_000_000));
    expect(d.next()).toBeNull();
    const body = bytes(200_000);
    let early = 0;
    for (let i = 0; i < body.length; i++) {
      d.push(body.slice(i, i + 1));
      if (d.next() !== null) early++;
    }
    expect(early).toBe(0);
    expect(d.bufferedBytes).toBe(200_000);
    // Well under 4 B per pending byte (one buffer per read would cost ~160 B per byte).
    expect(d.heldBytes).toBeLessThanOrEqual(2.1 * d.bufferedBytes);
    d.push(bytes(800_000, 7));
    const f = d.next() as Uint8Array;
    expect(f.length).toBe(1_000_000);
    expect(Buffer.from(f.subarray(0, 200_000)).equals(Buffer.from(body))).toBe(true);
    expect(d.bufferedBytes).toBe(0);
  });

  it('does not keep a whole large read alive for a few leftover bytes', () => {
    const d = new FrameDecoder();
    const read = concat(encodeFrame(bytes(60_000)), encodeFrameHeader(100), bytes(10));
    d.push(read);
    expect((d.next() as Uint8Array).length).toBe(60_000);
    expect(d.next()).toBeNull();
    expect(d.bufferedBytes).toBe(10);
    expect(d.heldBytes).toBeLessThan(1024);
  });

  it('frames returned earlier stay intact while later bytes are appended to the held ones', () => {
    const d = new FrameDecoder();
    const stream = concat(...Array.from({ length: 50 }, (_, i) => encodeFrame(bytes(i % 7, i))));
    const got: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i++) {
      d.push(stream.slice(i, i + 1));
      for (let f = d.next(); f !== null; f = d.next()) got.push(f as Uint8Array);
    }
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => bytes(i % 7, i)));
  });
});
