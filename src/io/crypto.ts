// secp256k1 keys, ECDH -> HKDF-SHA256 session keys, and XChaCha20-Poly1305 sealing (PROTOCOL.md sec. 4).
// Point validation and ECDH, the per-connection curve work, use libsecp256k1 (./secp256k1.ts: native, or
// WebAssembly): many times faster than a pure-JS curve; key generation, HKDF and sealing use @noble (crypto-core.ts).
import { ProtocolError } from './errors.js';
import { sessionKeyFromShared } from './crypto-core.js';
import { curve } from './secp256k1.js';

export * from './crypto-core.js';

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
