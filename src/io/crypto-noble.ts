// The protocol's crypto on @noble alone (no WebAssembly, no Node built-ins): what the browser build of the
// client uses in place of crypto.ts. Same functions, same results; slower curve work, which a client does once.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ProtocolError } from './errors.js';
import { sessionKeyFromShared } from './crypto-core.js';

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
  try {
    return secp256k1.Point.fromBytes(key).toBytes(true);
  } catch {
    return new ProtocolError('VL_ERR_BAD_PUBLIC_KEY', 'public key is not a point on secp256k1');
  }
}

/** ECDH: the 32-byte big-endian X coordinate of secretKey * publicKey. */
export function sharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | ProtocolError {
  try {
    return secp256k1.getSharedSecret(secretKey, publicKey, true).subarray(1);
  } catch {
    return new ProtocolError('VL_ERR_BAD_PUBLIC_KEY', 'ECDH failed: invalid public key');
  }
}

/** ECDH then HKDF: the session key shared by a client and the edge. */
export function deriveSessionKey(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | ProtocolError {
  const shared = sharedSecret(secretKey, publicKey);
  if (shared instanceof ProtocolError) return shared;
  return sessionKeyFromShared(shared);
}
