// One raw protocol connection of the load generator: a socket, a frame decoder, and awaitable handshake frames.
import net from 'node:net';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import { WsSocket, type WebSocketLike } from '../../src/sdk/client-ws-socket.js';
import { FrameDecoder, encodeFrame } from '../../src/io/framing.js';
import { decodeHandshake, encodeHandshake, type HandshakePacket } from '../../src/io/handshake.js';
import { ProtocolError } from '../../src/io/errors.js';

/** Handshake steps must answer within this long (the edge's own timeout is longer in the bench config). */
export const STEP_TIMEOUT_MS = 120_000;

export function hsFrame(p: HandshakePacket): Uint8Array {
  return encodeFrame(encodeHandshake(p));
}

/** Bounds how many TCP connects are outstanding at once (so a storm of them does not overflow the SYN queue). */
export class Gate {
  #free: number;
  #waiting: Array<() => void> = [];
  constructor(size: number) {
    if (!(size >= 1)) throw new RangeError(`gate size must be >= 1, got ${size}`);
    this.#free = size;
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

const OPEN = new Gate(Number.MAX_SAFE_INTEGER);

/** How the load generator reaches the edge: plain TCP, TLS (the bench's own certificate) or WebSocket. */
export type BenchTransport = 'tcp' | 'tls' | 'ws';

/**
 * Opens a loopback connection through `gate`; resolves once connected (TLS: after its handshake; WebSocket:
 * after the upgrade, as a socket-like WsSocket carrying u32-framed bytes, one frame per message on the wire).
 */
export async function dial(port: number, gate: Gate = OPEN, host = '127.0.0.1', transport: BenchTransport = 'tcp'): Promise<net.Socket> {
  await gate.acquire();
  try {
    return await new Promise((resolve, reject) => {
      const s =
        transport === 'tcp'
          ? net.connect({ host, port, noDelay: true })
          : transport === 'tls'
            ? tls.connect({ host, port, rejectUnauthorized: false }).setNoDelay(true)
            : (new WsSocket(new WebSocket(`ws://${host}:${port}/`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 }) as unknown as WebSocketLike) as unknown as net.Socket);
      const ready = transport === 'tls' ? 'secureConnect' : 'connect';
      const onErr = (e: Error) => reject(new Error(`${transport} connect to ${host}:${port} failed: ${e.message}`));
      s.once('error', onErr);
      s.once(ready, () => {
        s.off('error', onErr);
        resolve(s);
      });
    });
  } finally {
    gate.release();
  }
}

/**
 * A connection during its handshake: frames queue up and `next()` awaits them. After the handshake the
 * owner calls `release()` and takes over the socket's 'data' events (leftover frames stay in `decoder`).
 */
export class Peer {
  readonly socket: net.Socket;
  readonly decoder = new FrameDecoder(16 * 1024 * 1024);
  #frames: Uint8Array[] = [];
  #waiter: ((f: Uint8Array | Error) => void) | null = null;
  #error: Error | null = null;
  readonly #onData = (chunk: Buffer): void => {
    this.decoder.push(chunk);
    for (;;) {
      const f = this.decoder.next();
      if (f === null) break;
      if (f instanceof ProtocolError) return this.#fail(f);
      this.#frames.push(f);
    }
    this.#wake();
  };
  readonly #onClose = (): void => this.#fail(new Error('the edge closed the connection during the handshake'));

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', this.#onData);
    socket.on('close', this.#onClose);
    socket.on('error', () => {});
  }

  #fail(e: Error): void {
    if (!this.#error) this.#error = e;
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiter;
    if (!w) return;
    const f = this.#frames.shift();
    if (f !== undefined) {
      this.#waiter = null;
      w(f);
    } else if (this.#error) {
      this.#waiter = null;
      w(this.#error);
    }
  }

  /** The next frame, as raw bytes; `what` names it in the timeout error. */
  async nextFrame(what: string): Promise<Uint8Array> {
    const f = await new Promise<Uint8Array | Error>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        resolve(new Error(`no ${what} from the edge within ${STEP_TIMEOUT_MS} ms`));
      }, STEP_TIMEOUT_MS);
      this.#waiter = (x) => {
        clearTimeout(timer);
        resolve(x);
      };
      this.#wake();
    });
    if (f instanceof Error) throw f;
    return f;
  }

  /** The next handshake packet, which must be of `type`. */
  async expect<T extends HandshakePacket['type']>(type: T): Promise<Extract<HandshakePacket, { type: T }>> {
    const f = await this.nextFrame(type);
    const p = decodeHandshake(f);
    if (p instanceof ProtocolError) throw new Error(`malformed handshake packet from the edge: ${p.message}`);
    if (p.type !== type) throw new Error(`expected ${type} from the edge, got ${p.type}`);
    return p as Extract<HandshakePacket, { type: T }>;
  }

  /** Stops listening; the caller now owns the socket's events. */
  release(): void {
    this.socket.off('data', this.#onData);
    this.socket.off('close', this.#onClose);
  }
}
