// One edge's firehose link, master side: decodes tagged packets off the socket, batches the
// master's Data and Kick packets back, and tracks the write backlog for backpressure.
import type { Socket } from 'node:net';
import { ProtocolError } from '../io/errors.js';
import { Flag, TAG_SIZE, readU64LE } from '../io/firehose.js';
import { FrameDecoder, MAX_U32 } from '../io/framing.js';
import { FrameWriter } from '../io/writer.js';
import { formatAddress } from './master-address.js';
import { MasterError } from './master-error.js';

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const EMPTY = new Uint8Array(0);

/** What an edge connection reports to the server that owns it. */
export interface EdgeHost {
  /** A well-formed Data, Failure or Reconnection packet. `data` is a view valid until this returns. */
  packet(edge: EdgeConnection, id: bigint, flag: number, data: Uint8Array): void;
  /** The edge sent something malformed (reported before the connection closes, in 'close' mode). */
  protocolError(edge: EdgeConnection, err: ProtocolError): void;
  /** The master kicked `id` on this edge: the session is over, forget its route. */
  kicked(edge: EdgeConnection, id: bigint): void;
  /** The socket is closed; `error` says why when it was not a clean close. */
  closed(edge: EdgeConnection, error: Error | undefined): void;
}

/** Per-connection settings, validated by the server. */
export interface EdgeSettings {
  readonly maxFrameSize: number;
  readonly highWaterMark: number;
  readonly skipMalformed: boolean;
  readonly closeTimeoutMs: number;
}

const enum State {
  Open,
  /** close() was called or the edge half-closed: flushing, then the socket ends. */
  Closing,
  Closed,
}

interface DrainWaiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Throws unless `id` is a u64 bigint: checked before any byte is queued, so a bad id never corrupts the stream. */
function checkId(id: bigint): void {
  if (typeof id !== 'bigint' || id < 0n || id > U64_MAX) {
    throw new RangeError(`voltlane/master: client id must be a bigint in 0..2^64-1, got ${String(id)} (${typeof id})`);
  }
}

function toBytes(data: Uint8Array | string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(`voltlane/master: data must be a Uint8Array or a string, got ${typeof data}`);
  }
  if (data.length > MAX_U32 - TAG_SIZE) {
    throw new RangeError(`voltlane/master: ${data.length} bytes do not fit one firehose frame`);
  }
  return data;
}

/**
 * One connection from a Voltlane edge. Created by the MasterServer (never by hand); get it from
 * the server's `edge` event, the third argument of `data`, or `server.edges`.
 */
export class EdgeConnection {
  /** The edge's IP address. */
  readonly remoteAddress: string;
  /** The edge's TCP port. */
  readonly remotePort: number;
  readonly #socket: Socket;
  readonly #host: EdgeHost;
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  readonly #hwm: number;
  readonly #skipMalformed: boolean;
  readonly #closeTimeoutMs: number;
  readonly #label: string;
  #state = State.Open;
  #error: Error | undefined;
  #drainWaiters: DrainWaiter[] = [];
  #closeTimer: NodeJS.Timeout | undefined;
  readonly #closed: Promise<void>;
  #markClosed!: () => void;

  /** @internal The server creates these for accepted sockets. */
  constructor(socket: Socket, host: EdgeHost, settings: EdgeSettings) {
    this.#socket = socket;
    this.#host = host;
    this.#decoder = new FrameDecoder(settings.maxFrameSize);
    this.#writer = new FrameWriter(socket);
    this.#hwm = settings.highWaterMark;
    this.#skipMalformed = settings.skipMalformed;
    this.#closeTimeoutMs = settings.closeTimeoutMs;
    this.remoteAddress = socket.remoteAddress ?? 'unknown';
    this.remotePort = socket.remotePort ?? 0;
    this.#label = `edge ${formatAddress(this.remoteAddress, this.remotePort)}`;
    this.#closed = new Promise((resolve) => {
      this.#markClosed = resolve;
    });
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('drain', this.#onDrain);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  /** True until close() is called or the edge hangs up. */
  get open(): boolean {
    return this.#state === State.Open;
  }

  /** Bytes queued for this edge and not yet written to the kernel. */
  get backlogBytes(): number {
    return this.#writer.backlogBytes;
  }

  /**
   * Queues a Data packet for client `id` (strings go as UTF-8). Payloads of 16 KiB or more are
   * not copied: do not modify them until drain() resolves. Returns false when the backlog is at
   * or over highWaterMark: stop sending and await drain(). Throws if the connection is closed.
   */
  send(id: bigint, data: Uint8Array | string): boolean {
    if (this.#state !== State.Open) throw this.#closedError(`send to id ${String(id)}`);
    checkId(id);
    this.#writer.writeTagged(id, Flag.Data, toBytes(data));
    return this.#writer.backlogBytes < this.#hwm;
  }

  /** Queues a Kick for client `id`: the edge closes that client and ends its session. Returns as send(). */
  kick(id: bigint): boolean {
    if (this.#state !== State.Open) throw this.#closedError(`kick id ${String(id)}`);
    checkId(id);
    this.#writer.writeTagged(id, Flag.Kick, EMPTY);
    this.#host.kicked(this, id);
    return this.#writer.backlogBytes < this.#hwm;
  }

  /**
   * Resolves once the write backlog is under highWaterMark (at once if it already is). Rejects
   * with VL_ERR_EDGE_CLOSED if the connection closes first.
   */
  drain(): Promise<void> {
    if (this.#state === State.Closed) return Promise.reject(this.#closedError('drain'));
    this.#writer.flush();
    if (this.#writer.backlogBytes < this.#hwm) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#drainWaiters.push({ resolve, reject });
    });
  }

  /** Stops reading from this edge (apply backpressure upstream) until resume(). */
  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    if (this.#state !== State.Closed) this.#socket.resume();
  }

  /**
   * Flushes what is queued, ends the socket, and resolves once it is closed. An edge that does
   * not hang up within closeTimeoutMs is cut off.
   */
  close(): Promise<void> {
    this.#beginClose();
    return this.#closed;
  }

  toString(): string {
    return this.#label;
  }

  #closedError(what: string): MasterError {
    const state = this.#state === State.Closing ? 'closing' : 'closed';
    return new MasterError('VL_ERR_EDGE_CLOSED', `voltlane/master: cannot ${what}: ${this.#label} is ${state}`);
  }

  #beginClose(): void {
    if (this.#state !== State.Open) return;
    this.#state = State.Closing;
    this.#writer.flush();
    this.#socket.end();
    this.#closeTimer = setTimeout(this.#onCloseTimeout, this.#closeTimeoutMs);
    this.#closeTimer.unref();
  }

  /** Kills the connection for a protocol error; the error is reported first, then closed() carries it. */
  #fail(err: ProtocolError): void {
    this.#error ??= err;
    this.#state = State.Closing;
    this.#host.protocolError(this, err);
    this.#writer.discard();
    this.#socket.destroy();
  }

  /** A malformed packet. Returns true when reading should go on (skip mode). */
  #malformed(p: Uint8Array): boolean {
    let err: ProtocolError;
    if (p.length < TAG_SIZE) {
      err = new ProtocolError(
        'VL_ERR_SHORT_PACKET',
        `${this.#label}: firehose packet of ${p.length} bytes is shorter than id + flag (9 bytes)`,
      );
    } else {
      const flag = p[8]!;
      const hex = `0x${flag.toString(16).padStart(2, '0')}`;
      const why = flag === Flag.Kick ? 'Kick (0x02), which only a master sends' : `unknown flag ${hex}`;
      err = new ProtocolError('VL_ERR_UNKNOWN_FLAG', `${this.#label}: firehose packet with ${why}`);
    }
    if (!this.#skipMalformed) {
      this.#fail(err);
      return false;
    }
    this.#host.protocolError(this, err);
    return this.#state === State.Open;
  }

  // Socket listeners: one closure each per connection, none per packet.

  readonly #onData = (chunk: Buffer): void => {
    if (this.#state !== State.Open) return;
    const decoder = this.#decoder;
    decoder.push(chunk);
    for (;;) {
      const p = decoder.next();
      if (p === null) return;
      if (!(p instanceof Uint8Array)) {
        this.#fail(new ProtocolError(p.code, `${this.#label}: ${p.message}`));
        return;
      }
      const flag = p.length >= TAG_SIZE ? p[8]! : -1;
      if (flag === Flag.Data || flag === Flag.Failure || flag === Flag.Reconnection) {
        this.#host.packet(this, readU64LE(p, 0), flag, p.subarray(TAG_SIZE));
        if (this.#state !== State.Open) return;
      } else if (!this.#malformed(p)) {
        return;
      }
    }
  };

  /** The edge half-closed: send what is queued, then end our side too. */
  readonly #onEnd = (): void => {
    this.#beginClose();
  };

  readonly #onDrain = (): void => {
    if (this.#drainWaiters.length === 0) return;
    if (this.#writer.backlogBytes >= this.#hwm) {
      // Queued bytes not yet handed over: hand them over; the socket's own 'drain' comes later.
      this.#writer.flush();
      if (this.#writer.backlogBytes >= this.#hwm) return;
    }
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w.resolve();
  };

  readonly #onError = (err: Error): void => {
    this.#error ??= err;
  };

  readonly #onCloseTimeout = (): void => {
    this.#socket.destroy();
  };

  readonly #onClose = (): void => {
    this.#state = State.Closed;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#writer.discard();
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w.reject(this.#closedError('drain'));
    this.#host.closed(this, this.#error);
    this.#markClosed();
  };
}
