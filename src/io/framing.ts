// u32-LE length-prefixed frames: a streaming decoder that caps lengths before buffering, and encoders.
import { ProtocolError } from './errors.js';

export const FRAME_HEADER_SIZE = 4;

/** The largest length a u32 prefix can announce. */
export const MAX_U32 = 0xffff_ffff;

const EMPTY = new Uint8Array(0);

/**
 * Streaming frame decoder. `push` chunks as they arrive, then call `next()` until it returns
 * `null` (need more bytes). A frame that lies inside one chunk is returned as a view of that
 * chunk (no copy); a frame split across chunks is copied once into a fresh buffer. A declared
 * length over `maxFrame` is reported before any of the body is buffered, and the decoder then
 * refuses all further input.
 */
export class FrameDecoder {
  /** The largest frame accepted; may be raised or lowered between frames (e.g. after a handshake). */
  maxFrame: number;
  #chunks: Uint8Array[] = [];
  /** Read offset into #chunks[0]. */
  #off = 0;
  /** Bytes buffered and not yet consumed. */
  #buffered = 0;
  /** Length of the frame whose header was read, or -1 while waiting for a header. */
  #bodyLen = -1;
  #failed: ProtocolError | null = null;

  constructor(maxFrame: number = MAX_U32) {
    this.maxFrame = maxFrame;
  }

  /** Bytes held by the decoder (an incomplete header or body). */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  push(chunk: Uint8Array): void {
    if (this.#failed || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /** The next whole frame's payload, `null` if more bytes are needed, or an error (sticky). */
  next(): Uint8Array | null | ProtocolError {
    if (this.#failed) return this.#failed;
    if (this.#bodyLen < 0) {
      if (this.#buffered < FRAME_HEADER_SIZE) return null;
      const len = this.#readU32();
      if (len > this.maxFrame) {
        this.#failed = new ProtocolError(
          'VL_ERR_FRAME_TOO_LARGE',
          `frame of ${len} bytes exceeds the cap of ${this.maxFrame}`,
        );
        this.#chunks = [];
        this.#buffered = 0;
        this.#off = 0;
        return this.#failed;
      }
      this.#bodyLen = len;
    }
    const len = this.#bodyLen;
    if (this.#buffered < len) return null;
    this.#bodyLen = -1;
    return this.#consume(len);
  }

  /** Drops everything buffered. */
  reset(): void {
    this.#chunks = [];
    this.#off = 0;
    this.#buffered = 0;
    this.#bodyLen = -1;
    this.#failed = null;
  }

  /** The declared length of a frame whose body is still awaited, or -1. */
  get pendingFrameLength(): number {
    return this.#bodyLen;
  }

  #readU32(): number {
    const head = this.#chunks[0]!;
    const off = this.#off;
    if (head.length - off >= 4) {
      const v = (head[off]! | (head[off + 1]! << 8) | (head[off + 2]! << 16)) + head[off + 3]! * 0x100_0000;
      this.#advance(4);
      return v;
    }
    const b = this.#consume(4);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16)) + b[3]! * 0x100_0000;
  }

  #advance(n: number): void {
    this.#buffered -= n;
    this.#off += n;
    const head = this.#chunks[0]!;
    if (this.#off === head.length) {
      this.#chunks.shift();
      this.#off = 0;
    }
  }

  #consume(n: number): Uint8Array {
    if (n === 0) return EMPTY;
    const head = this.#chunks[0]!;
    const off = this.#off;
    if (head.length - off >= n) {
      const view = head.subarray(off, off + n);
      this.#advance(n);
      return view;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[0]!;
      const take = Math.min(n - filled, c.length - this.#off);
      out.set(c.subarray(this.#off, this.#off + take), filled);
      filled += take;
      this.#advance(take);
    }
    return out;
  }
}

/** The 4-byte length prefix for a payload of `length` bytes. */
export function encodeFrameHeader(length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > MAX_U32) {
    throw new RangeError(`frame length out of range: ${length}`);
  }
  const out = new Uint8Array(4);
  writeU32LE(out, 0, length);
  return out;
}

export function writeU32LE(out: Uint8Array, off: number, v: number): void {
  out[off] = v & 0xff;
  out[off + 1] = (v >>> 8) & 0xff;
  out[off + 2] = (v >>> 16) & 0xff;
  out[off + 3] = (v >>> 24) & 0xff;
}

/** Header and payload as one new buffer (convenient; the writers avoid this copy). */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  writeU32LE(out, 0, payload.length);
  out.set(payload, 4);
  return out;
}

/** Header and payload as two pieces, for a gathered write without concatenation. */
export function framePieces(payload: Uint8Array): [Uint8Array, Uint8Array] {
  return [encodeFrameHeader(payload.length), payload];
}
