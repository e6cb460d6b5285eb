// DDoS limits checked before any crypto: connection counts, new-connection token buckets, failed-resume windows.
// Every map here is bounded: entries are dropped when idle and the maps are capped.

const MAX_TRACKED = 100_000;

/** Per-key token buckets (new connections per address). */
export class TokenBuckets {
  #rate: number;
  #burst: number;
  #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(ratePerSec: number, burst: number) {
    this.#rate = ratePerSec;
    this.#burst = Math.max(1, burst);
  }

  /** New rate and burst (a config reload): buckets refill at the new rate and are capped by the new burst from now on. */
  configure(ratePerSec: number, burst: number): void {
    this.#rate = ratePerSec;
    this.#burst = Math.max(1, burst);
  }

  /** Takes one token for `key` at time `now` (ms); false when the bucket is empty. */
  take(key: string, now: number): boolean {
    let b = this.#buckets.get(key);
    if (!b) {
      if (this.#buckets.size >= MAX_TRACKED) this.sweep(now);
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#rate);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Drops buckets that have refilled completely (they hold no information). */
  sweep(now: number): void {
    for (const [k, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.#rate >= this.#burst) this.#buckets.delete(k);
    }
    if (this.#buckets.size >= MAX_TRACKED) this.#buckets.clear();
  }

  get size(): number {
    return this.#buckets.size;
  }
}

/** Counts events per key in fixed one-minute windows (failed resumes per id / per address). */
export class WindowCounter {
  #limit: number;
  readonly #windowMs: number;
  #counts = new Map<string | number, { n: number; start: number }>();

  constructor(limitPerWindow: number, windowMs = 60_000) {
    this.#limit = limitPerWindow;
    this.#windowMs = windowMs;
  }

  /** A new limit per window (a config reload), for the counts from now on. */
  setLimit(limitPerWindow: number): void {
    this.#limit = limitPerWindow;
  }

  /** True when `key` has reached its limit in the current window. */
  blocked(key: string | number, now: number): boolean {
    const c = this.#counts.get(key);
    if (!c) return false;
    if (now - c.start >= this.#windowMs) {
      this.#counts.delete(key);
      return false;
    }
    return c.n >= this.#limit;
  }

  record(key: string | number, now: number): void {
    const c = this.#counts.get(key);
    if (c && now - c.start < this.#windowMs) {
      c.n++;
      return;
    }
    if (this.#counts.size >= MAX_TRACKED) this.sweep(now);
    this.#counts.set(key, { n: 1, start: now });
  }

  sweep(now: number): void {
    for (const [k, c] of this.#counts) if (now - c.start >= this.#windowMs) this.#counts.delete(k);
    if (this.#counts.size >= MAX_TRACKED) this.#counts.clear();
  }

  get size(): number {
    return this.#counts.size;
  }
}

/** Open sockets per address. */
export class AddressCounts {
  #counts = new Map<string, number>();
  get(addr: string): number {
    return this.#counts.get(addr) ?? 0;
  }
  inc(addr: string): void {
    this.#counts.set(addr, this.get(addr) + 1);
  }
  dec(addr: string): void {
    const n = this.get(addr) - 1;
    if (n <= 0) this.#counts.delete(addr);
    else this.#counts.set(addr, n);
  }
  get size(): number {
    return this.#counts.size;
  }
}
