// A bounded FIFO for inspection events: past its capacity new items are dropped and counted, so a slow inspector
// can never grow memory or hold up the edge. Items pushed as `keep` (actor registrations, without which the UI
// cannot place that actor's events) are never dropped: they are few (one per inspected actor, and the sample
// bounds those) and take room beyond the capacity when the queue is full of other events.

export class DropQueue<T> {
  readonly capacity: number;
  #items: Array<T | undefined>;
  #head = 0;
  #size = 0;
  /** Items refused because the queue was full. */
  dropped = 0;

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be an integer >= 1, not ${capacity}`);
    this.capacity = capacity;
    this.#items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Appends `item`; false (and counted as dropped) when full, unless `keep`. */
  push(item: T, keep = false): boolean {
    if (this.#size >= this.capacity && !keep) {
      this.dropped++;
      return false;
    }
    if (this.#size === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#size) % this.#items.length] = item;
    this.#size++;
    return true;
  }

  /** The oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#size--;
    if (this.#size === 0 && this.#items.length > this.capacity) this.clear();
    return item;
  }

  clear(): void {
    this.#items = new Array<T | undefined>(this.capacity);
    this.#head = 0;
    this.#size = 0;
  }

  /** Room for kept items past the capacity; in order, oldest first. */
  #grow(): void {
    const n = this.#items.length;
    const next = new Array<T | undefined>(n * 2);
    for (let i = 0; i < this.#size; i++) next[i] = this.#items[(this.#head + i) % n];
    this.#items = next;
    this.#head = 0;
  }
}
