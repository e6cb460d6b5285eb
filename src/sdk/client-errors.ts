// ClientError: every failure the client SDK reports, with a stable VL_ERR_* code.

export type ClientErrorCode =
  /** An option is missing, of the wrong type or out of range. */
  | 'VL_ERR_BAD_OPTIONS'
  /** The edge address cannot be parsed. */
  | 'VL_ERR_BAD_ADDRESS'
  /** A persisted ResumeState is malformed. */
  | 'VL_ERR_BAD_RESUME_STATE'
  /** The TCP connection to the edge could not be opened. */
  | 'VL_ERR_CONNECT'
  /** The edge broke the handshake: malformed or unexpected packet, or it closed mid-handshake. */
  | 'VL_ERR_HANDSHAKE'
  /** A handshake step took longer than `handshakeTimeoutMs`. */
  | 'VL_ERR_HANDSHAKE_TIMEOUT'
  /** On resume the edge presented a public key other than the one the session began with. */
  | 'VL_ERR_EDGE_KEY_CHANGED'
  /** No resume attempt succeeded within the reconnect window. */
  | 'VL_ERR_RESUME_FAILED'
  /**
   * The edge does not know the session: it closed the resume right after our `ClientId`, without a
   * `Challenge` (PROTOCOL.md sec. 3, reconnect step 4), on two attempts in a row. The session ended
   * (expired, kicked, or the edge lost it); only a new session helps (`onSessionLost: 'new-session'`).
   */
  | 'VL_ERR_SESSION_LOST'
  /** The connection dropped and automatic reconnect is disabled. */
  | 'VL_ERR_DISCONNECTED'
  /** `send()` while reconnecting, past `maxQueuedMessages` or `maxQueuedBytes`. */
  | 'VL_ERR_QUEUE_FULL'
  /** `send()` of a message larger than `maxMessageSize`. */
  | 'VL_ERR_MESSAGE_TOO_LARGE'
  /** The client is closed (by `close()` or after a failure). */
  | 'VL_ERR_CLOSED';

/** The code of the error a client reports when the edge no longer knows its session. */
export const VL_ERR_SESSION_LOST = 'VL_ERR_SESSION_LOST' satisfies ClientErrorCode;

export class ClientError extends Error {
  readonly code: ClientErrorCode;
  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientError';
    this.code = code;
  }
}

export function isClientError(v: unknown): v is ClientError {
  return v instanceof ClientError;
}

/** Wraps anything thrown into a ClientError (a non-ClientError is a bug; keep it as the cause). */
export function asClientError(err: unknown, fallback: ClientErrorCode = 'VL_ERR_HANDSHAKE'): ClientError {
  if (err instanceof ClientError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ClientError(fallback, message, { cause: err });
}
