// The fuzzer's master: listens where the edge dials, logs every firehose packet, sends Data and Kick,
// drops and restores the link, and syncs with the edge through a Data packet for a never-issued id.
import net from 'node:net';
import { once } from 'node:events';
import { decodeFirehose, encodeFirehose, Flag, type FirehosePacket, type FlagValue } from '../io/firehose.js';
import { ProtocolError } from '../io/errors.js';
import { FrameQueue } from './frame-queue.js';

/** Sync probes use ids from here up: far above any id an edge issues, so the edge answers each with Failure. */
export const SYNC_ID_BASE = 1n << 62n;

export interface MasterPeerOptions {
  host: string;
  port: number;
  timeoutMs: number;
}

export class MasterPeer {
  readonly host: string;
  port: number;
  readonly timeoutMs: number;
  /** Every firehose packet from the edge (sync answers excluded), in arrival order over all connections. */
  readonly packets: FirehosePacket[] = [];
  /** Malformed packets from the edge (a protocol violation by the edge). */
  readonly malformed: string[] = [];
  connections = 0;
  #server: net.Server | null = null;
  #q: FrameQueue | null = null;
  #consumed = 0;
  #syncSeq = 0n;
  #syncSeen = new Set<bigint>();
  #onConnect: Array<() => void> = [];
  #all = new Set<net.Socket>();

  constructor(o: MasterPeerOptions) {
    this.host = o.host;
    this.port = o.port;
    this.timeoutMs = o.timeoutMs;
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    const server = net.createServer({ noDelay: true });
    server.on('connection', (s) => this.#accept(s));
    server.listen({ host: this.host, port: this.port, exclusive: true });
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e as Error))]);
    this.#server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  get listening(): boolean {
    return this.#server !== null;
  }

  get connected(): boolean {
    return this.#q !== null && !this.#q.closed;
  }

  #accept(s: net.Socket): void {
    this.#all.add(s);
    s.on('close', () => this.#all.delete(s));
    this.#pump();
    this.connections++;
    this.#q = new FrameQueue(s);
    this.#consumed = 0;
    for (const f of this.#onConnect.splice(0)) f();
  }

  /** Moves decoded frames of the current connection into `packets`. */
  #pump(): void {
    const q = this.#q;
    if (!q) return;
    while (this.#consumed < q.all.length) {
      const f = q.all[this.#consumed++]!;
      const p = decodeFirehose(f);
      if (p instanceof ProtocolError) {
        this.malformed.push(p.message);
        continue;
      }
      if (p.id >= SYNC_ID_BASE && p.flag === Flag.Failure) {
        this.#syncSeen.add(p.id);
        continue;
      }
      this.packets.push({ id: p.id, flag: p.flag, data: p.data.slice() });
    }
  }

  /** All packets so far. */
  drain(): FirehosePacket[] {
    this.#pump();
    return this.packets;
  }

  /** Waits until `pred(packets)` holds. */
  async until(pred: (packets: FirehosePacket[]) => boolean, what: string, timeoutMs = this.timeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (pred(this.drain())) return;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`master: timed out after ${timeoutMs} ms waiting for ${what}`);
      const q = this.#q;
      if (q && !q.closed) await q.until(() => q.all.length > this.#consumed || q.closed, left, what).catch(() => {});
      else await sleep(Math.min(left, 5));
    }
  }

  send(id: bigint, flag: FlagValue, data: Uint8Array = new Uint8Array(0)): void {
    const q = this.#q;
    if (!q || q.closed) throw new Error('master: the edge is not connected');
    q.socket.write(encodeFirehose(id, flag, data));
  }

  /** Writes bytes as they are (malformed packets). */
  sendRaw(bytes: Uint8Array): void {
    const q = this.#q;
    if (!q || q.closed) throw new Error('master: the edge is not connected');
    q.socket.write(bytes);
  }

  /**
   * Returns once the edge has processed everything this master sent before: a Data packet for a
   * never-issued id must be answered with Failure, in order with everything else.
   */
  async sync(): Promise<void> {
    const id = SYNC_ID_BASE + this.#syncSeq++;
    this.send(id, Flag.Data);
    await this.until(() => this.#syncSeen.has(id), `the edge to answer the sync probe ${id} with Failure (PROTOCOL.md sec. 5)`);
    this.#syncSeen.delete(id);
  }

  /** Waits for the edge to (re)connect. `poke` runs between short waits (e.g. to advance a simulated clock). */
  async awaitConnection(poke?: () => Promise<void> | void, timeoutMs = this.timeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.connected) {
      if (Date.now() > deadline) throw new Error(`master: the edge did not connect within ${timeoutMs} ms`);
      await poke?.();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20);
        this.#onConnect.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Link down: stop accepting and cut the current connection. */
  async down(): Promise<void> {
    this.#pump();
    const server = this.#server;
    this.#server = null;
    this.#q?.socket.destroy();
    this.#q = null;
    for (const s of this.#all) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /** Link up again: listen on the same port. */
  async up(): Promise<void> {
    if (!this.#server) await this.listen();
  }

  async close(): Promise<void> {
    await this.down();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
