// secp256k1 keys, ECDH -> HKDF-SHA256 session keys, and XChaCha20-Poly1305 sealing (PROTOCOL.md sec. 4).
// Point validation and ECDH, the per-connection curve work, use libsecp256k1 (tiny-secp256k1, WebAssembly):
// over ten times faster than a pure-JS curve; key generation, HKDF and sealing use @noble.
import * as libsecp from 'tiny-secp256k1';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from '@noble/ciphers/utils.js';
import { ProtocolError } from './errors.js';

export const HKDF_LABEL = new TextEncoder().encode('VOLTLANE.NET');
export const NONCE_SIZE = 24;
export const TAG_SIZE = 16;
export const MIN_SEALED_SIZE = NONCE_SIZE + TAG_SIZE;
export const SECRET_KEY_SIZE = 32;

export interface KeyPair {
  secretKey: Uint8Array;
  /** SEC1 compressed, 33 bytes. */
  publicKey: Uint8Array;
}

export function generateKeyPair(): KeyPair {
  const secretKey = secp256k1.utils.randomSecretKey();
  return { secretKey, publicKey: secp256k1.getPublicKey(secretKey, true) };
}

export function keyPairFromSecret(secretKey: Uint8Array): KeyPair | ProtocolError {
  if (secretKey.length !== SECRET_KEY_SIZE || !secp256k1.utils.isValidSecretKey(secretKey)) {
    return new ProtocolError('VL_ERR_BAD_SECRET_KEY', 'secret key is not a valid secp256k1 scalar');
  }
  return { secretKey: Uint8Array.from(secretKey), publicKey: secp256k1.getPublicKey(secretKey, true) };
}

/**
 * Validates a SEC1 public key (33-byte compressed or 65-byte uncompressed) and returns its
 * compressed form; anything else, or a point not on the curve, is an error.
 */
export function parsePublicKey(key: Uint8Array): Uint8Array | ProtocolError {
  const okShape = (key.length === 33 && (key[0] === 2 || key[0] === 3)) || (key.length === 65 && key[0] === 4);
  if (!okShape) {
    return new ProtocolError('VL_ERR_BAD_PUBLIC_KEY', `public key of ${key.length} bytes is not SEC1 compressed or uncompressed`);
  }
  try {
    if (libsecp.isPoint(key)) return libsecp.pointCompress(key, true);
  } catch {
    // fall through: not a point
  }
  return new ProtocolError('VL_ERR_BAD_PUBLIC_KEY', 'public key is not a point on secp256k1');
}

/** ECDH: the 32-byte big-endian X coordinate of secretKey * publicKey. */
export function sharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | ProtocolError {
  try {
    const point = libsecp.pointMultiply(publicKey, secretKey, true);
    if (point !== null) return point.subarray(1);
  } catch {
    // fall through: invalid point or scalar
  }
  return new ProtocolError('VL_ERR_BAD_PUBLIC_KEY', 'ECDH failed: invalid public key');
}

/** HKDF-SHA256(ikm = shared secret, salt = info = "VOLTLANE.NET"), 32 bytes. */
export function sessionKeyFromShared(shared: Uint8Array): Uint8Array {
  return hkdf(sha256, shared, HKDF_LABEL, HKDF_LABEL, 32);
}

/** ECDH then HKDF: the session key shared by a client and the edge. */
export function deriveSessionKey(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | ProtocolError {
  const shared = sharedSecret(secretKey, publicKey);
  if (shared instanceof ProtocolError) return shared;
  return sessionKeyFromShared(shared);
}

export function randomNonce(): Uint8Array {
  return randomBytes(NONCE_SIZE);
}

export { randomBytes };

/** XChaCha20-Poly1305 seal; blob = ciphertext || tag || nonce. `nonce` is for test vectors only. */
export function seal(key: Uint8Array, plaintext: Uint8Array, nonce: Uint8Array = randomNonce()): Uint8Array {
  if (nonce.length !== NONCE_SIZE) throw new RangeError(`nonce must be ${NONCE_SIZE} bytes`);
  const ct = xchacha20poly1305(key, nonce).encrypt(plaintext);
  const out = new Uint8Array(ct.length + NONCE_SIZE);
  out.set(ct, 0);
  out.set(nonce, ct.length);
  return out;
}

/** The nonce of a sealed blob (its last 24 bytes), or null if the blob is too short. */
export function sealedNonce(blob: Uint8Array): Uint8Array | null {
  return blob.length < MIN_SEALED_SIZE ? null : blob.subarray(blob.length - NONCE_SIZE);
}

/** Opens a sealed blob; any failure (short, tampered, wrong key) is a ProtocolError. */
export function open(key: Uint8Array, blob: Uint8Array): Uint8Array | ProtocolError {
  if (blob.length < MIN_SEALED_SIZE) {
    return new ProtocolError('VL_ERR_SEALED_TOO_SHORT', `sealed blob of ${blob.length} bytes is shorter than ${MIN_SEALED_SIZE}`);
  }
  const nonce = blob.subarray(blob.length - NONCE_SIZE);
  const ct = blob.subarray(0, blob.length - NONCE_SIZE);
  try {
    return xchacha20poly1305(key, nonce).decrypt(ct);
  } catch {
    return new ProtocolError('VL_ERR_OPEN_FAILED', 'sealed blob failed authentication');
  }
}

/** Constant-time equality of two byte strings (length is not secret). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
