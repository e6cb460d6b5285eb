// Replay buffers: the master packets kept for a stale session, stored compactly as length-prefixed records in one
// block per session carved from pooled slabs (no object per packet), exportable in order and rebuildable.

/** Bytes of the length prefix stored with each packet. */
export const RECORD_HEADER = 4;
/** Smallest block handed out; blocks are powers of two from here. */
const MIN_BLOCK = 64;
const MIN_SHIFT = 6;
/** Largest block carved from a slab; larger buffers get a block of their own. */
const MAX_POOLED_BLOCK = 64 * 1024;
const SLAB_BYTES = 256 * 1024;
const CLASSES = Math.log2(MAX_POOLED_BLOCK) - MIN_SHIFT + 1;
/**
 * Heap bytes a buffer costs besides its block (the ReplayBuffer object and the block's view), counted in
 * `SlabPool.bytesHeld` so that a memory budget sees what a stale session's buffer really takes.
 */
export const BUFFER_OVERHEAD = 160;

interface Slab {
  bytes: Uint8Array;
  /** Its size class, or -1 for a block of its own (larger than MAX_POOLED_BLOCK). */
  cls: number;
  used: number;
}

interface SizeClass {
  size: number;
  /** Free blocks as handles; entries of released slabs are skipped (and counted in `dead`). */
  free: number[];
  dead: number;
  /** Slabs of this class with no block in use (one is kept, the others are released). */
  empty: number;
}

/** The block size for `n` bytes: a power of two, at least MIN_BLOCK. */
function blockSize(n: number): number {
  return n <= MIN_BLOCK ? MIN_BLOCK : 2 ** (32 - Math.clz32(n - 1));
}

/**
 * A pool of slabs from which replay buffers take their blocks, one size class per power of two (64 B to 64 KiB).
 * A block is a handle, a number (`slab id * SLAB_BYTES + offset`): no object per block. A freed block goes back
 * to its class's free list; a slab whose blocks are all free is given back to the garbage collector (one empty
 * slab per class is kept for reuse). `bytesHeld` is what buffers hold now.
 */
export class SlabPool {
  readonly #classes: SizeClass[] = [];
  readonly #slabs = new Map<number, Slab>();
  #nextSlab = 0;
  #pooled = 0;
  /** Block bytes handed out and not yet freed, plus BUFFER_OVERHEAD per buffer holding a block. */
  bytesHeld = 0;
  /** Slab bytes allocated (pooled blocks, free or not) plus blocks of their own. */
  bytesReserved = 0;

  constructor() {
    for (let c = 0; c < CLASSES; c++) this.#classes.push({ size: MIN_BLOCK << c, free: [], dead: 0, empty: 0 });
  }

  /**
   * A block of `blockSize(n)` bytes (a power of two, at least 64) as a handle: its bytes are those of
   * `bytesOf(handle)` from `offsetOf(handle)`. Its contents are unspecified.
   */
  alloc(n: number): number {
    const size = blockSize(n);
    this.bytesHeld += size + BUFFER_OVERHEAD;
    if (size > MAX_POOLED_BLOCK) {
      const id = this.#nextSlab++;
      this.#slabs.set(id, { bytes: new Uint8Array(size), cls: -1, used: 1 });
      this.bytesReserved += size;
      return id * SLAB_BYTES;
    }
    const c = 31 - Math.clz32(size) - MIN_SHIFT;
    const cls = this.#classes[c]!;
    for (;;) {
      const h = cls.free.pop();
      if (h === undefined) break;
      const slab = this.#slabs.get(Math.floor(h / SLAB_BYTES));
      if (slab === undefined) {
        cls.dead--;
        continue;
      }
      if (slab.used++ === 0) cls.empty--;
      return h;
    }
    const id = this.#nextSlab++;
    this.#slabs.set(id, { bytes: new Uint8Array(SLAB_BYTES), cls: c, used: 1 });
    this.bytesReserved += SLAB_BYTES;
    this.#pooled++;
    // Pushed highest first so that blocks are handed out from the start of the slab.
    for (let off = SLAB_BYTES - size; off >= size; off -= size) cls.free.push(id * SLAB_BYTES + off);
    return id * SLAB_BYTES;
  }

  /** The bytes (a whole slab, or a block of its own) that the block `handle` lies in. */
  bytesOf(handle: number): Uint8Array {
    return this.#slabs.get(Math.floor(handle / SLAB_BYTES))!.bytes;
  }

  /** Where the block `handle` starts in `bytesOf(handle)`. */
  offsetOf(handle: number): number {
    return handle % SLAB_BYTES;
  }

  /** Gives a block from `alloc` back (`size`: its block size). The block must not be used afterwards. */
  free(handle: number, size: number): void {
    this.bytesHeld -= size + BUFFER_OVERHEAD;
    const id = Math.floor(handle / SLAB_BYTES);
    const slab = this.#slabs.get(id)!;
    if (slab.cls < 0) {
      this.#slabs.delete(id);
      this.bytesReserved -= size;
      return;
    }
    const cls = this.#classes[slab.cls]!;
    cls.free.push(handle);
    if (--slab.used > 0) return;
    if (cls.empty === 0) {
      cls.empty = 1;
      return;
    }
    // Another empty slab of this class is kept already: give this one back.
    this.#slabs.delete(id);
    this.#pooled--;
    this.bytesReserved -= SLAB_BYTES;
    cls.dead += SLAB_BYTES / cls.size;
    if (cls.dead > cls.free.length / 2) {
      cls.free = cls.free.filter((h) => this.#slabs.has(Math.floor(h / SLAB_BYTES)));
      cls.dead = 0;
    }
  }

  /** Pooled slabs allocated now (for tests and metrics; blocks of their own not counted). */
  get slabs(): number {
    return this.#pooled;
  }
}

const EMPTY = new Uint8Array(0);

/** Copies `n` bytes of `src` from `from` into `dst` at `at`; short runs byte by byte (no view object for them). */
function copyBytes(dst: Uint8Array, at: number, src: Uint8Array, from: number, n: number): void {
  if (n <= 64) {
    for (let i = 0; i < n; i++) dst[at + i] = src[from + i]!;
  } else if (src === dst) {
    dst.copyWithin(at, from, from + n);
  } else {
    dst.set(from === 0 && n === src.length ? src : src.subarray(from, from + n), at);
  }
}

/**
 * The packets buffered for one stale session, oldest first, as `u32 length + payload` records in one block
 * from a SlabPool (held as the slab and an offset: no object per block or per packet). `push` copies the payload
 * in (growing the block by doubling, so a packet costs one copy amortized); `packets()` yields views into the
 * block, valid until the next `push` or `clear`. `serialize()` / `ReplayBuffer.deserialize()` and `toArray()` /
 * `ReplayBuffer.from()` move a buffer out of and back into an edge.
 */
export class ReplayBuffer {
  readonly pool: SlabPool;
  /** The slab the block lies in (EMPTY while there is none). */
  #bytes: Uint8Array = EMPTY;
  #handle = -1;
  /** The block's start in #bytes, and its size (0: no block). */
  #base = 0;
  #cap = 0;
  /** Bytes of records in the block. */
  #end = 0;
  #count = 0;

  constructor(pool: SlabPool) {
    this.pool = pool;
  }

  /** A buffer holding copies of `packets`, in order. */
  static from(pool: SlabPool, packets: Iterable<Uint8Array>): ReplayBuffer {
    const b = new ReplayBuffer(pool);
    for (const p of packets) b.push(p);
    return b;
  }

  /** A buffer from the bytes of `serialize()`; throws a RangeError on bytes that are not whole records. */
  static deserialize(pool: SlabPool, bytes: Uint8Array): ReplayBuffer {
    const n = checkRecords(bytes);
    const b = new ReplayBuffer(pool);
    if (bytes.length > 0) {
      b.#take(pool.alloc(bytes.length), blockSize(bytes.length));
      b.#bytes.set(bytes, b.#base);
      b.#end = bytes.length;
      b.#count = n;
    }
    return b;
  }

  /** What `footprint` is for an empty buffer after one packet of `n` bytes (no buffer needed to ask). */
  static footprintFor(n: number): number {
    return blockSize(RECORD_HEADER + n) + BUFFER_OVERHEAD;
  }

  /** Packets held. */
  get count(): number {
    return this.#count;
  }

  /** Payload bytes held (length prefixes not counted). */
  get bytes(): number {
    return this.#end - this.#count * RECORD_HEADER;
  }

  /** Memory this buffer holds: its block plus BUFFER_OVERHEAD, 0 when empty (what the pool counts for it). */
  get footprint(): number {
    return this.#cap === 0 ? 0 : this.#cap + BUFFER_OVERHEAD;
  }

  /** What `footprint` would be after pushing `n` more payload bytes as one packet. */
  footprintAfter(n: number): number {
    const need = this.#end + RECORD_HEADER + n;
    if (need <= this.#cap) return this.footprint;
    return blockSize(Math.max(need, this.#cap * 2)) + BUFFER_OVERHEAD;
  }

  /** Appends a copy of `data`, or of its `n` bytes from `from` (a packet inside a larger buffer, without a view of it). */
  push(data: Uint8Array, from = 0, n = data.length - from): void {
    const at = this.#end;
    if (at + RECORD_HEADER + n > this.#cap) this.#grow(at + RECORD_HEADER + n);
    const block = this.#bytes;
    const o = this.#base + at;
    block[o] = n & 0xff;
    block[o + 1] = (n >>> 8) & 0xff;
    block[o + 2] = (n >>> 16) & 0xff;
    block[o + 3] = n >>> 24;
    copyBytes(block, o + RECORD_HEADER, data, from, n);
    this.#end = at + RECORD_HEADER + n;
    this.#count++;
  }

  #take(handle: number, size: number): void {
    this.#handle = handle;
    this.#bytes = this.pool.bytesOf(handle);
    this.#base = this.pool.offsetOf(handle);
    this.#cap = size;
  }

  #grow(need: number): void {
    const size = blockSize(Math.max(need, this.#cap * 2));
    const handle = this.pool.alloc(size);
    const old = this.#bytes;
    const oldBase = this.#base;
    const oldHandle = this.#handle;
    const oldCap = this.#cap;
    this.#take(handle, size);
    if (oldCap > 0) {
      copyBytes(this.#bytes, this.#base, old, oldBase, this.#end);
      this.pool.free(oldHandle, oldCap);
    }
  }

  /** The packets, oldest first, as views into the buffer (valid until the next push or clear). */
  *packets(): IterableIterator<Uint8Array> {
    const block = this.#bytes;
    const end = this.#base + this.#end;
    let at = this.#base;
    while (at < end) {
      const n = (block[at]! | (block[at + 1]! << 8) | (block[at + 2]! << 16) | (block[at + 3]! << 24)) >>> 0;
      yield block.subarray(at + RECORD_HEADER, at + RECORD_HEADER + n);
      at += RECORD_HEADER + n;
    }
  }

  /** Copies of the packets, oldest first. */
  toArray(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const p of this.packets()) out.push(p.slice());
    return out;
  }

  /** The records as one byte string (`u32 LE length + payload`, oldest first): a copy, for storing elsewhere. */
  serialize(): Uint8Array {
    return this.#bytes.slice(this.#base, this.#base + this.#end);
  }

  /** Drops every packet and gives the block back to the pool. */
  clear(): void {
    if (this.#cap > 0) this.pool.free(this.#handle, this.#cap);
    this.#bytes = EMPTY;
    this.#handle = -1;
    this.#base = 0;
    this.#cap = 0;
    this.#end = 0;
    this.#count = 0;
  }
}

/** The number of records in `bytes`; throws when they do not end exactly at a record boundary. */
function checkRecords(bytes: Uint8Array): number {
  let at = 0;
  let n = 0;
  while (at < bytes.length) {
    if (bytes.length - at < RECORD_HEADER) throw new RangeError(`replay buffer bytes: truncated length prefix at ${at}`);
    const len = (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
    if (len > bytes.length - at - RECORD_HEADER) throw new RangeError(`replay buffer bytes: record at ${at} runs past the end`);
    at += RECORD_HEADER + len;
    n++;
  }
  return n;
}
