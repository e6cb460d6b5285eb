// The firehose to the master: one socket, a batched writer, a bounded hold queue while the link is down,
// and backpressure that pauses client reads instead of buffering without limit.
import net from 'node:net';
import { FRAME_HEADER_SIZE, FrameDecoder, wholeFrameAt } from '../io/framing.js';
import { FrameWriter } from '../io/writer.js';
import { Flag, TAG_SIZE, writeTaggedHeader } from '../io/firehose.js';
import { formatAddress } from '../config/address.js';
import type { HostPort } from '../config/schema.js';
import type { Logger } from '../log.js';

export interface MasterLinkOptions {
  address: HostPort;
  /** Packets held (link down) or in flight before client reads pause. */
  capacity: number;
  capacityBytes: number;
  connectTimeoutMs: number;
  /** Largest frame accepted from the master; a larger announced length is a protocol error that drops the link. */
  maxFrame: number;
  log: Logger;
  /** The edge's clock (ms), for the outage summaries. */
  now: () => number;
  /**
   * A frame from the master: its payload is `buf[start, start + len)`. `buf` may be the link's read buffer, which the
   * next read overwrites: nothing may keep a view of it past the call (copy what must be kept).
   */
  onFrame: (buf: Uint8Array, start: number, len: number) => void;
  onConnected: () => void;
  onLost: (reason: string) => void;
  /** The link can take more: resume paused client sockets. */
  onWritable: () => void;
  /** Size of the buffer every read lands in (default READ_BUFFER_BYTES). */
  readBufferBytes?: number;
}

const EMPTY = new Uint8Array(0);
/** The master socket's read buffer: one, reused by every read; larger reads mean fewer read calls under load. */
const READ_BUFFER_BYTES = 256 * 1024;

export class MasterLink {
  readonly #o: MasterLinkOptions;
  #socket: net.Socket | null = null;
  #writer: FrameWriter | null = null;
  #decoder: FrameDecoder;
  /** What every read of the master socket is read into (see #onRead). */
  readonly #readBuffer: Uint8Array;
  #connected = false;
  /** Framed packets held while the link is down, in order. */
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #congested = false;
  packetsOut = 0;
  bytesOut = 0;
  packetsIn = 0;
  bytesIn = 0;
  /** Failures and reconnects as log lines: one WARN when an outage starts, then summaries, not a line per retry. */
  readonly outage: OutageLog;
  #dials = 0;

  /** The byte bound, never below 1 MiB so that a 'drain' always follows congestion. */
  readonly #capBytes: number;

  constructor(o: MasterLinkOptions) {
    this.#o = o;
    this.#capBytes = Math.max(o.capacityBytes, 1 << 20);
    this.#decoder = new FrameDecoder(o.maxFrame);
    this.#readBuffer = new Uint8Array(o.readBufferBytes ?? READ_BUFFER_BYTES);
    this.outage = new OutageLog(o.log, formatAddress(o.address), o.now);
  }

  get connected(): boolean {
    return this.#connected;
  }

  get heldPackets(): number {
    return this.#held.length;
  }

  /** True when client reads should pause: held or in-flight data is over its bound. */
  get congested(): boolean {
    return this.#congested;
  }

  dial(): void {
    const { host, port } = this.#o.address;
    this.#o.log.debug({ address: formatAddress(this.#o.address), dial: ++this.#dials }, 'master.dialing');
    // Reads land in one buffer reused by every read (Node's `onread`): no buffer, and no stream event, per read.
    const sock = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: this.#readBuffer,
        callback: (n, buf) => {
          this.#onRead(sock, buf, n);
          return true;
        },
      },
    });
    this.#socket = sock;
    sock.setTimeout(this.#o.connectTimeoutMs);
    sock.once('connect', () => {
      if (this.#socket !== sock) return;
      sock.setTimeout(0);
      this.#connected = true;
      this.#writer = new FrameWriter(sock);
      this.#decoder = new FrameDecoder(this.#o.maxFrame);
      this.#o.onConnected();
    });
    sock.on('timeout', () => {
      if (this.#socket === sock && !this.#connected) this.#fail(sock, `connect to ${host}:${port} timed out`);
    });
    sock.on('drain', () => {
      if (this.#socket !== sock) return;
      this.#updateCongestion();
    });
    sock.on('error', (err: Error) => {
      if (this.#socket === sock) this.#fail(sock, err.message);
    });
    sock.on('close', () => {
      if (this.#socket === sock) this.#fail(sock, 'master closed the connection');
    });
  }

  /**
   * Drops the current socket (after a failure). What its writer had not yet handed to the socket
   * goes back to the front of the hold queue, so it is sent when the link is back; bytes already
   * in the socket's buffers are lost with it.
   */
  drop(): void {
    const sock = this.#socket;
    const unsent = this.#writer?.takePending() ?? [];
    if (unsent.length > 0) {
      this.#held = unsent.concat(this.#held);
      for (const f of unsent) this.#heldBytes += f.length;
    }
    this.#socket = null;
    this.#writer = null;
    this.#connected = false;
    sock?.destroy();
    this.#updateCongestion();
  }

  /**
   * Bytes `buf[0, n)` read from the master. The buffer is read into again after this returns, so nothing may keep a
   * view of it: whole frames are routed in place (the writers copy them), the bytes of a frame cut by the end of the
   * read are copied into the decoder, and the frame they complete later is delivered from there.
   */
  #onRead(sock: net.Socket, buf: Uint8Array, n: number): void {
    if (this.#socket !== sock) return;
    this.bytesIn += n;
    const dec = this.#decoder;
    let off = 0;
    while (!dec.idle) {
      const take = Math.min(dec.wanted, n - off);
      if (take <= 0) return;
      dec.push(buf.slice(off, off + take));
      off += take;
      if (!this.#next(sock, dec)) return;
    }
    for (let len; (len = wholeFrameAt(buf, off, n, dec.maxFrame)) >= 0; off += FRAME_HEADER_SIZE + len) {
      if (!this.#deliver(sock, buf, off + FRAME_HEADER_SIZE, len)) return;
    }
    if (off === n) return;
    // A frame cut by the end of the read (or one over the cap: the decoder reports it now, before its body).
    dec.push(buf.slice(off, n));
    this.#next(sock, dec);
  }

  /** The decoder's next frame, if complete, delivered; false when the link failed or went away. */
  #next(sock: net.Socket, dec: FrameDecoder): boolean {
    const f = dec.next();
    if (f === null) return true;
    if (f instanceof Error) {
      this.#o.log.warn({ reason: f.message }, 'master.protocol_error: dropping the link');
      this.#fail(sock, f.message);
      return false;
    }
    return this.#deliver(sock, f, 0, f.length);
  }

  /** One frame from the master, `buf[start, start + len)`, to onFrame; false when the link went away meanwhile. */
  #deliver(sock: net.Socket, buf: Uint8Array, start: number, len: number): boolean {
    this.packetsIn++;
    try {
      this.#o.onFrame(buf, start, len);
    } catch (err) {
      // A bug on the routing path must not take the edge down: log it, drop this link, reconnect.
      this.#o.log.error({ err: err instanceof Error ? err.stack : String(err) }, 'master.frame_failed');
      this.#fail(sock, 'internal error while routing a master packet');
      return false;
    }
    return this.#socket === sock;
  }

  #fail(sock: net.Socket, reason: string): void {
    if (this.#socket !== sock) return;
    this.#o.onLost(reason);
  }

  /** Client data for the master: written now, or held (copied) while the link is down. */
  sendData(id: number, data: Uint8Array): void {
    this.packetsOut++;
    this.bytesOut += data.length;
    const w = this.#writer;
    if (w !== null) {
      w.writeTagged(id, Flag.Data, data);
      if (w.backlogBytes > this.#capBytes) this.#updateCongestion();
      return;
    }
    this.#hold(id, Flag.Data, data);
  }

  /** Client data `buf[start, start + len)` for the master: as sendData, with no view made when it is copied. */
  sendDataFrom(id: number, buf: Uint8Array, start: number, len: number): void {
    const w = this.#writer;
    if (w === null) return this.sendData(id, buf.subarray(start, start + len));
    this.packetsOut++;
    this.bytesOut += len;
    w.writeTaggedFrom(id, Flag.Data, buf, start, len);
    if (w.backlogBytes > this.#capBytes) this.#updateCongestion();
  }

  /** Failure / Reconnection: never dropped, held in order with the data while the link is down. */
  sendControl(id: number | bigint, flag: number, data: Uint8Array = EMPTY): void {
    this.packetsOut++;
    const w = this.#writer;
    if (w !== null) {
      w.writeTagged(id, flag, data);
      return;
    }
    this.#hold(id, flag, data);
  }

  #hold(id: number | bigint, flag: number, data: Uint8Array): void {
    const framed = new Uint8Array(4 + TAG_SIZE + data.length);
    writeTaggedHeader(framed, 0, id, flag, data.length);
    framed.set(data, 4 + TAG_SIZE);
    this.#held.push(framed);
    this.#heldBytes += framed.length;
    if (this.#held.length >= this.#o.capacity || this.#heldBytes >= this.#capBytes) this.#updateCongestion();
  }

  /** Writes everything held while the link was down, in order. */
  flushHeld(): void {
    const w = this.#writer;
    if (w === null) return;
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    for (const f of held) w.writeRaw(f);
    w.flush();
    this.#updateCongestion();
  }

  #updateCongestion(): void {
    const w = this.#writer;
    // Connected: bounded by bytes in flight (the socket's 'drain' lifts it). Down: by packets and bytes held.
    const over =
      w !== null
        ? w.backlogBytes > this.#capBytes
        : this.#held.length >= this.#o.capacity || this.#heldBytes >= this.#capBytes;
    if (over === this.#congested) return;
    this.#congested = over;
    if (!over) this.#o.onWritable();
    else this.#o.log.warn({ held: this.#held.length, connected: this.#connected }, 'master.backpressure: pausing client reads');
  }

  /** Flushes and half-closes the socket; resolves when it is finished or after `timeoutMs`. */
  async close(timeoutMs: number): Promise<void> {
    const sock = this.#socket;
    if (!sock || !this.#connected) {
      this.drop();
      return;
    }
    this.#writer?.flush();
    this.#socket = null;
    this.#connected = false;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        sock.destroy();
        resolve();
      }, timeoutMs);
      t.unref();
      sock.end(() => {
        clearTimeout(t);
        sock.destroy();
        resolve();
      });
    });
  }
}

/**
 * Master link failures as log lines. The first failure of an outage is a WARN (`master.lost` after a connection,
 * `master.unreachable` when none came up); the retries that follow are summarized, one WARN per window
 * (`master.still_unreachable: 12 attempts in the last 30 s`), the window doubling from 1 s to 30 s as the backoff
 * grows; each retry is a debug line. The connection that ends the outage says how long it lasted.
 */
export class OutageLog {
  #failures = 0;
  #since = 0;
  #windowStart = 0;
  #windowFailures = 0;
  #windowMs = 0;
  #everConnected = false;

  constructor(
    private readonly log: Logger,
    private readonly address: string,
    private readonly now: () => number,
    private readonly firstWindowMs = 1_000,
    private readonly maxWindowMs = 30_000,
  ) {}

  /** Failed attempts in the current outage (0 while connected). */
  get failures(): number {
    return this.#failures;
  }

  failed(reason: string): void {
    const now = this.now();
    if (this.#failures++ === 0) {
      this.#since = this.#windowStart = now;
      this.#windowFailures = 0;
      this.#windowMs = this.firstWindowMs;
      if (this.#everConnected) this.log.warn({ address: this.address, reason }, 'master.lost: reconnecting with backoff');
      else this.log.warn({ address: this.address, reason }, 'master.unreachable: retrying with backoff (further failures are summarized)');
      return;
    }
    this.#windowFailures++;
    this.log.debug({ address: this.address, reason, failures: this.#failures }, 'master.dial_failed');
    const elapsed = now - this.#windowStart;
    if (elapsed < this.#windowMs) return;
    const secs = Math.round(elapsed / 100) / 10;
    this.log.warn(
      { address: this.address, attempts: this.#windowFailures, windowSecs: secs, failures: this.#failures, downSecs: Math.round((now - this.#since) / 100) / 10, reason },
      `master.still_unreachable: ${this.#windowFailures} attempts in the last ${secs} s`,
    );
    this.#windowStart = now;
    this.#windowFailures = 0;
    this.#windowMs = Math.min(this.#windowMs * 2, this.maxWindowMs);
  }

  connected(held: number): void {
    const failures = this.#failures;
    const down = failures > 0 ? { failures, downSecs: Math.round((this.now() - this.#since) / 100) / 10 } : {};
    this.log.info({ address: this.address, held, ...down }, 'master.connected');
    this.#failures = 0;
    this.#everConnected = true;
  }
}
