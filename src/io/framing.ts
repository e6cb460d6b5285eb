// u32-LE length-prefixed frames: a streaming decoder that caps lengths before buffering, and encoders.
import { ProtocolError } from './errors.js';

export const FRAME_HEADER_SIZE = 4;

/** The largest length a u32 prefix can announce. */
export const MAX_U32 = 0xffff_ffff;

const EMPTY = new Uint8Array(0);

/**
 * A held piece smaller than this is copied into the decoder's own tail buffer instead of being kept: each
 * kept piece costs a JS object pair (~160 B) besides its bytes, so tiny TCP segments kept one by one would
 * multiply in memory (a 1-byte segment costs ~160x its size).
 */
export const COALESCE_BELOW = 4096;
/** The smallest tail buffer; a tail that is full is replaced by one twice the size needed at most. */
const TAIL_MIN = 64;
/** Estimated heap cost of holding one piece (a Uint8Array and its ArrayBuffer), besides its bytes. */
export const PIECE_OVERHEAD = 160;

/**
 * Streaming frame decoder. `push` chunks as they arrive, then call `next()` until it returns
 * `null` (need more bytes). A frame that lies inside one chunk is returned as a view of that
 * chunk (no copy); a frame split across chunks is copied once into a fresh buffer. A declared
 * length over `maxFrame` is reported before any of the body is buffered, and the decoder then
 * refuses all further input.
 *
 * Bytes left over once `next()` needs more (a frame in progress) are held compactly: a piece that is
 * small, or a small part of a larger buffer, is copied into a tail buffer owned by the decoder, so the
 * memory held stays within a small factor of the bytes pending (`heldBytes`), however small the reads.
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
  /** The decoder's own buffer for small pending pieces (the last element of #chunks when in use). */
  #tail: Uint8Array | null = null;
  /** Bytes of #tail written so far (the held view of it ends there; later bytes are appended after). */
  #tailLen = 0;

  constructor(maxFrame: number = MAX_U32) {
    this.maxFrame = maxFrame;
  }

  /** Bytes held by the decoder (an incomplete header or body). */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Estimated heap held for the pending bytes: the distinct buffers behind the held pieces and a fixed
   * cost per piece. Stays within about 2x `bufferedBytes` plus a small constant.
   */
  get heldBytes(): number {
    let n = 0;
    let last: ArrayBufferLike | null = null;
    for (const c of this.#chunks) {
      if (c.buffer !== last) n += c.buffer.byteLength + PIECE_OVERHEAD;
      last = c.buffer;
    }
    return n;
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
      if (this.#buffered < FRAME_HEADER_SIZE) return this.#hold();
      const len = this.#readU32();
      if (len > this.maxFrame) {
        this.#failed = new ProtocolError(
          'VL_ERR_FRAME_TOO_LARGE',
          `frame of ${len} bytes exceeds the cap of ${this.maxFrame}`,
        );
        this.#chunks = [];
        this.#buffered = 0;
        this.#off = 0;
        this.#tail = null;
        this.#tailLen = 0;
        return this.#failed;
      }
      this.#bodyLen = len;
    }
    const len = this.#bodyLen;
    if (this.#buffered < len) return this.#hold();
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
    this.#tail = null;
    this.#tailLen = 0;
  }

  /** Nothing held and no error: the next bytes start a frame (callers may scan them with `wholeFrameAt`). */
  get idle(): boolean {
    return this.#buffered === 0 && this.#bodyLen < 0 && this.#failed === null;
  }

  /** Bytes still needed to finish the header or the frame in progress (0 when idle or failed). */
  get wanted(): number {
    if (this.#failed !== null) return 0;
    if (this.#bodyLen >= 0) return this.#bodyLen - this.#buffered;
    return this.#buffered === 0 ? 0 : FRAME_HEADER_SIZE - this.#buffered;
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

  /**
   * More bytes are needed: the pending ones will be held until the next read. Pieces that would cost far
   * more than their size to keep (small ones, or small views of bigger buffers) are copied into the tail.
   */
  #hold(): null {
    const chunks = this.#chunks;
    const n = chunks.length;
    if (n === 0) return null;
    const first = this.#off === 0 ? chunks[0]! : chunks[0]!.subarray(this.#off);
    // The common cases: only part of the tail is held, or one piece worth keeping as it is.
    if (n === 1 && (first.buffer === this.#tail?.buffer || worthKeeping(first))) return null;
    const kept: Uint8Array[] = [];
    let run: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const c = i === 0 ? first : chunks[i]!;
      if (worthKeeping(c)) {
        if (run.length > 0) kept.push(this.#gather(run));
        run = [];
        kept.push(c);
      } else run.push(c);
    }
    if (run.length > 0) kept.push(this.#gather(run));
    this.#chunks = kept;
    this.#off = 0;
    return null;
  }

  /**
   * The bytes of `run` (in order) as one view into the tail buffer: appended in place when the run starts
   * with the tail's last bytes and the rest fits, else copied into a new tail of twice the size needed at
   * most (doubling keeps the copying linear overall). Views handed out earlier are never written over.
   */
  #gather(run: Uint8Array[]): Uint8Array {
    const tail = this.#tail;
    const head = run[0]!;
    let total = 0;
    for (const p of run) total += p.length;
    if (tail !== null && head.buffer === tail.buffer && head.byteOffset + head.length === tail.byteOffset + this.#tailLen) {
      let len = this.#tailLen;
      if (len + total - head.length <= tail.length) {
        for (let i = 1; i < run.length; i++) {
          tail.set(run[i]!, len);
          len += run[i]!.length;
        }
        this.#tailLen = len;
        return tail.subarray(head.byteOffset - tail.byteOffset, len);
      }
    }
    let cap = TAIL_MIN;
    while (cap < total) cap *= 2;
    const next = new Uint8Array(cap);
    let len = 0;
    for (const p of run) {
      next.set(p, len);
      len += p.length;
    }
    this.#tail = next;
    this.#tailLen = len;
    return next.subarray(0, len);
  }
}

/** A piece big enough, and a big enough part of its buffer, to hold as it is. */
function worthKeeping(c: Uint8Array): boolean {
  return c.length >= COALESCE_BELOW && c.length * 2 >= c.buffer.byteLength;
}

/**
 * The payload length of the frame whose header starts at `buf[off]`, when the whole frame lies before `end` and its
 * length is at most `maxFrame`; else -1 (bytes missing, or a length over the cap, which a FrameDecoder then
 * reports). Lets a reader with nothing pending take frames straight out of a chunk, with no view per frame.
 */
export function wholeFrameAt(buf: Uint8Array, off: number, end: number, maxFrame: number): number {
  const avail = end - off - FRAME_HEADER_SIZE;
  if (avail < 0) return -1;
  const len = (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16)) + buf[off + 3]! * 0x100_0000;
  return len <= avail && len <= maxFrame ? len : -1;
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
