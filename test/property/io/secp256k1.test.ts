// The native and WebAssembly libsecp256k1 builds agree: same compressed points, same ECDH secrets, the same
// refusals of bytes that are not points; the build in use is the native one where its prebuilt binary loads.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { curve, nativeCurve, wasmCurve } from '../../../src/io/secp256k1.js';
import { loadVectors } from '../../vectors/vectors.js';

const V = loadVectors();

const fromHex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const secret = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((k) => secp256k1.utils.isValidSecretKey(k));
const builds = [wasmCurve, ...(nativeCurve ? [nativeCurve] : [])];

describe('libsecp256k1 builds', () => {
  it('uses the native build on linux-x64 glibc, where the package ships it prebuilt', () => {
    const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
    if (process.platform === 'linux' && process.arch === 'x64' && glibc && process.env.VOLTLANE_SECP256K1 !== 'wasm') {
      expect(curve.name).toBe('native');
    }
    expect(nativeCurve === null || nativeCurve.name === 'native').toBe(true);
  });

  it.each(builds)('$name: computes the vectors\' shared secret and compresses their keys', (c) => {
    const C = V.crypto;
    for (const pk of [C.client.public_compressed, C.client.public_uncompressed]) {
      expect(Buffer.from(c.ecdhX(fromHex(C.edge.private), fromHex(pk))!).toString('hex')).toBe(C.shared_secret);
      expect(Buffer.from(c.compressPoint(fromHex(pk))!).toString('hex')).toBe(C.client.public_compressed);
    }
    for (const { hex } of C.invalid_public_keys) {
      const k = fromHex(hex);
      if (k.length === 33 || k.length === 65) {
        expect(c.compressPoint(k)).toBeNull();
        expect(c.ecdhX(fromHex(C.edge.private), k)).toBeNull();
      }
    }
  });

  it('agree on random keys, both encodings, and on random bytes that may not be points', () => {
    fc.assert(
      fc.property(secret, secret, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom(2, 3, 4), (a, b, junk, prefix) => {
        const pubC = secp256k1.getPublicKey(b, true);
        const pubU = secp256k1.getPublicKey(b, false);
        const expected = secp256k1.getSharedSecret(a, pubC, true).subarray(1);
        const bogus = prefix === 4 ? Uint8Array.from([4, ...junk, ...junk]) : Uint8Array.from([prefix, ...junk]);
        const onCurve = (() => {
          try {
            secp256k1.Point.fromBytes(bogus);
            return true;
          } catch {
            return false;
          }
        })();
        for (const c of builds) {
          expect(c.ecdhX(a, pubC)).toEqual(expected);
          expect(c.ecdhX(a, pubU)).toEqual(expected);
          expect(c.compressPoint(pubU)).toEqual(pubC);
          expect(c.compressPoint(bogus) !== null).toBe(onCurve);
          expect(c.ecdhX(a, bogus) !== null).toBe(onCurve);
        }
      }),
      { numRuns: 40 },
    );
  });
});
