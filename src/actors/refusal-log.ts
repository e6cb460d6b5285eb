// Refusal log lines, throttled per reason and address: the first refusal in an interval is logged at once,
// the rest are counted and summed up in one line when the interval ends ("... and 812 more in the last
// 10 s"). Metrics keep exact counts (they hear every refusal); this only bounds what a flood writes to the log.
import type { Logger } from '../log.js';
import { classifyRefusal } from '../http/refusals.js';

/** Most (reason, address) pairs tracked in one interval; past it, refusals are summed per reason only. */
const MAX_TRACKED = 10_000;

interface Entry {
  msg: string;
  address: string;
  reason: string;
  /** Refusals after the first line of the interval, not logged one by one. */
  more: number;
}

export class RefusalLog {
  readonly #log: Logger;
  #intervalMs: number;
  readonly #entries = new Map<string, Entry>();
  #timer: NodeJS.Timeout | null = null;
  /** Log lines written and refusals folded into summaries, for tests and status. */
  lines = 0;
  folded = 0;

  constructor(log: Logger, intervalSecs: number) {
    this.#log = log;
    this.#intervalMs = intervalSecs * 1000;
  }

  /** One refusal: a log line if it is the first of its reason and address this interval, else a count. */
  refused(msg: string, address: string, reason: string, detail?: Record<string, unknown>): void {
    if (this.#intervalMs === 0) {
      this.lines++;
      this.#log.warn({ address, reason, ...detail }, msg);
      return;
    }
    const cls = classifyRefusal(reason);
    let key = `${msg}\u0000${cls}\u0000${address}`;
    let e = this.#entries.get(key);
    if (e === undefined && this.#entries.size >= MAX_TRACKED) {
      // Too many addresses at once: one entry per reason for all the others.
      key = `${msg}\u0000${cls}\u0000*`;
      e = this.#entries.get(key);
      if (e === undefined) {
        e = { msg, address: 'other addresses', reason, more: 1 };
        this.#entries.set(key, e);
        this.folded++;
        return;
      }
    }
    if (e !== undefined) {
      e.more++;
      this.folded++;
      return;
    }
    this.#entries.set(key, { msg, address, reason, more: 0 });
    this.lines++;
    this.#log.warn({ address, reason, ...detail }, msg);
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.flush(), this.#intervalMs);
      this.#timer.unref();
    }
  }

  /**
   * Ends the interval: one summary line per (reason, address) with refusals not logged yet. Pairs that are
   * still being refused stay throttled into the next interval; quiet ones are forgotten.
   */
  flush(): void {
    const secs = this.#intervalMs / 1000;
    for (const [key, e] of this.#entries) {
      if (e.more === 0) {
        this.#entries.delete(key);
        continue;
      }
      this.lines++;
      this.#log.warn({ address: e.address, reason: e.reason, more: e.more, intervalSecs: secs }, `${e.msg}: ... and ${e.more} more in the last ${secs} s`);
      e.more = 0;
    }
    if (this.#entries.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /** A new interval (a config reload): what is pending is written now, the next interval has the new length. */
  setIntervalSecs(intervalSecs: number): void {
    this.close();
    this.#intervalMs = intervalSecs * 1000;
  }

  /** Writes what is pending and stops the timer (shutdown). */
  close(): void {
    this.flush();
    this.#entries.clear();
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
