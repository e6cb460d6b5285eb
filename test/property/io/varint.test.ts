// Properties of the bincode varint codec: round trips per type, canonical (minimal) forms only, never throws.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError } from '../../../src/io/errors.js';
import { decodeVarint, encodeVarint, readVarint, varintSize, type UintType } from '../../../src/io/varint.js';

const MAX: Record<UintType, bigint> = { u16: 0xffffn, u32: 0xffff_ffffn, u64: 0xffff_ffff_ffff_ffffn };
const TYPES: UintType[] = ['u16', 'u32', 'u64'];
const RUNS = { numRuns: 300 };

/** Values of `type`, biased towards the form boundaries (250/251, 2^16, 2^32). */
function valuesOf(type: UintType): fc.Arbitrary<bigint> {
  const edges = [0n, 250n, 251n, 0xffffn, 0x1_0000n, 0xffff_ffffn, 0x1_0000_0000n, MAX.u64].filter((v) => v <= MAX[type]);
  return fc.oneof(fc.bigInt({ min: 0n, max: MAX[type] }), fc.constantFrom(...edges));
}

function minimalSize(v: bigint): number {
  return v < 251n ? 1 : v <= 0xffffn ? 3 : v <= 0xffff_ffffn ? 5 : 9;
}

describe('varint properties', () => {
  it.each(TYPES)('round-trips every %s value in its minimal form', (type) => {
    fc.assert(
      fc.property(valuesOf(type), (v) => {
        const bytes = encodeVarint(v);
        expect(bytes.length).toBe(minimalSize(v));
        expect(varintSize(v)).toBe(bytes.length);
        for (const t of TYPES) {
          const r = decodeVarint(bytes, t);
          if (v <= MAX[t]) expect(r).toBe(v);
          else expect((r as ProtocolError).code).toBe('VL_ERR_VARINT_OVERFLOW');
        }
      }),
      RUNS,
    );
  });

  it('reads a value embedded between arbitrary bytes and reports where it ends', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), valuesOf('u64'), fc.uint8Array({ maxLength: 16 }), (pre, v, post) => {
        const enc = encodeVarint(v);
        const buf = new Uint8Array([...pre, ...enc, ...post]);
        expect(readVarint(buf, pre.length, 'u64')).toEqual({ value: v, next: pre.length + enc.length });
      }),
      RUNS,
    );
  });

  it.each(TYPES)('decodes arbitrary bytes as %s to a value or a ProtocolError, never throwing; accepted bytes are canonical', (type) => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 12 }),
      fc.tuple(fc.integer({ min: 251, max: 255 }), fc.uint8Array({ maxLength: 10 })).map(([m, rest]) => Uint8Array.of(m, ...rest)),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        const r = decodeVarint(b, type);
        if (r instanceof ProtocolError) {
          expect(r.code).toMatch(/^VL_ERR_/);
        } else {
          expect(r <= MAX[type]).toBe(true);
          expect(encodeVarint(r)).toEqual(b);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses to encode values outside u64', () => {
    fc.assert(
      fc.property(fc.oneof(fc.bigInt({ max: -1n }), fc.bigInt({ min: MAX.u64 + 1n })), (v) => {
        expect(() => encodeVarint(v)).toThrow(RangeError);
      }),
      { numRuns: 50 },
    );
  });
});
