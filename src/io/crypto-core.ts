// The curve-independent part of the protocol's crypto (PROTOCOL.md sec. 4), on @noble only: key pairs, HKDF,
// XChaCha20-Poly1305 sealing, constant-time comparison. Runs in Node and in browsers.
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

/** HKDF-SHA256(ikm = shared secret, salt = info = "VOLTLANE.NET"), 32 bytes. */
export function sessionKeyFromShared(shared: Uint8Array): Uint8Array {
  return hkdf(sha256, shared, HKDF_LABEL, HKDF_LABEL, 32);
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
