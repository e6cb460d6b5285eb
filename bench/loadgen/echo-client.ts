// A closed-loop echo client: keeps `inflight` self-checking frames outstanding, checks every echo
// (owner, order, bytes) and records round-trip latency while a measurement window is open.
import type net from 'node:net';
import { FrameDecoder } from '../../src/io/framing.js';
import { ProtocolError } from '../../src/io/errors.js';
import { checkPayload, template } from '../payload.js';
import type { Histogram } from './histogram.js';

export interface EchoStats {
  /** Round trips completed inside the measurement window. */
  windowRoundTrips: number;
  measuring: boolean;
  hist: Histogram;
  fatal: (message: string) => void;
}

export class EchoClient {
  readonly index: number;
  readonly socket: net.Socket;
  readonly #decoder: FrameDecoder;
  readonly #tpl: Buffer;
  readonly #size: number;
  readonly #inflight: number;
  readonly #sentAt: Float64Array;
  readonly #stats: EchoStats;
  #sendSeq = 0;
  #recvSeq = 0;
  #running = false;
  #onIdle: (() => void) | null = null;
  #closedUnexpectedly = true;

  constructor(index: number, socket: net.Socket, decoder: FrameDecoder, size: number, inflight: number, stats: EchoStats) {
    this.index = index;
    this.socket = socket;
    this.#decoder = decoder;
    this.#size = size;
    this.#inflight = inflight;
    this.#tpl = template(index, size);
    this.#sentAt = new Float64Array(inflight);
    this.#stats = stats;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('close', () => {
      if (this.#closedUnexpectedly) stats.fatal(`client ${index}: connection closed by the server mid-run`);
    });
    socket.on('error', () => {});
  }

  get outstanding(): number {
    return this.#sendSeq - this.#recvSeq;
  }

  get roundTrips(): number {
    return this.#recvSeq;
  }

  start(): void {
    this.#running = true;
    this.#send(this.#inflight);
  }

  /** Stops sending; resolves when every frame sent has been echoed. */
  finish(): Promise<void> {
    this.#running = false;
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onIdle = resolve;
    });
  }

  close(): void {
    this.#closedUnexpectedly = false;
    this.socket.destroy();
  }

  #send(k: number): void {
    const frameLen = 4 + this.#size;
    const buf = Buffer.allocUnsafe(k * frameLen);
    const now = performance.now();
    for (let j = 0; j < k; j++) {
      const off = j * frameLen;
      buf.writeUInt32LE(this.#size, off);
      this.#tpl.copy(buf, off + 4);
      buf.writeUInt32LE(this.#sendSeq >>> 0, off + 8);
      this.#sentAt[this.#sendSeq % this.#inflight] = now;
      this.#sendSeq++;
    }
    this.socket.write(buf);
  }

  #onData(chunk: Buffer): void {
    const d = this.#decoder;
    const st = this.#stats;
    d.push(chunk);
    let answered = 0;
    for (;;) {
      const f = d.next();
      if (f === null) break;
      if (f instanceof ProtocolError) return st.fatal(`client ${this.index}: ${f.message}`);
      if (this.#recvSeq >= this.#sendSeq) return st.fatal(`client ${this.index}: an echo arrived that was never sent`);
      const err = checkPayload(f, this.#tpl, this.#recvSeq);
      if (err !== null) return st.fatal(`client ${this.index}: ${err}`);
      if (st.measuring) {
        st.hist.record((performance.now() - this.#sentAt[this.#recvSeq % this.#inflight]!) * 1000);
        st.windowRoundTrips++;
      }
      this.#recvSeq++;
      answered++;
    }
    if (this.#running && answered > 0) this.#send(answered);
    else if (!this.#running && this.outstanding === 0 && this.#onIdle) {
      const idle = this.#onIdle;
      this.#onIdle = null;
      idle();
    }
  }
}
