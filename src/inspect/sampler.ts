// Which session actors get the inspector: at most N at a time (first come, a slot frees when one ends),
// plus one followed id; the supervisor is always inspected (not asked here).

export interface SamplerOptions {
  /** Most sessions inspected at once; 0: none besides the followed id. */
  maxSessions: number;
  /** A session id to inspect whatever the sample (`--inspect-id`). */
  followId?: number | null;
}

export class SessionSampler {
  readonly #max: number;
  readonly #follow: number | null;
  readonly #inspected = new Set<number>();

  constructor(o: SamplerOptions) {
    if (!Number.isSafeInteger(o.maxSessions) || o.maxSessions < 0) {
      throw new RangeError(`maxSessions must be an integer >= 0, not ${o.maxSessions}`);
    }
    this.#max = o.maxSessions;
    this.#follow = o.followId ?? null;
  }

  /** Called once per new session: true if it is to be inspected (and then counted until released). */
  admit(id: number): boolean {
    if (id === this.#follow) return true;
    if (this.#inspected.size >= this.#max) return false;
    this.#inspected.add(id);
    return true;
  }

  /** The session ended: its slot goes to a later session. */
  release(id: number): void {
    this.#inspected.delete(id);
  }

  /** Sampled sessions currently inspected (the followed id not counted). */
  get size(): number {
    return this.#inspected.size;
  }
}
