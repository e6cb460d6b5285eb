// Session keys derived ahead of need, in idle time: a queue worked through a few milliseconds per event-loop turn.
import type { Session } from './session.js';

/** Time spent deriving per turn before yielding to I/O. */
const SLICE_MS = 2;
/**
 * Derivation waits until no new connection has come in for this long: handshakes go first, so that a flood of
 * new sessions does not pay for the keys of the sessions it throws away as it goes (a resume derives its own).
 */
export const QUIET_MS = 20;

/**
 * Sessions whose key (ECDH + HKDF, the costly part of a resume) is to be derived before it is needed, so that a
 * reconnect storm finds the keys ready. `derive` skips sessions that ended or already have their key; a resume
 * that comes first derives its key itself. The queue holds at most a few entries per live session.
 */
export class KeyQueue {
  readonly #derive: (s: Session) => void;
  #queue: Session[] = [];
  #head = 0;
  #scheduled = false;
  #stopped = false;
  /** performance.now() before which derivation waits (a new connection came in). */
  #quietAt = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(derive: (s: Session) => void) {
    this.#derive = derive;
  }

  get length(): number {
    return this.#queue.length - this.#head;
  }

  add(s: Session): void {
    if (this.#stopped) return;
    this.#queue.push(s);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#run);
    }
  }

  /** A new connection came in: derivation waits until QUIET_MS without one. */
  busy(now = performance.now()): void {
    this.#quietAt = now + QUIET_MS;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#queue = [];
    this.#head = 0;
  }

  readonly #run = (): void => {
    this.#scheduled = false;
    this.#timer = null;
    if (this.#stopped) return;
    const now = performance.now();
    if (now < this.#quietAt) {
      this.#scheduled = true;
      this.#timer = setTimeout(this.#run, Math.ceil(this.#quietAt - now));
      this.#timer.unref();
      return;
    }
    const q = this.#queue;
    const until = now + SLICE_MS;
    let i = this.#head;
    while (i < q.length) {
      this.#derive(q[i++]!);
      if ((i & 7) === 0 && performance.now() >= until) break;
    }
    if (i < q.length) {
      // Drop the done part now and then, not on every turn (a splice of a long queue is itself costly).
      if (i > 4096 && i * 2 > q.length) {
        this.#queue = q.slice(i);
        i = 0;
      }
      this.#head = i;
      this.#scheduled = true;
      setImmediate(this.#run);
    } else {
      this.#queue = [];
      this.#head = 0;
    }
  };
}
