// Messages sent while reconnecting: a FIFO bounded by count and bytes, flushed in order on resume.
import { ClientError } from './client-errors.js';

export class Outbox {
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  #items: Uint8Array[] = [];
  #bytes = 0;

  constructor(maxMessages: number, maxBytes: number) {
    this.#maxMessages = maxMessages;
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Queues `msg` (kept as given: copy first if the caller may reuse it); throws VL_ERR_QUEUE_FULL past a bound. */
  push(msg: Uint8Array): void {
    if (this.#items.length >= this.#maxMessages) {
      throw new ClientError(
        'VL_ERR_QUEUE_FULL',
        `send queue full while reconnecting: ${this.#items.length} messages queued (maxQueuedMessages ${this.#maxMessages})`,
      );
    }
    if (this.#bytes + msg.length > this.#maxBytes) {
      throw new ClientError(
        'VL_ERR_QUEUE_FULL',
        `send queue full while reconnecting: ${this.#bytes} bytes queued, ${msg.length} more would pass maxQueuedBytes ${this.#maxBytes}`,
      );
    }
    this.#items.push(msg);
    this.#bytes += msg.length;
  }

  /** Hands every queued message to `write`, oldest first, and empties the queue. */
  drainTo(write: (msg: Uint8Array) => void): void {
    const items = this.#items;
    this.clear();
    for (const m of items) write(m);
  }

  clear(): void {
    this.#items = [];
    this.#bytes = 0;
  }
}
