// Properties of sealing and keys: seal/open round trip; wrong keys, bit flips and truncation never open.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError } from '../../../src/io/errors.js';
import {
  deriveSessionKey,
  keyPairFromSecret,
  MIN_SEALED_SIZE,
  open,
  parsePublicKey,
  randomBytes,
  seal,
  sealedNonce,
} from '../../../src/io/crypto.js';

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const nonce = fc.uint8Array({ minLength: 24, maxLength: 24 });
const plaintext = fc.uint8Array({ maxLength: 128 });

describe('crypto properties', () => {
  it('draws random bytes of the asked length that never repeat, across page refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      for (const n of [24, 32, 1, 2000]) {
        const b = randomBytes(n);
        expect(b.length).toBe(n);
        if (n >= 24) seen.add(Buffer.from(b).toString('hex'));
      }
    }
    expect(seen.size).toBe(1500);
  });

  it('opens what it sealed, and the blob ends with its nonce', () => {
    fc.assert(
      fc.property(key, plaintext, nonce, (k, pt, n) => {
        const blob = seal(k, pt, n);
        expect(blob.length).toBe(pt.length + MIN_SEALED_SIZE);
        expect(sealedNonce(blob)).toEqual(n);
        expect(open(k, blob)).toEqual(pt);
      }),
      { numRuns: 200 },
    );
  });

  it('fails to open under a different key', () => {
    fc.assert(
      fc.property(key, key, plaintext, (k1, k2, pt) => {
        fc.pre(!k1.every((b, i) => b === k2[i]));
        expect((open(k2, seal(k1, pt)) as ProtocolError).code).toBe('VL_ERR_OPEN_FAILED');
      }),
      { numRuns: 100 },
    );
  });

  it('fails to open a blob with any single bit flipped', () => {
    fc.assert(
      fc.property(key, plaintext, fc.nat(), fc.integer({ min: 0, max: 7 }), (k, pt, at, bit) => {
        const blob = seal(k, pt);
        blob[at % blob.length]! ^= 1 << bit;
        expect((open(k, blob) as ProtocolError).code).toBe('VL_ERR_OPEN_FAILED');
      }),
      { numRuns: 200 },
    );
  });

  it('fails to open a truncated or extended blob', () => {
    fc.assert(
      fc.property(key, plaintext, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), (k, pt, len, extra) => {
        const blob = seal(k, pt);
        const short = blob.subarray(0, len % blob.length);
        const r = open(k, short);
        expect(r).toBeInstanceOf(ProtocolError);
        expect((r as ProtocolError).code).toBe(short.length < MIN_SEALED_SIZE ? 'VL_ERR_SEALED_TOO_SHORT' : 'VL_ERR_OPEN_FAILED');
        expect(open(k, new Uint8Array([...blob, ...extra]))).toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 200 },
    );
  });

  it('derives the same session key on both sides of ECDH, from either key encoding', () => {
    fc.assert(
      fc.property(key, key, (s1, s2) => {
        const a = keyPairFromSecret(s1);
        const b = keyPairFromSecret(s2);
        fc.pre(!(a instanceof ProtocolError) && !(b instanceof ProtocolError));
        if (a instanceof ProtocolError || b instanceof ProtocolError) return;
        const ab = deriveSessionKey(a.secretKey, b.publicKey);
        expect(ab).toBeInstanceOf(Uint8Array);
        expect(deriveSessionKey(b.secretKey, a.publicKey)).toEqual(ab);
      }),
      { numRuns: 15 },
    );
  });

  it('parses arbitrary 33- and 65-byte strings to a compressed key or a ProtocolError, never throwing', () => {
    const candidate = fc.oneof(
      fc.tuple(fc.constantFrom(2, 3), fc.uint8Array({ minLength: 32, maxLength: 32 })).map(([p, x]) => Uint8Array.of(p, ...x)),
      fc.tuple(fc.constant(4), fc.uint8Array({ minLength: 64, maxLength: 64 })).map(([p, xy]) => Uint8Array.of(p, ...xy)),
      fc.uint8Array({ maxLength: 70 }),
    );
    fc.assert(
      fc.property(candidate, (k) => {
        const r = parsePublicKey(k);
        if (r instanceof ProtocolError) expect(r.code).toBe('VL_ERR_BAD_PUBLIC_KEY');
        else {
          expect(r.length).toBe(33);
          expect(r.subarray(1)).toEqual(k.subarray(1, 33));
        }
      }),
      { numRuns: 100 },
    );
  });
});
