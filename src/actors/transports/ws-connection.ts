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
/** Outgoing payloads up to this size are copied behind their WebSocket header; larger ones are written as they are. */
const GATHER_UNDER = 16 * 1024;
/** FIN + binary opcode: the first byte of every frame the edge sends (one unfragmented binary message per frame). */
const FIN_BINARY = 0x82;
/** After a close frame, the TCP connection is dropped if the peer has not closed within this time. */
const CLOSE_GRACE_MS = 1_000;

function noop(): void {}

/** Writes the header of an unmasked, final, binary frame of `len` payload bytes at `at`; returns the end. */
function writeHeader(out: Buffer, at: number, len: number): number {
  out[at] = FIN_BINARY;
  if (len < 126) {
    out[at + 1] = len;
    return at + 2;
  }
  if (len < 65_536) {
    out[at + 1] = 126;
    out[at + 2] = len >>> 8;
    out[at + 3] = len & 0xff;
    return at + 4;
  }
  out[at + 1] = 127;
  out.writeUInt32BE(Math.floor(len / 0x1_0000_0000), at + 2);
  out.writeUInt32BE(len >>> 0, at + 6);
  return at + 10;
}

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
  /** Frames of the write in progress: payloads, and the bytes they take with their headers. */
  #outFrames: Uint8Array[] = [];
  #outBytes = 0;

  constructor(raw: net.Socket, transport: 'ws' | 'wss', host: WsHost) {
    super();
    this.#raw = raw;
    this.#host = host;
    this[kTransport] = transport;
    this.remoteAddress = raw.remoteAddress;
    this.#splitter = new FrameSplitter((payload) => this.#queueFrame(payload));
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

  /**
   * Writes the frames of a batch as WebSocket messages: headers built here and small payloads copied
   * behind them into one buffer, so that a batch of frames is one socket write (ws's own send() costs an
   * options object, a header buffer and two writes per message). Safe beside ws's own writes (pong,
   * close): each write is whole frames, and nothing is written once the socket is no longer open.
   */
  write(chunk: Uint8Array): boolean {
    const s = this.#stream;
    const ws = this.#ws;
    if (ws === null || s === null || this.#destroyed || ws.readyState !== ws.OPEN) return false;
    this.#splitter.push(chunk);
    const frames = this.#outFrames;
    if (frames.length === 0) return !s.writableNeedDrain;
    const n = frames.length;
    this.#outFrames = [];
    const total = this.#outBytes;
    this.#outBytes = 0;
    let out = Buffer.allocUnsafe(total);
    let at = 0;
    s.cork();
    for (let i = 0; i < n; i++) {
      const p = frames[i]!;
      const len = p.length;
      at = writeHeader(out, at, len);
      if (len < GATHER_UNDER) {
        out.set(p, at);
        at += len;
      } else {
        // A large payload goes out as it is, after the bytes gathered so far (its header included).
        s.write(out.subarray(0, at));
        s.write(p);
        out = out.subarray(at);
        at = 0;
      }
    }
    if (at > 0) s.write(out.subarray(0, at));
    s.uncork();
    return !s.writableNeedDrain;
  }

  #queueFrame(payload: Uint8Array): void {
    this.#outFrames.push(payload);
    const len = payload.length;
    this.#outBytes += (len < 126 ? 2 : len < 65_536 ? 4 : 10) + (len < GATHER_UNDER ? len : 0);
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
