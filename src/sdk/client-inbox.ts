// An async iterator over received messages; its buffer is bounded by asking the client to pause the socket.
import type { ClientError } from './client-errors.js';

export interface InboxOwner {
  /** The inbox went over its bound (`over`) or drained to half of it. */
  pressure(inbox: Inbox, over: boolean): void;
  /** The consumer stopped iterating (break / return()). */
  detach(inbox: Inbox): void;
}

interface Waiter {
  resolve(r: IteratorResult<Uint8Array>): void;
  reject(e: unknown): void;
}

const DONE: IteratorResult<Uint8Array> = Object.freeze({ value: undefined, done: true });

export class Inbox implements AsyncIterableIterator<Uint8Array> {
  readonly #owner: InboxOwner;
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  #items: Uint8Array[] = [];
  #head = 0;
  #bytes = 0;
  #waiters: Waiter[] = [];
  #ended = false;
  #error: ClientError | null = null;
  #over = false;

  constructor(owner: InboxOwner, maxMessages: number, maxBytes: number) {
    this.#owner = owner;
    this.#maxMessages = maxMessages;
    this.#maxBytes = maxBytes;
  }

  /** Messages buffered and not yet consumed. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  push(msg: Uint8Array): void {
    if (this.#ended) return;
    const w = this.#waiters.shift();
    if (w) {
      w.resolve({ value: msg, done: false });
      return;
    }
    this.#items.push(msg);
    this.#bytes += msg.length;
    if (!this.#over && (this.size >= this.#maxMessages || this.#bytes >= this.#maxBytes)) {
      this.#over = true;
      this.#owner.pressure(this, true);
    }
  }

  /** No more messages will come; consumers get the buffered ones, then `error` (if any) once, then done. */
  end(error: ClientError | null = null): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    if (this.size > 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) this.#finish(w);
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.size > 0) return Promise.resolve({ value: this.#shift(), done: false });
    if (this.#ended) return new Promise((resolve, reject) => this.#finish({ resolve, reject }));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    if (!this.#ended) this.#owner.detach(this);
    this.#ended = true;
    this.#error = null;
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#release();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.resolve(DONE);
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #finish(w: Waiter): void {
    const e = this.#error;
    if (e) {
      this.#error = null;
      w.reject(e);
    } else {
      w.resolve(DONE);
    }
  }

  #shift(): Uint8Array {
    const msg = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined as unknown as Uint8Array;
    this.#bytes -= msg.length;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (this.#over && this.size <= this.#maxMessages / 2 && this.#bytes <= this.#maxBytes / 2) this.#release();
    return msg;
  }

  #release(): void {
    if (!this.#over) return;
    this.#over = false;
    this.#owner.pressure(this, false);
  }
}
