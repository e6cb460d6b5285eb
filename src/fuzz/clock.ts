// Time for the lifecycle fuzzer: a simulated clock the in-process edge runs on (advanced by commands), or the wall clock.

/** The fuzzer's view of time. `advance` moves simulated time, or sleeps on a real clock. */
export interface FuzzClock {
  readonly simulated: boolean;
  now(): number;
  advance(ms: number): Promise<void>;
}

interface Timer {
  id: number;
  at: number;
  fn: (...args: unknown[]) => void;
}

/**
 * A simulated clock that is also an edge clock (`now`, `setTimeout`, `clearTimeout`, as XState's actor clock):
 * timers fire only when `advance` moves past them, in order, each followed by a turn of the event loop.
 */
export class SimClock implements FuzzClock {
  readonly simulated = true;
  #now: number;
  #nextId = 1;
  #timers = new Map<number, Timer>();

  constructor(start = 1_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(id: unknown): void {
    this.#timers.delete(id as number);
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      let due: Timer | null = null;
      for (const t of this.#timers.values()) if (t.at <= target && (!due || t.at < due.at || (t.at === due.at && t.id < due.id))) due = t;
      if (!due) break;
      this.#timers.delete(due.id);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
      await new Promise((r) => setImmediate(r));
    }
    this.#now = target;
  }
}

export const wallClock: FuzzClock = {
  simulated: false,
  now: () => Date.now(),
  advance: (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms))),
};
