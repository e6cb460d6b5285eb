// A session's secrets, and ResumeState: their JSON-safe form that an app persists to resume after a restart.
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { deriveSessionKey, keyPairFromSecret, parsePublicKey, type KeyPair } from '../io/crypto.js';
import { ProtocolError } from '../io/errors.js';
import { ClientError } from './client-errors.js';

/**
 * Everything needed to resume a session. It holds the client's secret key: whoever has it can
 * take the session over, so store it as you would a password.
 */
export interface ResumeState {
  /** The session id, decimal (a u64 does not fit a JSON number). */
  readonly id: string;
  /** The client's 32-byte secp256k1 secret key, hex. */
  readonly secretKey: string;
  /** The edge's compressed public key seen when the session began, hex. */
  readonly edgePublicKey: string;
  /** The edge address the session lives on, "host:port". */
  readonly address: string;
}

export interface SessionSecrets {
  readonly id: bigint;
  readonly keyPair: KeyPair;
  /** Compressed SEC1, 33 bytes. */
  readonly edgePublicKey: Uint8Array;
  /** HKDF(ECDH(client secret, edge public)), 32 bytes. */
  readonly sessionKey: Uint8Array;
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Derives the session key; `edgePublicKey` must already be validated (compressed). */
export function sessionSecrets(id: bigint, keyPair: KeyPair, edgePublicKey: Uint8Array): SessionSecrets | ProtocolError {
  const sessionKey = deriveSessionKey(keyPair.secretKey, edgePublicKey);
  if (sessionKey instanceof ProtocolError) return sessionKey;
  return { id, keyPair, edgePublicKey, sessionKey };
}

export function toResumeState(s: SessionSecrets, address: string): ResumeState {
  return {
    id: s.id.toString(10),
    secretKey: bytesToHex(s.keyPair.secretKey),
    edgePublicKey: bytesToHex(s.edgePublicKey),
    address,
  };
}

function bad(message: string): ClientError {
  return new ClientError('VL_ERR_BAD_RESUME_STATE', `resume state: ${message}`);
}

function hexField(state: Record<string, unknown>, key: string): Uint8Array {
  const v = state[key];
  if (typeof v !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(v)) throw bad(`${key} must be a hex string`);
  return hexToBytes(v.toLowerCase());
}

/** Validates a (possibly JSON-parsed) ResumeState; throws ClientError (VL_ERR_BAD_RESUME_STATE). */
export function parseResumeState(state: unknown): SessionSecrets {
  if (typeof state !== 'object' || state === null) throw bad('must be an object');
  const rec = state as Record<string, unknown>;
  const idText = rec.id;
  if (typeof idText !== 'string' || !/^(?:0|[1-9]\d{0,19})$/.test(idText) || BigInt(idText) > U64_MAX) {
    throw bad('id must be a decimal u64 string');
  }
  const keyPair = keyPairFromSecret(hexField(rec, 'secretKey'));
  if (keyPair instanceof ProtocolError) throw bad(`secretKey: ${keyPair.message}`);
  const edgeKey = parsePublicKey(hexField(rec, 'edgePublicKey'));
  if (edgeKey instanceof ProtocolError) throw bad(`edgePublicKey: ${edgeKey.message}`);
  const secrets = sessionSecrets(BigInt(idText), keyPair, edgeKey);
  if (secrets instanceof ProtocolError) throw bad(secrets.message);
  return secrets;
}
