// Test helper: a minimal Voltlane edge (the handshakes of PROTOCOL.md sec. 3, sessions by id, echo) for client SDK tests.
// Not the product daemon: no firehose, limits or timeouts; every socket is destroyed by stop().
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { constantTimeEqual, deriveSessionKey, generateKeyPair, open, parsePublicKey, seal, sealedNonce, type KeyPair } from '../../src/io/crypto.js';
import { ProtocolError } from '../../src/io/errors.js';
import { encodeFrame, FrameDecoder } from '../../src/io/framing.js';
import { decodeHandshake, encodeHandshake, PROTOCOL_VERSION, type HandshakePacket } from '../../src/io/handshake.js';

export interface MiniSession {
  readonly id: bigint;
  readonly sessionKey: Uint8Array;
  /** The live socket, or null while stale. */
  socket: net.Socket | null;
  /** Application frames received from the client, in order. */
  readonly received: Uint8Array[];
  /** Frames to deliver right after the final Ping of the next resume, in the same write. */
  readonly missed: Uint8Array[];
}

export interface ResumeRecord {
  id: bigint;
  /** ChallengeResponse and Ping were read from the same TCP chunk. */
  sameChunk: boolean;
}

type Step = 'version' | 'hello' | 'response' | 'ping' | 'data';

const frames = (...payloads: Uint8Array[]): Buffer => Buffer.concat(payloads.map((p) => encodeFrame(p)));
const hs = (p: HandshakePacket): Uint8Array => encodeHandshake(p);

export class MiniEdge {
  keyPair: KeyPair;
  readonly sessions = new Map<bigint, MiniSession>();
  /** Handshake log: "new 1", "clientid 1", "resumed 1", "refused <why>", "stale 1". */
  readonly events: string[] = [];
  readonly resumes: ResumeRecord[] = [];
  /** Data frames sent in the same write as a new session's ClientId. */
  greeting: Uint8Array[] = [];
  /** What happens to client data; echoes by default. */
  onData: (s: MiniSession, data: Uint8Array) => void = (s, data) => this.send(s.id, data);
  /**
   * How a resume of an unknown id is refused: 'close' right after ClientId (what the protocol says),
   * or 'ping' (a Ping where the Challenge belongs, then close: a refusal that is not "unknown").
   */
  unknownIdAnswer: 'close' | 'ping' = 'close';
  /** TCP connections accepted so far. */
  connections = 0;
  readonly #server = net.createServer((socket) => this.#accept(socket));
  readonly #sockets = new Set<net.Socket>();
  readonly #waiters: Array<{ match: string; resolve: () => void }> = [];
  #nextId = 1n;

  constructor(keyPair: KeyPair = generateKeyPair()) {
    this.keyPair = keyPair;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Destroys every socket and closes the listener. */
  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  send(id: bigint, data: Uint8Array): void {
    this.sessions.get(id)?.socket?.write(encodeFrame(data));
  }

  /** Destroys the session's socket (the session goes stale). */
  dropClient(id: bigint): void {
    this.sessions.get(id)?.socket?.destroy();
  }

  /** Forgets a session: its resumes are refused from now on. */
  forget(id: bigint): void {
    this.sessions.delete(id);
  }

  /** Resolves once an event equal to `match` has been logged (now or earlier). */
  waitForEvent(match: string): Promise<void> {
    if (this.events.includes(match)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  #log(event: string): void {
    this.events.push(event);
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      if (this.#waiters[i]!.match === event) this.#waiters.splice(i, 1)[0]!.resolve();
    }
  }

  #accept(socket: net.Socket): void {
    this.connections++;
    this.#sockets.add(socket);
    socket.on('error', () => {});
    const decoder = new FrameDecoder(8 * 1024 * 1024);
    let step: Step = 'version';
    let session: MiniSession | null = null;
    let challenge: { secret: Uint8Array; blob: Uint8Array } | null = null;
    let chunkNo = 0;
    let responseChunk = -1;
    const refuse = (why: string): void => {
      this.#log(`refused ${why}`);
      socket.destroy();
    };
    socket.on('close', () => {
      this.#sockets.delete(socket);
      if (session && session.socket === socket) {
        session.socket = null;
        this.#log(`stale ${session.id}`);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      chunkNo++;
      decoder.push(chunk);
      for (;;) {
        if (socket.destroyed) return;
        const f = decoder.next();
        if (f === null) return;
        if (f instanceof ProtocolError) return refuse(f.message);
        if (step === 'data') {
          session!.received.push(Uint8Array.from(f));
          this.onData(session!, f);
          continue;
        }
        const p = decodeHandshake(f);
        if (p instanceof ProtocolError) return refuse(p.message);
        if (step === 'version') {
          if (p.type !== 'ProtocolVersion' || p.version !== PROTOCOL_VERSION) return refuse(`expected ProtocolVersion, got ${p.type}`);
          socket.write(frames(hs({ type: 'PubKey', key: this.keyPair.publicKey })));
          step = 'hello';
        } else if (step === 'hello' && p.type === 'PubKey') {
          const pub = parsePublicKey(p.key);
          if (pub instanceof ProtocolError) return refuse(pub.message);
          const key = deriveSessionKey(this.keyPair.secretKey, pub);
          if (key instanceof ProtocolError) return refuse(key.message);
          session = { id: this.#nextId++, sessionKey: key, socket, received: [], missed: [] };
          this.sessions.set(session.id, session);
          socket.write(frames(hs({ type: 'ClientId', id: session.id }), ...this.greeting));
          step = 'data';
          this.#log(`new ${session.id}`);
        } else if (step === 'hello' && p.type === 'ClientId') {
          this.#log(`clientid ${p.id}`);
          const s = this.sessions.get(p.id);
          if (!s) {
            if (this.unknownIdAnswer === 'ping') socket.write(frames(hs({ type: 'Ping' })));
            return refuse(`unknown id ${p.id}`);
          }
          session = s;
          const secret = new Uint8Array(randomBytes(32));
          challenge = { secret, blob: seal(s.sessionKey, secret) };
          socket.write(frames(hs({ type: 'Challenge', blob: challenge.blob })));
          step = 'response';
        } else if (step === 'response' && p.type === 'ChallengeResponse') {
          const nonce = sealedNonce(p.blob);
          if (nonce && constantTimeEqual(nonce, sealedNonce(challenge!.blob)!)) return refuse('response sealed with the challenge nonce');
          const opened = open(session!.sessionKey, p.blob);
          if (opened instanceof ProtocolError || !constantTimeEqual(opened, challenge!.secret)) return refuse('wrong response');
          responseChunk = chunkNo;
          step = 'ping';
        } else if (step === 'ping' && p.type === 'Ping') {
          const s = session!;
          this.resumes.push({ id: s.id, sameChunk: chunkNo === responseChunk });
          const old = s.socket;
          s.socket = socket;
          old?.destroy();
          socket.write(frames(hs({ type: 'Ping' }), ...s.missed.splice(0)));
          step = 'data';
          this.#log(`resumed ${s.id}`);
        } else {
          return refuse(`unexpected ${p.type} at step ${step}`);
        }
      }
    });
  }
}
