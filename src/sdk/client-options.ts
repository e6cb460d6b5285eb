// Client options: the public shapes, their defaults, and validation once at connect() (errors name the key).
import { keyPairFromSecret, type KeyPair } from '../io/crypto.js';
import { ProtocolError } from '../io/errors.js';
import { ClientError } from './client-errors.js';
import type { ResumeState } from './client-resume-state.js';

export interface ReconnectOptions {
  /** Resume automatically when the connection drops. Default true. */
  enabled?: boolean;
  /** How long after a drop to keep trying; matches the edge's stale timeout. Default 300 000. */
  windowMs?: number;
  /** Backoff before the first attempt (jittered, doubled per attempt). Default 100. */
  initialDelayMs?: number;
  /** Backoff ceiling. Default 5 000. */
  maxDelayMs?: number;
}

/** Certificates for tls:// and wss:// in Node (a browser uses its own trust store and client certificates). */
export interface TlsClientOptions {
  /** CA certificates (PEM) to trust instead of the system's: for an edge with a private or self-signed certificate. */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** The name the edge's certificate must carry (SNI and verification), when it is not the host dialed. */
  servername?: string;
  /** A client certificate (PEM), when the edge asks for one (its tls.ca_file). */
  cert?: string | Uint8Array;
  /** The private key (PEM) of `cert`. */
  key?: string | Uint8Array;
}

export interface ClientOptions extends TlsClientOptions {
  /** The client's secp256k1 key pair. Default: a fresh one. */
  keyPair?: KeyPair;
  /** Resume this persisted session instead of starting a new one. */
  resume?: ResumeState;
  reconnect?: ReconnectOptions;
  /**
   * What to do when the edge no longer knows the session (it closed our resume right after
   * `ClientId`, without a `Challenge`, twice in a row): `'error'` (default) fails the client with
   * VL_ERR_SESSION_LOST at once, instead of retrying for the rest of the window; `'new-session'`
   * starts a new session by itself (fresh key pair unless `keyPair` is given) and carries on under
   * its new id. Either way `sessionLost` is emitted first.
   */
  onSessionLost?: SessionLostPolicy;
  /** Messages `send()` may queue while reconnecting. Default 8192. */
  maxQueuedMessages?: number;
  /** Bytes `send()` may queue while reconnecting. Default 16 MiB. */
  maxQueuedBytes?: number;
  /** Largest frame accepted from the edge; a larger one drops the connection. Default 8 388 608. */
  maxFrameSize?: number;
  /** Largest message `send()` accepts: the edge's default client cap. Default 8 388 599. */
  maxMessageSize?: number;
  /** Longest wait for any one handshake step (TCP connect included). Default 10 000. */
  handshakeTimeoutMs?: number;
  /** Messages an async iterator may buffer before the socket is paused. Default 1024. */
  inboxMaxMessages?: number;
  /** Bytes an async iterator may buffer before the socket is paused. Default 16 MiB. */
  inboxMaxBytes?: number;
}

export type SessionLostPolicy = 'error' | 'new-session';

export interface ResolvedOptions {
  readonly onSessionLost: SessionLostPolicy;
  readonly tls: Readonly<TlsClientOptions>;
  readonly keyPair: KeyPair | null;
  readonly resume: ResumeState | null;
  readonly reconnect: Readonly<Required<ReconnectOptions>>;
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
  readonly maxFrameSize: number;
  readonly maxMessageSize: number;
  readonly handshakeTimeoutMs: number;
  readonly inboxMaxMessages: number;
  readonly inboxMaxBytes: number;
}

const MiB = 1024 * 1024;

export const DEFAULTS = Object.freeze({
  reconnect: Object.freeze({ enabled: true, windowMs: 300_000, initialDelayMs: 100, maxDelayMs: 5_000 }),
  maxQueuedMessages: 8192,
  maxQueuedBytes: 16 * MiB,
  maxFrameSize: 8_388_608,
  maxMessageSize: 8_388_599,
  handshakeTimeoutMs: 10_000,
  inboxMaxMessages: 1024,
  inboxMaxBytes: 16 * MiB,
});

/** The largest length a frame prefix can carry. */
const MAX_U32 = 0xffff_ffff;
/** Room for every handshake packet (the largest, a Challenge, is 74 bytes framed). */
const MIN_FRAME_SIZE = 256;
/** Node timers cap at 2^31 - 1 ms. */
const MAX_TIMER_MS = 0x7fff_ffff;

function int(key: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ClientError('VL_ERR_BAD_OPTIONS', `option ${key} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

function checkKeyPair(kp: unknown): KeyPair {
  const secretKey = (kp as { secretKey?: unknown } | null)?.secretKey;
  if (!(secretKey instanceof Uint8Array)) {
    throw new ClientError('VL_ERR_BAD_OPTIONS', 'option keyPair must be { secretKey: Uint8Array, publicKey: Uint8Array }');
  }
  const derived = keyPairFromSecret(secretKey);
  if (derived instanceof ProtocolError) throw new ClientError('VL_ERR_BAD_OPTIONS', `option keyPair: ${derived.message}`);
  return derived;
}

/** Applies defaults and validates every option; throws ClientError (VL_ERR_BAD_OPTIONS). */
export function resolveOptions(options: ClientOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ClientError('VL_ERR_BAD_OPTIONS', 'options must be an object');
  }
  const r = options.reconnect ?? {};
  if (r.enabled !== undefined && typeof r.enabled !== 'boolean') {
    throw new ClientError('VL_ERR_BAD_OPTIONS', `option reconnect.enabled must be a boolean, got ${String(r.enabled)}`);
  }
  const reconnect = Object.freeze({
    enabled: r.enabled ?? DEFAULTS.reconnect.enabled,
    windowMs: int('reconnect.windowMs', r.windowMs, DEFAULTS.reconnect.windowMs, 0, Number.MAX_SAFE_INTEGER),
    initialDelayMs: int('reconnect.initialDelayMs', r.initialDelayMs, DEFAULTS.reconnect.initialDelayMs, 1, MAX_TIMER_MS),
    maxDelayMs: int('reconnect.maxDelayMs', r.maxDelayMs, DEFAULTS.reconnect.maxDelayMs, 1, MAX_TIMER_MS),
  });
  if (reconnect.maxDelayMs < reconnect.initialDelayMs) {
    throw new ClientError('VL_ERR_BAD_OPTIONS', 'option reconnect.maxDelayMs must be at least reconnect.initialDelayMs');
  }
  const pem = (key: string, v: unknown): void => {
    const one = (x: unknown) => typeof x === 'string' || x instanceof Uint8Array;
    if (v !== undefined && !one(v) && !(key === 'ca' && Array.isArray(v) && v.every(one))) {
      throw new ClientError('VL_ERR_BAD_OPTIONS', `option ${key} must be PEM text (a string or Uint8Array)${key === 'ca' ? ', or an array of them' : ''}`);
    }
  };
  pem('ca', options.ca);
  pem('cert', options.cert);
  pem('key', options.key);
  if (options.servername !== undefined && (typeof options.servername !== 'string' || options.servername === '')) {
    throw new ClientError('VL_ERR_BAD_OPTIONS', 'option servername must be a non-empty string');
  }
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new ClientError('VL_ERR_BAD_OPTIONS', 'options cert and key go together: pass both or neither');
  }
  const tls: TlsClientOptions = Object.freeze({
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    ...(options.servername !== undefined ? { servername: options.servername } : {}),
    ...(options.cert !== undefined ? { cert: options.cert } : {}),
    ...(options.key !== undefined ? { key: options.key } : {}),
  });
  const onSessionLost = options.onSessionLost ?? 'error';
  if (onSessionLost !== 'error' && onSessionLost !== 'new-session') {
    throw new ClientError('VL_ERR_BAD_OPTIONS', `option onSessionLost must be 'error' or 'new-session', got ${String(onSessionLost)}`);
  }
  return Object.freeze({
    onSessionLost,
    tls,
    keyPair: options.keyPair === undefined ? null : checkKeyPair(options.keyPair),
    resume: options.resume ?? null,
    reconnect,
    maxQueuedMessages: int('maxQueuedMessages', options.maxQueuedMessages, DEFAULTS.maxQueuedMessages, 0, Number.MAX_SAFE_INTEGER),
    maxQueuedBytes: int('maxQueuedBytes', options.maxQueuedBytes, DEFAULTS.maxQueuedBytes, 0, Number.MAX_SAFE_INTEGER),
    maxFrameSize: int('maxFrameSize', options.maxFrameSize, DEFAULTS.maxFrameSize, MIN_FRAME_SIZE, MAX_U32),
    maxMessageSize: int('maxMessageSize', options.maxMessageSize, DEFAULTS.maxMessageSize, 0, MAX_U32),
    handshakeTimeoutMs: int('handshakeTimeoutMs', options.handshakeTimeoutMs, DEFAULTS.handshakeTimeoutMs, 1, MAX_TIMER_MS),
    inboxMaxMessages: int('inboxMaxMessages', options.inboxMaxMessages, DEFAULTS.inboxMaxMessages, 1, Number.MAX_SAFE_INTEGER),
    inboxMaxBytes: int('inboxMaxBytes', options.inboxMaxBytes, DEFAULTS.inboxMaxBytes, 1, Number.MAX_SAFE_INTEGER),
  });
}
