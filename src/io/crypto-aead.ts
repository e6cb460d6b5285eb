// XChaCha20-Poly1305 for the challenge and its response (PROTOCOL.md sec. 4), the edge's per-resume sealing:
// libsodium's, the `sodium-native` package's prebuilt addon, where it loads (no compiler involved), else @noble's
// (pure JS, about ten times the CPU for a 32-byte challenge). Same bytes either way: blob = ciphertext || tag || nonce.
import { createRequire } from 'node:module';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

const require = createRequire(import.meta.url);

const NONCE = 24;
const TAG = 16;

/** One XChaCha20-Poly1305 build's face. */
export interface Aead {
  readonly name: 'native' | 'noble';
  /** ciphertext || tag || nonce. The key is 32 bytes and the nonce 24 (checked by the caller). */
  seal(key: Uint8Array, plaintext: Uint8Array, nonce: Uint8Array): Uint8Array;
  /** The plaintext of ciphertext || tag || nonce, or null: too short, tampered, or another key. */
  open(key: Uint8Array, blob: Uint8Array): Uint8Array | null;
}

/** The part of sodium-native's binding used here (typed arrays in and out; it throws on failure). */
interface SodiumBinding {
  crypto_aead_xchacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
  crypto_aead_xchacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: null, npub: Uint8Array, k: Uint8Array): number;
}

export const nobleAead: Aead = {
  name: 'noble',
  seal(key, plaintext, nonce) {
    const ct = xchacha20poly1305(key, nonce).encrypt(plaintext);
    const out = new Uint8Array(ct.length + NONCE);
    out.set(ct, 0);
    out.set(nonce, ct.length);
    return out;
  },
  open(key, blob) {
    if (blob.length < NONCE + TAG) return null;
    try {
      return xchacha20poly1305(key, blob.subarray(blob.length - NONCE)).decrypt(blob.subarray(0, blob.length - NONCE));
    } catch {
      return null;
    }
  },
};

function nativeFrom(b: SodiumBinding): Aead {
  return {
    name: 'native',
    seal(key, plaintext, nonce) {
      const sealed = plaintext.length + TAG;
      const out = new Uint8Array(sealed + NONCE);
      b.crypto_aead_xchacha20poly1305_ietf_encrypt(out.subarray(0, sealed), plaintext, null, null, nonce, key);
      out.set(nonce, sealed);
      return out;
    },
    open(key, blob) {
      if (blob.length < NONCE + TAG) return null;
      const sealed = blob.length - NONCE;
      const out = new Uint8Array(sealed - TAG);
      try {
        b.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, blob.subarray(0, sealed), null, blob.subarray(sealed), key);
        return out;
      } catch {
        return null;
      }
    },
  };
}

/** The native build, or null where its prebuilt binary does not load (another platform, another libc, not installed). */
export const nativeAead: Aead | null = (() => {
  try {
    return nativeFrom(require('sodium-native') as SodiumBinding);
  } catch {
    return null;
  }
})();

/** The build in use: native where it loads, unless VOLTLANE_AEAD=noble asks for the pure-JS one. */
export const aead: Aead = process.env.VOLTLANE_AEAD !== 'noble' && nativeAead ? nativeAead : nobleAead;
