// Session ids for one edge: handed out one by one from blocks the store reserved, the next block fetched ahead of need.
import type { IdBlock, SessionStore } from './store.js';

/** Ids per block: a file store journals one record per block; a cluster store makes one round trip per block. */
export const ID_BLOCK_SIZE = 4096;

export class IdAllocator {
  readonly #store: SessionStore;
  readonly #blockSize: number;
  readonly #onError: (err: unknown) => void;
  #next = 0;
  #end = 0;
  #spare: IdBlock | null = null;
  #fetching = false;

  constructor(store: SessionStore, onError: (err: unknown) => void, blockSize = ID_BLOCK_SIZE) {
    this.#store = store;
    this.#onError = onError;
    this.#blockSize = blockSize;
  }

  /** Gets the first block. */
  async start(): Promise<void> {
    const b = await this.#store.allocateIds(this.#blockSize);
    this.#next = b.first;
    this.#end = b.end;
  }

  /** The next fresh id, or null when none is reserved yet (a network store that has not answered). */
  take(): number | null {
    if (this.#next >= this.#end) {
      const spare = this.#spare;
      if (spare === null) {
        this.#refill();
        return null;
      }
      this.#spare = null;
      this.#next = spare.first;
      this.#end = spare.end;
    }
    const id = this.#next++;
    if (this.#spare === null && this.#end - this.#next < this.#blockSize >> 1) this.#refill();
    return id;
  }

  /** Whether `id` may have been handed out by this edge or an earlier process (ids below the current one). */
  mayHaveIssued(id: number): boolean {
    return id > 0 && id < this.#next;
  }

  #refill(): void {
    if (this.#fetching) return;
    this.#fetching = true;
    this.#store.allocateIds(this.#blockSize).then(
      (b) => {
        this.#fetching = false;
        this.#spare = b;
      },
      (err: unknown) => {
        this.#fetching = false;
        this.#onError(err);
      },
    );
  }
}
