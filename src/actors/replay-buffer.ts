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
  cls: number;
  used: number;
}

interface SizeClass {
  size: number;
  /** Free blocks as `slabId * SLAB_BYTES + offset`; entries of released slabs are skipped (and counted in `dead`). */
  free: number[];
  dead: number;
  /** Slabs of this class with no block in use (one is kept, the others are released). */
  empty: number;
}

/**
 * A pool of slabs from which replay buffers take their blocks, one size class per power of two (64 B to 64 KiB).
 * A freed block goes back to its class's free list; a slab whose blocks are all free is given back to the
 * garbage collector (one empty slab per class is kept for reuse). `bytesHeld` is what buffers hold now.
 */
export class SlabPool {
  readonly #classes: SizeClass[] = [];
  readonly #slabs = new Map<number, Slab>();
  readonly #byBuffer = new WeakMap<ArrayBufferLike, number>();
  #nextSlab = 0;
  /** Block bytes handed out and not yet freed, plus BUFFER_OVERHEAD per buffer holding a block. */
  bytesHeld = 0;
  /** Slab bytes allocated (pooled blocks, free or not) plus blocks of their own. */
  bytesReserved = 0;

  constructor() {
    for (let c = 0; c < CLASSES; c++) this.#classes.push({ size: MIN_BLOCK << c, free: [], dead: 0, empty: 0 });
  }

  /** A block of at least `n` bytes (a power of two, at least 64). Its contents are unspecified. */
  alloc(n: number): Uint8Array {
    const size = n <= MIN_BLOCK ? MIN_BLOCK : 2 ** Math.ceil(Math.log2(n));
    this.bytesHeld += size + BUFFER_OVERHEAD;
    if (size > MAX_POOLED_BLOCK) {
      this.bytesReserved += size;
      return new Uint8Array(size);
    }
    const cls = this.#classes[Math.log2(size) - MIN_SHIFT]!;
    for (;;) {
      const h = cls.free.pop();
      if (h === undefined) break;
      const id = Math.floor(h / SLAB_BYTES);
      const slab = this.#slabs.get(id);
      if (slab === undefined) {
        cls.dead--;
        continue;
      }
      if (slab.used++ === 0) cls.empty--;
      const off = h - id * SLAB_BYTES;
      return slab.bytes.subarray(off, off + size);
    }
    const id = this.#nextSlab++;
    const bytes = new Uint8Array(SLAB_BYTES);
    this.bytesReserved += SLAB_BYTES;
    this.#slabs.set(id, { bytes, cls: Math.log2(size) - MIN_SHIFT, used: 1 });
    this.#byBuffer.set(bytes.buffer, id);
    // Pushed highest first so that blocks are handed out from the start of the slab.
    for (let off = SLAB_BYTES - size; off >= size; off -= size) cls.free.push(id * SLAB_BYTES + off);
    return bytes.subarray(0, size);
  }

  /** Gives a block from `alloc` back. The block must not be used afterwards. */
  free(block: Uint8Array): void {
    this.bytesHeld -= block.length + BUFFER_OVERHEAD;
    const id = this.#byBuffer.get(block.buffer);
    if (id === undefined) {
      this.bytesReserved -= block.length;
      return;
    }
    const slab = this.#slabs.get(id)!;
    const cls = this.#classes[slab.cls]!;
    cls.free.push(id * SLAB_BYTES + block.byteOffset);
    if (--slab.used > 0) return;
    if (cls.empty === 0) {
      cls.empty = 1;
      return;
    }
    // Another empty slab of this class is kept already: give this one back.
    this.#slabs.delete(id);
    this.bytesReserved -= SLAB_BYTES;
    cls.dead += SLAB_BYTES / cls.size;
    if (cls.dead > cls.free.length / 2) {
      cls.free = cls.free.filter((h) => this.#slabs.has(Math.floor(h / SLAB_BYTES)));
      cls.dead = 0;
    }
  }

  /** Slabs allocated now (for tests and metrics). */
  get slabs(): number {
    return this.#slabs.size;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * The packets buffered for one stale session, oldest first, as `u32 length + payload` records in one block
 * from a SlabPool. `push` copies the payload in (growing the block by doubling, so a packet costs one copy
 * amortized); `packets()` yields views into the block, valid until the next `push` or `clear`. `serialize()` /
 * `ReplayBuffer.deserialize()` and `toArray()` / `ReplayBuffer.from()` move a buffer out of and back into an edge.
 */
export class ReplayBuffer {
  readonly pool: SlabPool;
  #block: Uint8Array = EMPTY;
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
      b.#block = pool.alloc(bytes.length);
      b.#block.set(bytes, 0);
      b.#end = bytes.length;
      b.#count = n;
    }
    return b;
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
    return this.#block.length === 0 ? 0 : this.#block.length + BUFFER_OVERHEAD;
  }

  /** What `footprint` would be after pushing `n` more payload bytes as one packet. */
  footprintAfter(n: number): number {
    const need = this.#end + RECORD_HEADER + n;
    if (need <= this.#block.length) return this.footprint;
    const size = need <= MIN_BLOCK ? MIN_BLOCK : 2 ** Math.ceil(Math.log2(Math.max(need, this.#block.length * 2)));
    return size + BUFFER_OVERHEAD;
  }

  /** Appends a copy of `data`. */
  push(data: Uint8Array): void {
    const n = data.length;
    let block = this.#block;
    const at = this.#end;
    if (at + RECORD_HEADER + n > block.length) block = this.#grow(at + RECORD_HEADER + n);
    block[at] = n & 0xff;
    block[at + 1] = (n >>> 8) & 0xff;
    block[at + 2] = (n >>> 16) & 0xff;
    block[at + 3] = n >>> 24;
    block.set(data, at + RECORD_HEADER);
    this.#end = at + RECORD_HEADER + n;
    this.#count++;
  }

  #grow(need: number): Uint8Array {
    const old = this.#block;
    const next = this.pool.alloc(Math.max(need, old.length * 2));
    if (old.length > 0) {
      next.set(old.subarray(0, this.#end), 0);
      this.pool.free(old);
    }
    this.#block = next;
    return next;
  }

  /** The packets, oldest first, as views into the buffer (valid until the next push or clear). */
  *packets(): IterableIterator<Uint8Array> {
    const block = this.#block;
    const end = this.#end;
    let at = 0;
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
    return this.#block.slice(0, this.#end);
  }

  /** Drops every packet and gives the block back to the pool. */
  clear(): void {
    if (this.#block.length > 0) this.pool.free(this.#block);
    this.#block = EMPTY;
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
