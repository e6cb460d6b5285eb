// One memory budget for everything the edge buffers for clients: the replay buffers of stale sessions (their
// pooled blocks, record headers and per-buffer overhead, as the SlabPool counts them) and the output queues of
// clients that fall behind (bytes queued plus a per-packet overhead). Past the budget the oldest replay buffers
// are dropped first (their sessions end as on a buffer overflow, with one Failure), then clients that fall
// behind are disconnected (their sessions go stale, like any client too slow for its own cap).
import os from 'node:os';
import type { Logger } from '../log.js';
import type { SlabPool } from './replay-buffer.js';

/**
 * Heap and socket bookkeeping per packet queued for a client, besides its bytes (the write request and the
 * chunk's entry in the socket's queue, measured ~150 B per packet; counted as this).
 */
export const PACKET_OVERHEAD = 160;
/**
 * A client's output queue counts against the budget once this much is queued: from there on its socket has
 * refused a write, so 'drain' (which clears the charge) is certain to follow. Below it a client is not behind.
 */
export const BEHIND_BYTES = 64 * 1024;

const MIB = 1024 * 1024;
/** `auto`: a quarter of the memory the process may use (the cgroup limit, if lower than the machine's), within these. */
export const AUTO_MIN = 64 * MIB;
export const AUTO_MAX = 8 * 1024 * MIB;

/** The byte budget for `limits.client_buffer_budget_bytes`: the number given, or from the machine's memory. */
export function resolveBudget(setting: number | 'auto', total = os.totalmem(), constrained = constrainedMemory()): number {
  if (setting !== 'auto') return setting;
  const mem = constrained > 0 && constrained < total ? constrained : total;
  return Math.min(AUTO_MAX, Math.max(AUTO_MIN, Math.floor(mem / 4)));
}

function constrainedMemory(): number {
  const f = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory;
  return typeof f === 'function' ? (f() ?? 0) : 0;
}

/** A node of an intrusive FIFO: removal anywhere and the oldest in O(1), with no Map emptied from its front. */
export interface QueueNode<T> {
  readonly value: T;
  prev: QueueNode<T> | null;
  next: QueueNode<T> | null;
}

export class Fifo<T> {
  head: QueueNode<T> | null = null;
  tail: QueueNode<T> | null = null;
  size = 0;

  push(value: T): QueueNode<T> {
    const n: QueueNode<T> = { value, prev: this.tail, next: null };
    if (this.tail !== null) this.tail.next = n;
    else this.head = n;
    this.tail = n;
    this.size++;
    return n;
  }

  remove(n: QueueNode<T>): void {
    if (n.prev !== null) n.prev.next = n.next;
    else this.head = n.next;
    if (n.next !== null) n.next.prev = n.prev;
    else this.tail = n.prev;
    n.prev = n.next = null;
    this.size--;
  }
}

/** What the budget keeps on each session. */
export interface Budgeted<T> {
  readonly id: number;
  /** In the list of stale sessions with a replay buffer (oldest buffer first). */
  budgetReplay: QueueNode<T> | null;
  /** In the list of clients behind on their output, with the bytes charged for it. */
  budgetSlow: QueueNode<T> | null;
  budgetCharge: number;
}

export interface BudgetOptions<S extends Budgeted<S>> {
  budgetBytes: number;
  pool: SlabPool;
  log: Logger;
  /** Summary log lines at most once per this many seconds (0: a line per drop). */
  logIntervalSecs: number;
  /** Ends a stale session whose buffer is dropped, as on a buffer overflow (Failure); must call `unbuffered`. */
  dropReplay(s: S): void;
  /** Disconnects a client that is behind (its session goes stale); must call `released`. */
  closeSlow(s: S): void;
}

export class ClientBufferBudget<S extends Budgeted<S>> {
  readonly budget: number;
  readonly #o: BudgetOptions<S>;
  readonly #replays = new Fifo<S>();
  readonly #slow = new Fifo<S>();
  /** Bytes charged for the output queues of clients that are behind. */
  #queued = 0;
  readonly counters = { staleBuffersDropped: 0, slowReadersClosed: 0 };
  #logTimer: NodeJS.Timeout | null = null;
  #unlogged = { staleBuffersDropped: 0, slowReadersClosed: 0 };

  constructor(o: BudgetOptions<S>) {
    this.#o = o;
    this.budget = o.budgetBytes;
  }

  /** Bytes buffered for clients now: replay buffers plus the queues of clients that are behind. */
  get used(): number {
    return this.#o.pool.bytesHeld + this.#queued;
  }

  get queuedBytes(): number {
    return this.#queued;
  }

  /** Clients charged as behind, and stale sessions holding a replay buffer. */
  get slowClients(): number {
    return this.#slow.size;
  }

  get bufferedSessions(): number {
    return this.#replays.size;
  }

  /**
   * Room for a replay buffer of `s` to grow by `grow` bytes: drops the oldest replay buffers (perhaps that of
   * `s` itself), then disconnects clients that are behind, until it fits. False when it does not fit, or `s`
   * was dropped: the packet is not to be buffered (`s` takes the overflow path unless it ended already).
   */
  roomForReplay(s: S, grow: number): boolean {
    if (this.used + grow <= this.budget) return true;
    while (this.used + grow > this.budget) {
      const oldest = this.#replays.head?.value;
      if (oldest === undefined) break;
      this.#dropReplay(oldest);
      if (oldest === s) return false;
    }
    while (this.used + grow > this.budget) {
      const slow = this.#slow.head?.value;
      if (slow === undefined) return false;
      this.#closeSlow(slow);
    }
    return true;
  }

  /** `s` now has a replay buffer (its first packet), or is a restored session with one. */
  buffered(s: S): void {
    if (s.budgetReplay === null) s.budgetReplay = this.#replays.push(s);
  }

  /** The replay buffer of `s` is gone (replayed, cleared, session ended). */
  unbuffered(s: S): void {
    if (s.budgetReplay === null) return;
    this.#replays.remove(s.budgetReplay);
    s.budgetReplay = null;
  }

  /**
   * A packet was queued for live client `s`, whose backlog (queued here and in its socket) is now `backlog`
   * bytes in `packets` packets. Charged once it is behind; past the budget, replay buffers go first, then
   * `s` itself is disconnected if it is behind, else the client behind the longest.
   */
  queued(s: S, backlog: number, packets: number): void {
    const charge = backlog >= BEHIND_BYTES ? backlog + packets * PACKET_OVERHEAD : 0;
    this.#charge(s, charge);
    if (this.used <= this.budget) return;
    while (this.used > this.budget) {
      const oldest = this.#replays.head?.value;
      if (oldest === undefined) break;
      this.#dropReplay(oldest);
    }
    while (this.used > this.budget) {
      const slow = s.budgetSlow !== null ? s : this.#slow.head?.value;
      if (slow === undefined) return;
      this.#closeSlow(slow);
    }
  }

  /** The client's queue emptied ('drain') or its socket went away: nothing charged for it any more. */
  released(s: S): void {
    this.#charge(s, 0);
  }

  /** Checks the budget after replay buffers came in from elsewhere (a restore): oldest dropped first. */
  enforce(): void {
    while (this.used > this.budget) {
      const oldest = this.#replays.head?.value;
      if (oldest === undefined) break;
      this.#dropReplay(oldest);
    }
  }

  close(): void {
    this.#flushLog();
    if (this.#logTimer !== null) clearInterval(this.#logTimer);
    this.#logTimer = null;
  }

  #charge(s: S, charge: number): void {
    this.#queued += charge - s.budgetCharge;
    s.budgetCharge = charge;
    if (charge > 0) {
      if (s.budgetSlow === null) s.budgetSlow = this.#slow.push(s);
    } else if (s.budgetSlow !== null) {
      this.#slow.remove(s.budgetSlow);
      s.budgetSlow = null;
    }
  }

  #dropReplay(s: S): void {
    this.counters.staleBuffersDropped++;
    this.#note('staleBuffersDropped', s);
    this.unbuffered(s);
    this.#o.dropReplay(s);
  }

  #closeSlow(s: S): void {
    this.counters.slowReadersClosed++;
    this.#note('slowReadersClosed', s);
    this.released(s);
    this.#o.closeSlow(s);
  }

  /** The first drop of an interval is logged at once, the rest summed up at its end. */
  #note(kind: 'staleBuffersDropped' | 'slowReadersClosed', s: S): void {
    const what = kind === 'staleBuffersDropped' ? 'replay buffer of a stale session dropped' : 'client behind on its output disconnected';
    const detail = { sessionId: s.id, usedBytes: this.used, budgetBytes: this.budget };
    if (this.#o.logIntervalSecs === 0) {
      this.#o.log.warn(detail, `client_buffer.over_budget: ${what}`);
      return;
    }
    if (this.#logTimer !== null) {
      this.#unlogged[kind]++;
      return;
    }
    this.#o.log.warn(detail, `client_buffer.over_budget: ${what}`);
    this.#logTimer = setInterval(() => this.#flushLog(), this.#o.logIntervalSecs * 1000);
    this.#logTimer.unref();
  }

  #flushLog(): void {
    const u = this.#unlogged;
    if (u.staleBuffersDropped === 0 && u.slowReadersClosed === 0) {
      if (this.#logTimer !== null) clearInterval(this.#logTimer);
      this.#logTimer = null;
      return;
    }
    this.#o.log.warn(
      { staleBuffersDropped: u.staleBuffersDropped, slowReadersClosed: u.slowReadersClosed, usedBytes: this.used, budgetBytes: this.budget, intervalSecs: this.#o.logIntervalSecs },
      `client_buffer.over_budget: ... and ${u.staleBuffersDropped} more replay buffers dropped, ${u.slowReadersClosed} more clients disconnected in the last ${this.#o.logIntervalSecs} s`,
    );
    this.#unlogged = { staleBuffersDropped: 0, slowReadersClosed: 0 };
  }
}
