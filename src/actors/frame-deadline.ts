// Deadlines for client frames in progress: once a frame has started it must keep arriving at a minimum rate
// (like Apache's mod_reqtimeout: a grace period, extended by one second per min-rate bytes received), or
// its sender is cut off. A trickle of bytes cannot hold a socket and a frame's memory forever.
// One sweep timer for all sessions; the per-read cost is a Map lookup only while a frame is unfinished.

interface Open {
  /** Clock ms when the frame in progress started. */
  since: number;
  /** Bytes of it received so far. */
  received: number;
}

export class FrameDeadlines<S> {
  #graceMs: number;
  #minRate: number;
  readonly #open = new Map<S, Open>();
  readonly #onExpired: (s: S, detail: { elapsedMs: number; received: number }) => void;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;

  constructor(o: { graceSecs: number; minBytesPerSec: number; now: () => number; onExpired: (s: S, detail: { elapsedMs: number; received: number }) => void }) {
    this.#graceMs = o.graceSecs * 1000;
    this.#minRate = o.minBytesPerSec;
    this.#now = o.now;
    this.#onExpired = o.onExpired;
  }

  /** New grace and minimum rate (a config reload): every frame in progress is judged by them from the next sweep. */
  configure(graceSecs: number, minBytesPerSec: number): void {
    this.#graceMs = graceSecs * 1000;
    this.#minRate = minBytesPerSec;
  }

  /**
   * After a read of `bytes` for `s`: `pending` bytes of an unfinished frame remain (0: none), and
   * `completed` frames finished in this read.
   */
  afterRead(s: S, bytes: number, pending: number, completed: number): void {
    if (pending === 0) {
      if (this.#open.size > 0) this.#open.delete(s);
      return;
    }
    const o = this.#open.get(s);
    if (o === undefined || completed > 0) {
      // A new frame started in this read: its clock starts now, with what of it came already.
      this.#open.set(s, { since: this.#now(), received: pending });
      if (this.#timer === null) this.#startSweeping();
      return;
    }
    o.received += bytes;
  }

  /** Forget `s` (its socket went away). */
  delete(s: S): void {
    this.#open.delete(s);
  }

  get size(): number {
    return this.#open.size;
  }

  /** Cuts off every sender behind its deadline: grace + received / min rate since the frame started. */
  sweep(): void {
    const now = this.#now();
    for (const [s, o] of this.#open) {
      const elapsed = now - o.since;
      if (elapsed > this.#graceMs + (o.received / this.#minRate) * 1000) {
        this.#open.delete(s);
        this.#onExpired(s, { elapsedMs: elapsed, received: o.received });
      }
    }
    if (this.#open.size === 0) this.stop();
  }

  #startSweeping(): void {
    const every = Math.max(50, Math.min(1000, this.#graceMs / 4));
    this.#timer = setInterval(() => this.sweep(), every);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
