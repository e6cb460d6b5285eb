// voltlane/protocol: the wire layer (framing, handshake, firehose) and the crypto of PROTOCOL.md.
export * from './errors.js';
export * from './varint.js';
export * from './framing.js';
export * from './handshake.js';
export * from './firehose.js';
export {
  type KeyPair,
  generateKeyPair,
  keyPairFromSecret,
  parsePublicKey,
  sharedSecret,
  sessionKeyFromShared,
  deriveSessionKey,
  seal,
  open,
  sealedNonce,
  constantTimeEqual,
  randomNonce,
  NONCE_SIZE,
  MIN_SEALED_SIZE,
  HKDF_LABEL,
} from './crypto.js';
