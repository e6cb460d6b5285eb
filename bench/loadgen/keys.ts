// Client key material for the load generator: secp256k1 pairs and session keys through node:crypto
// (OpenSSL), which the generator may use freely; the edge's own crypto is what is measured.
import { createECDH } from 'node:crypto';
import { sessionKeyFromShared } from '../../src/io/crypto.js';

export interface ClientKey {
  /** SEC1 compressed public key, 33 bytes. */
  publicKey: Uint8Array;
  /** The session key shared with an edge of public key `edgeKey` (ECDH X coordinate, then HKDF). */
  sessionKey(edgeKey: Uint8Array): Uint8Array;
}

export function newClientKey(): ClientKey {
  const ecdh = createECDH('secp256k1');
  ecdh.generateKeys();
  const publicKey = new Uint8Array(ecdh.getPublicKey(null, 'compressed'));
  return {
    publicKey,
    sessionKey: (edgeKey) => sessionKeyFromShared(new Uint8Array(ecdh.computeSecret(edgeKey))),
  };
}
