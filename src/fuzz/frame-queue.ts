// A socket's incoming frames as an awaitable queue: the fuzzer's peers read everything the edge sends with it.
import type net from 'node:net';
import { FrameDecoder } from '../io/framing.js';
import { ProtocolError } from '../io/errors.js';

export class FrameQueue {
  readonly frames: Uint8Array[] = [];
  /** Every frame ever received, in order (frames shifted off `frames` stay here). */
  readonly all: Uint8Array[] = [];
  closed = false;
  error: ProtocolError | null = null;
  readonly #decoder = new FrameDecoder();
  #waiters: Array<() => void> = [];

  constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.#decoder.push(c);
      for (;;) {
        const f = this.#decoder.next();
        if (f === null) break;
        if (f instanceof ProtocolError) {
          this.error = f;
          socket.destroy();
          break;
        }
        const copy = f.slice();
        this.frames.push(copy);
        this.all.push(copy);
      }
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Waits until `pred` holds, re-checked on every chunk or close; throws after `timeoutMs`. */
  async until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The next frame, or null when the socket closed first. */
  async next(timeoutMs: number, what = 'a frame'): Promise<Uint8Array | null> {
    await this.until(() => this.frames.length > 0 || this.closed, timeoutMs, what);
    return this.frames.shift() ?? null;
  }

  /** Waits until the socket closed; throws after `timeoutMs`. */
  async waitClosed(timeoutMs: number, what = 'the socket to close'): Promise<void> {
    await this.until(() => this.closed, timeoutMs, what);
  }
}
