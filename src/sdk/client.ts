// voltlane/client: connect to a Voltlane edge, exchange framed messages, and resume the session automatically
// when the connection drops (or after a process restart, from a persisted ResumeState).
import { EventEmitter } from 'node:events';
import { constantTimeEqual, generateKeyPair } from '../io/crypto.js';
import { formatAddress, parseAddress, type EdgeAddress } from './client-address.js';
import { asClientError, ClientError, isClientError } from './client-errors.js';
import { startSession } from './client-handshake.js';
import { Inbox, type InboxOwner } from './client-inbox.js';
import { Link } from './client-link.js';
import { resolveOptions, type ClientOptions, type ResolvedOptions } from './client-options.js';
import { Outbox } from './client-outbox.js';
import { newSessionWithin, resumeWithin, type ResumePolicy } from './client-resume.js';
import { parseResumeState, toResumeState, type ResumeState, type SessionSecrets } from './client-resume-state.js';

export { ClientError, isClientError, VL_ERR_SESSION_LOST, type ClientErrorCode } from './client-errors.js';
export type { EdgeAddress, EdgeScheme } from './client-address.js';
export type { ClientOptions, ReconnectOptions, SessionLostPolicy, TlsClientOptions } from './client-options.js';
export type { ResumeState } from './client-resume-state.js';
export { generateKeyPair, type KeyPair } from '../io/crypto.js';

export type ClientState = 'connected' | 'reconnecting' | 'closed';

export interface ClientEvents {
  /** One application frame from the edge. */
  message: [data: Uint8Array];
  /**
   * A session is ready: on the turn after connect() resolves, and again (with the new id) each time
   * `onSessionLost: 'new-session'` replaced a lost session.
   */
  session: [id: bigint];
  /**
   * The edge no longer knows session `lostId` (VL_ERR_SESSION_LOST). With `onSessionLost: 'error'`,
   * 'failed' follows with the same error; with 'new-session', messages queued for the lost session
   * are dropped and a new session is started ('session' follows with its id; what is sent from now
   * on goes to it).
   */
  sessionLost: [lostId: bigint, error: ClientError];
  /** The connection dropped; the client is reconnecting. */
  disconnected: [reason: string];
  /** The session is live again on a new connection; queued messages have been sent. */
  resumed: [id: bigint];
  /** The client gave up (resume failed, edge key changed, ...); 'close' follows. */
  failed: [error: ClientError];
  /** The client is closed for good. */
  close: [];
}

const kInit = Symbol('VoltlaneClient.init');
const encoder = new TextEncoder();

interface ClientInit {
  address: EdgeAddress;
  /** connect({ resume }) found the session lost and started a new one ('new-session'). */
  lost: { id: bigint; error: ClientError } | null;
  options: ResolvedOptions;
  secrets: SessionSecrets;
  link: Link;
  abort: AbortController;
}

function policyOf(o: ResolvedOptions, atStartup: boolean): ResumePolicy {
  return {
    windowMs: o.reconnect.windowMs,
    initialDelayMs: o.reconnect.initialDelayMs,
    maxDelayMs: o.reconnect.maxDelayMs,
    retry: o.reconnect.enabled,
    delayFirst: !atStartup,
    handshakeTimeoutMs: o.handshakeTimeoutMs,
    maxFrameSize: o.maxFrameSize,
    tls: o.tls,
  };
}

/**
 * Connects to the edge at `address` and runs the new-session handshake (or, with
 * `options.resume`, resumes that session, retrying within `reconnect.windowMs` unless
 * `reconnect.enabled` is false). Resolves once the session id is known; rejects with a
 * ClientError. Messages that arrive with the session are delivered on the next turn, so
 * listeners attached right after `await connect(...)` miss nothing.
 */
export async function connect(address: string | EdgeAddress, options: ClientOptions = {}): Promise<VoltlaneClient> {
  const addr = parseAddress(address);
  const opts = resolveOptions(options);
  const abort = new AbortController();
  let secrets: SessionSecrets;
  let link: Link;
  let lost: ClientInit['lost'] = null;
  if (opts.resume) {
    secrets = parseResumeState(opts.resume);
    if (opts.keyPair && !constantTimeEqual(opts.keyPair.secretKey, secrets.keyPair.secretKey)) {
      throw new ClientError('VL_ERR_BAD_OPTIONS', 'options keyPair and resume.secretKey name different keys; pass only resume');
    }
    try {
      link = await resumeWithin(addr, secrets, policyOf(opts, true), abort.signal);
    } catch (err) {
      if (!(isClientError(err) && err.code === 'VL_ERR_SESSION_LOST' && opts.onSessionLost === 'new-session')) throw err;
      lost = { id: secrets.id, error: err };
      ({ link, secrets } = await newSessionWithin(addr, opts.keyPair ?? generateKeyPair(), policyOf(opts, true), abort.signal));
    }
  } else {
    link = await Link.dial(addr, { timeoutMs: opts.handshakeTimeoutMs, maxFrameSize: opts.maxFrameSize, signal: abort.signal, tls: opts.tls });
    try {
      secrets = await startSession(link, opts.keyPair ?? generateKeyPair());
    } catch (err) {
      link.destroy();
      throw asClientError(err);
    }
  }
  return new VoltlaneClient(kInit, { address: addr, lost, options: opts, secrets, link, abort });
}

/** A session with a Voltlane edge. Created by connect(). */
export class VoltlaneClient extends EventEmitter<ClientEvents> {
  readonly #address: EdgeAddress;
  readonly #options: ResolvedOptions;
  #secrets: SessionSecrets;
  #edgePublicKey: Uint8Array;
  readonly #abort: AbortController;
  readonly #outbox: Outbox;
  readonly #inboxes = new Set<Inbox>();
  readonly #pressured = new Set<Inbox>();
  #state: ClientState = 'connected';
  #link: Link | null;
  #startTimer: NodeJS.Immediate | null;
  #failure: ClientError | null = null;
  #closing: Promise<void> | null = null;

  readonly #inboxOwner: InboxOwner = {
    pressure: (inbox, over) => {
      if (over) this.#pressured.add(inbox);
      else this.#pressured.delete(inbox);
      this.#link?.setPaused(this.#pressured.size > 0);
    },
    detach: (inbox) => {
      this.#inboxes.delete(inbox);
      this.#pressured.delete(inbox);
      this.#link?.setPaused(this.#pressured.size > 0);
    },
  };

  /** @internal Use connect(). */
  constructor(token: typeof kInit, init: ClientInit) {
    if (token !== kInit) throw new TypeError('VoltlaneClient is created by connect(), not with new');
    super();
    this.#edgePublicKey = Uint8Array.from(init.secrets.edgePublicKey);
    this.#address = init.address;
    this.#options = init.options;
    this.#secrets = init.secrets;
    this.#abort = init.abort;
    this.#outbox = new Outbox(init.options.maxQueuedMessages, init.options.maxQueuedBytes);
    this.#link = init.link;
    this.#startTimer = setImmediate(() => {
      this.#startTimer = null;
      if (this.#link !== init.link) return;
      try {
        if (init.lost) this.emit('sessionLost', init.lost.id, init.lost.error);
        if (this.#link === init.link) this.emit('session', this.id);
      } finally {
        if (this.#link === init.link) this.#attach(init.link);
      }
    });
  }

  /** The session id the edge assigned (a new one after `onSessionLost: 'new-session'` replaced a lost session). */
  get id(): bigint {
    return this.#secrets.id;
  }

  /** The edge's compressed public key (33 bytes) seen when the session began. */
  get edgePublicKey(): Uint8Array {
    return this.#edgePublicKey;
  }

  get state(): ClientState {
    return this.#state;
  }

  /** The edge address: "host:port" for plain TCP, else with its scheme ("tls://host:port", "ws://host:port/path"). */
  get address(): string {
    return formatAddress(this.#address);
  }

  /** Bytes sent but not yet handed to the kernel, plus bytes queued while reconnecting. */
  get bufferedAmount(): number {
    return (this.#link?.writer.backlogBytes ?? 0) + this.#outbox.bytes;
  }

  /**
   * Sends one message (one frame). Connected: a batched write (a Uint8Array of 16 KiB or more is
   * written without a copy: do not modify it afterwards). Reconnecting: queued (copied) and sent
   * in order after the resume; throws VL_ERR_QUEUE_FULL past maxQueuedMessages/maxQueuedBytes.
   * Closed: throws VL_ERR_CLOSED. Over maxMessageSize: throws VL_ERR_MESSAGE_TOO_LARGE.
   */
  send(data: Uint8Array | string): void {
    if (this.#state === 'closed') {
      throw new ClientError(
        'VL_ERR_CLOSED',
        this.#failure ? `the client has failed (${this.#failure.message})` : 'the client is closed',
      );
    }
    let bytes: Uint8Array;
    if (typeof data === 'string') bytes = encoder.encode(data);
    else if (data instanceof Uint8Array) bytes = data;
    else throw new TypeError('send() takes a Uint8Array or a string');
    if (bytes.length > this.#options.maxMessageSize) {
      throw new ClientError(
        'VL_ERR_MESSAGE_TOO_LARGE',
        `message of ${bytes.length} bytes exceeds maxMessageSize ${this.#options.maxMessageSize}`,
      );
    }
    const link = this.#link;
    if (this.#state === 'connected' && link) link.writer.writeFrame(bytes);
    else this.#outbox.push(bytes === data ? bytes.slice() : bytes);
  }

  /** Flushes what was sent, closes the connection and stops reconnecting. Queued messages are dropped. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    if (this.#state === 'closed') return Promise.resolve();
    this.#state = 'closed';
    const link = this.#link;
    this.#link = null;
    // end() first: it detaches the link from the abort signal that teardown fires.
    const ended = link ? link.end(this.#options.handshakeTimeoutMs) : Promise.resolve();
    this.#teardown(null);
    this.#closing = ended.then(() => {
      this.emit('close');
    });
    return this.#closing;
  }

  /** What `connect(address, { resume })` needs to resume this session, as plain JSON. Holds the secret key. */
  resumeState(): ResumeState {
    return toResumeState(this.#secrets, formatAddress(this.#address));
  }

  /**
   * Messages received from now on, until the client closes (done) or fails (throws its
   * ClientError after the buffered messages). A consumer that falls behind by
   * inboxMaxMessages/inboxMaxBytes pauses the socket until it has caught up by half.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    const inbox = new Inbox(this.#inboxOwner, this.#options.inboxMaxMessages, this.#options.inboxMaxBytes);
    if (this.#state === 'closed') inbox.end(this.#failure);
    else this.#inboxes.add(inbox);
    return inbox;
  }

  #attach(link: Link): void {
    link.setPaused(this.#pressured.size > 0);
    link.startData({
      frame: (msg) => this.#deliver(msg),
      closed: (reason) => this.#onDropped(link, reason),
    });
  }

  #deliver(msg: Uint8Array): void {
    for (const inbox of this.#inboxes) inbox.push(msg);
    this.emit('message', msg);
  }

  #onDropped(link: Link, reason: string): void {
    if (this.#link !== link || this.#state !== 'connected') return;
    this.#link = null;
    if (!this.#options.reconnect.enabled) {
      try {
        this.emit('disconnected', reason);
      } finally {
        this.#fail(new ClientError('VL_ERR_DISCONNECTED', `connection to the edge lost (${reason}) and reconnect is disabled`));
      }
      return;
    }
    this.#state = 'reconnecting';
    void this.#reconnect();
    this.emit('disconnected', reason);
  }

  async #reconnect(): Promise<void> {
    let link: Link;
    try {
      link = await resumeWithin(this.#address, this.#secrets, policyOf(this.#options, false), this.#abort.signal);
    } catch (err) {
      if (this.#state !== 'reconnecting') return;
      const e = asClientError(err, 'VL_ERR_RESUME_FAILED');
      if (e.code === 'VL_ERR_SESSION_LOST') this.#sessionLost(e);
      else this.#fail(e);
      return;
    }
    this.#connected(link, 'resumed');
  }

  /** The edge does not know our session: fail, or start a new one ('new-session'). */
  #sessionLost(err: ClientError): void {
    const lostId = this.id;
    if (this.#options.onSessionLost !== 'new-session') {
      try {
        this.emit('sessionLost', lostId, err);
      } finally {
        this.#fail(err);
      }
      return;
    }
    // What was queued belongs to the lost session's conversation: the master would get it under a new id.
    this.#outbox.clear();
    this.emit('sessionLost', lostId, err);
    if (this.#state === 'reconnecting') void this.#startOver();
  }

  async #startOver(): Promise<void> {
    let started: { link: Link; secrets: SessionSecrets };
    try {
      const keyPair = this.#options.keyPair ?? generateKeyPair();
      started = await newSessionWithin(this.#address, keyPair, policyOf(this.#options, true), this.#abort.signal);
    } catch (err) {
      if (this.#state === 'reconnecting') this.#fail(asClientError(err, 'VL_ERR_RESUME_FAILED'));
      return;
    }
    if (this.#state === 'reconnecting') {
      this.#secrets = started.secrets;
      this.#edgePublicKey = Uint8Array.from(started.secrets.edgePublicKey);
    }
    this.#connected(started.link, 'session');
  }

  /** A resumed (or new) session's link is ready: send what was queued, announce it, start reading. */
  #connected(link: Link, event: 'resumed' | 'session'): void {
    if (this.#state !== 'reconnecting') {
      link.destroy();
      return;
    }
    this.#link = link;
    this.#state = 'connected';
    this.#outbox.drainTo((msg) => link.writer.writeFrame(msg));
    try {
      this.emit(event, this.id);
    } finally {
      if (this.#link === link) this.#attach(link);
    }
  }

  #fail(err: ClientError): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#failure = err;
    const link = this.#link;
    this.#link = null;
    link?.destroy(err.message);
    this.#teardown(err);
    try {
      this.emit('failed', err);
    } finally {
      this.emit('close');
    }
  }

  /** Stops every timer and attempt, drops queued messages, ends every iterator. */
  #teardown(err: ClientError | null): void {
    this.#abort.abort();
    if (this.#startTimer) {
      clearImmediate(this.#startTimer);
      this.#startTimer = null;
    }
    this.#outbox.clear();
    for (const inbox of this.#inboxes) inbox.end(err);
    this.#inboxes.clear();
    this.#pressured.clear();
  }
}
