// The per-connection curve work (point validation, ECDH) on libsecp256k1: the native build shipped prebuilt in
// the `secp256k1` package where it loads (no compiler involved), else the WebAssembly build (tiny-secp256k1).
import { createRequire } from 'node:module';
import type * as TinySecp256k1 from 'tiny-secp256k1';

const require = createRequire(import.meta.url);

/** The WebAssembly build, loaded on first use: where the native one loads it is never needed (~5 MB of RSS). */
let tinyModule: typeof TinySecp256k1 | null = null;
function tiny(): typeof TinySecp256k1 {
  return (tinyModule ??= require('tiny-secp256k1') as typeof TinySecp256k1);
}

/** One libsecp256k1 build's face: each call returns null for an invalid point or scalar. */
export interface Curve {
  readonly name: 'native' | 'wasm';
  /** The compressed form of a SEC1 point (33 or 65 bytes), or null if it is not a point on the curve. */
  compressPoint(key: Uint8Array): Uint8Array | null;
  /** ECDH: the 32-byte X coordinate of secretKey * publicKey. */
  ecdhX(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null;
}

/** The part of the `secp256k1` package's native binding used here. */
interface NativeBinding {
  publicKeyConvert(pubkey: Uint8Array, compressed: boolean, output?: Uint8Array): Uint8Array;
  ecdh(
    pubkey: Uint8Array,
    seckey: Uint8Array,
    options: { hashfn: (x: Uint8Array, y: Uint8Array) => Uint8Array; xbuf: Uint8Array; ybuf: Uint8Array },
    output: Uint8Array,
  ): Uint8Array;
}

export const wasmCurve: Curve = {
  name: 'wasm',
  compressPoint(key) {
    try {
      const t = tiny();
      return t.isPoint(key) ? t.pointCompress(key, true) : null;
    } catch {
      return null;
    }
  },
  ecdhX(secretKey, publicKey) {
    try {
      const point = tiny().pointMultiply(publicKey, secretKey, true);
      return point === null ? null : point.subarray(1);
    } catch {
      return null;
    }
  },
};

function nativeFrom(b: NativeBinding): Curve {
  const ybuf = new Uint8Array(32);
  // The binding hands the X coordinate to a "hash" function: keep it as it is (written straight into `x`).
  const xOnly = (x: Uint8Array): Uint8Array => x;
  return {
    name: 'native',
    compressPoint(key) {
      try {
        return b.publicKeyConvert(key, true, new Uint8Array(33));
      } catch {
        return null;
      }
    },
    ecdhX(secretKey, publicKey) {
      try {
        const x = new Uint8Array(32);
        return b.ecdh(publicKey, secretKey, { hashfn: xOnly, xbuf: x, ybuf }, x);
      } catch {
        return null;
      }
    },
  };
}

/** The native build, or null where its prebuilt binary does not load (another platform, another libc). */
export const nativeCurve: Curve | null = (() => {
  try {
    // The binding itself, not the package's entry point (which would fall back to a pure-JS curve).
    return nativeFrom(require('secp256k1/bindings.js') as NativeBinding);
  } catch {
    return null;
  }
})();

/** The build in use: native where it loads, unless VOLTLANE_SECP256K1=wasm asks for the WebAssembly one. */
export const curve: Curve = process.env.VOLTLANE_SECP256K1 !== 'wasm' && nativeCurve ? nativeCurve : wasmCurve;
