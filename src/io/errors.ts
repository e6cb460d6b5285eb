// Typed protocol errors: every decoder failure carries a stable VL_ERR_* code.

export type ProtocolErrorCode =
  | 'VL_ERR_FRAME_TOO_LARGE'
  | 'VL_ERR_TRUNCATED'
  | 'VL_ERR_VARINT_NON_MINIMAL'
  | 'VL_ERR_VARINT_MARKER'
  | 'VL_ERR_VARINT_OVERFLOW'
  | 'VL_ERR_UNKNOWN_VARIANT'
  | 'VL_ERR_TRAILING_BYTES'
  | 'VL_ERR_EMPTY_PACKET'
  | 'VL_ERR_SHORT_PACKET'
  | 'VL_ERR_UNKNOWN_FLAG'
  | 'VL_ERR_ID_RANGE'
  | 'VL_ERR_BAD_PUBLIC_KEY'
  | 'VL_ERR_BAD_SECRET_KEY'
  | 'VL_ERR_SEALED_TOO_SHORT'
  | 'VL_ERR_OPEN_FAILED'
  | 'VL_ERR_KEY_FILE';

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

export function isProtocolError(v: unknown): v is ProtocolError {
  return v instanceof ProtocolError;
}
