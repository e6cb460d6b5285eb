// One connection to the edge (TCP, TLS or WebSocket, by the address's scheme): dial with a timeout, read
// handshake packets one step at a time, then deliver raw application frames from the same decoder (bytes
// after a handshake frame are kept).
import { ProtocolError } from '../io/errors.js';
import { FrameDecoder, writeU32LE } from '../io/framing.js';
import { decodeHandshake, encodeHandshake, type HandshakePacket, type HandshakeType } from '../io/handshake.js';
import { FrameWriter } from '../io/writer.js';
import { formatAddress, type EdgeAddress } from './client-address.js';
import { ClientError } from './client-errors.js';
import { openSocket, type LinkSocket } from './client-dial.js';
import type { TlsClientOptions } from './client-options.js';

export interface LinkOptions {
  /** Bound on the TCP connect and on each read(). */
  readonly timeoutMs: number;
  readonly maxFrameSize: number;
  /** Aborting destroys the link (or the connect in progress). */
  readonly signal: AbortSignal;
  /** Certificates for tls:// and wss://. */
  readonly tls?: TlsClientOptions;
}

export interface DataHandlers {
  frame(payload: Uint8Array): void;
  /** The connection is gone (not called after destroy() or end()). */
  closed(reason: string): void;
}

type PacketOf<T extends HandshakeType> = Extract<HandshakePacket, { type: T }>;

interface Waiter {
  expect: HandshakeType;
  resolve(p: HandshakePacket): void;
  reject(e: ClientError): void;
  timer: NodeJS.Timeout;
}

const KEEPALIVE_MS = 10_000;

function closedByUser(): ClientError {
  return new ClientError('VL_ERR_CLOSED', 'the client was closed');
}

export class Link {
  readonly socket: LinkSocket;
  readonly writer: FrameWriter;
  readonly #decoder: FrameDecoder;
  readonly #signal: AbortSignal;
  readonly #timeoutMs: number;
  readonly #onAbort = (): void => this.destroy();
  /** Why the connection ended, once it has. */
  #closed: string | null = null;
  #socketError: string | null = null;
  /** The edge closed (or reset) the connection, rather than our destroy()/end() or a timeout. */
  #closedByPeer = false;
  #waiter: Waiter | null = null;
  #handlers: DataHandlers | null = null;
  #paused = false;
  #draining = false;

  /** Opens the connection (and its TLS or WebSocket handshake); rejects with VL_ERR_CONNECT, VL_ERR_HANDSHAKE_TIMEOUT or VL_ERR_CLOSED. */
  static dial(addr: EdgeAddress, opts: LinkOptions): Promise<Link> {
    return new Promise((resolve, reject) => {
      if (opts.signal.aborted) {
        reject(closedByUser());
        return;
      }
      const shown = formatAddress(addr);
      let dialed: ReturnType<typeof openSocket>;
      try {
        dialed = openSocket(addr, opts.tls ?? {}, opts.maxFrameSize);
      } catch (e) {
        reject(e instanceof ClientError ? e : new ClientError('VL_ERR_CONNECT', `cannot connect to ${shown}: ${(e as Error).message}`, { cause: e }));
        return;
      }
      const { socket, readyEvent } = dialed;
      const done = (err: ClientError | null): void => {
        clearTimeout(timer);
        socket.off(readyEvent, onConnect);
        socket.off('error', onError);
        opts.signal.removeEventListener('abort', onAbort);
        if (err) {
          socket.destroy();
          reject(err);
        } else {
          resolve(new Link(socket, opts));
        }
      };
      const onConnect = (): void => done(null);
      const onError = (e: Error): void =>
        done(new ClientError('VL_ERR_CONNECT', `cannot connect to ${shown}: ${e.message}`, { cause: e }));
      const onAbort = (): void => done(closedByUser());
      const timer = setTimeout(
        () => done(new ClientError('VL_ERR_HANDSHAKE_TIMEOUT', `connecting to ${shown} took longer than ${opts.timeoutMs} ms`)),
        opts.timeoutMs,
      );
      socket.once(readyEvent, onConnect);
      socket.once('error', onError);
      opts.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private constructor(socket: LinkSocket, opts: LinkOptions) {
    this.socket = socket;
    this.writer = new FrameWriter(socket);
    this.#decoder = new FrameDecoder(opts.maxFrameSize);
    this.#signal = opts.signal;
    this.#timeoutMs = opts.timeoutMs;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (e: Error) => {
      this.#socketError ??= e.message;
    });
    socket.on('close', () => this.#onClose());
    opts.signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  get closed(): boolean {
    return this.#closed !== null;
  }

  /**
   * The edge ended the connection (a close or a reset) with no bytes of a frame pending: it said
   * nothing more before it went. False when we destroyed it ourselves (timeout, bad packet, abort).
   */
  get closedByPeerSilently(): boolean {
    return this.#closedByPeer && this.#decoder.bufferedBytes === 0;
  }

  /** Sends handshake packets as consecutive frames in ONE socket write. */
  send(...packets: HandshakePacket[]): void {
    if (this.socket.destroyed) return;
    const bodies = packets.map(encodeHandshake);
    const out = new Uint8Array(bodies.reduce((n, b) => n + 4 + b.length, 0));
    let off = 0;
    for (const b of bodies) {
      writeU32LE(out, off, b.length);
      out.set(b, off + 4);
      off += 4 + b.length;
    }
    this.socket.write(out);
  }

  /**
   * The next handshake packet, which must be `expect`. Rejects (and destroys the link) on a
   * malformed or unexpected packet (VL_ERR_HANDSHAKE), a close (VL_ERR_HANDSHAKE), a wait over
   * the timeout (VL_ERR_HANDSHAKE_TIMEOUT) or an abort (VL_ERR_CLOSED).
   */
  read<T extends HandshakeType>(expect: T): Promise<PacketOf<T>> {
    if (this.#waiter) return Promise.reject(new Error(`Link.read(${expect}) while a read is pending`));
    if (this.#handlers) return Promise.reject(new Error(`Link.read(${expect}) after startData()`));
    return new Promise<PacketOf<T>>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.#failWaiter(
            new ClientError('VL_ERR_HANDSHAKE_TIMEOUT', `the edge did not send ${expect} within ${this.#timeoutMs} ms`),
          ),
        this.#timeoutMs,
      );
      this.#waiter = { expect, resolve: resolve as (p: HandshakePacket) => void, reject, timer };
      this.#serveWaiter();
    });
  }

  /** Switches to raw frames: delivers what is already buffered (unless paused), then every later frame. */
  startData(handlers: DataHandlers): void {
    this.#handlers = handlers;
    if (this.#closed !== null) this.#notifyClosed();
    else this.#drain();
  }

  /** Backpressure: a paused link reads nothing from its socket and delivers nothing. */
  setPaused(paused: boolean): void {
    if (paused === this.#paused || this.#closed !== null) return;
    this.#paused = paused;
    if (paused) {
      this.socket.pause();
    } else {
      this.socket.resume();
      this.#drain();
    }
  }

  /** Drops the connection now. No callbacks follow; a pending read rejects with VL_ERR_CLOSED. */
  destroy(reason = 'the client was closed'): void {
    this.#handlers = null;
    this.#closed ??= reason;
    if (this.#waiter) this.#failWaiter(closedByUser());
    this.writer.discard();
    this.socket.destroy();
    this.#signal.removeEventListener('abort', this.#onAbort);
  }

  /** Graceful close: flush, end, and wait for the socket to close (destroying it after `timeoutMs`). */
  end(timeoutMs: number): Promise<void> {
    this.#handlers = null;
    this.#signal.removeEventListener('abort', this.#onAbort);
    if (this.socket.destroyed) {
      this.#closed ??= 'closed by the client';
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.destroy('close timed out'), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.writer.flush();
      this.socket.end();
      // Read (and drop) until the edge closes its side, even if backpressure had paused us.
      this.#paused = false;
      this.socket.resume();
    });
  }

  #onData(chunk: Buffer): void {
    this.#decoder.push(chunk);
    if (this.#handlers) this.#drain();
    else if (this.#waiter) this.#serveWaiter();
  }

  #onClose(): void {
    if (this.#closed === null) this.#closedByPeer = true;
    this.#closed ??= this.#socketError ? `socket error: ${this.#socketError}` : 'the edge closed the connection';
    this.#signal.removeEventListener('abort', this.#onAbort);
    this.writer.discard();
    if (this.#waiter) this.#serveWaiter();
    else if (this.#handlers) this.#notifyClosed();
  }

  #serveWaiter(): void {
    const w = this.#waiter;
    if (!w) return;
    const frame = this.#decoder.next();
    if (frame === null) {
      if (this.#closed !== null) {
        this.#failWaiter(new ClientError('VL_ERR_HANDSHAKE', `waiting for ${w.expect}: ${this.#closed}`));
      }
      return;
    }
    if (frame instanceof ProtocolError) {
      this.#failWaiter(new ClientError('VL_ERR_HANDSHAKE', `waiting for ${w.expect}: bad frame from the edge: ${frame.message}`));
      return;
    }
    const packet = decodeHandshake(frame);
    if (packet instanceof ProtocolError) {
      this.#failWaiter(new ClientError('VL_ERR_HANDSHAKE', `waiting for ${w.expect}: malformed packet from the edge: ${packet.message}`));
      return;
    }
    if (packet.type !== w.expect) {
      this.#failWaiter(new ClientError('VL_ERR_HANDSHAKE', `expected ${w.expect} from the edge, got ${packet.type}`));
      return;
    }
    this.#waiter = null;
    clearTimeout(w.timer);
    w.resolve(packet);
  }

  /** Rejects the pending read and drops the connection (a failed step ends the attempt). */
  #failWaiter(err: ClientError): void {
    const w = this.#waiter;
    if (!w) return;
    this.#waiter = null;
    clearTimeout(w.timer);
    this.destroy(err.message);
    w.reject(err);
  }

  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#handlers && !this.#paused) {
        const frame = this.#decoder.next();
        if (frame === null) break;
        if (frame instanceof ProtocolError) {
          const h = this.#handlers;
          const reason = `bad frame from the edge: ${frame.message}`;
          this.destroy(reason);
          h.closed(reason);
          break;
        }
        this.#handlers.frame(frame);
      }
    } finally {
      this.#draining = false;
    }
  }

  /** The socket is gone: deliver the whole frames it left behind (backpressure or not), then report. */
  #notifyClosed(): void {
    const h = this.#handlers;
    if (!h) return;
    this.#paused = false;
    this.#drain();
    if (this.#handlers !== h) return;
    this.#handlers = null;
    h.closed(this.#closed ?? 'the connection closed');
  }
}
