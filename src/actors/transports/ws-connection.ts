// A client connection over WebSocket: the raw socket (under TLS for wss) through the HTTP upgrade, then one
// protocol frame per binary message. The edge sees u32-framed bytes either way, like on TCP.
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { WebSocket } from 'ws';
import { FrameSplitter } from '../../io/frame-splitter.js';
import { writeU32LE } from '../../io/framing.js';
import { HANDSHAKE_FRAME_CAP, kPending, type PendingConnection } from '../handshake.js';
import { kSession, type Session } from '../session.js';
import { kTransport, type ClientConnection, type TransportName } from './connection.js';

/** WebSocket close codes (RFC 6455 sec. 7.4.1). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policyViolation: 1008,
  messageTooBig: 1009,
} as const;

/** Messages up to this size are delivered with their prefix in one copied chunk; larger ones as two, uncopied. */
const COPY_UNDER = 4096;
/** After a close frame, the TCP connection is dropped if the peer has not closed within this time. */
const CLOSE_GRACE_MS = 1_000;
const SEND_OPTS = { binary: true, compress: false, fin: true } as const;

function noop(): void {}

/** What a WsConnection asks of its listener. */
export interface WsHost {
  /** The configured client frame cap (limits.max_frame_size). */
  readonly maxFrame: number;
  /** The listener is shutting down: close with 1001 rather than 1000. */
  readonly goingAway: boolean;
  log: { warn(o: object, msg: string): void };
}

type Internals = { [kPending]?: PendingConnection; [kSession]?: Session };

export class WsConnection extends EventEmitter implements ClientConnection {
  readonly remoteAddress: string | undefined;
  readonly [kTransport]: TransportName;
  readonly #raw: net.Socket;
  readonly #host: WsHost;
  /** The stream HTTP and WebSocket run on: the raw socket, or its TLS socket for wss. */
  #stream: net.Socket | null = null;
  #ws: WebSocket | null = null;
  #destroyed = false;
  #closed = false;
  #paused = false;
  /** An HTTP response is being written: destroy after it is flushed. */
  #responding = false;
  #closeTimer: NodeJS.Timeout | null = null;
  readonly #splitter: FrameSplitter;

  constructor(raw: net.Socket, transport: 'ws' | 'wss', host: WsHost) {
    super();
    this.#raw = raw;
    this.#host = host;
    this[kTransport] = transport;
    this.remoteAddress = raw.remoteAddress;
    this.#splitter = new FrameSplitter((payload) => this.#ws!.send(payload, SEND_OPTS));
    raw.on('error', noop);
    raw.once('close', () => this.#onClose());
  }

  get upgraded(): boolean {
    return this.#ws !== null;
  }

  /** The stream that will carry HTTP (then WebSocket) is ready: the raw socket, or TLS over it. */
  setStream(stream: net.Socket): void {
    if (this.#destroyed) {
      stream.destroy();
      return;
    }
    this.#stream = stream;
    if (stream !== this.#raw) {
      stream.on('error', noop);
      stream.once('close', () => this.#onClose());
    }
    stream.on('drain', () => this.emit('drain'));
  }

  /** Fails the handshake of this connection with one log line (the edge's refusal), then closes it. */
  fail(reason: string, code: string): void {
    const p = (this as Internals)[kPending];
    if (p) p.fail(reason, code);
    else this.destroy();
  }

  /** Answers the upgrade request with an HTTP error, then fails the connection. */
  rejectUpgrade(status: number, statusText: string, reason: string, headers: Record<string, string> = {}): void {
    const s = this.#stream;
    if (s && !s.destroyed && !this.#responding) {
      this.#responding = true;
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      const body = `${reason}\n`;
      s.end(
        `HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: text/plain\r\n${extra}` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
    this.fail(reason, 'VL_ERR_WS_UPGRADE');
  }

  /** The upgrade completed: from now on, one binary message is one frame. */
  attach(ws: WebSocket): void {
    if (this.#destroyed) {
      ws.terminate();
      return;
    }
    this.#ws = ws;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on('error', (err: Error & { code?: string }) => this.#onWsError(err));
    ws.once('close', () => this.#onClose());
    if (this.#paused) ws.pause();
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#destroyed) return;
    const internals = this as Internals;
    if (!isBinary) {
      this.#closeWith(CloseCode.unsupportedData, 'text messages are not part of the protocol');
      this.#report('websocket.text_message: closed with 1003');
      return;
    }
    const n = data.length;
    if (internals[kPending] && n > HANDSHAKE_FRAME_CAP) {
      this.#closeWith(CloseCode.messageTooBig, 'handshake message too large');
      this.fail(`handshake frame: message of ${n} bytes exceeds the cap of ${HANDSHAKE_FRAME_CAP}`, 'VL_ERR_FRAME_TOO_LARGE');
      return;
    }
    if (n < COPY_UNDER) {
      const framed = Buffer.allocUnsafe(n + 4);
      writeU32LE(framed, 0, n);
      data.copy(framed, 4);
      this.emit('data', framed);
    } else {
      const head = Buffer.allocUnsafe(4);
      writeU32LE(head, 0, n);
      this.emit('data', head);
      if (!this.#destroyed) this.emit('data', data);
    }
  }

  #onWsError(err: Error & { code?: string }): void {
    // ws closes the connection itself with the matching code (1002, 1007, 1009); tell why in the log.
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' && !(this as Internals)[kPending] && !this.#destroyed) {
      // Over the frame cap: the edge ends the session as it does for an oversize TCP frame.
      const head = Buffer.allocUnsafe(4);
      writeU32LE(head, 0, this.#host.maxFrame + 1);
      this.emit('data', head);
      return;
    }
    const p = (this as Internals)[kPending];
    if (p) p.fail(`websocket: ${err.message}`, err.code ?? 'VL_ERR_WS');
    else this.#report(`websocket.protocol_error: ${err.message}`, err.code);
  }

  #report(msg: string, code?: string): void {
    const s = (this as Internals)[kSession];
    this.#host.log.warn({ address: this.remoteAddress, transport: this[kTransport], ...(s ? { sessionId: s.id } : {}), ...(code ? { code } : {}) }, msg);
  }

  #closeWith(code: number, reason: string): void {
    const ws = this.#ws;
    this.#destroyed = true;
    if (!ws) {
      this.#raw.destroy();
      return;
    }
    ws.close(code, reason);
    this.#closeTimer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
    this.#closeTimer.unref();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#destroyed = true;
    if (this.#closeTimer) clearTimeout(this.#closeTimer);
    this.#ws?.terminate();
    this.#stream?.destroy();
    this.#raw.destroy();
    this.emit('close');
  }

  get writableLength(): number {
    return this.#stream?.writableLength ?? 0;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  write(chunk: Uint8Array): boolean {
    const s = this.#stream;
    if (this.#ws === null || s === null || this.#destroyed) return false;
    s.cork();
    try {
      this.#splitter.push(chunk);
    } finally {
      s.uncork();
    }
    return !s.writableNeedDrain;
  }

  cork(): void {
    this.#stream?.cork();
  }

  uncork(): void {
    this.#stream?.uncork();
  }

  pause(): this {
    this.#paused = true;
    this.#ws?.pause();
    return this;
  }

  resume(): this {
    this.#paused = false;
    this.#ws?.resume();
    return this;
  }

  /** Closes after what is queued: a close frame (1000, or 1001 while the edge shuts down). */
  end(): this {
    if (this.#destroyed) return this;
    if (!this.#ws) return this.destroy();
    this.#closeWith(this.#host.goingAway ? CloseCode.goingAway : CloseCode.normal, '');
    return this;
  }

  /**
   * Closes now: before the upgrade, with HTTP 503 (a refusal) unless a response is already on its way;
   * after it, a close frame 1008 (the protocol's rules were broken, or the edge let the connection go).
   */
  destroy(): this {
    if (this.#destroyed) {
      return this;
    }
    if (this.#ws) {
      this.#closeWith(CloseCode.policyViolation, '');
      return this;
    }
    this.#destroyed = true;
    const s = this.#stream ?? this.#raw;
    if (this.#responding) {
      const t = setTimeout(() => this.#raw.destroy(), CLOSE_GRACE_MS);
      t.unref();
      s.once('finish', () => this.#raw.destroy());
      return this;
    }
    if (this[kTransport] === 'ws' && (this.#stream === null || this.#stream === this.#raw)) {
      // Plain ws before the upgrade: a refused connection gets a proper status line.
      this.#raw.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      const t = setTimeout(() => this.#raw.destroy(), CLOSE_GRACE_MS);
      t.unref();
      this.#raw.once('finish', () => this.#raw.destroy());
      return this;
    }
    s.destroy();
    this.#raw.destroy();
    return this;
  }

  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.#raw.setKeepAlive(enable, initialDelay);
    return this;
  }
}
