// Batched frame writer: frames queued during one event-loop turn go to the socket in one write.
import { writeU32LE } from './framing.js';
import { TAG_SIZE, writeTaggedHeader } from './firehose.js';

/** The part of a net.Socket the writer needs. */
export interface FrameSink {
  write(chunk: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
  readonly destroyed: boolean;
}

/** Payloads at least this large are handed to the socket as-is rather than copied. */
export const COPY_LIMIT = 16 * 1024;
/** Pending bytes past which a writer flushes at once instead of waiting for the turn's end. */
export const FLUSH_AT = 256 * 1024;
/** Shared pool slabs: writers carve their per-turn regions from these, so an idle writer holds no memory. */
const POOL_SLAB = 1024 * 1024;
const MIN_REGION = 256;
const MAX_REGION = 256 * 1024;

let pool = new Uint8Array(POOL_SLAB);
let poolPos = 0;

/** A fresh region of at least `n` bytes; regions are never handed out twice. */
function takeRegion(n: number): Uint8Array {
  // Not zero-filled: a writer hands to its socket only the bytes it wrote into its region.
  if (n > POOL_SLAB / 4) return Buffer.allocUnsafeSlow(n);
  if (POOL_SLAB - poolPos < n) {
    pool = Buffer.allocUnsafeSlow(POOL_SLAB);
    poolPos = 0;
  }
  const r = pool.subarray(poolPos, poolPos + n);
  poolPos += n;
  return r;
}

const EMPTY = new Uint8Array(0);
const dirty: FrameWriter[] = [];
/** One-shot callbacks to run before the next bytes any writer hands to a socket (a journal's pending batch). */
const beforeWrite: (() => void)[] = [];

/**
 * Runs `fn` once, before the next flush of any writer hands bytes to its socket (or at the end of this turn's
 * flush, whichever comes first). A journal uses it so that its records of a turn are written before the
 * socket bytes they describe (a ClientId, a Failure) leave the process.
 */
export function beforeNextSocketWrite(fn: () => void): void {
  beforeWrite.push(fn);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushAll);
  }
}

function runBeforeWrite(): void {
  const fns = beforeWrite.splice(0, beforeWrite.length);
  for (const fn of fns) fn();
}
let scheduled = false;

function flushAll(): void {
  scheduled = false;
  if (beforeWrite.length !== 0) runBeforeWrite();
  // Writers flushed here may be marked dirty again by callbacks; those wait for the next turn.
  const n = dirty.length;
  for (let i = 0; i < n; i++) dirty[i]!.turnEnded();
  dirty.splice(0, n);
}

/**
 * Accumulates frames in a slab and flushes them together on the next `setImmediate` (one
 * gathered write per socket per turn), or at once past FLUSH_AT bytes. Large payloads are
 * not copied. Not thread-safe, not re-entrant: one writer per socket.
 */
export class FrameWriter {
  readonly sink: FrameSink;
  /** This turn's region from the pool; dropped at each flush so an idle writer holds nothing. */
  #slab: Uint8Array = EMPTY;
  /** Region size to ask for: adapts to what the writer wrote in its last region. */
  #hint = MIN_REGION;
  /** Start of the slab region not yet handed to the sink. */
  #start = 0;
  #pos = 0;
  /** Pieces completed before the slab region (large payloads, full slab regions). */
  #pieces: Uint8Array[] = [];
  #pending = 0;
  /** Listed for the end-of-turn flush; only that flush clears it, so a writer is listed once per turn. */
  #listed = false;

  constructor(sink: FrameSink) {
    this.sink = sink;
  }

  /** Bytes queued here and not yet handed to the socket. */
  get queuedBytes(): number {
    return this.#pending;
  }

  /** Bytes queued here plus bytes the socket has not yet written out. */
  get backlogBytes(): number {
    return this.#pending + this.sink.writableLength;
  }

  #reserve(n: number): number {
    if (this.#slab.length - this.#pos < n) {
      // Grow: move the unsent part into a region twice as large, so a turn stays one contiguous piece.
      const used = this.#pos - this.#start;
      if (this.#slab.length > 0) this.#hint = Math.min(MAX_REGION, Math.max(this.#hint, this.#slab.length * 2));
      if (used + n > MAX_REGION) {
        this.#seal();
        this.#slab = takeRegion(Math.max(this.#hint, n));
        this.#start = 0;
        this.#pos = 0;
      } else {
        const next = takeRegion(Math.max(this.#hint, used + n));
        next.set(this.#slab.subarray(this.#start, this.#pos), 0);
        this.#slab = next;
        this.#start = 0;
        this.#pos = used;
      }
    }
    const at = this.#pos;
    this.#pos += n;
    this.#pending += n;
    return at;
  }

  /** Moves the slab region written so far into the piece list. */
  #seal(): void {
    if (this.#pos > this.#start) {
      this.#pieces.push(this.#slab.subarray(this.#start, this.#pos));
      this.#start = this.#pos;
    }
  }

  #appendPayload(data: Uint8Array): void {
    if (data.length >= COPY_LIMIT) {
      this.#seal();
      this.#pieces.push(data);
      this.#pending += data.length;
    } else if (data.length > 0) {
      const at = this.#reserve(data.length);
      this.#slab.set(data, at);
    }
    this.#mark();
  }

  #mark(): void {
    if (this.#pending >= FLUSH_AT) {
      this.flush();
      return;
    }
    if (!this.#listed) {
      this.#listed = true;
      dirty.push(this);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flushAll);
      }
    }
  }

  /** Queues `u32 length + payload`. */
  writeFrame(payload: Uint8Array): void {
    const at = this.#reserve(4);
    writeU32LE(this.#slab, at, payload.length);
    this.#appendPayload(payload);
  }

  /**
   * Queues `u32 length + src[start, start + len)`: the same bytes as `writeFrame(src.subarray(start, start + len))`,
   * always copied, whatever the size (`src` may be a read buffer that the next read overwrites), with no view made.
   */
  writeFrameFrom(src: Uint8Array, start: number, len: number): void {
    if (len >= COPY_LIMIT) {
      // A large payload gets its own copy, queued as a piece: growing the region to hold it would copy the
      // region's earlier bytes again (and a turn of 16 KiB frames would keep reallocating it).
      const copy = Buffer.allocUnsafe(len);
      copy.set(new Uint8Array(src.buffer, src.byteOffset + start, len), 0);
      return this.writeFrame(copy);
    }
    const at = this.#reserve(4 + len);
    const slab = this.#slab;
    writeU32LE(slab, at, len);
    if (len > 0) slab.set(new Uint8Array(src.buffer, src.byteOffset + start, len), at + 4);
    this.#mark();
  }

  /** Queues a tagged packet of data `src[start, start + len)` for session `id` (a safe integer): as writeTagged. */
  writeTaggedFrom(id: number, flag: number, src: Uint8Array, start: number, len: number): void {
    if (len >= COPY_LIMIT || !(id >= 0 && id <= Number.MAX_SAFE_INTEGER)) return this.writeTagged(id, flag, src.subarray(start, start + len));
    const at = this.#reserve(4 + TAG_SIZE + len);
    const slab = this.#slab;
    writeTaggedHeader(slab, at, id, flag, len);
    if (len > 0) slab.set(new Uint8Array(src.buffer, src.byteOffset + start, len), at + 4 + TAG_SIZE);
    this.#mark();
  }

  /** Queues a tagged firehose packet: `u32 length, u64 id, flag, data`. */
  writeTagged(id: bigint | number, flag: number, data: Uint8Array): void {
    if (typeof id === 'bigint' ? id < 0n || id > 0xffff_ffff_ffff_ffffn : !(id >= 0 && id <= Number.MAX_SAFE_INTEGER)) {
      throw new RangeError(`id out of u64 range: ${id}`);
    }
    const at = this.#reserve(4 + TAG_SIZE);
    writeTaggedHeader(this.#slab, at, id, flag, data.length);
    this.#appendPayload(data);
  }

  /** Queues bytes that are already framed. */
  writeRaw(bytes: Uint8Array): void {
    this.#appendPayload(bytes);
  }

  /** Hands everything queued to the socket now. Returns the socket's write() result. */
  /** The end-of-turn flush (module-internal). */
  turnEnded(): void {
    this.#listed = false;
    this.flush();
  }

  flush(): boolean {
    if (beforeWrite.length !== 0) runBeforeWrite();
    this.#seal();
    const pieces = this.#pieces;
    if (pieces.length === 0) return true;
    this.#pieces = [];
    this.#pending = 0;
    this.#release();
    const sink = this.sink;
    if (sink.destroyed) return false;
    if (pieces.length === 1) return sink.write(pieces[0]!);
    sink.cork();
    let ok = true;
    for (const p of pieces) ok = sink.write(p);
    sink.uncork();
    return ok;
  }

  /** Gives up this turn's region, remembering how much of it was used for the next one. */
  #release(): void {
    if (this.#slab.length === 0) return;
    this.#hint = Math.min(MAX_REGION, Math.max(MIN_REGION, this.#pos + (this.#pos >> 1)));
    this.#slab = EMPTY;
    this.#start = 0;
    this.#pos = 0;
  }

  /** Removes and returns everything queued but not yet handed to the socket (framed bytes, in order). */
  takePending(): Uint8Array[] {
    this.#seal();
    const pieces = this.#pieces;
    this.#pieces = [];
    this.#pending = 0;
    this.#release();
    // Regions are never handed out twice and payload pieces are the caller's own: no copy needed.
    return pieces;
  }

  /** Forgets everything queued (the socket is gone). */
  discard(): void {
    this.#pieces = [];
    this.#pending = 0;
    this.#release();
  }
}
