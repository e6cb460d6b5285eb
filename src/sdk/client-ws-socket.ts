// A WebSocket (the browser's, or the `ws` package's in Node) seen as the byte stream the client's Link reads
// and writes: outgoing u32-framed frames become one binary message each, incoming messages become frames.
import { EventEmitter } from 'node:events';
import { FrameSplitter } from '../io/frame-splitter.js';
import { writeU32LE } from '../io/framing.js';

/** The part of the WHATWG WebSocket API used here (the browser's; `ws` offers the same). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (ev: never) => void): void;
  /** `ws` only: drop the connection at once. */
  terminate?(): void;
  /** `ws` only: stop and restart reading from the socket. */
  pause?(): void;
  resume?(): void;
}

interface CloseEventLike {
  code?: number;
  reason?: string;
}

/**
 * Events: 'connect' (the upgrade succeeded), 'data' (u32-framed bytes), 'error', 'close' (once).
 * A browser WebSocket cannot stop reading: while paused, messages are held here and delivered on resume.
 */
export class WsSocket extends EventEmitter {
  readonly #ws: WebSocketLike;
  readonly #splitter: FrameSplitter;
  #destroyed = false;
  #closed = false;
  #errored = false;
  #paused = false;
  #held: Uint8Array[] = [];

  constructor(ws: WebSocketLike) {
    super();
    this.#ws = ws;
    ws.binaryType = 'arraybuffer';
    this.#splitter = new FrameSplitter((payload) => this.#ws.send(payload));
    ws.addEventListener('open', () => this.emit('connect'));
    ws.addEventListener('message', (ev: { data: unknown }) => this.#onMessage(ev.data));
    ws.addEventListener('error', (ev: { message?: string; error?: Error }) => {
      if (this.#errored || this.#closed) return;
      this.#errored = true;
      this.emit('error', ev.error ?? new Error(ev.message ?? 'WebSocket error'));
    });
    ws.addEventListener('close', (ev: CloseEventLike) => this.#onClose(ev));
  }

  #onMessage(data: unknown): void {
    if (this.#destroyed) return;
    if (!(data instanceof ArrayBuffer)) {
      this.#fail(new Error('the edge sent a text WebSocket message'));
      return;
    }
    const n = data.byteLength;
    const framed = new Uint8Array(n + 4);
    writeU32LE(framed, 0, n);
    framed.set(new Uint8Array(data), 4);
    if (this.#paused && this.#ws.pause === undefined) this.#held.push(framed);
    else this.emit('data', framed);
  }

  #onClose(ev: CloseEventLike): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#destroyed = true;
    const code = ev.code ?? 1005;
    if (!this.#errored && code !== 1000 && code !== 1005) {
      this.#errored = true;
      this.emit('error', new Error(`WebSocket closed with code ${code}${ev.reason ? ` (${ev.reason})` : ''}`));
    }
    this.emit('close');
  }

  #fail(err: Error): void {
    if (!this.#errored) {
      this.#errored = true;
      this.emit('error', err);
    }
    this.destroy();
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  get writableLength(): number {
    return this.#ws.bufferedAmount;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#destroyed || this.#ws.readyState !== 1) return false;
    this.#splitter.push(chunk);
    return true;
  }

  cork(): void {}
  uncork(): void {}
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }

  pause(): this {
    this.#paused = true;
    this.#ws.pause?.();
    return this;
  }

  resume(): this {
    this.#paused = false;
    if (this.#ws.resume) this.#ws.resume();
    const held = this.#held;
    this.#held = [];
    for (const f of held) {
      if (this.#paused) {
        this.#held.push(f);
        continue;
      }
      this.emit('data', f);
    }
    return this;
  }

  /** Closing handshake (1000) after what is queued; 'close' follows. */
  end(): this {
    if (!this.#destroyed) this.#ws.close(1000);
    return this;
  }

  /** Drops the connection now (`ws`), or as soon as the browser lets us; 'close' follows. */
  destroy(): this {
    if (this.#destroyed) return this;
    this.#destroyed = true;
    if (this.#ws.terminate) this.#ws.terminate();
    else this.#ws.close(1000);
    return this;
  }
}
