// The store of an edge that keeps nothing beyond its process (tests, embedded uses): ids from 1, no records.
import type { IdBlock, LoadedState, SessionStore, StoredSession } from './store.js';

export class MemoryStore implements SessionStore {
  readonly kind = 'memory';
  #next = 1;

  async load(): Promise<LoadedState> {
    return { sessions: [], nextId: this.#next, stoppedAt: null, found: false, edgePublicKey: null, problems: [] };
  }

  async allocateIds(n: number): Promise<IdBlock> {
    const first = this.#next;
    this.#next += Math.max(1, Math.floor(n));
    return { first, end: this.#next };
  }

  created(): void {}
  stale(): void {}
  resumed(): void {}
  ended(): void {}
  attach(_source: () => Iterable<StoredSession>): void {}
  async saveAll(): Promise<void> {}
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
