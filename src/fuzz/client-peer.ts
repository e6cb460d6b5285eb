// The fuzzer's clients: new sessions and resumes spoken byte by byte (right key, wrong key, reflected challenge),
// each socket's data frames kept for the invariants.
import net from 'node:net';
import { once } from 'node:events';
import { encodeFrame } from '../io/framing.js';
import { decodeHandshake, encodeHandshake, type HandshakePacket } from '../io/handshake.js';
import { deriveSessionKey, generateKeyPair, open, seal, type KeyPair } from '../io/crypto.js';
import { ProtocolError } from '../io/errors.js';
import { FrameQueue } from './frame-queue.js';

export type ResumeKey = 'right' | 'wrong' | 'reflect';

export type ResumeOutcome =
  /** The edge answered the response with Ping: the session moved to the new socket. */
  | 'passed'
  /** The edge closed before sending a Challenge (unknown or ended id, or a limit). */
  | 'refused'
  /** The edge closed after the Challenge (bad response, or the session ended meanwhile). */
  | 'failed';

export interface EdgeAddress {
  host: string;
  port: number;
}

export function hs(p: HandshakePacket): Uint8Array {
  return encodeFrame(encodeHandshake(p));
}

async function dial(a: EdgeAddress, timeoutMs: number): Promise<net.Socket> {
  const s = net.connect({ host: a.host, port: a.port, noDelay: true });
  s.on('error', () => {});
  const t = setTimeout(() => s.destroy(new Error('connect timeout')), timeoutMs);
  try {
    await once(s, 'connect');
  } finally {
    clearTimeout(t);
  }
  return s;
}

function parse<T extends HandshakePacket['type']>(f: Uint8Array | null, type: T, step: string): Extract<HandshakePacket, { type: T }> | null {
  if (f === null) return null;
  const p = decodeHandshake(f);
  if (p instanceof ProtocolError) throw new Error(`edge sent a malformed handshake packet at ${step}: ${p.message}`);
  if (p.type !== type) throw new Error(`edge sent ${p.type} at ${step}, expected ${type}`);
  return p as Extract<HandshakePacket, { type: T }>;
}

/** One logical client: its key, its session id and every socket it used, oldest first. */
export class ClientPeer {
  readonly keyPair: KeyPair = generateKeyPair();
  id = 0n;
  edgeKey: Uint8Array = new Uint8Array(0);
  /** Sockets that carried session data (the new-session socket, then each resumed one). */
  readonly sockets: FrameQueue[] = [];
  /** Every socket opened, for cleanup. */
  readonly #opened = new Set<net.Socket>();

  constructor(public edge: EdgeAddress, readonly timeoutMs: number) {}

  get current(): FrameQueue | null {
    return this.sockets[this.sockets.length - 1] ?? null;
  }

  /** Frames delivered to this client so far: every data socket's frames, socket by socket. */
  received(): Uint8Array[] {
    return this.sockets.flatMap((q) => q.frames);
  }

  async #open(): Promise<FrameQueue> {
    const s = await dial(this.edge, this.timeoutMs);
    this.#opened.add(s);
    s.on('close', () => this.#opened.delete(s));
    const q = new FrameQueue(s);
    s.write(hs({ type: 'ProtocolVersion', version: 2 }));
    const key = parse(await q.next(this.timeoutMs, 'PubKey'), 'PubKey', 'the PubKey step');
    if (!key) throw new Error('edge closed the connection before sending its PubKey (a connection limit?)');
    if (this.edgeKey.length > 0 && Buffer.compare(Buffer.from(key.key), Buffer.from(this.edgeKey)) !== 0) {
      throw new Error('edge public key changed between the session start and the resume');
    }
    this.edgeKey = key.key.slice();
    return q;
  }

  /** Starts a new session; resolves with its id. */
  async connect(): Promise<bigint> {
    const q = await this.#open();
    q.socket.write(hs({ type: 'PubKey', key: this.keyPair.publicKey }));
    const id = parse(await q.next(this.timeoutMs, 'ClientId'), 'ClientId', 'the ClientId step');
    if (!id) throw new Error('edge closed the connection instead of sending ClientId');
    this.id = id.id;
    this.sockets.push(q);
    return this.id;
  }

  /**
   * Resumes session `id` on a new socket. `onChallenge` runs between the Challenge and the response;
   * `extra` (data frames) goes out in the same write as the response and Ping.
   */
  async resume(key: ResumeKey, opts: { onChallenge?: () => Promise<void>; extra?: Uint8Array[] } = {}): Promise<ResumeOutcome> {
    const q = await this.#open();
    q.socket.write(hs({ type: 'ClientId', id: this.id }));
    const ch = parse(await q.next(this.timeoutMs, 'Challenge'), 'Challenge', 'the Challenge step');
    if (!ch) return 'refused';
    await opts.onChallenge?.();
    let response: Uint8Array;
    if (key === 'reflect') response = ch.blob;
    else {
      const k = deriveSessionKey(this.keyPair.secretKey, this.edgeKey);
      if (k instanceof ProtocolError) throw k;
      const plain = open(k, ch.blob);
      if (plain instanceof ProtocolError) throw new Error(`the edge's challenge does not open with the session key: ${plain.message}`);
      const sealKey = key === 'wrong' ? (deriveSessionKey(generateKeyPair().secretKey, this.edgeKey) as Uint8Array) : k;
      response = seal(sealKey, plain);
    }
    const out = [hs({ type: 'ChallengeResponse', blob: response }), hs({ type: 'Ping' }), ...(opts.extra ?? []).map(encodeFrame)];
    if (!q.closed) q.socket.write(Buffer.concat(out));
    const ping = parse(await q.next(this.timeoutMs, 'the final Ping'), 'Ping', 'the final Ping');
    if (!ping) return 'failed';
    this.sockets.push(q);
    return 'passed';
  }

  /** Sends data frames on the current socket. */
  send(payloads: Uint8Array[]): void {
    const q = this.current;
    if (!q || q.closed) throw new Error(`client ${this.id}: no open socket to send on`);
    q.socket.write(Buffer.concat(payloads.map(encodeFrame)));
  }

  /** Closes the current socket (the client drops). */
  drop(): void {
    this.current?.socket.destroy();
  }

  close(): void {
    for (const s of this.#opened) s.destroy();
  }
}
