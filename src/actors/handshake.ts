// A client connection before it has a session: the new-session and reconnect handshakes of PROTOCOL.md sec. 3,
// strict about order, bounded in time and size, with cheap checks before any crypto.
import { FrameDecoder, encodeFrame } from '../io/framing.js';
import { decodeHandshake, encodeHandshake, PROTOCOL_VERSION } from '../io/handshake.js';
import { ProtocolError } from '../io/errors.js';
import { constantTimeEqual, open, parsePublicKey, randomBytes, seal, sealedNonce, NONCE_SIZE } from '../io/crypto.js';
import type { Session } from './session.js';
import { logId, type Logger } from '../log.js';
import type { ClientConnection } from './transports/connection.js';

/** No handshake packet is longer than this (an uncompressed PubKey is 67 bytes, a response 74). */
export const HANDSHAKE_FRAME_CAP = 1024;
const CHALLENGE_SIZE = 32;
const PING_FRAME = encodeFrame(encodeHandshake({ type: 'Ping' }));

export const kPending = Symbol('voltlane.pending');
export type PendingSocket = ClientConnection & { [kPending]?: PendingConnection };

type Step = 'version' | 'key' | 'lookup' | 'response' | 'ping' | 'done';

/** What the handshake needs from the edge. */
export interface HandshakeHost {
  readonly edgePublicKeyFrame: Uint8Array;
  /** Handshake steps and resume attempts with their outcome go to it at debug. */
  readonly log: Logger;
  /** Whether `log` writes debug lines (they are not even built otherwise: a resume storm makes many). */
  readonly debug: boolean;
  /** A valid client key: create the session, send ClientId, hand the socket over. */
  createSession(p: PendingConnection, clientKey: Uint8Array): void;
  /** A reconnect names `id`: the session to challenge, or a refusal reason (later, when it must be looked up elsewhere). */
  requestResume(p: PendingConnection, id: bigint): Session | string | Promise<Session | string>;
  deriveSessionKey(s: Session): Uint8Array | Error;
  /** The response and Ping checked out: move the session to this socket. */
  resumePassed(p: PendingConnection): void;
  /** The attempt failed (bad response, timeout, close): the session stays as it was. */
  resumeFailed(p: PendingConnection, reason: string): void;
  /** The connection ended before finishing (any reason); release its limits. */
  pendingEnded(p: PendingConnection): void;
  /** The handshake moved a step forward (it is not idle). */
  progressed?(p: PendingConnection): void;
  refuse(p: PendingConnection, reason: string, detail?: Record<string, unknown>): void;
}

export class PendingConnection {
  readonly socket: PendingSocket;
  readonly address: string;
  readonly decoder = new FrameDecoder(HANDSHAKE_FRAME_CAP);
  readonly host: HandshakeHost;
  step: Step = 'version';
  timer: NodeJS.Timeout | null = null;
  /** Set for a reconnect once ClientId named a session. */
  session: Session | null = null;
  attempt = 0;
  /** Clock ms of the connection's start or its last step forward (the shedding order at the handshake cap). */
  lastProgress = 0;
  #challengeBytes: Uint8Array | null = null;
  #challengeNonce: Uint8Array | null = null;
  ended = false;

  constructor(socket: ClientConnection, address: string, host: HandshakeHost) {
    this.socket = socket as PendingSocket;
    this.address = address;
    this.host = host;
  }

  /** Processes buffered frames; stops when the handshake completes (leftover frames stay in the decoder). */
  pump(): void {
    while (this.step !== 'done' && this.step !== 'lookup' && !this.ended) {
      const f = this.decoder.next();
      if (f === null) return;
      if (f instanceof ProtocolError) {
        this.fail(`handshake frame: ${f.message}`, f.code);
        return;
      }
      this.#onPacket(f);
    }
  }

  #onPacket(frame: Uint8Array): void {
    const p = decodeHandshake(frame);
    if (p instanceof ProtocolError) {
      this.fail(`malformed handshake packet: ${p.message}`, p.code);
      return;
    }
    switch (this.step) {
      case 'version':
        if (p.type !== 'ProtocolVersion') return this.fail(`expected ProtocolVersion, got ${p.type}`);
        if (p.version !== PROTOCOL_VERSION) return this.fail(`unsupported protocol version ${p.version}`, 'VL_ERR_VERSION');
        this.step = 'key';
        this.host.progressed?.(this);
        if (this.host.debug) this.host.log.debug({ address: this.address }, 'handshake.version: accepted, edge key sent');
        this.socket.write(this.host.edgePublicKeyFrame);
        return;
      case 'key':
        if (p.type === 'PubKey') {
          const key = parsePublicKey(p.key);
          if (key instanceof ProtocolError) return this.fail(`invalid client public key: ${key.message}`, key.code);
          this.step = 'done';
          if (this.host.debug) this.host.log.debug({ address: this.address }, 'handshake.client_key: accepted, creating a session');
          this.host.createSession(this, key);
          return;
        }
        if (p.type === 'ClientId') {
          if (this.host.debug) this.host.log.debug({ sessionId: logId(p.id), address: this.address }, 'resume.requested');
          const found = this.host.requestResume(this, p.id);
          if (!(found instanceof Promise)) return this.#challenge(found, p.id);
          // Held by another edge of the cluster: challenge once its record is here; frames wait in the decoder.
          this.step = 'lookup';
          const id = p.id;
          if (this.host.debug) this.host.log.debug({ sessionId: logId(id), address: this.address }, 'resume.lookup: held by another edge, asking the cluster');
          found.then(
            (s) => {
              if (this.ended) {
                if (typeof s !== 'string') {
                  this.session = s;
                  this.host.resumeFailed(this, 'connection closed during the lookup');
                }
                return;
              }
              this.step = 'key';
              this.#challenge(s, id);
              this.pump();
            },
            (err: unknown) => this.fail(`resume lookup failed: ${(err as Error).message}`, 'VL_ERR_RESUME_REFUSED', { sessionId: logId(id) }),
          );
          return;
        }
        return this.fail(`expected PubKey or ClientId, got ${p.type}`);

      case 'response': {
        if (p.type !== 'ChallengeResponse') return this.#resumeFail(`expected ChallengeResponse, got ${p.type}`);
        const nonce = sealedNonce(p.blob);
        if (nonce === null) return this.#resumeFail(`challenge response of ${p.blob.length} bytes is too short`);
        if (constantTimeEqual(nonce, this.#challengeNonce!)) {
          return this.#resumeFail('challenge response reuses the challenge nonce (reflected challenge)');
        }
        const key = this.host.deriveSessionKey(this.session!);
        if (key instanceof Error) return this.#resumeFail(key.message);
        const plain = open(key, p.blob);
        if (plain instanceof ProtocolError) return this.#resumeFail(`challenge response: ${plain.message}`);
        if (!constantTimeEqual(plain, this.#challengeBytes!)) return this.#resumeFail('challenge response does not match');
        this.step = 'ping';
        if (this.host.debug) this.host.log.debug({ sessionId: logId(this.session!.id), address: this.address }, 'resume.response_ok: waiting for Ping');
        return;
      }
      case 'ping':
        if (p.type !== 'Ping') return this.#resumeFail(`expected Ping after the challenge response, got ${p.type}`);
        this.step = 'done';
        this.#clearTimer();
        if (this.host.debug) this.host.log.debug({ sessionId: logId(this.session!.id), address: this.address, attempt: this.attempt }, 'resume.passed');
        this.host.resumePassed(this);
        return;
      case 'lookup':
      case 'done':
        return;
    }
  }

  /** Issues the Challenge for `s` (or refuses with the reason). */
  #challenge(s: Session | string, id: bigint): void {
    if (typeof s === 'string') {
      if (this.host.debug) this.host.log.debug({ sessionId: logId(id), address: this.address, reason: s }, 'resume.refused');
      return this.fail(s, 'VL_ERR_RESUME_REFUSED', { sessionId: logId(id) });
    }
    this.session = s;
    const key = this.host.deriveSessionKey(s);
    if (key instanceof Error) {
      this.step = 'done';
      this.host.resumeFailed(this, key.message);
      return this.fail(`cannot derive session key: ${key.message}`);
    }
    this.#challengeBytes = randomBytes(CHALLENGE_SIZE);
    const blob = seal(key, this.#challengeBytes);
    this.#challengeNonce = blob.subarray(blob.length - NONCE_SIZE);
    this.step = 'response';
    this.host.progressed?.(this);
    if (this.host.debug) this.host.log.debug({ sessionId: logId(s.id), address: this.address, attempt: this.attempt }, 'resume.challenge_sent');
    this.socket.write(encodeFrame(encodeHandshake({ type: 'Challenge', blob })));
  }

  #resumeFail(reason: string): void {
    this.step = 'done';
    this.host.resumeFailed(this, reason);
    this.fail(reason, 'VL_ERR_RESUME_FAILED', this.session ? { sessionId: this.session.id } : undefined);
  }

  #clearTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Ends the connection with one log line; a pending resume attempt fails first. */
  fail(reason: string, code?: string, detail?: Record<string, unknown>): void {
    if (this.ended) return;
    if (this.session && this.step !== 'done') {
      this.step = 'done';
      this.host.resumeFailed(this, reason);
    }
    this.host.refuse(this, reason, { ...(code ? { code } : {}), ...detail });
    this.end();
  }

  /** Releases the connection: timer, limits, socket. Idempotent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.step = 'done';
    this.#clearTimer();
    this.socket.destroy();
    this.host.pendingEnded(this);
  }

  /** The handshake is complete: stop the clock and detach (the socket now belongs to a session). */
  handOver(): void {
    this.#clearTimer();
    this.ended = true;
    this.host.pendingEnded(this);
  }
}

export { PING_FRAME };
