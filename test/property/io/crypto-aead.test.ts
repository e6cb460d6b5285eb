// The libsodium (native) and @noble XChaCha20-Poly1305 builds agree: the vectors, the same blobs for the same
// key, plaintext and nonce, each opens the other's, and neither opens a tampered, truncated or foreign blob; the
// build in use is the native one where the package is installed and its prebuilt binary loads.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { aead, nativeAead, nobleAead } from '../../../src/io/crypto-aead.js';
import { loadVectors } from '../../vectors/vectors.js';

const C = loadVectors().crypto;
const fromHex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const builds = [nobleAead, ...(nativeAead ? [nativeAead] : [])];

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const nonce = fc.uint8Array({ minLength: 24, maxLength: 24 });
const plaintext = fc.uint8Array({ maxLength: 200 });

describe('XChaCha20-Poly1305 builds', () => {
  it('uses the native build on linux-x64 glibc where sodium-native is installed', () => {
    let installed = true;
    try {
      createRequire(import.meta.url).resolve('sodium-native');
    } catch {
      installed = false;
    }
    const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
    if (installed && process.platform === 'linux' && process.arch === 'x64' && glibc && process.env.VOLTLANE_AEAD !== 'noble') {
      expect(aead.name).toBe('native');
    }
    expect(nativeAead === null || nativeAead.name === 'native').toBe(true);
  });

  it.each(builds)('$name: seals and opens the vectors, refuses the vectors that must not open', (b) => {
    for (const v of C.seal) {
      expect(toHex(b.seal(fromHex(v.key), fromHex(v.plaintext), fromHex(v.nonce)))).toBe(v.blob);
      expect(toHex(b.open(fromHex(v.key), fromHex(v.blob))!)).toBe(v.plaintext);
    }
    for (const v of C.open_must_fail) expect(b.open(fromHex(v.key), fromHex(v.blob))).toBeNull();
  });

  it('agree on random keys, plaintexts and nonces; each opens the other\'s blobs', () => {
    fc.assert(
      fc.property(key, plaintext, nonce, (k, pt, n) => {
        const blobs = builds.map((b) => b.seal(k, pt, n));
        for (const blob of blobs) {
          expect(toHex(blob)).toBe(toHex(blobs[0]!));
          for (const b of builds) expect(b.open(k, blob)).toEqual(pt);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('neither opens a blob with a bit flipped, cut short or under another key; both open one seen through a view at an offset', () => {
    fc.assert(
      fc.property(key, key, plaintext, nonce, fc.nat(), fc.integer({ min: 0, max: 7 }), (k1, k2, pt, n, at, bit) => {
        fc.pre(toHex(k1) !== toHex(k2));
        const blob = nobleAead.seal(k1, pt, n);
        const flipped = blob.slice();
        flipped[at % blob.length]! ^= 1 << bit;
        // The same blob as a view at an offset inside a bigger array opens; one byte off does not.
        const big = new Uint8Array(blob.length + 8);
        big.set(blob, 3);
        for (const b of builds) {
          expect(b.open(k1, flipped)).toBeNull();
          expect(b.open(k2, blob)).toBeNull();
          expect(b.open(k1, blob.subarray(0, at % blob.length))).toBeNull();
          expect(b.open(k1, big.subarray(3, 3 + blob.length))).toEqual(pt);
          expect(b.open(k1, big.subarray(2, 2 + blob.length))).toBeNull();
        }
      }),
      { numRuns: 200 },
    );
  });
});
