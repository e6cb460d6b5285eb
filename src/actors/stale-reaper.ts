// The stale reaper: one deadline heap for every stale session, one clock timer for the earliest reap tick, and
// expiry in slices that yield to I/O, so that any number of sessions expiring together never stalls the edge.
import type { EdgeClock } from './clock.js';

/** What the heap keeps on each entry: its position in the heap (-1 when not in it). */
export interface Deadlined {
  deadlineSlot: number;
}

/**
 * An indexed binary min-heap of deadlines: add, remove and pop are O(log n); entries carry their own
 * position, so no side map is needed. Equal deadlines come out in the order they were added.
 */
export class DeadlineHeap<T extends Deadlined> {
  #items: T[] = [];
  #at: number[] = [];
  #seq: number[] = [];
  #nextSeq = 0;

  get size(): number {
    return this.#items.length;
  }

  /** The earliest deadline, or Infinity when empty. */
  get earliest(): number {
    return this.#items.length > 0 ? this.#at[0]! : Infinity;
  }

  /** The entry with the earliest deadline, if any. */
  peek(): T | undefined {
    return this.#items[0];
  }

  has(item: T): boolean {
    const i = item.deadlineSlot;
    return i >= 0 && this.#items[i] === item;
  }

  add(item: T, at: number): void {
    if (this.has(item)) this.remove(item);
    const i = this.#items.length;
    this.#items.push(item);
    this.#at.push(at);
    this.#seq.push(this.#nextSeq++);
    item.deadlineSlot = i;
    this.#up(i);
  }

  remove(item: T): boolean {
    if (!this.has(item)) return false;
    const i = item.deadlineSlot;
    const last = this.#items.length - 1;
    if (i !== last) this.#move(last, i);
    this.#items.pop();
    this.#at.pop();
    this.#seq.pop();
    item.deadlineSlot = -1;
    if (i < this.#items.length) {
      this.#down(i);
      this.#up(i);
    }
    return true;
  }

  /** Removes and returns the earliest entry if its deadline is at or before `now`. */
  popDue(now: number): T | undefined {
    if (this.#items.length === 0 || this.#at[0]! > now) return undefined;
    const item = this.#items[0]!;
    this.remove(item);
    return item;
  }

  #less(a: number, b: number): boolean {
    const x = this.#at[a]!;
    const y = this.#at[b]!;
    return x < y || (x === y && this.#seq[a]! < this.#seq[b]!);
  }

  /** Puts the entry at `from` into slot `to` (overwriting it). */
  #move(from: number, to: number): void {
    const item = this.#items[from]!;
    this.#items[to] = item;
    this.#at[to] = this.#at[from]!;
    this.#seq[to] = this.#seq[from]!;
    item.deadlineSlot = to;
  }

  #swap(a: number, b: number): void {
    const items = this.#items;
    const at = this.#at;
    const seq = this.#seq;
    const ia = items[a]!;
    const ib = items[b]!;
    items[a] = ib;
    items[b] = ia;
    ib.deadlineSlot = a;
    ia.deadlineSlot = b;
    const t = at[a]!;
    at[a] = at[b]!;
    at[b] = t;
    const u = seq[a]!;
    seq[a] = seq[b]!;
    seq[b] = u;
  }

  #up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(i, p)) return;
      this.#swap(i, p);
      i = p;
    }
  }

  #down(i: number): void {
    const n = this.#items.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const c = r < n && this.#less(r, l) ? r : l;
      if (!this.#less(c, i)) return;
      this.#swap(i, c);
      i = c;
    }
  }
}

export interface StaleReaperOptions<T extends Deadlined> {
  clock: EdgeClock;
  /** Stale timeout, ms. */
  timeoutMs: number;
  /** Reap interval, ms: expiry happens on ticks that are multiples of it (0: at the deadline itself). */
  intervalMs: number;
  /** Ends one expired entry (sends the session its expiry event); called with the entry already removed. */
  expire: (item: T) => void;
  /** CPU ms one slice of expiry may take before yielding to I/O; default 4. */
  sliceMs?: number;
}

/**
 * Keeps stale sessions by deadline and expires them on the reap ticks. One timer on the edge clock, armed for
 * the reap tick of the earliest deadline (none while nothing is stale); when it fires, due entries are expired
 * a slice at a time, each slice followed by a turn of the event loop.
 */
export class StaleReaper<T extends Deadlined> {
  readonly #heap = new DeadlineHeap<T>();
  readonly #o: StaleReaperOptions<T>;
  readonly #sliceMs: number;
  #timer: unknown = null;
  /** The tick the timer is armed for. */
  #armedAt = Infinity;
  #sweeping = false;
  #stopped = false;
  /** Entries expired so far (for metrics and tests). */
  expired = 0;

  constructor(o: StaleReaperOptions<T>) {
    this.#o = o;
    this.#sliceMs = o.sliceMs ?? 4;
  }

  get size(): number {
    return this.#heap.size;
  }

  /** The reap tick at or after the deadline of an entry that went stale at `since`. */
  tickFor(since: number): number {
    const deadline = since + this.#o.timeoutMs;
    const r = this.#o.intervalMs;
    return r > 0 ? Math.ceil(deadline / r) * r : deadline;
  }

  /** Tracks `item`, stale since `since` (clock ms). O(log n). */
  add(item: T, since: number): void {
    if (this.#stopped) return;
    this.#heap.add(item, this.tickFor(since));
    if (!this.#sweeping) this.#arm();
  }

  /** Stops tracking `item` (it resumed or ended otherwise). O(log n). */
  remove(item: T): void {
    if (!this.#heap.remove(item)) return;
    if (this.#heap.size === 0 && !this.#sweeping) this.#disarm();
  }

  has(item: T): boolean {
    return this.#heap.has(item);
  }

  /** Stops the timer and forgets every entry (shutdown). */
  stop(): void {
    this.#stopped = true;
    this.#disarm();
    while (this.#heap.size > 0) this.#heap.remove(this.#heap.peek()!);
  }

  #arm(): void {
    const at = this.#heap.earliest;
    if (at === this.#armedAt) return;
    this.#disarm();
    if (at === Infinity) return;
    this.#armedAt = at;
    const clock = this.#o.clock;
    this.#timer = clock.setTimeout(this.#onTimer, Math.max(0, at - clock.now()));
  }

  #disarm(): void {
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#armedAt = Infinity;
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#armedAt = Infinity;
    this.#sweep();
  };

  readonly #sweep = (): void => {
    this.#sweeping = false;
    if (this.#stopped) return;
    const now = this.#o.clock.now();
    const until = performance.now() + this.#sliceMs;
    let n = 0;
    for (;;) {
      const item = this.#heap.popDue(now);
      if (item === undefined) break;
      this.expired++;
      this.#o.expire(item);
      // Checking the time costs little next to an expiry, but not nothing: every 16 entries.
      if ((++n & 15) === 0 && performance.now() >= until) {
        if (this.#heap.earliest <= now) {
          this.#sweeping = true;
          setImmediate(this.#sweep);
          return;
        }
        break;
      }
    }
    this.#arm();
  };
}
