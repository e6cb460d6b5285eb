// secp256k1 keys, ECDH -> HKDF-SHA256 session keys, and XChaCha20-Poly1305 sealing (PROTOCOL.md sec. 4).
// Point validation and ECDH, the per-connection curve work, use libsecp256k1 (./secp256k1.ts: native, or
// WebAssembly): many times faster than a pure-JS curve; sealing, per resume, uses libsodium where it loads
// (./crypto-aead.ts), else @noble; key generation and HKDF use @noble (crypto-core.ts).
import { ProtocolError } from './errors.js';
import { randomFillSync } from 'node:crypto';
import { MIN_SEALED_SIZE, NONCE_SIZE, sessionKeyFromShared } from './crypto-core.js';
import { aead } from './crypto-aead.js';
import { curve } from './secp256k1.js';

export * from './crypto-core.js';

/**
 * Random bytes from the system CSPRNG, drawn a page at a time: a resume needs 56 (challenge and nonce), and one
 * fill per page costs less than one per call. Each byte is handed out once; a page is never refilled in place.
 * (Shadows crypto-core's randomBytes, randomNonce, seal and open, which the browser build keeps.)
 */
const RANDOM_PAGE = 4096;
let randomPage = new Uint8Array(0);
let randomPos = 0;

export function randomBytes(n = 32): Uint8Array {
  if (n > RANDOM_PAGE / 4) return randomFillSync(new Uint8Array(n));
  if (randomPage.length - randomPos < n) {
    randomPage = randomFillSync(new Uint8Array(RANDOM_PAGE));
    randomPos = 0;
  }
  const out = randomPage.slice(randomPos, randomPos + n);
  randomPos += n;
  return out;
}

export function randomNonce(): Uint8Array {
  return randomBytes(NONCE_SIZE);
}

/** XChaCha20-Poly1305 seal; blob = ciphertext || tag || nonce. `nonce` is for test vectors only. */
export function seal(key: Uint8Array, plaintext: Uint8Array, nonce: Uint8Array = randomNonce()): Uint8Array {
  if (nonce.length !== NONCE_SIZE) throw new RangeError(`nonce must be ${NONCE_SIZE} bytes`);
  if (key.length !== 32) throw new RangeError('key must be 32 bytes');
  return aead.seal(key, plaintext, nonce);
}

/** Opens a sealed blob; any failure (short, tampered, wrong key) is a ProtocolError. */
export function open(key: Uint8Array, blob: Uint8Array): Uint8Array | ProtocolError {
  if (blob.length < MIN_SEALED_SIZE) {
    return new ProtocolError('VL_ERR_SEALED_TOO_SHORT', `sealed blob of ${blob.length} bytes is shorter than ${MIN_SEALED_SIZE}`);
  }
  return aead.open(key, blob) ?? new ProtocolError('VL_ERR_OPEN_FAILED', 'sealed blob failed authentication');
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
  return curve.compressPoint(key) ?? new ProtocolError('VL_ERR_BAD_PUBLIC_KEY', 'public key is not a point on secp256k1');
}

/** ECDH: the 32-byte big-endian X coordinate of secretKey * publicKey. */
export function sharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | ProtocolError {
  return curve.ecdhX(secretKey, publicKey) ?? new ProtocolError('VL_ERR_BAD_PUBLIC_KEY', 'ECDH failed: invalid public key');
}

/** ECDH then HKDF: the session key shared by a client and the edge. */
export function deriveSessionKey(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | ProtocolError {
  const shared = sharedSecret(secretKey, publicKey);
  if (shared instanceof ProtocolError) return shared;
  return sessionKeyFromShared(shared);
}
