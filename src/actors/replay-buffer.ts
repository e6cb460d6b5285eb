// Replay buffers: the master packets kept for a stale session, stored compactly as length-prefixed records in one
// block per session carved from pooled slabs. A buffer is a number, the handle of its block: no object per buffer,
// per block or per packet, and its holder (a Session) keeps it in one field. The block starts with the buffer's
// record bytes and record count, so that a packet buffered touches its session, its block and the (few, shared)
// slab objects, nothing else. An empty buffer (NO_REPLAY) is a block of size 0 in a slab of its own, so that the
// first packet takes the same path as one that outgrows its block.

/** Bytes of the length prefix stored with each packet. */
export const RECORD_HEADER = 4;
/** A buffer with no packet (and no block of its own). */
export const NO_REPLAY = 0;
/**
 * Heap bytes a buffer costs besides its block (the client budget's queue entry for it), counted in
 * `SlabPool.bytesHeld` so that a memory budget sees what a stale session's buffer really takes.
 */
export const BUFFER_OVERHEAD = 64;

/** The block's own header: u32 bytes of records after it, u32 records (read and written through `Slab.words`). */
const BLOCK_HEADER = 8;
/** Smallest block handed out; blocks are powers of two from here. */
const MIN_BLOCK = 64;
const MIN_SHIFT = 6;
/**
 * What a first block grows to: room for ten 16-byte packets in one step (64 -> 256 B), where doubling took two
 * (64 -> 128 -> 256 B) for the same memory. Larger blocks double.
 */
const FIRST_GROWTH = 256;
/** Largest block carved from a slab; larger buffers get a block of their own. */
const MAX_POOLED_BLOCK = 64 * 1024;
const SLAB_BYTES = 256 * 1024;
const CLASSES = Math.log2(MAX_POOLED_BLOCK) - MIN_SHIFT + 1;
/** A handle is `slab index << UNIT_BITS | block offset / MIN_BLOCK`: a small integer while indexes stay below MAX_SLABS. */
const UNIT_BITS = Math.log2(SLAB_BYTES / MIN_BLOCK);
const UNIT_MASK = (1 << UNIT_BITS) - 1;
/** Slabs alive at once, all pools together (128 GiB of pooled slabs): handles stay below 2^31. */
const MAX_SLABS = 1 << (31 - UNIT_BITS);

interface Slab {
  /** Its pool (null: the empty buffer's). */
  readonly pool: SlabPool | null;
  readonly index: number;
  readonly bytes: Uint8Array;
  /** The same memory as 32-bit words, for block headers (blocks are 64-byte aligned). */
  readonly words: Int32Array;
  /** Size of its blocks (a block of its own: its whole size). */
  readonly size: number;
  /** Its size class (-1: a block of its own, larger than MAX_POOLED_BLOCK). */
  readonly cls: number;
  /** Blocks in use. */
  used: number;
  /** Offset of the first block never handed out: blocks are carved from the start as they are needed. */
  next: number;
  /** Offset of the last block freed (-1: none); a free block's first word holds the offset of the one freed before it. */
  freeHead: number;
  /** Links of its class's list of slabs with a free block (`listed`: in it). */
  listed: boolean;
  prevAvail: Slab | null;
  nextAvail: Slab | null;
}

interface SizeClass {
  size: number;
  /** The first of the slabs of this class with a free block (blocks are taken from it), null: none. */
  avail: Slab | null;
  /** Slabs of this class with no block in use (one is kept, the others are released). */
  empty: number;
}

/**
 * Every slab alive, by index (all pools of the process: a handle finds its slab with no pool at hand). Indexes of
 * released slabs are reused, so they stay as few as the slabs alive.
 */
const slabTable: Array<Slab | null> = [];
const freeIndexes: number[] = [];
/** Slab 0 holds NO_REPLAY: a block of size 0 whose header says no records. */
const emptyBytes = new Uint8Array(BLOCK_HEADER);
slabTable.push({ pool: null, index: 0, bytes: emptyBytes, words: new Int32Array(emptyBytes.buffer), size: 0, cls: -1, used: 1, next: 0, freeHead: -1, listed: false, prevAvail: null, nextAvail: null });

/** The block size for `n` bytes: a power of two, at least MIN_BLOCK. */
function blockSize(n: number): number {
  if (n > 1 << 30) return 2 ** Math.ceil(Math.log2(n));
  return n <= MIN_BLOCK ? MIN_BLOCK : 1 << (32 - Math.clz32(n - 1));
}

/** The block a full block of `cap` bytes (0: none) grows to for `need` bytes. */
function grownSize(cap: number, need: number): number {
  return blockSize(Math.max(need, cap === MIN_BLOCK ? FIRST_GROWTH : cap * 2));
}

/** What a buffer whose block has `size` bytes counts for (0: the empty buffer). */
function footprintOf(size: number): number {
  return size + (size === 0 ? 0 : BUFFER_OVERHEAD);
}

function slabOf(h: number): Slab {
  return slabTable[h >>> UNIT_BITS]!;
}

/**
 * A pool of slabs from which replay buffers take their blocks, one size class per power of two (64 B to 64 KiB).
 * A freed block goes back to its slab's free list; a slab whose blocks are all free is given back to the garbage
 * collector (one empty slab per class is kept for reuse). `bytesHeld` is what buffers hold now.
 */
export class SlabPool {
  readonly #classes: SizeClass[] = [];
  #pooled = 0;
  /** Block bytes handed out and not yet freed, plus BUFFER_OVERHEAD per buffer holding a block. */
  bytesHeld = 0;
  /** Slab bytes allocated (pooled blocks, free or not) plus blocks of their own. */
  bytesReserved = 0;

  constructor() {
    for (let c = 0; c < CLASSES; c++) this.#classes.push({ size: MIN_BLOCK << c, avail: null, empty: 0 });
  }

  /** A block of `size` bytes (a power of two, at least 64) as a handle; its contents are unspecified. */
  alloc(size: number): number {
    this.bytesHeld += size + BUFFER_OVERHEAD;
    if (size > MAX_POOLED_BLOCK) {
      this.bytesReserved += size;
      return this.#newSlab(size, -1).index << UNIT_BITS;
    }
    const c = 31 - Math.clz32(size) - MIN_SHIFT;
    const cls = this.#classes[c]!;
    let slab = cls.avail;
    if (slab === null) {
      slab = this.#newSlab(SLAB_BYTES, c);
      this.bytesReserved += SLAB_BYTES;
      this.#pooled++;
      link(cls, slab);
    }
    let off = slab.freeHead;
    if (off >= 0) {
      slab.freeHead = slab.words[off >> 2]!;
      // A slab with free blocks and none in use is the class's kept empty slab.
      if (slab.used === 0) cls.empty--;
    } else {
      off = slab.next;
      slab.next = off + size;
    }
    slab.used++;
    if (slab.freeHead < 0 && slab.next === SLAB_BYTES) unlink(cls, slab);
    return (slab.index << UNIT_BITS) | (off >> MIN_SHIFT);
  }

  /** Gives the block `h` (from this pool) back. The block must not be used afterwards. */
  free(h: number): void {
    const slab = slabOf(h);
    this.bytesHeld -= slab.size + BUFFER_OVERHEAD;
    if (slab.cls < 0) {
      this.bytesReserved -= slab.size;
      release(slab);
      return;
    }
    const off = (h & UNIT_MASK) << MIN_SHIFT;
    slab.words[off >> 2] = slab.freeHead;
    slab.freeHead = off;
    const cls = this.#classes[slab.cls]!;
    if (!slab.listed) link(cls, slab);
    if (--slab.used > 0) return;
    if (cls.empty === 0) {
      cls.empty = 1;
      return;
    }
    // Another empty slab of this class is kept already: give this one back.
    unlink(cls, slab);
    this.#pooled--;
    this.bytesReserved -= SLAB_BYTES;
    release(slab);
  }

  /** Pooled slabs allocated now (for tests and metrics; blocks of their own not counted). */
  get slabs(): number {
    return this.#pooled;
  }

  #newSlab(size: number, cls: number): Slab {
    const index = freeIndexes.length > 0 ? freeIndexes.pop()! : slabTable.length;
    if (index >= MAX_SLABS) throw new RangeError(`replay buffers: more than ${MAX_SLABS} slabs alive`);
    const bytes = new Uint8Array(size);
    const words = new Int32Array(bytes.buffer, 0, size >> 2);
    const slab: Slab = { pool: this, index, bytes, words, size: cls < 0 ? size : MIN_BLOCK << cls, cls, used: 1, next: size, freeHead: -1, listed: false, prevAvail: null, nextAvail: null };
    if (cls >= 0) {
      slab.used = 0;
      slab.next = 0;
    }
    if (index === slabTable.length) slabTable.push(slab);
    else slabTable[index] = slab;
    return slab;
  }
}

/** Puts `slab` first in its class's list of slabs with a free block. */
function link(cls: SizeClass, slab: Slab): void {
  slab.listed = true;
  slab.prevAvail = null;
  slab.nextAvail = cls.avail;
  if (cls.avail !== null) cls.avail.prevAvail = slab;
  cls.avail = slab;
}

function unlink(cls: SizeClass, slab: Slab): void {
  if (slab.prevAvail !== null) slab.prevAvail.nextAvail = slab.nextAvail;
  else cls.avail = slab.nextAvail;
  if (slab.nextAvail !== null) slab.nextAvail.prevAvail = slab.prevAvail;
  slab.listed = false;
  slab.prevAvail = slab.nextAvail = null;
}

function release(slab: Slab): void {
  slabTable[slab.index] = null;
  freeIndexes.push(slab.index);
}

/** Packets held by buffer `h`. */
export function replayCount(h: number): number {
  return slabOf(h).words[((h & UNIT_MASK) << (MIN_SHIFT - 2)) + 1]!;
}

/** Payload bytes held by buffer `h` (length prefixes not counted). */
export function replayBytes(h: number): number {
  const w = (h & UNIT_MASK) << (MIN_SHIFT - 2);
  const words = slabOf(h).words;
  return words[w]! - words[w + 1]! * RECORD_HEADER;
}

/** Memory buffer `h` holds: its block plus BUFFER_OVERHEAD, 0 when empty (what its pool counts for it). */
export function replayFootprint(h: number): number {
  return footprintOf(slabOf(h).size);
}

/** What buffer `h`'s footprint would be after appending one more packet of `n` bytes (its block, or a larger one). */
export function replayFootprintAfter(h: number, n: number): number {
  const slab = slabOf(h);
  const need = BLOCK_HEADER + slab.words[(h & UNIT_MASK) << (MIN_SHIFT - 2)]! + RECORD_HEADER + n;
  return need <= slab.size ? footprintOf(slab.size) : grownSize(slab.size, need) + BUFFER_OVERHEAD;
}

/**
 * Appends a copy of `buf[from, from + n)` to buffer `h` if it fits in its block, within `maxPackets` packets and
 * `maxBytes` payload bytes. Returns 0 when it was appended, -1 when it is over either bound, else the bytes the
 * buffer's footprint grows by to take it (a new block: `replayGrow` or `replayPush` makes it; nothing was done).
 */
export function replayAppend(h: number, buf: Uint8Array, from: number, n: number, maxPackets: number, maxBytes: number): number {
  const slab = slabOf(h);
  const at = (h & UNIT_MASK) << MIN_SHIFT;
  const end = slab.words[at >> 2]!;
  const count = slab.words[(at >> 2) + 1]!;
  if (count >= maxPackets || end - count * RECORD_HEADER + n > maxBytes) return -1;
  const need = BLOCK_HEADER + end + RECORD_HEADER + n;
  if (need > slab.size) return replayFootprintAfter(h, n) - footprintOf(slab.size);
  put(slab, at, end, count, buf, from, n);
  return 0;
}

/**
 * Appends a copy of `buf[from, from + n)` to buffer `h` and returns the buffer's handle, which changes when it
 * takes a block (the first packet: a block of `pool`) or outgrows its block (a larger one, the records copied,
 * the old block freed).
 */
export function replayPush(pool: SlabPool, h: number, buf: Uint8Array, from: number, n: number): number {
  const slab = slabOf(h);
  const at = (h & UNIT_MASK) << MIN_SHIFT;
  const end = slab.words[at >> 2]!;
  const count = slab.words[(at >> 2) + 1]!;
  const need = BLOCK_HEADER + end + RECORD_HEADER + n;
  if (need <= slab.size) {
    put(slab, at, end, count, buf, from, n);
    return h;
  }
  const to = replayGrow(pool, h, n);
  put(slabOf(to), (to & UNIT_MASK) << MIN_SHIFT, end, count, buf, from, n);
  // The old block is released last: the packet may have been a view into it.
  replayRelease(h);
  return to;
}

/**
 * A copy of buffer `h` in a block of `pool` with room for one more packet of `n` bytes (the first block, or a
 * larger one). `h` is left as it was: the caller releases it (replayRelease) once it has appended the packet.
 */
export function replayGrow(pool: SlabPool, h: number, n: number): number {
  const slab = slabOf(h);
  const at = (h & UNIT_MASK) << MIN_SHIFT;
  const end = slab.words[at >> 2]!;
  const to = pool.alloc(grownSize(slab.size, BLOCK_HEADER + end + RECORD_HEADER + n));
  const toSlab = slabOf(to);
  const toAt = (to & UNIT_MASK) << MIN_SHIFT;
  copy(toSlab.bytes, toAt, slab.bytes, at, BLOCK_HEADER + end);
  return to;
}

/** Writes one record (length prefix, copy of the packet) after the `end` bytes of records of the block at `at`. */
function put(slab: Slab, at: number, end: number, count: number, buf: Uint8Array, from: number, n: number): void {
  const bytes = slab.bytes;
  const o = at + BLOCK_HEADER + end;
  bytes[o] = n & 0xff;
  bytes[o + 1] = (n >>> 8) & 0xff;
  bytes[o + 2] = (n >>> 16) & 0xff;
  bytes[o + 3] = n >>> 24;
  copy(bytes, o + RECORD_HEADER, buf, from, n);
  slab.words[at >> 2] = end + RECORD_HEADER + n;
  slab.words[(at >> 2) + 1] = count + 1;
}

/** Copies `n` bytes of `src` from `from` into `dst` at `at`; short runs byte by byte (no view object for them). */
function copy(dst: Uint8Array, at: number, src: Uint8Array, from: number, n: number): void {
  if (n <= 64) {
    for (let i = 0; i < n; i++) dst[at + i] = src[from + i]!;
  } else {
    dst.set(from === 0 && n === src.length ? src : src.subarray(from, from + n), at);
  }
}

/** Drops every packet of buffer `h` and gives its block back to its pool; returns NO_REPLAY (the holder's new value). */
export function replayRelease(h: number): number {
  const pool = slabOf(h).pool;
  if (pool !== null) pool.free(h);
  return NO_REPLAY;
}

/** The packets of buffer `h`, oldest first, as views into its block (valid until its next push or release). */
export function* replayPackets(h: number): IterableIterator<Uint8Array> {
  const slab = slabOf(h);
  const block = slab.bytes;
  const base = (h & UNIT_MASK) << MIN_SHIFT;
  let at = base + BLOCK_HEADER;
  const end = at + slab.words[base >> 2]!;
  while (at < end) {
    const n = (block[at]! | (block[at + 1]! << 8) | (block[at + 2]! << 16) | (block[at + 3]! << 24)) >>> 0;
    yield block.subarray(at + RECORD_HEADER, at + RECORD_HEADER + n);
    at += RECORD_HEADER + n;
  }
}

/** Copies of the packets of buffer `h`, oldest first. */
export function replayToArray(h: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const p of replayPackets(h)) out.push(p.slice());
  return out;
}

/** The records of buffer `h` as one byte string (`u32 LE length + payload`, oldest first): a copy, for storing elsewhere. */
export function replaySerialize(h: number): Uint8Array {
  const slab = slabOf(h);
  const at = ((h & UNIT_MASK) << MIN_SHIFT) + BLOCK_HEADER;
  return slab.bytes.slice(at, at + slab.words[(at - BLOCK_HEADER) >> 2]!);
}

/** A buffer of `pool` holding copies of `packets`, in order (NO_REPLAY for none). */
export function replayFrom(pool: SlabPool, packets: Iterable<Uint8Array>): number {
  let h = NO_REPLAY;
  for (const p of packets) h = replayPush(pool, h, p, 0, p.length);
  return h;
}

/** A buffer of `pool` from the bytes of `replaySerialize`; throws a RangeError on bytes that are not whole records. */
export function replayDeserialize(pool: SlabPool, bytes: Uint8Array): number {
  const n = checkRecords(bytes);
  if (n === 0) return NO_REPLAY;
  const h = pool.alloc(blockSize(BLOCK_HEADER + bytes.length));
  const slab = slabOf(h);
  const at = (h & UNIT_MASK) << MIN_SHIFT;
  slab.bytes.set(bytes, at + BLOCK_HEADER);
  slab.words[at >> 2] = bytes.length;
  slab.words[(at >> 2) + 1] = n;
  return h;
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
