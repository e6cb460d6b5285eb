// Test peers that speak the wire protocol byte by byte: a raw client and a raw master, with awaitable frame queues.
import net from 'node:net';
import { once } from 'node:events';
import { encodeFrame } from '../../src/io/framing.js';
import { FrameQueue as BaseFrameQueue } from '../../src/fuzz/frame-queue.js';
import { decodeHandshake, encodeHandshake, type HandshakePacket } from '../../src/io/handshake.js';
import { decodeFirehose, encodeFirehose, type FirehosePacket, type FlagValue } from '../../src/io/firehose.js';
import { deriveSessionKey, generateKeyPair, open, seal, type KeyPair } from '../../src/io/crypto.js';
import { ProtocolError } from '../../src/io/errors.js';

/**
 * The fuzzer's frame queue (src/fuzz/frame-queue.ts) with the tests' `next()`: a 5 s default, and a frame or a
 * throw ('socket closed while waiting for a frame') instead of null.
 */
export class FrameQueue extends BaseFrameQueue {
  override async next(timeoutMs = 5000, what = 'a frame'): Promise<Uint8Array> {
    const f = await super.next(timeoutMs, what);
    if (!f) throw new Error('socket closed while waiting for a frame');
    return f;
  }
}

/** Connects to the edge; `from` picks the local (source) address, e.g. another 127.x.y.z to act as another client. */
export async function dial(port: number, host = '127.0.0.1', from?: string): Promise<net.Socket> {
  const s = net.connect({ host, port, noDelay: true, ...(from ? { localAddress: from } : {}) });
  await once(s, 'connect');
  return s;
}

export interface RawSession {
  socket: net.Socket;
  q: FrameQueue;
  id: bigint;
  keyPair: KeyPair;
  edgeKey: Uint8Array;
}

function expectPacket<T extends HandshakePacket['type']>(f: Uint8Array, type: T): Extract<HandshakePacket, { type: T }> {
  const p = decodeHandshake(f);
  if (p instanceof ProtocolError) throw p;
  if (p.type !== type) throw new Error(`expected ${type}, got ${p.type}`);
  return p as Extract<HandshakePacket, { type: T }>;
}

export function hs(p: HandshakePacket): Uint8Array {
  return encodeFrame(encodeHandshake(p));
}

/** A new session by hand (from the local address `from`, if given): returns the id and the socket ready for data. */
export async function rawNewSession(port: number, keyPair: KeyPair = generateKeyPair(), from?: string): Promise<RawSession> {
  const socket = await dial(port, '127.0.0.1', from);
  const q = new FrameQueue(socket);
  socket.write(hs({ type: 'ProtocolVersion', version: 2 }));
  const edgeKey = expectPacket(await q.next(), 'PubKey').key.slice();
  socket.write(hs({ type: 'PubKey', key: keyPair.publicKey }));
  const id = expectPacket(await q.next(), 'ClientId').id;
  return { socket, q, id, keyPair, edgeKey };
}

export interface ResumeOptions {
  /** Reflect the challenge straight back (an attack the edge must refuse). */
  reflect?: boolean;
  /** Seal with the wrong key. */
  wrongKey?: boolean;
  /** Omit the Ping after the response. */
  noPing?: boolean;
  /** Runs after the Challenge arrived, before the response is sent. */
  onChallenge?: () => Promise<void> | void;
  /** Bytes written in the same write as the response and Ping (e.g. data frames). */
  extra?: Uint8Array;
  /** Local (source) address to connect from. */
  from?: string;
}

/** A reconnect by hand. Resolves with the new socket once the edge's Ping arrived; throws if the edge closes. */
export async function rawResume(port: number, id: bigint, keyPair: KeyPair, opts: ResumeOptions = {}): Promise<RawSession> {
  const socket = await dial(port, '127.0.0.1', opts.from);
  const q = new FrameQueue(socket);
  socket.write(hs({ type: 'ProtocolVersion', version: 2 }));
  const edgeKey = expectPacket(await q.next(), 'PubKey').key.slice();
  socket.write(hs({ type: 'ClientId', id }));
  const ch = expectPacket(await q.next(), 'Challenge');
  await opts.onChallenge?.();
  let response: Uint8Array;
  if (opts.reflect) response = ch.blob;
  else {
    const key = deriveSessionKey(keyPair.secretKey, edgeKey) as Uint8Array;
    const plain = open(key, ch.blob);
    if (plain instanceof ProtocolError) throw plain;
    const useKey = opts.wrongKey ? (deriveSessionKey(generateKeyPair().secretKey, edgeKey) as Uint8Array) : key;
    response = seal(useKey, plain);
  }
  const frames = [hs({ type: 'ChallengeResponse', blob: response })];
  if (!opts.noPing) frames.push(hs({ type: 'Ping' }));
  if (opts.extra) frames.push(opts.extra);
  socket.write(Buffer.concat(frames));
  expectPacket(await q.next(), 'Ping');
  return { socket, q, id, keyPair, edgeKey };
}

/** A raw master: listens, accepts the edge, decodes every firehose packet. */
export class RawMaster {
  readonly server = net.createServer({ noDelay: true });
  socket: net.Socket | null = null;
  q: FrameQueue | null = null;
  readonly packets: FirehosePacket[] = [];
  /** The undecoded payload of every packet in `packets` (same index). */
  readonly raw: Uint8Array[] = [];
  #seen = 0;
  connections = 0;
  #onConn: Array<() => void> = [];

  async listen(port = 0): Promise<number> {
    this.server.on('connection', (s) => {
      this.connections++;
      this.drain();
      this.socket = s;
      this.q = new FrameQueue(s);
      for (const f of this.#onConn.splice(0)) f();
    });
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as net.AddressInfo).port;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  async connected(timeoutMs = 5000): Promise<void> {
    if (this.socket && !this.socket.destroyed) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('edge did not dial the master')), timeoutMs);
      this.#onConn.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** All packets received so far (decoded from the current and earlier connections). */
  drain(): FirehosePacket[] {
    const q = this.q;
    if (q) {
      for (const f of q.frames.splice(0)) {
        const p = decodeFirehose(f);
        if (p instanceof ProtocolError) throw p;
        this.packets.push(p);
        this.raw.push(f);
      }
    }
    return this.packets;
  }

  /** Waits for a packet matching `pred` that was not returned before. */
  async expect(pred: (p: FirehosePacket) => boolean, timeoutMs = 5000, what = 'a firehose packet'): Promise<FirehosePacket> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.drain();
      for (let i = this.#seen; i < this.packets.length; i++) {
        if (pred(this.packets[i]!)) {
          this.#seen = i + 1;
          return this.packets[i]!;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      if (!this.q) await this.connected(left);
      else await this.q.until(() => this.q!.frames.length > 0, left, what).catch(() => {});
    }
  }

  send(id: bigint | number, flag: FlagValue, data: Uint8Array = new Uint8Array(0)): void {
    this.socket!.write(encodeFirehose(id, flag, data));
  }

  /** Writes bytes as they are (malformed packets, several packets in one write). */
  sendRaw(bytes: Uint8Array): void {
    this.socket!.write(bytes);
  }

  /** Packets received so far for one id, in order. */
  forId(id: bigint): FirehosePacket[] {
    return this.drain().filter((p) => p.id === id);
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Polls `pred` every few ms until it holds (for state that changes without socket traffic). */
export async function waitFor(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A framed payload: u32 LE length, then the bytes. */
export function frame(payload: Uint8Array | string): Uint8Array {
  return encodeFrame(typeof payload === 'string' ? Buffer.from(payload) : payload);
}

/** UTF-8 text of a payload. */
export function text(b: Uint8Array): string {
  return Buffer.from(b).toString('utf8');
}

/** Resolves when `p` rejects (the edge refused); fails the test if it resolves. */
export async function refused(p: Promise<unknown>, what = 'the edge to refuse'): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error(`expected ${what}, but it succeeded`);
}

/** A TCP port that was free a moment ago (nothing listens on it). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
